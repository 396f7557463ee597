"""LLVM IR of the elementwise and reduction kernels (compiled and called by elemwise.py).

Two elementwise kernel shapes per program, each compiled on first need:

* flat: every input is C-contiguous with the output shape, or has one element (loaded once
  before the loop); one loop over ``n`` elements, which the loop vectorizer widens.  The
  kernel checks natively that the arrays fit and returns 1 without touching them otherwise.
* strided: the general case.  Python broadcasts (stride 0), drops size-1 dimensions and
  merges dimensions that are contiguous for every array, then passes shape and element
  strides (int64) at run time; the kernel walks the outer dimensions with an odometer and
  runs an inner loop over the last one, whose stride is specialized per array to 0, 1 or
  "run time" (part of the kernel's key), so broadcasting a row or a column still vectorizes.

Outputs may alias inputs exactly (in-place) but must not overlap them otherwise: the inner
loops are marked ``llvm.loop.parallel_accesses``.  A reduction kernel walks the kept
positions and, for each, the reduced dimensions, accumulating float32 sums in float64; when
the contiguous dimension is a kept one (a column sum), the column kernel walks the reduced
dimensions once per chunk of kept positions instead.
"""
import hashlib
import math

import numpy as np

from .loops import for_range
from .mathlib import Builder, Module, Val
from .objects import (ARRAY_DATA, ARRAY_DESCR, ARRAY_DIMS, ARRAY_FLAGS, ARRAY_ND, DESCR_BYTEORDER,
                      DESCR_TYPE_NUM, NPY_C_CONTIGUOUS, NPY_WRITEABLE, TUPLE_ITEMS)
from .scalar import DTYPES, cast, emit_program, kind_of, load_value, mem_type, reg_type, store_value

_ACCESS = ", !llvm.access.group !0"
KERNEL_ATTRS = ""
_LOOP_MD = ("!0 = distinct !{}\n!1 = distinct !{!1, !2}\n"
            "!2 = !{!\"llvm.loop.parallel_accesses\", !0}\n")


def _data_ptrs(b, tup, count, hint):
    ptrs = []
    for k in range(count):
        slot = b.gep("i8", tup, b.const("i64", TUPLE_ITEMS + 8 * k))
        obj = b.load("ptr", slot)
        dslot = b.gep("i8", obj, b.const("i64", ARRAY_DATA))
        ptrs.append(b.emit("ptr", f"load ptr, ptr {dslot}", hint))
    return ptrs


def _finish(module, b, signature, metadata="", ret="void"):
    body = "\n".join(b.lines)
    module.add_function("__KERNEL__", f"define {ret} @__KERNEL__({signature}) nounwind {KERNEL_ATTRS}{{\n{body}\n}}")
    text = module.text() + metadata
    name = "k_" + hashlib.sha256(text.encode()).hexdigest()[:20]
    return text.replace("@__KERNEL__", "@" + name), name


_CHECK_HELPERS = """define internal i64 @__sym_size(ptr %dims, i32 %nd) alwaysinline nounwind {
entry:
  %n = sext i32 %nd to i64
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %body]
  %p = phi i64 [1, %entry], [%p1, %body]
  %c = icmp slt i64 %i, %n
  br i1 %c, label %body, label %exit
body:
  %a = getelementptr inbounds i64, ptr %dims, i64 %i
  %d = load i64, ptr %a
  %p1 = mul i64 %p, %d
  %i1 = add i64 %i, 1
  br label %head
exit:
  ret i64 %p
}

define internal i1 @__sym_same_dims(ptr %x, ptr %y, i32 %nd) alwaysinline nounwind {
entry:
  %n = sext i32 %nd to i64
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %body]
  %c = icmp slt i64 %i, %n
  br i1 %c, label %body, label %yes
body:
  %pa = getelementptr inbounds i64, ptr %x, i64 %i
  %pb = getelementptr inbounds i64, ptr %y, i64 %i
  %a = load i64, ptr %pa
  %b = load i64, ptr %pb
  %i1 = add i64 %i, 1
  %e = icmp eq i64 %a, %b
  br i1 %e, label %head, label %no
yes:
  ret i1 true
no:
  ret i1 false
}"""


def _field(b, obj, offset, ty):
    return b.load(ty, b.gep("i8", obj, b.const("i64", offset)))


def elem_ir_flat(steps, n_inputs, input_dtypes, outputs, scalar_mask):
    """Kernel ``i32(ndarray_type, outs_tuple, ins_tuple)`` over C-contiguous data (inputs
    in ``scalar_mask`` have one element, loaded once).  It first checks, natively, that the
    arrays fit this variant (ndarrays of the right dtype and shape, contiguous, outputs
    writeable) and returns 1 without touching anything when they do not, else 0."""
    m = Module()
    m.add_function("__sym_checks", _CHECK_HELPERS)
    b = Builder(m)
    b.label("entry")
    all_dts = list(input_dtypes) + [s[2] for s in steps]
    out_dts = [all_dts[r] for r in outputs]
    objs = []
    for tup, count in (("%outs", len(outputs)), ("%ins", n_inputs)):
        for k in range(count):
            objs.append(b.load("ptr", b.gep("i8", b.arg(tup, "ptr"), b.const("i64", TUPLE_ITEMS + 8 * k))))
    ok = b.const("i1", 1)
    for o in objs:
        ok = ok & b.icmp("eq", Val(b, "%ndtype", "ptr"), _field(b, o, 8, "ptr"))
    b.line(f"br i1 {ok}, label %check2, label %reject")
    b.label("check2")
    nd = _field(b, objs[0], ARRAY_ND, "i32")
    dims0 = _field(b, objs[0], ARRAY_DIMS, "ptr")
    # one block per test, so that dims are only read when nd has been checked
    for k, (o, dt) in enumerate(zip(objs, out_dts + list(input_dtypes))):
        descr = _field(b, o, ARRAY_DESCR, "ptr")
        ok = b.icmp("eq", _field(b, descr, DESCR_TYPE_NUM, "i32"), np.dtype(dt).num)
        ok = ok & b.icmp("ne", _field(b, descr, DESCR_BYTEORDER, "i8"), ord(">"))
        flags = _field(b, o, ARRAY_FLAGS, "i32")
        is_out = k < len(outputs)
        if not is_out and scalar_mask >> (k - len(outputs)) & 1:
            size = b.call("i64", "__sym_size", [_field(b, o, ARRAY_DIMS, "ptr"),
                                                 _field(b, o, ARRAY_ND, "i32")])
            ok = ok & b.icmp("eq", size, 1)
        else:
            need = NPY_C_CONTIGUOUS | (NPY_WRITEABLE if is_out else 0)
            ok = ok & b.icmp("eq", flags & need, need)
            if k:
                ok = ok & b.icmp("eq", _field(b, o, ARRAY_ND, "i32"), nd)
                b.line(f"br i1 {ok}, label %dims{k}, label %reject")
                b.label(f"dims{k}")
                ok = b.call("i1", "__sym_same_dims", [dims0, _field(b, o, ARRAY_DIMS, "ptr"), nd])
        b.line(f"br i1 {ok}, label %check_{k}, label %reject")
        b.label(f"check_{k}")
    b.line("br label %run")
    b.label("reject")
    b.line("ret i32 1")
    b.label("run")
    n = b.call("i64", "__sym_size", [dims0, nd])
    ptrs = [_field(b, o, ARRAY_DATA, "ptr") for o in objs]
    out_ptrs, in_ptrs = ptrs[:len(outputs)], ptrs[len(outputs):]
    scalars = {}
    for k in range(n_inputs):
        if scalar_mask >> k & 1:
            scalars[k] = load_value(b, input_dtypes[k], in_ptrs[k])
    b.line(f"br i1 {b.icmp('sgt', n, 0)}, label %loop, label %exit")
    b.label("loop")
    i = Val(b, "%i", "i64")
    b.line("%i = phi i64 [0, %run], [%inext, %loop]")
    ins = []
    for k in range(n_inputs):
        if k in scalars:
            ins.append(scalars[k])
        else:
            p = b.gep(mem_type(input_dtypes[k]), in_ptrs[k], i)
            ins.append(load_value(b, input_dtypes[k], p, _ACCESS))
    vals, dts = emit_program(b, steps, n_inputs, input_dtypes, ins)
    for j, r in enumerate(outputs):
        p = b.gep(mem_type(all_dts[r]), out_ptrs[j], i)
        store_value(b, vals[r], all_dts[r], p, _ACCESS)
    b.line("%inext = add nuw nsw i64 %i, 1")
    b.line(f"%more = icmp slt i64 %inext, {n}")
    b.line("br i1 %more, label %loop, label %exit, !llvm.loop !1")
    b.label("exit")
    b.line("ret i32 0")
    return _finish(m, b, "ptr %ndtype, ptr %outs, ptr %ins", _LOOP_MD, "i32")


class _Odometer:
    """Runtime-rank loops: walks dimensions [lo, hi) of ``shape`` (an i64 pointer) in C
    order, keeping one element offset per array in an alloca, updated by that array's
    strides (``stride_ptrs[k]`` points at ndim int64s)."""

    def __init__(self, b, idx, shape, stride_ptrs, offs):
        self.b, self.idx, self.shape, self.stride_ptrs, self.offs = b, idx, shape, stride_ptrs, offs

    def run(self, lo, hi, tag, body):
        b = self.b
        b.line(f"br label %{tag}_body")
        b.label(f"{tag}_body")
        body()
        b.line(f"br label %{tag}_pre")
        b.label(f"{tag}_pre")
        last = b.op("sub", hi, 1)
        b.line(f"br label %{tag}_inc")
        b.label(f"{tag}_inc")
        cur, nxt = f"%{tag}_d", f"%{tag}_dn"
        b.line(f"{cur} = phi i64 [{last}, %{tag}_pre], [{nxt}, %{tag}_wrap]")
        d = Val(b, cur, "i64")
        b.line(f"br i1 {b.icmp('slt', d, lo)}, label %{tag}_done, label %{tag}_step")
        b.label(f"{tag}_step")
        ip = b.gep("i64", self.idx, d)
        iv = b.load("i64", ip) + 1
        b.store(iv, ip)
        strides = []
        for sp, off in zip(self.stride_ptrs, self.offs):
            s = b.load("i64", b.gep("i64", sp, d))
            strides.append(s)
            b.store(b.load("i64", off) + s, off)
        sh = b.load("i64", b.gep("i64", self.shape, d))
        b.line(f"br i1 {b.icmp('slt', iv, sh)}, label %{tag}_body, label %{tag}_wrap")
        b.label(f"{tag}_wrap")
        b.store(b.const("i64", 0), ip)
        for s, off in zip(strides, self.offs):
            b.store(b.load("i64", off) - s * sh, off)
        b.line(f"{nxt} = sub i64 {cur}, 1")
        b.line(f"br label %{tag}_inc")
        b.label(f"{tag}_done")


def _inner_loop(b, tag, n, body, parallel):
    """``for i in 0..n-1: body(i)`` (n >= 1)."""
    pre = b.fresh(f"{tag}_pre")[1:]
    b.line(f"br label %{pre}")
    b.label(pre)
    b.line(f"br label %{tag}")
    b.label(tag)
    i = Val(b, f"%{tag}_i", "i64")
    b.line(f"%{tag}_i = phi i64 [0, %{pre}], [%{tag}_in, %{tag}_latch]")
    phis = body(i, pre)
    b.line(f"br label %{tag}_latch")
    b.label(f"{tag}_latch")
    b.line(f"%{tag}_in = add nuw nsw i64 %{tag}_i, 1")
    c = b.icmp("slt", Val(b, f"%{tag}_in", "i64"), n)
    md = ", !llvm.loop !1" if parallel else ""
    b.line(f"br i1 {c}, label %{tag}, label %{tag}_exit{md}")
    b.label(f"{tag}_exit")
    return phis


def _addr(b, dt, base, off, i, cls, stride):
    if cls == 0:
        idx = off
    elif cls == 1:
        idx = off + i
    else:
        idx = off + i * stride
    return b.gep(mem_type(dt), base, idx)


def _walk_state(m, b, n_arrays):
    """The odometer's index array (zeroed) and one running element offset per array."""
    idx = b.emit("ptr", "alloca [32 x i64]")
    b.line(f"call void @llvm.memset.p0.i64(ptr {idx}, i8 0, i64 256, i1 false)")
    m.declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
    offs = [b.emit("ptr", "alloca i64") for _ in range(n_arrays)]
    for o in offs:
        b.store(b.const("i64", 0), o)
    return idx, offs


def _stride_ptrs(b, meta, ndim, n_arrays):
    """Pointers to each array's ``ndim`` strides in ``meta`` (after the shape)."""
    return [b.gep("i64", meta, ndim * (k + 1)) for k in range(n_arrays)]


def _inner_axis(b, meta, ndim, n_arrays):
    """Pointers to each array's strides in ``meta``, the innermost extent, and the innermost
    stride of each array."""
    stride_ptrs = _stride_ptrs(b, meta, ndim, n_arrays)
    last = ndim - 1
    n_inner = b.load("i64", b.gep("i64", meta, last))
    inner_strides = [b.load("i64", b.gep("i64", sp, last)) for sp in stride_ptrs]
    return stride_ptrs, n_inner, inner_strides


def elem_ir_strided(steps, n_inputs, input_dtypes, outputs, classes, rank=None):
    """Kernel ``void(i64 ndim, meta, outs_tuple, ins_tuple)``; ``meta`` (an int64 ndarray)
    holds shape[ndim] then ndim element strides per array (outputs first).  With ``rank``
    (2 or 3, then equal to ndim) the outer dimensions are plain nested loops instead of the
    run-time-rank odometer, whose per-row cost showed on short rows (a bias broadcast over
    12 x 12 images: 0.4 ms of 1.4 over 5,120 rows)."""
    m = Module()
    b = Builder(m)
    b.label("entry")
    ndim = b.arg("%ndim", "i64")
    meta = _data_ptrs(b, b.arg("%metat", "ptr"), 1, "meta")[0]
    out_ptrs = _data_ptrs(b, b.arg("%outs", "ptr"), len(outputs), "o")
    in_ptrs = _data_ptrs(b, b.arg("%ins", "ptr"), n_inputs, "p")
    all_dts = list(input_dtypes) + [s[2] for s in steps]
    arr_dts = [all_dts[r] for r in outputs] + list(input_dtypes)
    bases = out_ptrs + in_ptrs
    narr = len(bases)
    idx, offs = _walk_state(m, b, narr)
    stride_ptrs, n_inner, inner_strides = _inner_axis(b, meta, ndim, narr)
    last = ndim - 1

    def row(base_offs=None):
        base_offs = base_offs or [b.load("i64", o) for o in offs]

        def body(i, pre):
            ins = []
            for k in range(n_inputs):
                a = len(outputs) + k
                p = _addr(b, arr_dts[a], bases[a], base_offs[a], i, classes[a], inner_strides[a])
                ins.append(load_value(b, arr_dts[a], p, _ACCESS if classes[a] else ""))
            vals, _ = emit_program(b, steps, n_inputs, input_dtypes, ins)
            for j, r in enumerate(outputs):
                p = _addr(b, arr_dts[j], bases[j], base_offs[j], i, classes[j], inner_strides[j])
                store_value(b, vals[r], arr_dts[j], p, _ACCESS)
        _inner_loop(b, "inner", n_inner, body, parallel=True)

    if rank is None:
        _Odometer(b, idx, meta, stride_ptrs, offs).run(b.const("i64", 0), last, "od", row)
    else:
        extents = [b.load("i64", b.gep("i64", meta, b.const("i64", d))) for d in range(rank - 1)]
        strides = [[b.load("i64", b.gep("i64", sp, b.const("i64", d))) for d in range(rank - 1)] for sp in stride_ptrs]

        def nest(d, offsets):
            if d == rank - 1:
                return row(offsets)
            for_range(b, 0, extents[d], lambda i: nest(d + 1, [b.op("add", o, b.op("mul", i, st[d]))
                                                               for o, st in zip(offsets, strides)]), f"outer{d}")
        nest(0, [b.const("i64", 0)] * narr)
    b.line("ret void")
    return _finish(m, b, "i64 %ndim, ptr %metat, ptr %outs, ptr %ins", _LOOP_MD)


# ----------------------------------------------------------------------------------------
# reductions
# ----------------------------------------------------------------------------------------
def acc_dtype_for(kind, in_dt, out_dt):
    if kind in ("sum", "prod"):
        return "float64" if out_dt == "float32" else out_dt
    if kind in ("any", "all"):
        return "bool"
    return out_dt


def _identity(kind, dt):
    k = kind_of(dt)
    if kind == "sum":
        return 0
    if kind == "prod":
        return 1
    if kind == "any":
        return 0
    if kind == "all":
        return 1
    if k == "f":
        return -math.inf if kind == "max" else math.inf
    if k == "b":
        return 0 if kind == "max" else 1
    if k == "u":
        return 0 if kind == "max" else 255
    bits = DTYPES[dt][3]
    return -(1 << (bits - 1)) if kind == "max" else (1 << (bits - 1)) - 1


def _combine(b, kind, acc, x, dt):
    k = kind_of(dt)
    if k == "b" and kind in ("sum", "prod"):       # NumPy's bool sum and product: or, and
        kind = "any" if kind == "sum" else "all"
    if kind == "sum":
        return b.binop("fadd", acc, x, "reassoc") if k == "f" else acc + x
    if kind == "prod":
        return b.binop("fmul", acc, x, "reassoc") if k == "f" else acc * x
    if kind == "any":
        return acc | x
    if kind == "all":
        return acc & x
    if k == "f":
        return b.intr("maximum" if kind == "max" else "minimum", acc, x)
    if k == "b":
        return (acc | x) if kind == "max" else (acc & x)
    pre = "s" if k == "i" else "u"
    return b.intr(f"{pre}{kind}", acc, x)


def _reduce_entry(steps, n_inputs, input_dtypes, output, kind, out_dt):
    """What both reduction kernels start with: the module and builder, the arguments, the
    arrays' data pointers, the dtypes of the reduced value and of the accumulator, the
    walk's index array, and a running and a row offset per input."""
    m = Module()
    b = Builder(m)
    b.label("entry")
    nk, nr = b.arg("%nk", "i64"), b.arg("%nr", "i64")
    meta = _data_ptrs(b, b.arg("%metat", "ptr"), 1, "meta")[0]
    out_ptr = _data_ptrs(b, b.arg("%outt", "ptr"), 1, "o")[0]
    in_ptrs = _data_ptrs(b, b.arg("%ins", "ptr"), n_inputs, "p")
    val_dt = (list(input_dtypes) + [s[2] for s in steps])[output]
    idx, offs = _walk_state(m, b, n_inputs)
    roffs = [b.emit("ptr", "alloca i64") for _ in range(n_inputs)]
    return (m, b, nk, nr, meta, out_ptr, in_ptrs, val_dt, acc_dtype_for(kind, val_dt, out_dt),
            idx, offs, roffs)


def reduce_ir(steps, n_inputs, input_dtypes, output, kind, out_dt, classes):
    """Kernel ``void(i64 nk, i64 nr, meta, out_array, ins_tuple)``: for each of the kept
    positions (C order, dims [0, nk)), reduce over dims [nk, nk+nr); ``meta`` holds the
    shape then ndim element strides per input."""
    (m, b, nk, nr, meta, out_ptr, in_ptrs, val_dt, acc_dt, idx, offs,
     roffs) = _reduce_entry(steps, n_inputs, input_dtypes, output, kind, out_dt)
    ndim = nk + nr
    accp = b.emit("ptr", f"alloca {reg_type(acc_dt)}")
    jp = b.emit("ptr", "alloca i64")
    b.store(b.const("i64", 0), jp)
    stride_ptrs, n_inner, inner_strides = _inner_axis(b, meta, ndim, n_inputs)
    last = ndim - 1

    def point():
        b.store(b.const(reg_type(acc_dt), _identity(kind, acc_dt)), accp)
        for o, r in zip(offs, roffs):
            b.store(b.load("i64", o), r)

        def row():
            base_offs = [b.load("i64", r) for r in roffs]
            acc0 = b.load(reg_type(acc_dt), accp)
            accname = "%acc_phi"

            result = []

            def body(i, pre):
                acc = Val(b, accname, reg_type(acc_dt))
                b.line(f"{accname} = phi {acc.ty} [{acc0}, %{pre}], [%ACCNEXT, %inner_latch]")
                phi_line = len(b.lines) - 1
                ins = []
                for k in range(n_inputs):
                    p = _addr(b, input_dtypes[k], in_ptrs[k], base_offs[k], i, classes[k],
                              inner_strides[k])
                    ins.append(load_value(b, input_dtypes[k], p))
                vals, _ = emit_program(b, steps, n_inputs, input_dtypes, ins)
                x = cast(b, vals[output], val_dt, acc_dt)
                nxt = _combine(b, kind, acc, x, acc_dt)
                b.lines[phi_line] = b.lines[phi_line].replace("%ACCNEXT", nxt.name)
                result.append(nxt)
            _inner_loop(b, "inner", n_inner, body, parallel=False)
            b.store(result[0], accp)

        _Odometer(b, idx, meta, stride_ptrs, roffs).run(nk, last, "rd", row)
        res = cast(b, b.load(reg_type(acc_dt), accp), acc_dt, out_dt)
        j = b.load("i64", jp)
        store_value(b, res, out_dt, b.gep(mem_type(out_dt), out_ptr, j))
        b.store(j + 1, jp)

    _Odometer(b, idx, meta, stride_ptrs, offs).run(b.const("i64", 0), nk, "kd", point)
    b.line("ret void")
    return _finish(m, b, "i64 %nk, i64 %nr, ptr %metat, ptr %outt, ptr %ins")


COLUMN_CHUNK = 2048      # accumulators of one pass of the column kernel: 16 KB of float64 on the
                         # stack (a 1000 x 4000 column sum: 3.9 ms with 256, 2.5 with 1024, 1.5 here)


def column_reduce_ir(steps, n_inputs, input_dtypes, output, kind, out_dt, classes):
    """Kernel like ``reduce_ir``'s, for layouts whose innermost kept dimension (nk - 1) is the
    contiguous one: a column sum of a C-contiguous matrix, a bias gradient.  Walking it
    position by position reads each column with a stride (~5x slower than NumPy on a
    1000 x 4000 column sum); here a chunk of ``COLUMN_CHUNK`` consecutive kept positions
    accumulates on the stack while the reduced dimensions are walked in C order, each step
    a contiguous, vectorized pass over the chunk.  Every position still accumulates its
    values in the same order as ``reduce_ir`` does.  ``classes``: each input's stride class
    along dimension nk - 1 (0: broadcast, 1: contiguous)."""
    (m, b, nk, nr, meta, out_ptr, in_ptrs, val_dt, acc_dt, idx, offs,
     roffs) = _reduce_entry(steps, n_inputs, input_dtypes, output, kind, out_dt)
    acc_ty = reg_type(acc_dt)
    ndim = nk + nr
    accs = b.emit("ptr", f"alloca [{COLUMN_CHUNK} x {acc_ty}]")
    basep = b.emit("ptr", "alloca i64")
    b.store(b.const("i64", 0), basep)
    stride_ptrs = _stride_ptrs(b, meta, ndim, n_inputs)
    inner = nk - 1
    n_inner = b.load("i64", b.gep("i64", meta, inner))
    n_chunks = b.op("sdiv", n_inner + (COLUMN_CHUNK - 1), b.const("i64", COLUMN_CHUNK))

    def point():
        base = b.load("i64", basep)

        def chunk(q, _):
            first = q * COLUMN_CHUNK
            rest = n_inner - first
            width = b.select(b.icmp("slt", rest, b.const("i64", COLUMN_CHUNK)), rest,
                             b.const("i64", COLUMN_CHUNK))
            _inner_loop(b, "init", width, lambda j, _: b.store(
                b.const(acc_ty, _identity(kind, acc_dt)), b.gep(acc_ty, accs, j)), parallel=False)
            for o, r in zip(offs, roffs):
                b.store(b.load("i64", o), r)

            def row():
                starts = [b.load("i64", r) + (first if cls == 1 else 0) for r, cls in zip(roffs, classes)]

                def body(j, _):
                    ins = [load_value(b, input_dtypes[k],
                                      _addr(b, input_dtypes[k], in_ptrs[k], starts[k], j, classes[k], None))
                           for k in range(n_inputs)]
                    vals, _ = emit_program(b, steps, n_inputs, input_dtypes, ins)
                    slot = b.gep(acc_ty, accs, j)
                    acc = b.load(acc_ty, slot)
                    b.store(_combine(b, kind, acc, cast(b, vals[output], val_dt, acc_dt), acc_dt), slot)
                _inner_loop(b, "cols", width, body, parallel=False)

            _Odometer(b, idx, meta, stride_ptrs, roffs).run(nk, ndim, "rd", row)
            at = base + first
            _inner_loop(b, "store", width, lambda j, _: store_value(
                b, cast(b, b.load(acc_ty, b.gep(acc_ty, accs, j)), acc_dt, out_dt), out_dt,
                b.gep(mem_type(out_dt), out_ptr, at + j)), parallel=False)
        _inner_loop(b, "chunk", n_chunks, chunk, parallel=False)
        b.store(base + n_inner, basep)

    _Odometer(b, idx, meta, stride_ptrs, offs).run(b.const("i64", 0), inner, "kd", point)
    b.line("ret void")
    return _finish(m, b, "i64 %nk, i64 %nr, ptr %metat, ptr %outt, ptr %ins")

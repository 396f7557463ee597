"""Elementwise and reduction kernels generated as LLVM IR (see jit.py and mathlib.py).

Entry points::

    k = compile_fused(steps, n_inputs, input_dtypes, outputs, ndim=None)
    k(out_arrays, in_arrays)            # fills the outputs (C-contiguous, broadcast shape)

    r = compile_fused_reduce(steps, n_inputs, input_dtypes, output, kind, axes, out_dtype,
                             ndim=None)
    r(out_array, in_arrays)             # out has the input shape without ``axes``

    describe(node_or_op)                # -> keyword arguments for the two functions above,
                                        #    from an Elemwise/Cast/FusedElemwise/Reduce/
                                        #    FusedReduce op (or an Apply node of one)
    kernel_for_node(node)               # compile_fused or compile_fused_reduce from a node

``steps`` are FusedElemwise steps: ``(scalar_op or "cast", argument registers, out dtype)``
(a scalar op may also be given by its name).  Registers ``0..n_inputs-1`` are the inputs.

Calls go through ctypes (which releases the GIL).  The arrays themselves are passed as two
tuples of Python objects, and the kernel reads each array's data pointer from the ndarray
object (offsets checked when this module is imported): getting a pointer in Python costs
2-3 us per array (``.ctypes.data``, ``__array_interface__``), a tuple argument 0.4 us.

Two kernel shapes per program, each compiled on first need:

* flat: every input is C-contiguous with the output shape, or has one element (loaded once
  before the loop); one loop over ``n`` elements, which the loop vectorizer widens.
* strided: the general case.  Python broadcasts (stride 0), drops size-1 dimensions and
  merges dimensions that are contiguous for every array, then passes shape and element
  strides (int64) at run time; the kernel walks the outer dimensions with an odometer and
  runs an inner loop over the last one, whose stride is specialized per array to 0, 1 or
  "run time" (part of the kernel's key), so broadcasting a row or a column still vectorizes.

Outputs may alias inputs exactly (in-place) but must not overlap them otherwise: the inner
loops are marked ``llvm.loop.parallel_accesses``.  Outputs are written with the kernel's
own dtype; the caller allocates them.

NumPy semantics: integer ops wrap; ``//`` and ``%`` follow Python's sign rules, and integer
division or modulo by zero give 0 (NumPy warns and gives 0); float ``//`` and ``%`` use
NumPy's divmod algorithm; float -> int casts truncate, and values out of range (or NaN) give
what NumPy gives on x86 (the minimum int32/int64, then truncated to narrower types);
float -> bool is ``x != 0`` (NaN is True).  Integer ``pow`` with a negative exponent (an error
in NumPy) gives 1 for base 1, +-1 for base -1, else 0.
"""
import ctypes
import hashlib
import math
import threading

import numpy as np

from . import jit
from .mathlib import Builder, Module, Val

# ----------------------------------------------------------------------------------------
# CPython / NumPy object layout (checked below)
# ----------------------------------------------------------------------------------------
TUPLE_ITEMS = tuple.__basicsize__          # offset of ob_item[0] in a PyTupleObject
ARRAY_DATA = object.__basicsize__          # offset of ``data`` in a PyArrayObject


ARRAY_ND, ARRAY_DIMS, ARRAY_STRIDES = ARRAY_DATA + 8, ARRAY_DATA + 16, ARRAY_DATA + 24
ARRAY_DESCR, ARRAY_FLAGS = ARRAY_DATA + 40, ARRAY_DATA + 48
DESCR_BYTEORDER, DESCR_TYPE_NUM = object.__basicsize__ + 10, object.__basicsize__ + 12
NPY_C_CONTIGUOUS, NPY_WRITEABLE = 0x1, 0x400


def _check_layout():
    """The kernels read ndarray and tuple objects directly: check the field offsets."""
    def rd(addr, ctype):
        return ctype.from_address(addr).value
    a = np.zeros((3, 4), np.float32)[:, ::2]
    t = (a,)
    ok = (rd(id(t) + TUPLE_ITEMS, ctypes.c_void_p) == id(a)
          and rd(id(a) + ARRAY_DATA, ctypes.c_void_p) == a.ctypes.data
          and rd(id(a) + ARRAY_ND, ctypes.c_int) == 2
          and rd(rd(id(a) + ARRAY_DIMS, ctypes.c_void_p) + 8, ctypes.c_int64) == 2
          and rd(rd(id(a) + ARRAY_STRIDES, ctypes.c_void_p) + 8, ctypes.c_int64) == 8
          and rd(id(a) + ARRAY_DESCR, ctypes.c_void_p) == id(a.dtype)
          and rd(id(a) + ARRAY_FLAGS, ctypes.c_int) & NPY_WRITEABLE
          and not rd(id(a) + ARRAY_FLAGS, ctypes.c_int) & NPY_C_CONTIGUOUS
          and rd(id(a.dtype) + DESCR_TYPE_NUM, ctypes.c_int) == a.dtype.num
          and rd(id(a.dtype) + DESCR_BYTEORDER, ctypes.c_char) == a.dtype.byteorder.encode())
    if not ok:
        raise ImportError("backends.llvm.elemwise: unexpected tuple/ndarray object layout; "
                          "this Python/NumPy build is not supported by the LLVM backend")


_check_layout()

# ----------------------------------------------------------------------------------------
# dtypes
# ----------------------------------------------------------------------------------------
#            memory type, register type, kind (b bool, i signed, u unsigned, f float), bits
_DT = {
    "bool": ("i8", "i1", "b", 1),
    "int8": ("i8", "i8", "i", 8),
    "int16": ("i16", "i16", "i", 16),
    "int32": ("i32", "i32", "i", 32),
    "int64": ("i64", "i64", "i", 64),
    "uint8": ("i8", "i8", "u", 8),
    "float32": ("float", "float", "f", 32),
    "float64": ("double", "double", "f", 64),
}


def _mem(dt):
    return _DT[dt][0]


def _reg(dt):
    return _DT[dt][1]


def _kind(dt):
    return _DT[dt][2]


def _result_type(*dts):
    return np.result_type(*[np.dtype(d) for d in dts]).name


def _load(b, dt, ptr, meta=""):
    v = b.load(_mem(dt), ptr, meta)
    if dt == "bool":
        v = b.icmp("ne", v, 0)
    return v


def _store(b, v, dt, ptr, meta=""):
    if dt == "bool":
        v = b.conv("zext", v, "i8")
    b.store(v, ptr, meta)


def cast(b, v, src, dst):
    """Convert value ``v`` of dtype ``src`` to ``dst`` like ``ndarray.astype`` (on x86)."""
    if src == dst:
        return v
    ks, kd = _kind(src), _kind(dst)
    rd = _reg(dst)
    if dst == "bool":
        return b.fcmp("une", v, 0.0) if ks == "f" else b.icmp("ne", v, 0)
    if ks == "b":
        return b.conv("uitofp" if kd == "f" else "zext", v, rd)
    if ks in "iu" and kd in "iu":
        bs, bd = _DT[src][3], _DT[dst][3]
        if bs == bd:
            return v
        if bs > bd:
            return b.conv("trunc", v, rd)
        return b.conv("sext" if ks == "i" else "zext", v, rd)
    if ks in "iu" and kd == "f":
        return b.conv("sitofp" if ks == "i" else "uitofp", v, rd)
    if ks == "f" and kd == "f":
        return b.conv("fpext" if _DT[src][3] < _DT[dst][3] else "fptrunc", v, rd)
    # float -> int: cvtt semantics: out of range or NaN -> INT_MIN of 32 (or 64) bits
    w = 64 if _DT[dst][3] == 64 else 32
    wt = f"i{w}"
    lim = 2.0 ** (w - 1)
    inr = b.fcmp("oge", v, -lim) & b.fcmp("olt", v, lim)
    safe = b.select(inr, v, 0.0)
    r = b.select(inr, b.conv("fptosi", safe, wt), b.const(wt, -(1 << (w - 1))))
    return b.conv("trunc", r, rd) if _DT[dst][3] < w else r


# ----------------------------------------------------------------------------------------
# scalar ops
# ----------------------------------------------------------------------------------------
_CMP = {"eq": ("oeq", "eq", "eq"), "neq": ("une", "ne", "ne"), "lt": ("olt", "slt", "ult"),
        "le": ("ole", "sle", "ule"), "gt": ("ogt", "sgt", "ugt"), "ge": ("oge", "sge", "uge")}
_MATH = {"exp", "expm1", "log", "log1p", "log2", "log10", "tanh", "sigmoid", "softplus", "erf"}
_INTRIN = {"sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "floor": "floor",
           "ceil": "ceil", "round": "roundeven"}
_BOOL_ARITH = {"add", "sub", "mul", "int_div", "mod", "pow", "maximum", "minimum", "clip", "abs",
               "sign", "sqr", "relu", "floor", "ceil", "round", "identity", "neg", "true_div"}
SUPPORTED_OPS = (set(_CMP) | _MATH | set(_INTRIN) | _BOOL_ARITH
                 | {"and", "or", "xor", "invert", "isnan", "isinf", "switch"})


def _fmax(b, x, y):
    """np.maximum: NaN if either is NaN, else ``x if x > y else y``."""
    return b.select(b.isnan(x), x, b.select(b.fcmp("ogt", x, y), x, y))


def _fmin(b, x, y):
    return b.select(b.isnan(x), x, b.select(b.fcmp("olt", x, y), x, y))


def _imax(b, x, y, kind):
    return b.select(b.icmp("sgt" if kind == "i" else "ugt", x, y), x, y)


def _imin(b, x, y, kind):
    return b.select(b.icmp("slt" if kind == "i" else "ult", x, y), x, y)


def _float_divmod(b, x, y):
    """NumPy's npy_divmod for floats: (floor_divide, remainder)."""
    ty = x.ty
    mod = b.binop("frem", x, y)
    q = x / y
    div = (x - mod) / y
    adj = b.fcmp("une", mod, 0.0) & (b.fcmp("olt", y, 0.0) ^ b.fcmp("olt", mod, 0.0))
    mod2 = b.select(adj, mod + y, mod)
    div2 = b.select(adj, div - 1.0, div)
    mod3 = b.select(b.fcmp("une", mod, 0.0), mod2, b.intr("copysign", b.const(ty, 0.0), y))
    fl = b.intr("floor", div2)
    fl = b.select(b.fcmp("ogt", div2 - fl, 0.5), fl + 1.0, fl)
    fl = b.select(b.fcmp("une", div2, 0.0), fl, b.intr("copysign", b.const(ty, 0.0), q))
    yz = b.fcmp("oeq", y, 0.0)
    return b.select(yz, q, fl), b.select(yz, mod, mod3)


def _int_divmod(b, x, y, kind, bits):
    """Python-style floor division and modulo; 0 for division by zero."""
    ty = x.ty
    zero = b.icmp("eq", y, 0)
    if kind == "u":
        ys = b.select(zero, b.const(ty, 1), y)
        q = b.binop("udiv", x, ys)
        r = b.binop("urem", x, ys)
        return b.select(zero, b.const(ty, 0), q), b.select(zero, b.const(ty, 0), r)
    # INT_MIN / -1 overflows (traps on x86): divide by 1 instead, which gives the
    # wrapped quotient INT_MIN and remainder 0, as NumPy does.
    ovf = b.icmp("eq", x, -(1 << (bits - 1))) & b.icmp("eq", y, -1)
    ys = b.select(zero | ovf, b.const(ty, 1), y)
    q = b.binop("sdiv", x, ys)
    r = b.binop("srem", x, ys)
    fix = b.icmp("ne", r, 0) & b.icmp("slt", r ^ ys, 0)
    q = b.select(fix, q - 1, q)
    r = b.select(fix, r + ys, r)
    return b.select(zero, b.const(ty, 0), q), b.select(zero, b.const(ty, 0), r)


def _ipow_function(module, ty, kind):
    name = f"__sym_ipow_{ty}_{kind}"
    if name in module.functions:
        return name
    neg_part = ""
    if kind == "i":
        neg_part = f"""
  %neg = icmp slt {ty} %b, 0
  br i1 %neg, label %negexp, label %head
negexp:
  %is1 = icmp eq {ty} %a, 1
  %ism1 = icmp eq {ty} %a, -1
  %odd = and {ty} %b, 1
  %oddb = icmp ne {ty} %odd, 0
  %m1 = select i1 %oddb, {ty} -1, {ty} 1
  %r0 = select i1 %ism1, {ty} %m1, {ty} 0
  %r1 = select i1 %is1, {ty} 1, {ty} %r0
  ret {ty} %r1"""
    else:
        neg_part = "\n  br label %head"
    module.functions[name] = f"""define internal {ty} @{name}({ty} %a, {ty} %b) alwaysinline nounwind {{
entry:{neg_part}
head:
  %r = phi {ty} [1, %entry], [%r2, %body]
  %base = phi {ty} [%a, %entry], [%base2, %body]
  %e = phi {ty} [%b, %entry], [%e2, %body]
  %done = icmp eq {ty} %e, 0
  br i1 %done, label %exit, label %body
body:
  %bit = and {ty} %e, 1
  %isodd = icmp ne {ty} %bit, 0
  %rm = mul {ty} %r, %base
  %r2 = select i1 %isodd, {ty} %rm, {ty} %r
  %base2 = mul {ty} %base, %base
  %e2 = lshr {ty} %e, 1
  br label %head
exit:
  ret {ty} %r
}}"""
    return name


def _compute_dtype(name, arg_dts, out_dt):
    if name in _CMP:
        return _result_type(*arg_dts)
    if name in ("isnan", "isinf"):
        return arg_dts[0]
    return out_dt


def emit_op(b, name, args, arg_dts, out_dt):
    """Emit scalar op ``name`` on values ``args`` (dtypes ``arg_dts``); result in ``out_dt``."""
    if name == "cast":
        return cast(b, args[0], arg_dts[0], out_dt)
    if name not in SUPPORTED_OPS:
        raise NotImplementedError(f"llvm backend: scalar op {name!r} is not supported")
    if name == "switch":
        c = cast(b, args[0], arg_dts[0], "bool")
        x = cast(b, args[1], arg_dts[1], out_dt)
        y = cast(b, args[2], arg_dts[2], out_dt)
        return b.select(c, x, y)
    ct = _compute_dtype(name, arg_dts, out_dt)
    if ct == "bool" and name in _BOOL_ARITH:
        # NumPy computes these on booleans as small integers, then casts to bool
        vals = [cast(b, a, d, "int8") for a, d in zip(args, arg_dts)]
        r = _emit_typed(b, name, vals, "int8")
        return cast(b, r, "int8", "bool")
    vals = [cast(b, a, d, ct) for a, d in zip(args, arg_dts)]
    r = _emit_typed(b, name, vals, ct)
    rdt = "bool" if name in _CMP or name in ("isnan", "isinf") else ct
    return cast(b, r, rdt, out_dt)


def _emit_typed(b, name, v, dt):
    kind = _kind(dt)
    x = v[0]
    y = v[1] if len(v) > 1 else None
    if name in _CMP:
        fp, sp, up = _CMP[name]
        if kind == "f":
            return b.fcmp(fp, x, y)
        return b.icmp(sp if kind == "i" else up, x, y)
    if name == "isnan":
        return b.isnan(x) if kind == "f" else b.const("i1", 0)
    if name == "isinf":
        return b.fcmp("oeq", b.fabs(x), math.inf) if kind == "f" else b.const("i1", 0)
    if name in ("and", "or", "xor"):
        return {"and": x.__and__, "or": x.__or__, "xor": x.__xor__}[name](y)
    if name == "invert":
        return x ^ (1 if kind == "b" else -1)
    if name == "identity":
        return x
    if name in ("add", "sub", "mul"):
        return {"add": x.__add__, "sub": x.__sub__, "mul": x.__mul__}[name](y)
    if name == "sqr":
        return x * x
    if name == "neg":
        return -x
    if kind == "f":
        if name == "true_div":
            return x / y
        if name in ("int_div", "mod"):
            return _float_divmod(b, x, y)[0 if name == "int_div" else 1]
        if name == "pow":
            return b.module.math.call(b, "pow", x, y)
        if name == "maximum":
            return _fmax(b, x, y)
        if name == "minimum":
            return _fmin(b, x, y)
        if name == "clip":
            return _fmin(b, _fmax(b, x, y), v[2])
        if name == "relu":
            return _fmax(b, x, b.const(x.ty, 0.0))
        if name == "abs":
            return b.fabs(x)
        if name == "sign":
            r = b.select(b.fcmp("olt", x, 0.0), -1.0, 0.0, x.ty)
            r = b.select(b.fcmp("ogt", x, 0.0), 1.0, r)
            return b.select(b.isnan(x), x, r)
        if name in _MATH:
            return b.module.math.call(b, name, x)
        if name in _INTRIN:
            return b.intr(_INTRIN[name], x)
    else:
        bits = _DT[dt][3]
        if name in ("int_div", "mod"):
            return _int_divmod(b, x, y, kind, bits)[0 if name == "int_div" else 1]
        if name == "pow":
            fn = _ipow_function(b.module, x.ty, kind)
            return b.call(x.ty, fn, [x, y])
        if name == "maximum":
            return _imax(b, x, y, kind)
        if name == "minimum":
            return _imin(b, x, y, kind)
        if name == "clip":
            return _imin(b, _imax(b, x, y, kind), v[2], kind)
        if name == "relu":
            return _imax(b, x, b.const(x.ty, 0), kind) if kind == "i" else x
        if name == "abs":
            return b.select(b.icmp("slt", x, 0), -x, x) if kind == "i" else x
        if name == "sign":
            pos = b.conv("zext", b.icmp("sgt" if kind == "i" else "ugt", x, 0), x.ty)
            if kind == "u":
                return pos
            return pos - b.conv("zext", b.icmp("slt", x, 0), x.ty)
        if name in ("floor", "ceil", "round"):
            return x
    raise NotImplementedError(f"llvm backend: {name} on {dt}")


def _step_name(op):
    return op if isinstance(op, str) else op.name


def _program(b, steps, n_inputs, input_dtypes, inputs):
    """Emit the straight-line program; returns (values, dtypes) of all registers."""
    vals, dts = list(inputs), list(input_dtypes)
    for op, args, dt in steps:
        vals.append(emit_op(b, _step_name(op), [vals[a] for a in args], [dts[a] for a in args], dt))
        dts.append(dt)
    return vals, dts


# ----------------------------------------------------------------------------------------
# kernel IR
# ----------------------------------------------------------------------------------------
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


def _elem_ir_flat(steps, n_inputs, input_dtypes, outputs, scalar_mask):
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
            scalars[k] = _load(b, input_dtypes[k], in_ptrs[k])
    b.line(f"br i1 {b.icmp('sgt', n, 0)}, label %loop, label %exit")
    b.label("loop")
    i = Val(b, "%i", "i64")
    b.line("%i = phi i64 [0, %run], [%inext, %loop]")
    ins = []
    for k in range(n_inputs):
        if k in scalars:
            ins.append(scalars[k])
        else:
            p = b.gep(_mem(input_dtypes[k]), in_ptrs[k], i)
            ins.append(_load(b, input_dtypes[k], p, _ACCESS))
    vals, dts = _program(b, steps, n_inputs, input_dtypes, ins)
    for j, r in enumerate(outputs):
        p = b.gep(_mem(all_dts[r]), out_ptrs[j], i)
        _store(b, vals[r], all_dts[r], p, _ACCESS)
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
    return b.gep(_mem(dt), base, idx)


def _walk_state(m, b, n_arrays):
    """The odometer's index array (zeroed) and one running element offset per array."""
    idx = b.emit("ptr", "alloca [32 x i64]")
    b.line(f"call void @llvm.memset.p0.i64(ptr {idx}, i8 0, i64 256, i1 false)")
    m.declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
    offs = [b.emit("ptr", "alloca i64") for _ in range(n_arrays)]
    for o in offs:
        b.store(b.const("i64", 0), o)
    return idx, offs


def _inner_axis(b, meta, ndim, n_arrays):
    """Pointers to each array's strides in ``meta``, the innermost extent, and the innermost
    stride of each array."""
    stride_ptrs = [b.gep("i64", meta, ndim * (k + 1)) for k in range(n_arrays)]
    last = ndim - 1
    n_inner = b.load("i64", b.gep("i64", meta, last))
    inner_strides = [b.load("i64", b.gep("i64", sp, last)) for sp in stride_ptrs]
    return stride_ptrs, n_inner, inner_strides


def _elem_ir_strided(steps, n_inputs, input_dtypes, outputs, classes):
    """Kernel ``void(i64 ndim, meta, outs_tuple, ins_tuple)``; ``meta`` (an int64 ndarray)
    holds shape[ndim] then ndim element strides per array (outputs first)."""
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

    def row():
        base_offs = [b.load("i64", o) for o in offs]

        def body(i, pre):
            ins = []
            for k in range(n_inputs):
                a = len(outputs) + k
                p = _addr(b, arr_dts[a], bases[a], base_offs[a], i, classes[a], inner_strides[a])
                ins.append(_load(b, arr_dts[a], p, _ACCESS if classes[a] else ""))
            vals, _ = _program(b, steps, n_inputs, input_dtypes, ins)
            for j, r in enumerate(outputs):
                p = _addr(b, arr_dts[j], bases[j], base_offs[j], i, classes[j], inner_strides[j])
                _store(b, vals[r], arr_dts[j], p, _ACCESS)
        _inner_loop(b, "inner", n_inner, body, parallel=True)

    _Odometer(b, idx, meta, stride_ptrs, offs).run(b.const("i64", 0), last, "od", row)
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
    k = _kind(dt)
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
    bits = _DT[dt][3]
    return -(1 << (bits - 1)) if kind == "max" else (1 << (bits - 1)) - 1


def _combine(b, kind, acc, x, dt):
    k = _kind(dt)
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


def _reduce_ir(steps, n_inputs, input_dtypes, output, kind, out_dt, classes):
    """Kernel ``void(i64 nk, i64 nr, meta, out_array, ins_tuple)``: for each of the kept
    positions (C order, dims [0, nk)), reduce over dims [nk, nk+nr); ``meta`` holds the
    shape then ndim element strides per input."""
    m = Module()
    b = Builder(m)
    b.label("entry")
    nk, nr = b.arg("%nk", "i64"), b.arg("%nr", "i64")
    meta = _data_ptrs(b, b.arg("%metat", "ptr"), 1, "meta")[0]
    out_ptr = _data_ptrs(b, b.arg("%outt", "ptr"), 1, "o")[0]
    in_ptrs = _data_ptrs(b, b.arg("%ins", "ptr"), n_inputs, "p")
    all_dts = list(input_dtypes) + [s[2] for s in steps]
    val_dt = all_dts[output]
    acc_dt = acc_dtype_for(kind, val_dt, out_dt)
    ndim = nk + nr
    idx, offs = _walk_state(m, b, n_inputs)
    roffs = [b.emit("ptr", "alloca i64") for _ in range(n_inputs)]
    accp = b.emit("ptr", f"alloca {_reg(acc_dt)}")
    jp = b.emit("ptr", "alloca i64")
    b.store(b.const("i64", 0), jp)
    stride_ptrs, n_inner, inner_strides = _inner_axis(b, meta, ndim, n_inputs)
    last = ndim - 1

    def point():
        b.store(b.const(_reg(acc_dt), _identity(kind, acc_dt)), accp)
        for o, r in zip(offs, roffs):
            b.store(b.load("i64", o), r)

        def row():
            base_offs = [b.load("i64", r) for r in roffs]
            acc0 = b.load(_reg(acc_dt), accp)
            accname = "%acc_phi"

            result = []

            def body(i, pre):
                acc = Val(b, accname, _reg(acc_dt))
                b.line(f"{accname} = phi {acc.ty} [{acc0}, %{pre}], [%ACCNEXT, %inner_latch]")
                phi_line = len(b.lines) - 1
                ins = []
                for k in range(n_inputs):
                    p = _addr(b, input_dtypes[k], in_ptrs[k], base_offs[k], i, classes[k],
                              inner_strides[k])
                    ins.append(_load(b, input_dtypes[k], p))
                vals, _ = _program(b, steps, n_inputs, input_dtypes, ins)
                x = cast(b, vals[output], val_dt, acc_dt)
                nxt = _combine(b, kind, acc, x, acc_dt)
                b.lines[phi_line] = b.lines[phi_line].replace("%ACCNEXT", nxt.name)
                result.append(nxt)
            _inner_loop(b, "inner", n_inner, body, parallel=False)
            b.store(result[0], accp)

        _Odometer(b, idx, meta, stride_ptrs, roffs).run(nk, last, "rd", row)
        res = cast(b, b.load(_reg(acc_dt), accp), acc_dt, out_dt)
        j = b.load("i64", jp)
        _store(b, res, out_dt, b.gep(_mem(out_dt), out_ptr, j))
        b.store(j + 1, jp)

    _Odometer(b, idx, meta, stride_ptrs, offs).run(b.const("i64", 0), nk, "kd", point)
    b.line("ret void")
    return _finish(m, b, "i64 %nk, i64 %nr, ptr %metat, ptr %outt, ptr %ins")


# ----------------------------------------------------------------------------------------
# Python side
# ----------------------------------------------------------------------------------------
_lock = threading.RLock()
_kernels = {}
_PYOBJ = ctypes.py_object
_FLAT_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, _PYOBJ, _PYOBJ)
_NDARRAY_TYPE = id(np.ndarray)
_STRIDED_T = ctypes.CFUNCTYPE(None, ctypes.c_int64, _PYOBJ, _PYOBJ, _PYOBJ)
_REDUCE_T = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, _PYOBJ, _PYOBJ, _PYOBJ)

_NP_DTYPES = {d: np.dtype(d) for d in _DT}


def _build(key, make_ir, ftype):
    with _lock:
        fn = _kernels.get(key)
        if fn is None:
            ir, name = make_ir()
            addr = jit.compile_ir(ir, [name])[name]
            fn = ftype(addr)
            fn._ir = ir
            _kernels[key] = fn
        return fn


def _norm_steps(steps):
    return tuple((_step_name(op), tuple(int(a) for a in args), np.dtype(dt).name)
                 for op, args, dt in steps)


def _element_strides(a, shape):
    """Element strides of ``a`` broadcast to ``shape`` (0 where broadcast), or None."""
    nd = len(shape)
    lead = nd - a.ndim
    isz = a.itemsize
    out = [0] * nd
    for d in range(a.ndim):
        n = a.shape[d]
        if n == 1:
            continue
        if n != shape[lead + d]:
            raise ValueError(f"llvm kernel: input shape {a.shape} does not broadcast to {shape}")
        s = a.strides[d]
        if s % isz:
            return None
        out[lead + d] = s // isz
    return out


def _collapse(shape, strides_list):
    """Drop size-1 dims and merge dims that are contiguous for every array."""
    dims = [d for d in range(len(shape)) if shape[d] != 1]
    new_shape, new_strides = [], [[] for _ in strides_list]
    for d in dims:
        if new_shape and all(st[-1] == s[d] * shape[d] for st, s in zip(new_strides, strides_list)):
            new_shape[-1] *= shape[d]
            for st, s in zip(new_strides, strides_list):
                st[-1] = s[d]
            continue
        new_shape.append(shape[d])
        for st, s in zip(new_strides, strides_list):
            st.append(s[d])
    return new_shape, new_strides


def _cls(s):
    return s if s in (0, 1) else 2


def _reject(*args):
    return 1


class FusedKernel:
    """A compiled elementwise program; call as ``kernel(out_arrays, in_arrays)``."""

    def __init__(self, steps, n_inputs, input_dtypes, outputs):
        self.steps = _norm_steps(steps)
        self.n_inputs = n_inputs
        self.input_dtypes = tuple(np.dtype(d).name for d in input_dtypes)
        self.outputs = tuple(int(r) for r in outputs)
        if len(self.input_dtypes) != n_inputs:
            raise ValueError("compile_fused: need one dtype per input")
        all_dts = list(self.input_dtypes) + [s[2] for s in self.steps]
        self.output_dtypes = tuple(all_dts[r] for r in self.outputs)
        for name, _, _ in self.steps:
            if name != "cast" and name not in SUPPORTED_OPS:
                raise NotImplementedError(f"llvm backend: scalar op {name!r} is not supported")
        self._in_np = [_NP_DTYPES[d] for d in self.input_dtypes]
        self._out_np = [_NP_DTYPES[d] for d in self.output_dtypes]
        self._key = (self.steps, self.input_dtypes, self.outputs)
        self._flat = {}
        self._last = _reject

    def flat_kernel(self, scalar_mask=0):
        fn = self._flat.get(scalar_mask)
        if fn is None:
            fn = _build(self._key + ("flat", scalar_mask),
                        lambda: _elem_ir_flat(self.steps, self.n_inputs, self.input_dtypes,
                                              self.outputs, scalar_mask), _FLAT_T)
            self._flat[scalar_mask] = fn
        return fn

    def strided_kernel(self, classes):
        return _build(self._key + ("strided", tuple(classes)),
                      lambda: _elem_ir_strided(self.steps, self.n_inputs, self.input_dtypes,
                                               self.outputs, classes), _STRIDED_T)

    def ir(self, variant="flat", scalar_mask=0, classes=None):
        if variant == "flat":
            return _elem_ir_flat(self.steps, self.n_inputs, self.input_dtypes, self.outputs,
                                 scalar_mask)[0]
        return _elem_ir_strided(self.steps, self.n_inputs, self.input_dtypes, self.outputs,
                                classes)[0]

    def __call__(self, outs, ins):
        if outs.__class__ is tuple and ins.__class__ is tuple:
            if self._last(_NDARRAY_TYPE, outs, ins) == 0:
                return
            for mask, fn in self._flat.items():
                if fn(_NDARRAY_TYPE, outs, ins) == 0:
                    self._last = fn
                    return
        self._general(outs, ins)

    def _general(self, outs, ins):
        if len(ins) != self.n_inputs or len(outs) != len(self.outputs):
            raise ValueError(f"llvm kernel: expected {self.n_inputs} inputs and "
                             f"{len(self.outputs)} outputs")
        outs = tuple(outs)
        shape = outs[0].shape
        for o, dt in zip(outs, self._out_np):
            if not isinstance(o, np.ndarray) or o.dtype != dt or o.shape != shape \
                    or not o.flags.writeable:
                raise ValueError(f"llvm kernel: outputs must be writeable {dt} arrays of "
                                 f"shape {shape}")
        ins = [np.asarray(a) for a in ins]
        ins = [a if a.dtype == dt else a.astype(dt) for a, dt in zip(ins, self._in_np)]
        for a in ins:
            if a.ndim > len(shape):
                raise ValueError(f"llvm kernel: input shape {a.shape} does not broadcast to "
                                 f"{shape}")
        if 0 in shape:
            return
        arrays = list(outs) + ins
        strides = []
        for k, a in enumerate(arrays):
            st = _element_strides(a, shape)
            if st is None:
                if k < len(outs):
                    raise ValueError("llvm kernel: output strides are not whole elements")
                a = ins[k - len(outs)] = np.ascontiguousarray(a)
                st = _element_strides(a, shape)
            strides.append(st)
        cshape, cstrides = _collapse(list(shape), strides)
        if not cshape:
            cshape, cstrides = [1], [[0] for _ in cstrides]
        classes = tuple(_cls(st[-1]) for st in cstrides)
        if len(cshape) == 1 and all(c != 2 for c in classes) \
                and all(c == 1 or cshape[0] == 1 for c in classes[:len(outs)]):
            mask = 0
            for k, c in enumerate(classes[len(outs):]):
                if c == 0:
                    mask |= 1 << k
            if all(o.flags.c_contiguous for o in outs) and all(
                    (a.size == 1) if (mask >> k & 1) else
                    (a.shape == shape and a.flags.c_contiguous) for k, a in enumerate(ins)):
                fn = self.flat_kernel(mask)
                if fn(_NDARRAY_TYPE, outs, tuple(ins)) == 0:
                    self._last = fn
                    return
        if len(cshape) > 32:
            raise ValueError("llvm kernel: more than 32 dimensions")
        meta = np.array(cshape + [s for st in cstrides for s in st], dtype=np.int64)
        self.strided_kernel(classes)(len(cshape), (meta,), outs, tuple(ins))


class ReduceKernel:
    """A compiled reduction of an elementwise program; call as ``kernel(out, in_arrays)``."""

    def __init__(self, steps, n_inputs, input_dtypes, output, kind, axes, out_dtype, ndim=None):
        if kind not in ("sum", "prod", "max", "min", "any", "all"):
            raise NotImplementedError(f"llvm backend: reduction {kind!r}")
        self.steps = _norm_steps(steps)
        self.n_inputs = n_inputs
        self.input_dtypes = tuple(np.dtype(d).name for d in input_dtypes)
        self.output = int(output)
        self.kind = kind
        self.axes = None if axes is None else tuple(sorted(int(a) for a in axes))
        self.out_dtype = np.dtype(out_dtype).name
        self.ndim = ndim
        self._in_np = [_NP_DTYPES[d] for d in self.input_dtypes]
        self._out_np = _NP_DTYPES[self.out_dtype]
        self._key = (self.steps, self.input_dtypes, self.output, kind, self.out_dtype)
        self._plans = {}

    def kernel(self, classes):
        return _build(self._key + ("reduce", tuple(classes)),
                      lambda: _reduce_ir(self.steps, self.n_inputs, self.input_dtypes,
                                         self.output, self.kind, self.out_dtype, classes),
                      _REDUCE_T)

    def __call__(self, out, ins):
        key = tuple([(a.shape, a.strides, a.dtype) if a.__class__ is np.ndarray else None for a in ins])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(ins)
            if None not in key and len(self._plans) < 64:
                self._plans[key] = plan
        kshape, call = plan
        if not isinstance(out, np.ndarray) or out.dtype != self._out_np or out.shape != kshape \
                or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError(f"llvm reduce: out must be a writeable C-contiguous "
                             f"{self.out_dtype} array of shape {kshape}")
        call(out, ins)

    def _plan(self, ins):
        """(kept shape, ``call(out, ins)``) for inputs of these shapes, strides and dtypes."""
        ins = [np.asarray(a) for a in ins]
        converted = any(a.dtype != dt for a, dt in zip(ins, self._in_np))
        ins = [a if a.dtype == dt else a.astype(dt) for a, dt in zip(ins, self._in_np)]
        nd = max(a.ndim for a in ins) if ins else 0
        shape = tuple(np.broadcast_shapes(*[a.shape for a in ins]))
        axes = tuple(range(nd)) if self.axes is None else tuple(a % nd if nd else 0
                                                                for a in self.axes)
        kept = [d for d in range(nd) if d not in axes]
        red = [d for d in range(nd) if d in axes]
        kshape = tuple(shape[d] for d in kept)
        if 0 in kshape:
            return kshape, lambda out, ins: None
        if any(shape[d] == 0 for d in red):
            if self.kind in ("max", "min"):
                def fail(out, ins):
                    raise ValueError(f"{self.kind}: zero-size reduction over axes {axes} of shape "
                                     f"{shape} has no identity")
                return kshape, fail
            fill = {"sum": 0, "prod": 1, "any": False, "all": True}[self.kind]

            def identity(out, ins):
                out[...] = fill
            return kshape, identity
        strides, copied = [], False
        for k, a in enumerate(ins):
            st = _element_strides(a, shape)
            if st is None:
                a = ins[k] = np.ascontiguousarray(a)
                st = _element_strides(a, shape)
                copied = True
            strides.append(st)
        kshape_c, kstr = _collapse([shape[d] for d in kept], [[s[d] for d in kept] for s in strides])
        rshape_c, rstr = _collapse([shape[d] for d in red], [[s[d] for d in red] for s in strides])
        if not rshape_c:
            rshape_c, rstr = [1], [[0] for _ in strides]
        if len(kshape_c) + len(rshape_c) > 32:
            raise ValueError("llvm reduce: more than 32 dimensions")
        classes = tuple(_cls(st[-1]) for st in rstr)
        full = [ks + rs for ks, rs in zip(kstr, rstr)]
        meta = (np.array(kshape_c + rshape_c + [s for st in full for s in st], dtype=np.int64),)
        fn, nk, nr = self.kernel(classes), len(kshape_c), len(rshape_c)
        if converted or copied:
            # the kernel reads what the strides describe: the same conversions every call
            def call(out, ins):
                ins = [np.asarray(a) for a in ins]
                ins = [a if a.dtype == dt else a.astype(dt) for a, dt in zip(ins, self._in_np)]
                if copied:
                    ins = [a if _element_strides(a, shape) is not None else np.ascontiguousarray(a)
                           for a in ins]
                fn(nk, nr, meta, (out,), tuple(ins))
        else:
            def call(out, ins):
                fn(nk, nr, meta, (out,), ins if ins.__class__ is tuple else tuple(ins))
        return kshape, call


def compile_fused(steps, n_inputs, input_dtypes, outputs, ndim=None):
    """A callable ``kernel(out_arrays, in_arrays)`` running the FusedElemwise program
    (``steps``, ``outputs`` registers) over the broadcast iteration space.  ``ndim`` is
    accepted for the caller's convenience; kernels work for any rank (up to 32)."""
    key = ("fused", _norm_steps(steps), n_inputs,
           tuple(np.dtype(d).name for d in input_dtypes), tuple(outputs))
    with _lock:
        k = _kernels.get(key)
        if k is None:
            k = _kernels[key] = FusedKernel(steps, n_inputs, input_dtypes, outputs)
        return k


def compile_fused_reduce(steps, n_inputs, input_dtypes, output, kind, axes, out_dtype,
                         ndim=None):
    """A callable ``kernel(out, in_arrays)``: ``kind`` (sum, prod, max, min, any, all) over
    ``axes`` (None: all) of register ``output`` of the program, written to ``out`` (the
    broadcast input shape without ``axes``, dtype ``out_dtype``).  float32 sums and products
    accumulate in float64; max/min propagate NaN like NumPy."""
    key = ("reduce", _norm_steps(steps), n_inputs, tuple(np.dtype(d).name for d in input_dtypes),
           int(output), kind, None if axes is None else tuple(axes), np.dtype(out_dtype).name)
    with _lock:
        k = _kernels.get(key)
        if k is None:
            k = _kernels[key] = ReduceKernel(steps, n_inputs, input_dtypes, output, kind, axes,
                                             out_dtype, ndim)
        return k


def describe(op_or_node):
    """Keyword arguments for ``compile_fused`` / ``compile_fused_reduce`` from an
    ``Elemwise``, ``Cast``, ``FusedElemwise``, ``Reduce`` or ``FusedReduce`` op.  A node
    (``Apply``) is needed for the input dtypes; with an op alone, pass them yourself.
    Returns ``("elemwise" | "reduce", kwargs)``."""
    from symbolic.ops.elemwise import Cast, Elemwise
    from symbolic.ops.fused import FusedElemwise, FusedReduce
    from symbolic.ops.reduce import Reduce
    node = op_or_node if hasattr(op_or_node, "op") and hasattr(op_or_node, "inputs") else None
    op = node.op if node is not None else op_or_node
    if node is None:
        raise TypeError("describe needs an Apply node (for the input dtypes)")
    in_dts = [i.dtype for i in node.inputs]
    ndim = node.outputs[0].ndim
    n = len(in_dts)
    if isinstance(op, Elemwise):
        steps = [(op.scalar_op.name, tuple(range(n)), node.outputs[0].dtype)]
        return "elemwise", dict(steps=steps, n_inputs=n, input_dtypes=in_dts, outputs=[n],
                                ndim=ndim)
    if isinstance(op, Cast):
        return "elemwise", dict(steps=[("cast", (0,), op.dtype)], n_inputs=1,
                                input_dtypes=in_dts, outputs=[1], ndim=ndim)
    if isinstance(op, FusedElemwise):
        return "elemwise", dict(steps=list(op.steps), n_inputs=n, input_dtypes=in_dts,
                                outputs=list(op.outputs), ndim=ndim)
    if isinstance(op, (Reduce, FusedReduce)):
        if isinstance(op, FusedReduce):
            steps, output, red = list(op.elemwise.steps), op.elemwise.outputs[0], op.reduce
        else:
            steps, output, red = [], 0, op
        return "reduce", dict(steps=steps, n_inputs=n, input_dtypes=in_dts, output=output,
                              kind=red.kind, axes=red.axes, out_dtype=node.outputs[0].dtype,
                              ndim=node.inputs[0].ndim)
    raise NotImplementedError(f"llvm backend: no kernel for {op}")


def kernel_for_node(node):
    """The compiled kernel for an elementwise or reduction node (see ``describe``)."""
    what, kw = describe(node)
    return compile_fused(**kw) if what == "elemwise" else compile_fused_reduce(**kw)

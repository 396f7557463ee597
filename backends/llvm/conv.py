"""Native 2-d convolution: im2col kernels generated in LLVM IR, GEMM by BLAS from the kernel.

One kernel per op and geometry (strides, padding, flip: small compile-time constants;
batch, channels, image, kernel and output sizes are run-time arguments).  Each runs the
whole batch in one call from Python, image by image, so that the column buffer of one image
stays in cache:

* ``Conv2d``:            col = im2col(x[b]);  out[b] = W (F x K) @ col (K x P)
* ``Conv2dGradWeights``: col = im2col(x[b]);  dW += gz[b] (F x P) @ col^T
* ``Conv2dGradInputs``:  dcol = W^T @ gz[b];  dx[b] = col2im(dcol)

with K = channels * k_rows * k_cols and P = out_rows * out_cols.  The filter flip of a true
convolution is folded into the column layout (row (c, u, v) reads tap (k-1-u, k-1-v)), so
neither the filters nor their gradient are ever copied.  Zero padding costs nothing in
memory: each column row copies the in-bounds span of an image row and zero-fills the rest.

The gemm is NumPy's bundled OpenBLAS, called through its address; without it (other NumPy
builds) the ops run their reference implementation.
"""
import threading

import numpy as np

from symbolic.ops.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, conv_output_length, padding_for

from . import conv_direct, small_gemm, threads
from .blas import blas
from .gemm import small_gemm_enabled
from .plan import CLAIMS_PENDING
from .loops import KernelSource, compile_kernel, for_range, if_then, memcopy, memzero, smax, smin

_IR = {"float32": "float", "float64": "double"}
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SIZES = ("B", "C", "H", "W", "F", "OH", "OW", "KH", "KW", "NB")
# Images per GEMM: enough for this many GEMM columns (output pixels), since a GEMM with few
# columns runs below peak, but no more (the extra copies and a larger working set then cost
# more than they save: 128 beat 1, 512 and 4096 on network3's second layer, 64 pixels an
# image), and a column matrix of at most _COLUMN_BUDGET values.
_GEMM_COLUMNS = 128
_COLUMN_BUDGET = 1 << 19


# Output rows up to this width are a compile-time constant: the copy of one 8-wide row of
# im2col then is one vector move instead of a loop (network3's 8-wide second layer: ~25%
# faster; its 24-wide first layer was faster with the vectorized loop).
_CONSTANT_ROW_WIDTH = 16


class _Geometry:
    """The compile-time part of a convolution: strides, padding, flip, and the output row
    width when it is small (``ow``, else None)."""

    def __init__(self, kh, kw, sr, sc, pr, pc, flip, ow=None):
        self.kh, self.kw, self.sr, self.sc, self.pr, self.pc, self.flip = kh, kw, sr, sc, pr, pc, flip
        self.ow = ow if ow is not None and ow <= _CONSTANT_ROW_WIDTH else None

    def key(self):
        # the kernel size is a run-time argument: constant tap loops get fully unrolled
        # around the vectorized row copy, which cost ~0.4 s of compile time per kernel
        return (self.sr, self.sc, self.pr, self.pc, self.flip, self.ow)


def _span(b, g, vv, width, out_w):
    """[j_lo, j_hi): the output columns j whose input column j*sc + vv - pc is in the image."""
    lo_num = b.op("sub", g.pc, vv)
    j_lo = smax(b, b.const("i64", 0), b.op("sdiv", b.op("add", lo_num, g.sc - 1), b.const("i64", g.sc)))
    hi_num = b.op("sub", b.op("add", width, g.pc - 1), vv)
    j_hi = b.select(b.icmp("slt", hi_num, 0), b.const("i64", 0),
                    b.op("add", b.op("sdiv", hi_num, b.const("i64", g.sc)), 1))
    j_hi = smin(b, j_hi, out_w)
    return smin(b, j_lo, j_hi), j_hi


def _column_rows(k, g, dt, image, col, ld, visit):
    """Walk the column matrix of one image (rows ``ld`` apart): for each in-bounds image row
    segment, call ``visit(dst_row_ptr, src_row_ptr, j_lo, j_hi)`` where ``dst_row_ptr`` is
    column row (c, u, v), output row i, and the input column of output column j is
    ``j*sc + vv - pc`` relative to ``src_row_ptr``."""
    b, a = k.b, k.args
    C, H, W, OH, KH, KW = (a[n] for n in ("C", "H", "W", "OH", "KH", "KW"))
    OW = _row_width(k, g)
    mem = _IR[dt]

    def per_c(c):
        def per_u(u):
            uu = b.op("sub", b.op("sub", KH, 1), u) if g.flip else u

            def per_v(v):
                vv = b.op("sub", b.op("sub", KW, 1), v) if g.flip else v
                row = b.op("add", b.op("mul", b.op("add", b.op("mul", c, KH), u), KW), v)
                dst = b.gep(mem, col, b.op("mul", row, ld))
                if (g.pr, g.pc) == (0, 0):
                    # no padding: the geometry keeps every window inside the image, so each
                    # row copies all OW values (a constant count the copy can be unrolled to)
                    def whole_rows(i):
                        src = b.gep(mem, image, b.op("add", b.op("mul", b.op("add", b.op("mul", c, H),
                                                                           b.op("add", b.op("mul", i, g.sr), uu)), W), vv))
                        visit(b.gep(mem, dst, b.op("mul", i, OW)), src, b.const("i64", 0), OW)
                    for_range(b, 0, OH, whole_rows, "i")
                    return
                j_lo, j_hi = _span(b, g, vv, W, OW)

                def per_i(i):
                    r = b.op("sub", b.op("add", b.op("mul", i, g.sr), uu), g.pr)
                    inside = b.op("and", b.icmp("sge", r, 0), b.icmp("slt", r, H))
                    rr = b.select(inside, r, b.const("i64", 0))
                    # may point before the row (padding): plain, not inbounds, address arithmetic
                    src = b.gep(mem, image, b.op("sub", b.op("mul", b.op("add", b.op("mul", c, H), rr), W),
                                                 b.op("sub", g.pc, vv)), inbounds=False)
                    d = b.gep(mem, dst, b.op("mul", i, OW))
                    lo = b.select(inside, j_lo, OW)
                    hi = b.select(inside, j_hi, OW)
                    visit(d, src, lo, hi)
                for_range(b, 0, OH, per_i, "i")
            for_range(b, 0, KW, per_v, "v")
        for_range(b, 0, KH, per_u, "u")
    for_range(b, 0, C, per_c, "c")


def _row_width(k, g):
    return k.b.const("i64", g.ow) if g.ow is not None else k.args["OW"]


def _im2col(k, g, dt, image, col, ld):
    b, OW = k.b, _row_width(k, g)
    mem = _IR[dt]
    zero = b.const(mem, 0.0)

    def visit(d, src, lo, hi):
        def put_zero(j):
            b.store(zero, b.gep(mem, d, j))

        def copy(j):
            b.store(b.load(mem, b.gep(mem, src, b.op("mul", j, g.sc), inbounds=False)), b.gep(mem, d, j))
        if (g.pr, g.pc) != (0, 0):
            for_range(b, 0, lo, put_zero, "z")
        for_range(b, lo, hi, copy, "j")
        if (g.pr, g.pc) != (0, 0):
            for_range(b, hi, OW, put_zero, "z")
    _column_rows(k, g, dt, image, col, ld, visit)


def _col2im(k, g, dt, col, ld, image):
    b = k.b
    mem = _IR[dt]

    def visit(d, src, lo, hi):
        def add(j):
            p = b.gep(mem, src, b.op("mul", j, g.sc), inbounds=False)
            b.store(b.binop("fadd", b.load(mem, p), b.load(mem, b.gep(mem, d, j))), p)
        for_range(b, lo, hi, add, "j")
    _column_rows(k, g, dt, image, col, ld, visit)


def _gemm_call(k, dt, ta, tb, m, n, kk, a, lda, bb, ldb, beta, c, ldc):
    ty = _IR[dt]
    b = k.b
    args = (f"i32 {_ROW_MAJOR}, i32 {ta}, i32 {tb}, i64 {m}, i64 {n}, i64 {kk}, {ty} {b.const(ty, 1.0)}, "
            f"ptr {a}, i64 {lda}, ptr {bb}, i64 {ldb}, {ty} {beta}, ptr {c}, i64 {ldc}")
    b.line(f"call void {k.args['gemm']}({args})")


def _source(kind, g, dt, filters=None):
    """With ``filters`` (F, a compile-time constant) the forward and weight-gradient GEMMs
    are small_gemm.py's loops instead of BLAS calls (``_variant``)."""
    names = {"forward": ("x", "w", "out"), "grad_weights": ("x", "gz", "dw"),
             "grad_inputs": ("w", "gz", "dx")}[kind] + ("col", "tmp")
    k = KernelSource(names, _SIZES, extra=[("gemm", "ptr")])
    b, a, arr = k.b, k.args, k.arrays
    mem, size = _IR[dt], np.dtype(dt).itemsize
    F, K = a["F"], b.op("mul", a["C"], b.op("mul", a["KH"], a["KW"]))
    P = b.op("mul", a["OH"], _row_width(k, g))
    image_size = b.op("mul", b.op("mul", a["C"], a["H"]), a["W"])
    if kind == "grad_inputs":
        memzero(b, arr["dx"], b.op("mul", a["B"], image_size), size)

    def dw_t():
        """The K x F transposed weight gradient, after the F x NB*P planes in ``tmp``."""
        return b.gep(mem, arr["tmp"], b.op("mul", F, b.op("mul", a["NB"], P)))
    n_chunks = b.op("sdiv", b.op("add", a["B"], b.op("sub", a["NB"], 1)), a["NB"])

    def per_chunk(q):
        first = b.op("mul", q, a["NB"])
        nb = smin(b, a["NB"], b.op("sub", a["B"], first))
        N = b.op("mul", nb, P)                  # columns of this chunk: nb images side by side

        def images(body):
            for_range(b, 0, nb, lambda i: body(i, b.op("add", first, i)), "img")

        def planes(copy):
            """For image i of the chunk and filter f: the (f, image) plane of the output or
            its gradient and the P values of ``tmp`` (F x N) that hold it."""
            def per_image(i, image):
                def per_filter(f):
                    plane = b.gep(mem, arr["out" if kind == "forward" else "gz"],
                                  b.op("mul", b.op("add", b.op("mul", image, F), f), P))
                    copy(plane, b.gep(mem, arr["tmp"], b.op("add", b.op("mul", f, N), b.op("mul", i, P))))
                for_range(b, 0, F, per_filter, "f")
            images(per_image)

        def columns_of_x():
            images(lambda i, image: _im2col(k, g, dt, b.gep(mem, arr["x"], b.op("mul", image, image_size)),
                                            b.gep(mem, arr["col"], b.op("mul", i, P)), N))

        nbytes = b.op("mul", P, size)
        # one image: its (F x P) plane of the output or gradient is the GEMM operand itself
        several = b.icmp("sgt", nb, 1)
        own = b.gep(mem, arr["out" if kind == "forward" else "gz"], b.op("mul", b.op("mul", first, F), P))
        operand = b.select(several, arr["tmp"], own)
        if kind == "forward" and filters:
            columns_of_x()
            small_gemm.emit_product(b, dt, "rows", filters, {"a": arr["w"], "b": arr["col"], "c": operand},
                                    {"ta": _NO_TRANS, "tb": _NO_TRANS, "m": F, "n": N, "k": K, "lda": K,
                                     "ldb": N, "ldc": N}, b.const(mem, 1.0), b.const(mem, 0.0), chunk=None)
            if_then(b, several, lambda: planes(lambda plane, t: memcopy(b, plane, t, nbytes)))
        elif kind == "forward":
            columns_of_x()
            _gemm_call(k, dt, _NO_TRANS, _NO_TRANS, F, N, K, arr["w"], K, arr["col"], N,
                       b.const(mem, 0.0), operand, N)
            if_then(b, several, lambda: planes(lambda plane, t: memcopy(b, plane, t, nbytes)))
        elif kind == "grad_weights":
            columns_of_x()
            if_then(b, several, lambda: planes(lambda plane, t: memcopy(b, t, plane, nbytes)))
            beta = b.select(b.icmp("eq", q, 0), b.const(mem, 0.0), b.const(mem, 1.0))
            if filters:                 # dW (F x K) += operand (F x N) . col (K x N) row by row
                small_gemm.emit_product(b, dt, "dots", filters, {"a": operand, "b": arr["col"], "c": arr["dw"]},
                                        {"ta": _NO_TRANS, "tb": _TRANS, "m": F, "n": K, "k": N, "lda": N,
                                         "ldb": N, "ldc": K}, b.const(mem, 1.0), beta)
                return
            # dW^T (K x F) = col (K x N) @ operand^T: OpenBLAS runs this shape 20-30% faster
            # than dW = operand @ col^T (network3's second layer); transposed once at the end
            _gemm_call(k, dt, _NO_TRANS, _TRANS, K, F, N, arr["col"], N, operand, N, beta,
                       dw_t(), F)
        else:
            if_then(b, several, lambda: planes(lambda plane, t: memcopy(b, t, plane, nbytes)))
            _gemm_call(k, dt, _TRANS, _NO_TRANS, K, N, F, arr["w"], K, operand, N,
                       b.const(mem, 0.0), arr["col"], N)
            images(lambda i, image: _col2im(k, g, dt, b.gep(mem, arr["col"], b.op("mul", i, P)), N,
                                            b.gep(mem, arr["dx"], b.op("mul", image, image_size))))
    for_range(b, 0, n_chunks, per_chunk, "q")
    if kind == "grad_weights" and not filters:
        def per_f(f):
            def per_k(kk):
                v = b.load(mem, b.gep(mem, dw_t(), b.op("add", b.op("mul", kk, F), f)))
                b.store(v, b.gep(mem, arr["dw"], b.op("add", b.op("mul", f, K), kk)))
            for_range(b, 0, K, per_k, "kk")
        for_range(b, 0, F, per_f, "ft")
    return k


# Convolutions with at most this many filters and K = channels x taps values per column
# (network3's first layer: 20 and 25) run their forward and weight-gradient GEMMs as
# small_gemm.py's loops, compiled for F: OpenBLAS ran these shapes at a fifth of its peak.
SMALL_FILTERS, SMALL_K = 20, 64


def _variant(kind, geo, sizes, dtype):
    """How the kernel for these sizes computes: ``("direct", OW)`` (conv_direct.py),
    ``("small", F)`` (im2col and small_gemm's loops), or None (im2col and BLAS)."""
    _, C, _, _, F, _, OW = sizes
    if kind == "grad_inputs" or not small_gemm_enabled():
        return None
    if conv_direct.applies(kind, geo, C, OW, dtype):
        return "direct", OW
    if F > SMALL_FILTERS or C * geo.kh * geo.kw > SMALL_K:
        return None
    return "small", F


def conv_kernel(kind, geometry, dtype, sizes):
    """The native kernel for these ``sizes`` (B, C, H, W, F, OH, OW), called as
    ``fn(arrays, B, C, H, W, F, OH, OW, KH, KW, NB, gemm_address)``;
    ``arrays`` is (x, w, out, col, tmp), (x, gz, dw, col, tmp) or (w, gz, dx, col, tmp) for
    ``kind`` forward, grad_weights or grad_inputs, all C-contiguous of ``dtype``; ``col``
    holds at least C*KH*KW * NB*OH*OW values and ``tmp`` F * NB*OH*OW (plus C*KH*KW * F for
    the weight gradient)."""
    import ctypes
    variant = _variant(kind, geometry, sizes, dtype)
    if variant is not None and variant[0] == "direct":
        return compile_kernel(("conv-direct", kind, geometry.key(), geometry.kh, geometry.kw, dtype, variant[1]),
                              lambda: conv_direct.source(kind, geometry, dtype, variant[1], _SIZES), len(_SIZES),
                              [ctypes.c_void_p], unroll=False)
    filters = variant[1] if variant is not None else None
    # without LLVM's unrolling: network3's two-conv-layer step at mini-batch 10 ran 10-22%
    # faster (each of the three kernels ~5%), no slower at 256, and each kernel compiles in
    # half the time
    return compile_kernel(("conv", kind, geometry.key(), dtype, filters),
                          lambda: _source(kind, geometry, dtype, filters), len(_SIZES), [ctypes.c_void_p],
                          unroll=False)


# ----------------------------------------------------------------------------------------
# lowerings
# ----------------------------------------------------------------------------------------
class _Scratch(threading.local):
    """Per-thread work buffers, grown on demand."""

    def get(self, which, n, dtype):
        buf = getattr(self, which, None)
        if buf is None or buf.size < n or buf.dtype != dtype:
            buf = np.empty(max(n, 1), dtype=dtype)
            setattr(self, which, buf)
        return buf


def _float_arrays(dtype, *arrays):
    """The arrays C-contiguous in ``dtype``, or None when one is not an array of it."""
    out = []
    for a in arrays:
        if not isinstance(a, np.ndarray) or a.dtype != dtype or a.ndim != 4:
            return None
        out.append(np.ascontiguousarray(a))
    return out


def _geometry(op, image_hw, kernel_hw):
    """(_Geometry, (OH, OW)), or None when the sizes do not make a convolution."""
    pads = padding_for(op.border_mode, *kernel_hw)
    try:
        out = tuple(conv_output_length(n, kk, p, s) for n, kk, p, s in zip(image_hw, kernel_hw, pads, op.subsample))
    except ValueError:
        return None
    return _Geometry(*kernel_hw, *op.subsample, *pads, op.filter_flip, ow=out[1]), out


def _lowering(kind):
    def lower(node, inplace_k):
        dtype = node.outputs[0].dtype
        gemm = blas().gemm_address(dtype) if dtype in _IR else None
        if gemm is None:
            return None
        op, dt = node.op, np.dtype(dtype)
        scratch = _Scratch()

        def reference(*args):
            return op.perform(node, args)

        def call(geo, sizes, arrays):
            if 0 in sizes:
                return None
            if _split_over_threads(geo, sizes):
                _Split(kind, geo, dtype, gemm)(arrays, sizes)
                return arrays[2]
            nb, n_col, n_tmp = _chunking(geo, sizes, kind)
            col, tmp = scratch.get("col", n_col, dt), scratch.get("tmp", n_tmp, dt)
            conv_kernel(kind, geo, dtype, sizes)(
                tuple(arrays) + (col, tmp), *sizes, geo.kh, geo.kw, nb, gemm)
            return arrays[2]

        if kind == "forward":
            def run(x, w):
                arrays = _float_arrays(dt, x, w)
                if arrays is None or x.shape[1] != w.shape[1] or not op.hints_fit(x.shape, w.shape):
                    return reference(x, w)
                x, w = arrays
                found = _geometry(op, x.shape[2:], w.shape[2:])
                if found is None:
                    return reference(x, w)
                geo, (OH, OW) = found
                out = np.empty((x.shape[0], w.shape[0], OH, OW), dtype=dt)
                sizes = (x.shape[0], x.shape[1], *x.shape[2:], w.shape[0], OH, OW)
                done = call(geo, sizes, [x, w, out])
                return [out] if done is not None else reference(x, w)
        elif kind == "grad_weights":
            def run(x, gz, kernel_hw):
                arrays = _float_arrays(dt, x, gz)
                kh, kw = (int(s) for s in kernel_hw)
                found = _geometry(op, x.shape[2:], (kh, kw)) if arrays else None
                if found is None or gz.shape[0] != x.shape[0] or gz.shape[2:] != found[1]:
                    return reference(x, gz, kernel_hw)
                x, gz = arrays
                geo, (OH, OW) = found
                dw = np.empty((gz.shape[1], x.shape[1], kh, kw), dtype=dt)
                sizes = (x.shape[0], x.shape[1], *x.shape[2:], gz.shape[1], OH, OW)
                done = call(geo, sizes, [x, gz, dw])
                return [dw] if done is not None else reference(x, gz, kernel_hw)
        else:
            def run(w, gz, image_hw):
                arrays = _float_arrays(dt, w, gz)
                rows, cols = (int(s) for s in image_hw)
                found = _geometry(op, (rows, cols), w.shape[2:]) if arrays else None
                if found is None or gz.shape[1] != w.shape[0] or gz.shape[2:] != found[1]:
                    return reference(w, gz, image_hw)
                w, gz = arrays
                geo, (OH, OW) = found
                dx = np.empty((gz.shape[0], w.shape[1], rows, cols), dtype=dt)
                sizes = (gz.shape[0], w.shape[1], rows, cols, w.shape[0], OH, OW)
                done = call(geo, sizes, [w, gz, dx])
                return [dx] if done is not None else reference(w, gz, image_hw)
        run.how = f"native: LLVM im2col + {blas().name} gemm"
        return run
    return lower


# Convolutions of at least this many FLOPs (about a millisecond of work) are split over
# config.threads threads by images (forking and joining threads costs 25-70 us).
_PARALLEL_MIN_FLOPS = 50e6


def _split_over_threads(geo, sizes):
    B, C, _, _, F, OH, OW = sizes
    return threads.count() > 1 and B > 1 and 2 * B * F * OH * OW * C * geo.kh * geo.kw >= _PARALLEL_MIN_FLOPS


class _Split:
    """One convolution split by images over the thread pool: each range of images runs the
    kernel with work buffers of its own; the weight gradient's partial sums are added at
    the end (the other two kinds write disjoint images)."""

    def __init__(self, kind, geo, dtype, gemm):
        self.kind, self.geo, self.dtype, self.gemm = kind, geo, np.dtype(dtype), gemm
        self.buffers = {}

    def _buffer(self, key, n):
        buf = self.buffers.get(key)
        if buf is None or buf.size < n:
            buf = self.buffers[key] = np.empty(max(n, 1), self.dtype)
        return buf

    def __call__(self, arrays, sizes):
        kind, geo = self.kind, self.geo
        first, second, out = arrays
        batched = (1,) if kind == "grad_inputs" else (0, 1) if kind == "grad_weights" else (0,)

        def part(lo, hi):
            sub = (hi - lo,) + tuple(sizes[1:])
            nb, n_col, n_tmp = _chunking(geo, sub, kind)
            ins = [a[lo:hi] if k in batched else a for k, a in enumerate((first, second))]
            if kind == "grad_weights":
                target = out if lo == 0 else self._buffer(("dw", lo), out.size).reshape(-1)[:out.size].reshape(out.shape)
            else:
                target = out[lo:hi]
            fn = conv_kernel(kind, geo, self.dtype.name, sub)
            fn((*ins, target, self._buffer(("col", lo), n_col), self._buffer(("tmp", lo), n_tmp)),
                    *sub, geo.kh, geo.kw, nb, self.gemm)
            return None if target is out or kind != "grad_weights" else target
        with blas().single_threaded():
            partials = threads.run_split(part, sizes[0], align=1)
        for p in partials:
            if p is not None:
                out += p


def _chunking(geo, sizes, kind):
    """(images per GEMM, column buffer size, ``tmp`` buffer size) for these sizes: ``tmp``
    holds F x nb*P GEMM values, and for the weight gradient its K x F transpose after them."""
    B, C, _, _, F, OH, OW = sizes
    K, P = C * geo.kh * geo.kw, OH * OW
    nb = max(1, min(B, -(-_GEMM_COLUMNS // P), _COLUMN_BUDGET // (K * P)))
    return nb, K * nb * P, F * nb * P + (K * F if kind == "grad_weights" else 0)


def _planner(kind):
    """The plan of a convolution node: the same kernel, with the plan's own work buffers."""
    def plan(planner, node, values):
        dtype = node.outputs[0].dtype
        gemm = blas().gemm_address(dtype) if dtype in _IR else None
        op, dt = node.op, np.dtype(dtype)
        a, b = values[0].array, values[1].array
        if gemm is None or any(v.dtype != dt or v.ndim != 4 for v in (a, b)):
            return None
        if kind == "forward":
            if a.shape[1] != b.shape[1] or not op.hints_fit(a.shape, b.shape):
                return None
            found = _geometry(op, a.shape[2:], b.shape[2:])
            if found is None:
                return None
            geo, (OH, OW) = found
            out_shape = (a.shape[0], b.shape[0], OH, OW)
            sizes = (a.shape[0], a.shape[1], *a.shape[2:], b.shape[0], OH, OW)
        else:
            if values[2].kind != "static":
                return None
            hw = tuple(int(s) for s in values[2].array)
            if kind == "grad_weights":
                found = _geometry(op, a.shape[2:], hw)
                if found is None or b.shape[0] != a.shape[0] or b.shape[2:] != found[1]:
                    return None
                out_shape = (b.shape[1], a.shape[1], *hw)
                sizes = (a.shape[0], a.shape[1], *a.shape[2:], b.shape[1], *found[1])
            else:
                found = _geometry(op, hw, a.shape[2:])
                if found is None or b.shape[1] != a.shape[0] or b.shape[2:] != found[1]:
                    return None
                out_shape = (b.shape[0], a.shape[1], *hw)
                sizes = (b.shape[0], a.shape[1], *hw, a.shape[0], *found[1])
            geo = found[0]
        if 0 in sizes:
            return None
        if kind == "grad_weights":
            fused = _plan_pooled_weight_gradient(planner, geo, sizes, values, out_shape, dtype)
            if fused is not None:
                return [fused]
            planner.materialize([values[1]])
        first, second = planner.contiguous(values[0]), planner.contiguous(values[1])
        out = planner.output(0, out_shape, dt)
        if _split_over_threads(geo, sizes):
            split = _Split(kind, geo, dtype, gemm)
            planner.python_call(lambda outs, ins: split(ins + outs, sizes), [out], [first, second],
                                splits=True)
            return [out]
        nb, n_col, n_tmp = _chunking(geo, sizes, kind)
        col, tmp = planner.work_buffer(max(n_col, 1), dt), planner.work_buffer(max(n_tmp, 1), dt)
        planner.call(conv_kernel(kind, geo, dtype, sizes),
                     (first.array, second.array, out.array, col, tmp),
                     *sizes, geo.kh, geo.kw, nb, gemm)
        return [out]
    return plan


def _plan_pooled_weight_gradient(planner, geo, sizes, values, out_shape, dtype):
    """The weight gradient with ``gz`` the deferred gradient of a 2x2 max pooling (pool.py),
    computed image by image into a small buffer by conv_direct's fused kernel; None (nothing
    planned) when that does not apply."""
    info = planner.deferred_info(values[1])
    B, _, _, _, F, OH, OW = sizes
    if info is None or _variant("grad_weights", geo, sizes, dtype) != ("direct", OW) \
            or _split_over_threads(geo, sizes) or OH % 2 or OW % 2:
        return None
    conv_out, pooled, grad = info["pool_grad"]
    if conv_out.array.shape != (B, F, OH, OW) or pooled.array.shape != (B, F, OH // 2, OW // 2) \
            or grad.array.shape != pooled.array.shape:
        return None
    planner.claim(values[1])
    arrays = [planner.contiguous(v).array for v in (values[0], conv_out, pooled, grad)]
    out = planner.output(0, out_shape, dtype)
    scratch = planner.work_buffer(F * OH * OW, np.dtype(dtype))
    import ctypes
    fn = compile_kernel(("conv-direct-pooled", geo.key(), geo.kh, geo.kw, dtype, OW),
                        lambda: conv_direct.source("grad_weights_pooled", geo, dtype, OW, _SIZES),
                        len(_SIZES), [ctypes.c_void_p], unroll=False)
    planner.call(fn, tuple(arrays) + (out.array, scratch), *sizes, geo.kh, geo.kw, 1, 0)
    return out


CLAIMS_PENDING.add(Conv2dGradWeights)

LOWERINGS = {Conv2d: _lowering("forward"), Conv2dGradWeights: _lowering("grad_weights"),
             Conv2dGradInputs: _lowering("grad_inputs")}
PLANNERS = {Conv2d: _planner("forward"), Conv2dGradWeights: _planner("grad_weights"),
            Conv2dGradInputs: _planner("grad_inputs")}

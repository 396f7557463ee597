"""Native 2-d pooling (``Pool`` and ``PoolGrad``, every mode) as LLVM loop kernels.

The leading axes are flattened to one (they are pooled independently), so each kernel works
on ``(N, H, W)`` C-contiguous arrays; window size, stride and padding are compile-time
constants, sizes are run-time arguments.  Each window is clipped to the image (padding
cells and the missing cells of ``ignore_border=False`` windows are skipped, which is what
the reference's fill values amount to); when the geometry says no window can leave the
image (no padding, whole windows), the clipping is left out so that the taps unroll.

Semantics are the reference's: max propagates NaN; the max gradient goes to every cell
equal to its window's maximum, accumulating over overlapping windows; averages divide by
the window's count with or without padding, as the mode says.
"""
import numpy as np

from symbolic.ops.pool import Pool, PoolGrad, pool_output_length

from . import threads
from .loops import KernelSource, Slot, compile_kernel, for_range, if_then, memzero, smax, smin
from .mathlib import Val

_IR = {"float32": "float", "float64": "double"}
_SIZES = ("N", "H", "W", "OH", "OW")


class _Config:
    def __init__(self, op, clipped, covering, dtype):
        self.mode, self.ws, self.stride, self.pad = op.mode, op.ws, op.stride, op.pad
        self.clipped, self.dtype = clipped, dtype
        # windows that never overlap let the gradient store instead of accumulate, and
        # windows that also cover every cell leave nothing to zero first
        self.disjoint = all(s >= w for s, w in zip(op.stride, op.ws))
        self.covering = self.disjoint and covering
        # 2x2 max windows tiling the image (network3's): whole rows of windows as vectors
        self.pairs = self.mode == "max" and self.ws == self.stride == (2, 2) and self.covering

    def key(self):
        return (self.mode, self.ws, self.stride, self.pad, self.clipped, self.covering, self.dtype)


def _windows(k, cfg, visit):
    """For each window (n, i, j): ``visit(n, out_index, taps)`` where ``taps(fn)`` calls
    ``fn(input_index)`` for each of the window's cells inside the image, and
    ``count(include_padding)`` gives the reference's divisor."""
    b, a = k.b, k.args
    N, H, W, OH, OW = (a[s] for s in _SIZES)
    (wr, wc), (sr, sc), (pr, pc) = cfg.ws, cfg.stride, cfg.pad

    def per_n(n):
        def per_i(i):
            r0 = b.op("sub", b.op("mul", i, sr), pr)
            r_lo, r_hi = ((b.const("i64", 0), b.const("i64", wr)) if not cfg.clipped else
                          (smax(b, b.const("i64", 0), b.op("sub", 0, r0)), smin(b, b.const("i64", wr), b.op("sub", H, r0))))

            def per_j(j):
                c0 = b.op("sub", b.op("mul", j, sc), pc)
                c_lo, c_hi = ((b.const("i64", 0), b.const("i64", wc)) if not cfg.clipped else
                              (smax(b, b.const("i64", 0), b.op("sub", 0, c0)),
                               smin(b, b.const("i64", wc), b.op("sub", W, c0))))
                out_index = b.op("add", b.op("mul", b.op("add", b.op("mul", n, OH), i), OW), j)

                def taps(fn):
                    def per_u(u):
                        row = b.op("mul", b.op("add", b.op("mul", n, H), b.op("add", r0, u)), W)

                        def per_v(v):
                            fn(b.op("add", row, b.op("add", c0, v)))
                        for_range(b, c_lo, c_hi, per_v, "v")
                    for_range(b, r_lo, r_hi, per_u, "u")

                def count(include_padding):
                    def axis(start, ws, pad, size):
                        s = b.op("add", start, pad)                    # canvas coordinates
                        end = smin(b, b.op("add", s, ws), b.op("add", size, 2 * pad))
                        if not include_padding:
                            s, end = smax(b, s, b.const("i64", pad)), smin(b, end, b.op("add", size, pad))
                        return smax(b, b.op("sub", end, s), b.const("i64", 0))
                    n_cells = b.op("mul", axis(r0, wr, pr, H), axis(c0, wc, pc, W))
                    return smax(b, n_cells, b.const("i64", 1))
                visit(out_index, taps, count)
            for_range(b, 0, OW, per_j, "j")
        for_range(b, 0, OH, per_i, "i")
    for_range(b, 0, N, per_n, "n")


def _source(kind, cfg):
    if cfg.pairs:
        return _pairs_source(kind, cfg)
    mem = _IR[cfg.dtype]
    names = ("x", "out") if kind == "forward" else \
        ("x", "pooled", "gz", "gx") if cfg.mode == "max" else ("gz", "gx")
    k = KernelSource(names, _SIZES)
    b, arr, a = k.b, k.arrays, k.args

    def at(name, index):
        return b.gep(mem, arr[name], index)

    if kind == "forward":
        def visit(out_index, taps, count):
            init = float("-inf") if cfg.mode == "max" else 0.0
            acc = Slot(b, mem, b.const(mem, init))
            if cfg.mode == "max":
                taps(lambda idx: acc.set(b.intr("maximum", acc.get(), b.load(mem, at("x", idx)))))
            else:
                taps(lambda idx: acc.set(b.binop("fadd", acc.get(), b.load(mem, at("x", idx)))))
            result = acc.get()
            if cfg.mode.startswith("average"):
                n_cells = b.conv("sitofp", count(cfg.mode == "average_inc_pad"), mem)
                result = b.binop("fdiv", result, n_cells)
            b.store(result, at("out", out_index))
    else:
        if not cfg.covering:
            memzero(b, arr["gx"], b.op("mul", b.op("mul", a["N"], a["H"]), a["W"]), np.dtype(cfg.dtype).itemsize)

        def visit(out_index, taps, count):
            g = b.load(mem, at("gz", out_index))
            if cfg.mode == "max":
                best = b.load(mem, at("pooled", out_index))

                def route(idx):
                    hit = b.fcmp("oeq", b.load(mem, at("x", idx)), best)
                    p = at("gx", idx)
                    if cfg.disjoint:
                        b.store(b.select(hit, g, b.const(mem, 0.0)), p)
                    else:
                        if_then(b, hit, lambda: b.store(b.binop("fadd", b.load(mem, p), g), p))
                taps(route)
                return
            if cfg.mode.startswith("average"):
                g = b.binop("fdiv", g, b.conv("sitofp", count(cfg.mode == "average_inc_pad"), mem))

            def spread(idx):
                p = at("gx", idx)
                b.store(g if cfg.disjoint else b.binop("fadd", b.load(mem, p), g), p)
            taps(spread)
    _windows(k, cfg, visit)
    return k


class PairRows:
    """2x2 max pooling of images that the windows tile (W = 2 OW), row by row: one output
    row from two input rows, ``L`` windows per step as vectors (one 32-byte load per input
    row, the column pairs split by shuffles), the last ``OW % L`` windows one by one.  The
    gradient routes ``gz`` to every cell equal to its window's max, as the general kernel
    does.  Also emitted inside conv_direct.py's fused weight gradient."""

    def __init__(self, b, dtype):
        self.b, self.mem = b, _IR[dtype]
        self.lanes = 8 if dtype == "float32" else 4        # input values per row per step
        self.L = self.lanes // 2
        self.wide, self.half = f"<{self.lanes} x {self.mem}>", f"<{self.L} x {self.mem}>"
        self.suffix = "v%df32" if self.mem == "float" else "v%df64"
        self.align = np.dtype(dtype).itemsize
        for ty, n in ((self.wide, self.lanes), (self.half, self.L)):
            b.module.declare(f"declare {ty} @llvm.maximum.{self.suffix % n}({ty}, {ty})")

    def _load(self, ty, ptr):
        return self.b.emit(ty, f"load {ty}, ptr {ptr}, align {self.align}")

    def _store(self, ty, v, ptr):
        self.b.line(f"store {ty} {v}, ptr {ptr}, align {self.align}")

    def _shuffle(self, ty_in, v, picks):
        out = f"<{len(picks)} x {self.mem}>"
        mask = ", ".join(f"i32 {q}" for q in picks)
        return self.b.emit(out, f"shufflevector {ty_in} {v}, {ty_in} poison, <{len(picks)} x i32> <{mask}>")

    def _max(self, ty, x, y, n):
        return self.b.emit(ty, f"call {ty} @llvm.maximum.{self.suffix % n}({ty} {x}, {ty} {y})")

    def _cell(self, row, j):
        return self.b.gep(self.mem, row, j)

    def forward_row(self, top, W, out_row, OW):
        """``out_row[j] = max`` of the window (j) of input rows ``top`` and ``top + W``."""
        b, mem, lanes, L = self.b, self.mem, self.lanes, self.L
        bottom = b.gep(mem, top, W)

        def group(g):
            j = b.op("mul", g, lanes)
            both = self._max(self.wide, self._load(self.wide, self._cell(top, j)),
                             self._load(self.wide, self._cell(bottom, j)), lanes)
            best = self._max(self.half, self._shuffle(self.wide, both, range(0, lanes, 2)),
                             self._shuffle(self.wide, both, range(1, lanes, 2)), L)
            self._store(self.half, best, self._cell(out_row, b.op("mul", g, L)))

        def single(j):
            c = b.op("mul", j, 2)
            pair = [b.intr("maximum", b.load(mem, self._cell(row, c)), b.load(mem, self._cell(row, b.op("add", c, 1))))
                    for row in (top, bottom)]
            b.store(b.intr("maximum", *pair), self._cell(out_row, j))
        self._windows(OW, group, single)

    def grad_row(self, top, W, pooled_row, gz_row, gx_top, OW):
        """Rows ``gx_top`` and ``gx_top + W`` of the gradient of the windows of input rows
        ``top`` and ``top + W``."""
        b, mem, lanes = self.b, self.mem, self.lanes
        rows = ((top, gx_top), (b.gep(mem, top, W), b.gep(mem, gx_top, W)))
        zero = Val(b, "zeroinitializer", self.wide)

        def group(g):
            j, o = b.op("mul", g, lanes), b.op("mul", g, self.L)
            twice = [q // 2 for q in range(lanes)]
            best = self._shuffle(self.half, self._load(self.half, self._cell(pooled_row, o)), twice)
            grad = self._shuffle(self.half, self._load(self.half, self._cell(gz_row, o)), twice)
            for src, dst in rows:
                hit = b.emit(f"<{lanes} x i1>", f"fcmp oeq {self.wide} {self._load(self.wide, self._cell(src, j))}, {best}")
                self._store(self.wide, b.emit(self.wide, f"select <{lanes} x i1> {hit}, {self.wide} {grad}, "
                                                         f"{self.wide} {zero}"), self._cell(dst, j))

        def single(j):
            best, grad = b.load(mem, self._cell(pooled_row, j)), b.load(mem, self._cell(gz_row, j))
            for src, dst in rows:
                for dc in (0, 1):
                    c = b.op("add", b.op("mul", j, 2), dc)
                    hit = b.fcmp("oeq", b.load(mem, self._cell(src, c)), best)
                    b.store(b.select(hit, grad, b.const(mem, 0.0)), self._cell(dst, c))
        self._windows(OW, group, single)

    def _windows(self, OW, group, single):
        b = self.b
        groups = b.op("sdiv", OW, self.L)
        for_range(b, 0, groups, group, "g")
        for_range(b, b.op("mul", groups, self.L), OW, single, "j")


def _pairs_source(kind, cfg):
    """``PairRows`` over every output row r = (n, i), from input rows 2r and 2r + 1."""
    names = ("x", "out") if kind == "forward" else ("x", "pooled", "gz", "gx")
    k = KernelSource(names, _SIZES)
    b, arr, a = k.b, k.arrays, k.args
    mem, pairs = _IR[cfg.dtype], PairRows(k.b, cfg.dtype)
    W, OW = a["W"], a["OW"]

    def per_row(r):
        first = b.op("mul", b.op("mul", r, 2), W)
        top, out_row = b.gep(mem, arr["x"], first), b.op("mul", r, OW)
        if kind == "forward":
            pairs.forward_row(top, W, b.gep(mem, arr["out"], out_row), OW)
        else:
            pairs.grad_row(top, W, b.gep(mem, arr["pooled"], out_row), b.gep(mem, arr["gz"], out_row),
                           b.gep(mem, arr["gx"], first), OW)
    for_range(b, 0, b.op("mul", a["N"], a["OH"]), per_row, "r")
    return k


def pool_kernel(kind, cfg):
    """The native kernel ``fn(arrays, N, H, W, OH, OW)`` for ``kind`` forward (x, out) or
    grad ((x, pooled, gz, gx) for max, (gz, gx) otherwise)."""
    return compile_kernel(("pool", kind) + cfg.key(), lambda: _source(kind, cfg), len(_SIZES))


# ----------------------------------------------------------------------------------------
# lowerings
# ----------------------------------------------------------------------------------------
def _out_size(op, rows, cols):
    return tuple(pool_output_length(n, w, s, p, op.ignore_border)
                 for n, w, s, p in zip((rows, cols), op.ws, op.stride, op.pad))


def _is_clipped(op, rows, cols, out):
    """Whether some window reaches outside the image (padding or partial windows)."""
    if op.pad != (0, 0):
        return True
    return any((o - 1) * s + w > n for o, s, w, n in zip(out, op.stride, op.ws, (rows, cols)))


def _covers(op, rows, cols, out):
    """Whether the windows, laid side by side, cover every cell exactly."""
    return op.pad == (0, 0) and all(o * w == n and s == w for o, s, w, n in
                                    zip(out, op.stride, op.ws, (rows, cols)))


def _flat(a, dtype):
    """``a`` as a C-contiguous (N, rows, cols) array of ``dtype``, or None."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.ndim < 2:
        return None
    a = np.ascontiguousarray(a)
    return a.reshape((int(np.prod(a.shape[:-2])),) + a.shape[-2:])


def _split(n, rows, cols):
    return threads.count() > 1 and n > 1 and n * rows * cols >= threads.PARALLEL_MIN_ELEMENTS


def _run(fn, arrays, n, rows, cols, out_hw):
    """The kernel over the (N, ...) arrays, split over the thread pool by planes when big."""
    if not _split(n, rows, cols):
        fn(tuple(arrays), n, rows, cols, *out_hw)
        return
    threads.run_split(lambda lo, hi: fn(tuple(a[lo:hi] for a in arrays), hi - lo, rows, cols, *out_hw),
                      n, align=1)


def _lower(kind):
    def lower(node, inplace_k):
        dtype = node.outputs[0].dtype
        if dtype not in _IR or any(i.dtype != dtype for i in node.inputs):
            return None
        op, dt = node.op, np.dtype(dtype)

        def run(*args):
            x = args[0]
            flat = [_flat(a, dt) for a in args]
            if any(f is None for f in flat) or any(a.shape[:-2] != x.shape[:-2] for a in args):
                return op.perform(node, args)
            rows, cols = x.shape[-2:]
            out_hw = _out_size(op, rows, cols)
            n = flat[0].shape[0]
            if kind == "grad" and any(a.shape[-2:] != out_hw for a in args[1:]):
                return op.perform(node, args)      # the reference's error
            if not (n and rows and cols and all(out_hw)):
                return op.perform(node, args)      # empty: nothing worth a kernel
            cfg = _Config(op, _is_clipped(op, rows, cols, out_hw), _covers(op, rows, cols, out_hw), dtype)
            if kind == "forward":
                out = np.empty(x.shape[:-2] + out_hw, dtype=dt)
                arrays = (flat[0], out.reshape((n,) + out_hw))
            else:
                out = np.empty(x.shape, dtype=dt)
                arrays = tuple(flat if op.mode == "max" else flat[1:]) + (out.reshape(flat[0].shape),)
            _run(pool_kernel(kind, cfg), arrays, n, rows, cols, out_hw)
            return [out]
        run.how = "native: LLVM pooling kernel"
        return run
    return lower


def _planner(kind):
    def plan(planner, node, values):
        dtype = node.outputs[0].dtype
        if dtype not in _IR or any(i.dtype != dtype for i in node.inputs):
            return None
        op, x = node.op, values[0].array
        if x.ndim < 2 or any(v.array.shape[:-2] != x.shape[:-2] for v in values):
            return None
        rows, cols = x.shape[-2:]
        out_hw = _out_size(op, rows, cols)
        n = int(np.prod(x.shape[:-2]))
        if kind == "grad" and any(v.array.shape[-2:] != out_hw for v in values[1:]):
            return None
        if not (n and rows and cols and all(out_hw)):
            return None
        cfg = _Config(op, _is_clipped(op, rows, cols, out_hw), _covers(op, rows, cols, out_hw), dtype)
        flat = [planner.reshape(planner.contiguous(v), (n,) + v.array.shape[-2:]) for v in values]
        if kind == "forward":
            out = planner.output(0, x.shape[:-2] + out_hw, dtype)
            ins, flat_out = flat[:1], planner.reshape(out, (n,) + out_hw)
        else:
            out = planner.output(0, x.shape, dtype)
            ins, flat_out = (flat if op.mode == "max" else flat[1:]), planner.reshape(out, (n, rows, cols))
        fn = pool_kernel(kind, cfg)
        if kind == "grad" and cfg.pairs and not _split(n, rows, cols) and _feeds_weight_gradient(planner, node):
            # conv_direct.py may fold this gradient into its weight gradient, image by image
            arrays = tuple(v.array for v in ins) + (flat_out.array,)
            planner.defer(out, {"pool_grad": tuple(values), "dtype": dtype},
                          lambda: planner.call(fn, arrays, n, rows, cols, *out_hw))
            return [out]
        if _split(n, rows, cols):
            planner.python_call(lambda outs, ins: _run(fn, ins + outs, n, rows, cols, out_hw), [flat_out], ins,
                                splits=True)
        else:
            planner.call(fn, tuple(v.array for v in ins) + (flat_out.array,), n, rows, cols, *out_hw)
        return [out]
    return plan


def _feeds_weight_gradient(planner, node):
    """Whether the node's gradient is read only, as ``gz``, by a convolution's weight gradient."""
    from symbolic.ops.conv import Conv2dGradWeights
    reader = planner.sole_consumer(node.outputs[0])
    return reader is not None and isinstance(reader[0].op, Conv2dGradWeights) and reader[1] == 1


LOWERINGS = {Pool: _lower("forward"), PoolGrad: _lower("grad")}
PLANNERS = {Pool: _planner("forward"), PoolGrad: _planner("grad")}

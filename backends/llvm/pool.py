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


def _pairs_source(kind, cfg):
    """2x2 max pooling over images that the windows tile (W = 2 OW): each output row from two
    input rows, ``L`` windows per step as vectors (one 32-byte load per input row; the
    column pairs split by shuffles), the last ``OW % L`` windows one by one.  The gradient
    routes ``gz`` to every cell equal to its window's max, as the general kernel does."""
    mem = _IR[cfg.dtype]
    lanes = 8 if cfg.dtype == "float32" else 4      # input values per row per step
    L = lanes // 2
    names = ("x", "out") if kind == "forward" else ("x", "pooled", "gz", "gx")
    k = KernelSource(names, _SIZES)
    b, arr, a = k.b, k.arrays, k.args
    wide, half = f"<{lanes} x {mem}>", f"<{L} x {mem}>"
    suffix = ("v%df32" if mem == "float" else "v%df64")
    b.module.declare(f"declare {wide} @llvm.maximum.{suffix % lanes}({wide}, {wide})")
    b.module.declare(f"declare {half} @llvm.maximum.{suffix % L}({half}, {half})")
    align = np.dtype(cfg.dtype).itemsize

    def vload(ty, ptr):
        return b.emit(ty, f"load {ty}, ptr {ptr}, align {align}")

    def vstore(ty, v, ptr):
        b.line(f"store {ty} {v}, ptr {ptr}, align {align}")

    def shuffle(ty_in, v, picks):
        out = f"<{len(picks)} x {mem}>"
        mask = ", ".join(f"i32 {q}" for q in picks)
        return b.emit(out, f"shufflevector {ty_in} {v}, {ty_in} poison, <{len(picks)} x i32> <{mask}>")

    def vmax(ty, x, y, n):
        return b.emit(ty, f"call {ty} @llvm.maximum.{suffix % n}({ty} {x}, {ty} {y})")

    W, OW = a["W"], a["OW"]
    groups = b.op("sdiv", OW, L)

    def per_row(r):                       # output row r = (n, i): input rows 2r and 2r + 1
        top = b.gep(mem, arr["x"], b.op("mul", b.op("mul", r, 2), W))
        bottom = b.gep(mem, top, W)
        out_row = b.op("mul", r, OW)

        def cell(row, j):
            return b.gep(mem, row, j)

        if kind == "forward":
            def group(g):
                j = b.op("mul", g, lanes)
                both = vmax(wide, vload(wide, cell(top, j)), vload(wide, cell(bottom, j)), lanes)
                best = vmax(half, shuffle(wide, both, range(0, lanes, 2)), shuffle(wide, both, range(1, lanes, 2)), L)
                vstore(half, best, b.gep(mem, arr["out"], b.op("add", out_row, b.op("mul", g, L))))

            def single(j):
                c = b.op("mul", j, 2)
                m = b.intr("maximum", b.intr("maximum", b.load(mem, cell(top, c)), b.load(mem, cell(top, b.op("add", c, 1)))),
                           b.intr("maximum", b.load(mem, cell(bottom, c)), b.load(mem, cell(bottom, b.op("add", c, 1)))))
                b.store(m, b.gep(mem, arr["out"], b.op("add", out_row, j)))
        else:
            zero_wide = Val(b, "zeroinitializer", wide)
            gx_top = b.gep(mem, arr["gx"], b.op("mul", b.op("mul", r, 2), W))
            rows = ((top, gx_top), (bottom, b.gep(mem, gx_top, W)))

            def group(g):
                j, o = b.op("mul", g, lanes), b.op("add", out_row, b.op("mul", g, L))
                twice = [q // 2 for q in range(lanes)]
                best = shuffle(half, vload(half, b.gep(mem, arr["pooled"], o)), twice)
                grad = shuffle(half, vload(half, b.gep(mem, arr["gz"], o)), twice)
                for src, dst in rows:
                    hit = b.emit(f"<{lanes} x i1>", f"fcmp oeq {wide} {vload(wide, cell(src, j))}, {best}")
                    vstore(wide, b.emit(wide, f"select <{lanes} x i1> {hit}, {wide} {grad}, {wide} {zero_wide}"),
                           cell(dst, j))

            def single(j):
                o = b.op("add", out_row, j)
                best, grad = b.load(mem, b.gep(mem, arr["pooled"], o)), b.load(mem, b.gep(mem, arr["gz"], o))
                for src, dst in rows:
                    for dc in (0, 1):
                        c = b.op("add", b.op("mul", j, 2), dc)
                        hit = b.fcmp("oeq", b.load(mem, cell(src, c)), best)
                        b.store(b.select(hit, grad, b.const(mem, 0.0)), cell(dst, c))
        for_range(b, 0, groups, group, "g")
        for_range(b, b.op("mul", groups, L), OW, single, "j")
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
        if _split(n, rows, cols):
            planner.python_call(lambda outs, ins: _run(fn, ins + outs, n, rows, cols, out_hw), [flat_out], ins,
                                splits=True)
        else:
            planner.call(fn, tuple(v.array for v in ins) + (flat_out.array,), n, rows, cols, *out_hw)
        return [out]
    return plan


LOWERINGS = {Pool: _lower("forward"), PoolGrad: _lower("grad")}
PLANNERS = {Pool: _planner("forward"), PoolGrad: _planner("grad")}

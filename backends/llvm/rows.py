"""Native row kernels: softmax, log-softmax, and the fused softmax cross-entropy and its gradient.

Each row is a few passes over contiguous memory (maximum, sum of exponentials, results) with
the vectorizable exp/log of mathlib.py, in the row's own dtype, following the reference's
order of operations: log-softmax and the cross-entropy shift by the row maximum only when it
is finite; softmax divides by the sum of exponentials.  Results agree with the reference to
the last-place accuracy of exp and log.

The cross-entropy kernels take the common form only (one label per row, ``k`` equal to the
number of rows, labels in range); anything else runs the reference, which also raises its
errors.
"""
import numpy as np

from symbolic.ops.crossentropy import SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
from symbolic.ops.nnet import LogSoftmax, Softmax

from .loops import KernelSource, Slot, compile_kernel, for_range

_IR = {"float32": "float", "float64": "double"}


def _row_max(b, ty, row, n, finite_only):
    best = Slot(b, ty, b.const(ty, float("-inf")))
    for_range(b, 0, n, lambda j: best.set(b.intr("maximum", best.get(), b.load(ty, b.gep(ty, row, j)))), "m")
    m = best.get()
    if finite_only:
        finite = b.fcmp("one", b.fabs(m), b.const(ty, float("inf")))   # false for NaN and +-inf
        m = b.select(finite, m, b.const(ty, 0.0))
    return m


def _sum_exp(k, ty, row, n, m, store=None):
    """sum_j exp(row[j] - m); ``store(j, e)`` sees each exponential."""
    b = k.b
    total = Slot(b, ty, b.const(ty, 0.0))

    def add(j):
        e = k.module.math.call(b, "exp", b.binop("fsub", b.load(ty, b.gep(ty, row, j)), m))
        if store:
            store(j, e)
        total.set(b.binop("fadd", total.get(), e, "reassoc"))
    for_range(b, 0, n, add, "s")
    return total.get()


def _source(kind, dtype):
    ty = _IR[dtype]
    names = {"softmax": ("x", "out"), "log_softmax": ("x", "out"), "xent": ("z", "y", "out"),
             "xent_grad": ("d", "z", "y", "out")}[kind]
    k = KernelSource(names, ("rows", "n", "d_stride"))
    b, a, arr = k.b, k.args, k.arrays
    n = a["n"]

    def per_row(r):
        base = b.op("mul", r, n)
        src = b.gep(ty, arr["x" if "x" in arr else "z"], base)
        out_row = b.gep(ty, arr["out"], base)
        if kind == "softmax":
            m = _row_max(b, ty, src, n, finite_only=False)
            total = _sum_exp(k, ty, src, n, m, lambda j, e: b.store(e, b.gep(ty, out_row, j)))

            def scale(j):
                p = b.gep(ty, out_row, j)
                b.store(b.binop("fdiv", b.load(ty, p), total), p)
            for_range(b, 0, n, scale, "o")
            return
        m = _row_max(b, ty, src, n, finite_only=True)
        log_total = k.module.math.call(b, "log", _sum_exp(k, ty, src, n, m))
        if kind == "log_softmax":
            for_range(b, 0, n, lambda j: b.store(
                b.binop("fsub", b.binop("fsub", b.load(ty, b.gep(ty, src, j)), m), log_total),
                b.gep(ty, out_row, j)), "o")
            return
        label = b.load("i64", b.gep("i64", arr["y"], r))
        if kind == "xent":
            shifted = b.binop("fsub", b.load(ty, b.gep(ty, src, label)), m)
            b.store(b.emit(ty, f"fneg {ty} {b.binop('fsub', shifted, log_total)}"), b.gep(ty, arr["out"], r))
            return
        d = b.load(ty, b.gep(ty, arr["d"], b.op("mul", r, a["d_stride"])))

        def grad(j):
            lsm = b.binop("fsub", b.binop("fsub", b.load(ty, b.gep(ty, src, j)), m), log_total)
            b.store(b.binop("fmul", k.module.math.call(b, "exp", lsm), d), b.gep(ty, out_row, j))
        for_range(b, 0, n, grad, "o")
        p = b.gep(ty, out_row, label)
        b.store(b.binop("fsub", b.load(ty, p), d), p)
    for_range(b, 0, a["rows"], per_row, "r")
    return k


def row_kernel(kind, dtype):
    """``fn(arrays, rows, n, d_stride)`` over C-contiguous (rows, n) arrays of ``dtype``
    (labels int64, one per row; ``d`` has one value per row, or one for all: stride 0)."""
    return compile_kernel(("rows", kind, dtype), lambda: _source(kind, dtype), 3)


# ----------------------------------------------------------------------------------------
# lowerings
# ----------------------------------------------------------------------------------------
def _lower_softmax(kind):
    def lower(node, inplace_k):
        dtype = node.outputs[0].dtype
        if dtype not in _IR:
            return None
        op = node.op

        def run(x):
            if not isinstance(x, np.ndarray) or x.dtype != dtype or x.ndim == 0 or 0 in x.shape:
                return op.perform(node, (x,))
            x = np.ascontiguousarray(x)
            out = np.empty(x.shape, dtype=dtype)
            n = x.shape[-1]
            row_kernel(kind, dtype)((x, out), x.size // n, n, 0)
            return [out]
        run.how = "native: LLVM row kernel"
        return run
    return lower


def _labels(y, k, z):
    """The labels as a contiguous int64 array when the common form holds, else None."""
    if not isinstance(z, np.ndarray) or z.ndim != 2 or int(k) != len(z) or np.ndim(y) != 1 \
            or len(y) != len(z) or 0 in z.shape:
        return None
    y = np.ascontiguousarray(y, dtype=np.int64)
    if y.min() < 0 or y.max() >= z.shape[1]:
        return None
    return y


def _lower_xent(kind):
    def lower(node, inplace_k):
        dtype = node.outputs[0].dtype
        if dtype not in _IR:
            return None
        op = node.op

        def run(*args):
            z, y, k = args[-3:]
            labels = _labels(y, k, z)
            if labels is None or z.dtype != dtype:
                return op.perform(node, args)
            z = np.ascontiguousarray(z)
            rows, n = z.shape
            if kind == "xent":
                out = np.empty(rows, dtype=dtype)
                row_kernel(kind, dtype)((z, labels, out), rows, n, 0)
                return [out]
            d = np.asarray(args[0], dtype=dtype)
            if d.size not in (1, rows) or d.ndim > 1:
                return op.perform(node, args)
            out = np.empty(z.shape, dtype=dtype)
            row_kernel(kind, dtype)((np.ascontiguousarray(d).reshape(-1), z, labels, out), rows, n,
                                    0 if d.size == 1 else 1)
            return [out]
        run.how = "native: LLVM row kernel"
        return run
    return lower


LOWERINGS = {Softmax: _lower_softmax("softmax"), LogSoftmax: _lower_softmax("log_softmax"),
             SoftmaxCrossEntropy: _lower_xent("xent"), SoftmaxCrossEntropyGrad: _lower_xent("xent_grad")}

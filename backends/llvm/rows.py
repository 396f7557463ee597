"""Native row kernels: softmax, log-softmax, and the fused softmax cross-entropy and its gradient.

Each row is a few passes over contiguous memory (maximum, sum of exponentials, results) with
the vectorizable exp/log of mathlib.py, in the row's own dtype, following the reference's
order of operations: log-softmax and the cross-entropy shift by the row maximum only when it
is finite; softmax divides by the sum of exponentials.  Results agree with the reference to
the last-place accuracy of exp and log.

Argmax and argmin along the last axis are row kernels too (network3's accuracy), in plans of
the native driver.

The cross-entropy kernels take the common form only (one label per row, ``k`` equal to the
number of rows, labels in range); anything else runs the reference, which also raises its
errors.
"""
import numpy as np

from symbolic.ops.crossentropy import SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
from symbolic.ops.nnet import LogSoftmax, Softmax
from symbolic.ops.reduce import ArgReduce

from . import threads
from .loops import KernelSource, Slot, compile_kernel, for_range, if_then

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


_LABELS = {"int8": ("i8", "sext"), "int16": ("i16", "sext"), "int32": ("i32", "sext"),
           "int64": ("i64", None), "uint8": ("i8", "zext")}


_LABEL_DTYPES = {np.dtype(name): name for name in _LABELS}     # (dtype.name is slow to build)


def _label(b, arr, r, label_dtype):
    mem, widen = _LABELS[label_dtype]
    v = b.load(mem, b.gep(mem, arr["y"], r))
    return b.conv(widen, v, "i64") if widen else v


def _source(kind, dtype, label_dtype=None):
    ty = _IR[dtype]
    names = {"softmax": ("x", "out"), "log_softmax": ("x", "out"), "xent": ("z", "y", "out", "status"),
             "xent_grad": ("d", "z", "y", "out", "status")}[kind]
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
        label = _label(b, arr, r, label_dtype)
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

    if kind in ("softmax", "log_softmax"):
        for_range(b, 0, a["rows"], per_row, "r")
        return k
    # labels first: one out of [0, n) and the kernel writes nothing but status = 1
    bad = Slot(b, "i1", b.const("i1", 0))

    def check(r):
        label = _label(b, arr, r, label_dtype)
        outside = b.op("or", b.icmp("slt", label, 0), b.icmp("sge", label, n))
        bad.set(b.op("or", bad.get(), outside))
    for_range(b, 0, a["rows"], check, "chk")
    failed = bad.get()
    b.store(b.conv("zext", failed, "i64"), arr["status"])
    if_then(b, b.op("xor", failed, b.const("i1", 1)), lambda: for_range(b, 0, a["rows"], per_row, "r"))
    return k


def _arg_source(kind, dtype):
    """``out[r]``: the index of the first maximum (minimum) of row ``r``, or of its first NaN,
    as NumPy's argmax (argmin) gives it."""
    ty = _IR[dtype]
    k = KernelSource(("x", "out"), ("rows", "n", "d_stride"))
    b, a, arr = k.b, k.args, k.arrays
    better = "ogt" if kind == "argmax" else "olt"

    def per_row(r):
        row = b.gep(ty, arr["x"], b.op("mul", r, a["n"]))
        best, where = Slot(b, ty, b.load(ty, row)), Slot(b, "i64", b.const("i64", 0))

        def visit(j):
            v = b.load(ty, b.gep(ty, row, j))
            take = b.op("or", b.fcmp(better, v, best.get()),
                        b.op("and", b.isnan(v), b.fcmp("ord", best.get(), best.get())))
            best.set(b.select(take, v, best.get()))
            where.set(b.select(take, j, where.get()))
        for_range(b, 1, a["n"], visit, "j")
        b.store(where.get(), b.gep("i64", arr["out"], r))
    for_range(b, 0, a["rows"], per_row, "r")
    return k


def row_kernel(kind, dtype, label_dtype=None):
    """``fn(arrays, rows, n, d_stride)`` over C-contiguous (rows, n) arrays of ``dtype``; the
    cross-entropy kernels also take one label per row (``label_dtype``), ``d`` (one value per
    row, or one for all: stride 0) and an int64 ``status`` set to 1, with nothing else
    written, when a label is outside [0, n)."""
    make = (lambda: _arg_source(kind, dtype)) if kind in ("argmax", "argmin") else \
        (lambda: _source(kind, dtype, label_dtype))
    return compile_kernel(("rows", kind, dtype, label_dtype), make, 3)


def splits(rows, n):
    """Whether a row kernel over ``rows`` x ``n`` values is split over the threads."""
    return threads.count() > 1 and rows > 1 and rows * n >= threads.PARALLEL_MIN_ELEMENTS


def run_rows(fn, arrays, by_row, rows, n, d_stride):
    """``fn(arrays, rows, n, d_stride)``, on slices of the rows over the threads when large.
    ``by_row`` says of each array: True, its first axis is the rows (sliced); False, passed
    whole (a ``d`` shared by every row); "status", the kernel's status word, which each
    slice writes whether it failed or not: every slice gets its own, and the word says 1
    when any slice failed."""
    if not splits(rows, n):
        fn(arrays, rows, n, d_stride)
        return

    def part(lo, hi):
        own = [np.zeros(1, np.int64) if how == "status" else a[lo:hi] if how else a
               for a, how in zip(arrays, by_row)]
        fn(tuple(own), hi - lo, n, d_stride)
        return [int(a[0]) for a, how in zip(own, by_row) if how == "status"]
    failed = threads.run_split(part, rows, align=1)
    words = [a for a, how in zip(arrays, by_row) if how == "status"]
    for j, word in enumerate(words):
        word[0] = max(f[j] for f in failed)


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
            rows = x.size // n
            run_rows(row_kernel(kind, dtype), (x.reshape(rows, n), out.reshape(rows, n)), (True, True),
                     rows, n, 0)
            return [out]
        run.how = "native: LLVM row kernel"
        return run
    return lower


def _labels(y, k, z):
    """The labels as a contiguous array of a supported dtype when the common form holds
    (one label per row; the kernel checks their range), else None."""
    if not isinstance(z, np.ndarray) or z.ndim != 2 or int(k) != len(z) or np.ndim(y) != 1 \
            or len(y) != len(z) or 0 in z.shape:
        return None
    y = np.asarray(y)
    if y.dtype not in _LABEL_DTYPES:
        y = y.astype(np.int64)
    return y if y.flags.c_contiguous else np.ascontiguousarray(y)


def _lower_xent(kind):
    def lower(node, inplace_k):
        dtype = node.outputs[0].dtype
        if dtype not in _IR:
            return None
        op = node.op
        kernels = {}                         # label dtype -> kernel

        def run(*args):
            z, y, k = args[-3:]
            labels = _labels(y, k, z)
            if labels is None or z.dtype != dtype:
                return op.perform(node, args)
            z = np.ascontiguousarray(z)
            rows, n = z.shape
            status = np.zeros(1, dtype=np.int64)
            fn = kernels.get(labels.dtype) or kernels.setdefault(
                labels.dtype, row_kernel(kind, dtype, _LABEL_DTYPES[labels.dtype]))
            if kind == "xent":
                out = np.empty(rows, dtype=dtype)
                run_rows(fn, (z, labels, out, status), (True, True, True, "status"), rows, n, 0)
            else:
                d = np.asarray(args[0], dtype=dtype)
                if d.size not in (1, rows) or d.ndim > 1:
                    return op.perform(node, args)
                out = np.empty(z.shape, dtype=dtype)
                run_rows(fn, (np.ascontiguousarray(d).reshape(-1), z, labels, out, status),
                         (d.size > 1, True, True, True, "status"), rows, n, 0 if d.size == 1 else 1)
            if status[0]:
                return op.perform(node, args)      # a label out of range: the reference's meaning or error
            return [out]
        run.how = "native: LLVM row kernel"
        return run
    return lower


def _plan_softmax(kind):
    def plan(planner, node, values):
        dtype = node.outputs[0].dtype
        x = values[0].array
        if dtype not in _IR or x.dtype != dtype or x.ndim == 0 or 0 in x.shape:
            return None
        x = planner.contiguous(values[0])
        out = planner.output(0, x.array.shape, dtype)
        n = x.array.shape[-1]
        rows = x.array.size // n
        fn = row_kernel(kind, dtype)
        if splits(rows, n):
            planner.python_call(lambda outs, ins: run_rows(fn, (ins[0].reshape(rows, n), outs[0].reshape(rows, n)),
                                                           (True, True), rows, n, 0),
                                [out], [x], splits=True)
        else:
            planner.call(fn, (x.array, out.array), rows, n, 0)
        return [out]
    return plan


def _plan_xent(kind):
    """The cross-entropy kernels' common form; a label out of range fails the call (which
    then runs in Python and gives the reference's meaning or error)."""
    def plan(planner, node, values):
        dtype = node.outputs[0].dtype
        z, y, k = values[-3:]
        if dtype not in _IR or z.array.dtype != dtype or k.kind != "static":
            return None
        if _labels(y.array, k.array, z.array) is not y.array:
            return None                        # a conversion or copy: Python
        rows, n = z.array.shape
        z = planner.contiguous(z)
        status = planner.scratch(1, np.int64)
        status[0] = 0
        label_dt = _LABEL_DTYPES[y.array.dtype]
        if kind == "xent":
            out = planner.output(0, (rows,), dtype)
            arrays = (z.array, y.array, out.array, status)
            d_stride = 0
        else:
            d = values[0]
            if d.array.dtype != dtype or d.array.ndim > 1 or d.array.size not in (1, rows):
                return None
            d = planner.reshape(planner.contiguous(d), (d.array.size,))
            out = planner.output(0, z.array.shape, dtype)
            arrays = (d.array, z.array, y.array, out.array, status)
            d_stride = 0 if d.array.size == 1 else 1
        fn = row_kernel(kind, dtype, label_dt)
        if splits(rows, n):
            # the step reads the plan's arrays as they are at each call (fixed objects whose
            # data the driver points)
            by_row = (True, True, True, "status") if kind == "xent" else (d_stride == 1, True, True, True, "status")
            read = [z, y] if kind == "xent" else [d, z, y]
            planner.python_call(lambda outs, ins: run_rows(fn, arrays, by_row, rows, n, d_stride),
                                [out], read, splits=True)
        else:
            planner.call(fn, arrays, rows, n, d_stride)
        planner.check_status(status)
        return [out]
    return plan


LOWERINGS = {Softmax: _lower_softmax("softmax"), LogSoftmax: _lower_softmax("log_softmax"),
             SoftmaxCrossEntropy: _lower_xent("xent"), SoftmaxCrossEntropyGrad: _lower_xent("xent_grad")}
def _plan_arg(planner, node, values):
    """argmax/argmin along the last axis, or of the flattened array (network3's accuracy)."""
    x = values[0].array
    kind, axis = "arg" + node.op.kind, node.op.axis
    if x.dtype.name not in _IR or x.size == 0 or axis is not None and axis not in (-1, x.ndim - 1):
        return None
    x = planner.contiguous(values[0])
    n = x.array.size if axis is None else x.array.shape[-1]
    out = planner.output(0, () if axis is None else x.array.shape[:-1], np.int64)
    planner.call(row_kernel(kind, x.array.dtype.name), (x.array, out.array), x.array.size // n, n, 0)
    return [out]


PLANNERS = {Softmax: _plan_softmax("softmax"), LogSoftmax: _plan_softmax("log_softmax"),
            SoftmaxCrossEntropy: _plan_xent("xent"), SoftmaxCrossEntropyGrad: _plan_xent("xent_grad"),
            ArgReduce: _plan_arg}

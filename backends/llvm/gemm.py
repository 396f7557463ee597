"""GEMM calls from a generated kernel: ``c = alpha * a @ b + beta * c`` with no Python pointer work.

``blas.Blas.gemm`` calls OpenBLAS through ctypes, which needs each array's address from
Python (``.ctypes.data``, 2-3 us apiece) and fourteen converted arguments: ~15-25 us per
call, more than NumPy's own ``dot`` for network3's small matrices.  Here a tiny kernel
reads the three data pointers from the array objects (objects.py) and calls the gemm by its
address; Python only looks up, once per array layout, the transpose flags and leading
dimensions (a transposed operand is a flag, not a copy).
"""
import ctypes

import numpy as np

from . import small_gemm, threads
from .blas import blas
from .loops import KernelSource, compile_kernel

_IR = {"float32": "float", "float64": "double"}
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SCALARS = ("ta", "tb", "m", "n", "k", "lda", "ldb", "ldc")


def _source(dtype, alpha_dtype=None, beta_dtype=None, small=None):
    """The gemm call with alpha and beta as double arguments, or, given their dtypes, read
    from 0-d arrays when it runs (the native driver's arguments are fixed, while alpha is
    often a variable learning rate).  With ``small = (kind, size)`` the kernel computes the
    product itself instead (small_gemm.py), taking the same arguments."""
    from_arrays = alpha_dtype is not None
    k = KernelSource(("a", "b", "c") + (("alpha", "beta") if from_arrays else ()), _SCALARS,
                     extra=([] if from_arrays else [("alpha", "double"), ("beta", "double")])
                     + [("gemm", "ptr")])
    b, a, arr = k.b, k.args, k.arrays
    ty = _IR[dtype]
    scalars = []
    for name, dt in (("alpha", alpha_dtype), ("beta", beta_dtype)):
        v, vty = (b.load(_IR[dt], arr[name]), _IR[dt]) if from_arrays else (a[name], "double")
        if vty != ty:
            v = b.conv("fptrunc" if ty == "float" else "fpext", v, ty)
        scalars.append(v)
    alpha, beta = scalars
    if small is not None:
        small_gemm.emit(k, dtype, small[0], small[1], alpha, beta)
        return k
    ints = ", ".join(f"i64 {a[s]}" for s in ("m", "n", "k"))
    ta, tb = (b.conv("trunc", a[s], "i32") for s in ("ta", "tb"))
    b.line(f"call void {a['gemm']}(i32 {_ROW_MAJOR}, i32 {ta}, i32 {tb}, {ints}, {ty} {alpha}, "
           f"ptr {arr['a']}, i64 {a['lda']}, ptr {arr['b']}, i64 {a['ldb']}, {ty} {beta}, "
           f"ptr {arr['c']}, i64 {a['ldc']})")
    return k


def _kernel(dtype, small=None):
    return compile_kernel(("gemm", dtype, small), lambda: _source(dtype, small=small), len(_SCALARS),
                          [ctypes.c_double, ctypes.c_double, ctypes.c_void_p], unroll=small is None)


def _scalar_kernel(dtype, alpha_dtype, beta_dtype, small=None):
    return compile_kernel(("gemm-scalars", dtype, alpha_dtype, beta_dtype, small),
                          lambda: _source(dtype, alpha_dtype, beta_dtype, small), len(_SCALARS),
                          [ctypes.c_void_p], unroll=small is None)


def _small(args):
    """``(kind, size)`` of the small-dimension kernel that takes a call with these layout
    arguments (``Gemm._layout_args``), or None: OpenBLAS takes it."""
    if not small_gemm_enabled():
        return None
    ta, tb, m, n, k = args[:5]
    kind = small_gemm.kind_for(ta, tb, m, n, k)
    return None if kind is None else (kind, m)


def small_gemm_enabled():
    from symbolic import config
    return config.small_gemm


def _operand(x):
    """(transpose flag, leading dimension) of a 2-d operand BLAS can read in place, or None."""
    rows, cols = x.shape
    item = x.itemsize
    s0, s1 = x.strides
    if s1 == item and s0 >= max(cols, 1) * item and s0 % item == 0:
        return _NO_TRANS, s0 // item
    if s0 == item and s1 >= max(rows, 1) * item and s1 % item == 0:
        return _TRANS, s1 // item
    return None


def better_transposed(a, b):
    """Whether ``a @ b`` runs faster as ``(b.T @ a.T).T`` (then transposed into place): for a
    few rows times a large transposed matrix, backpropagation's ``d @ W.T``, OpenBLAS is
    1.5x faster the other way round (measured: 10 x 1000 by 1000 x 1000, 745 -> 490 us).
    Not where small_gemm.py's kernels take the product as it is (faster still)."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] > 32 or b.size < 1 << 16:
        return False
    fb = _operand(b) if b.itemsize else None
    fa = _operand(a)
    if fb is None or fb[0] != _TRANS or fa is None:
        return False
    (m, k), n = a.shape, b.shape[1]
    return _small((fa[0], fb[0], m, n, k)) is None     # else small_gemm's dots kernel takes it


# GEMMs of at least this many multiply-adds (m*n*k; about a millisecond) are split over
# config.threads threads by rows or columns of C when OpenBLAS runs single-threaded: in the
# plans that split convolutions over our own threads (program.py), where OpenBLAS threads
# would oversubscribe the cores.  Otherwise OpenBLAS's own threads, which hand work over
# faster than a Python pool, take the GEMM.
PARALLEL_MIN_MNK = 1 << 23


def worth_splitting(m, n, k):
    return threads.count() > 1 and m * n * k >= PARALLEL_MIN_MNK


def split_ranges(m, n, k):
    """``("rows" | "cols", ranges)`` splitting an m x n x k GEMM over our threads now (OpenBLAS
    single-threaded and the GEMM large), or None."""
    parts = threads.count()
    if not worth_splitting(m, n, k) or getattr(blas(), "threads", 1) > 1:
        return None
    if m >= n:
        return "rows", threads.slices(m, parts, align=8)
    return "cols", threads.slices(n, parts, align=16)


class Gemm:
    """``gemm(alpha, a, b, beta, c)`` for one dtype: same contract as ``Blas.gemm`` (``c``
    C-contiguous, updated in place and returned), with the per-layout work cached."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.address = blas().gemm_address(self.dtype.name)
        self.plans = {}

    def __call__(self, alpha, a, b, beta, c):
        if a.ndim == b.ndim == 2 and c.flags.c_contiguous:
            split = split_ranges(a.shape[0], b.shape[1], a.shape[1])
            if split is not None and a.shape[1] == b.shape[0] and c.shape == (a.shape[0], b.shape[1]):
                return self.parallel(split, alpha, a, b, beta, c)
        return self._single(alpha, a, b, beta, c)

    def parallel(self, split, alpha, a, b, beta, c):
        """The GEMM by blocks of rows or columns of ``c`` (``split_ranges``), one per thread."""
        by, ranges = split
        if by == "rows":
            def part(lo, hi):
                self._single(alpha, a[lo:hi], b, beta, c[lo:hi])
        else:
            def part(lo, hi):
                self._single(alpha, a, b[:, lo:hi], beta, c[:, lo:hi])
        futures = [threads.pool_submit(part, lo, hi) for lo, hi in ranges[1:]]
        part(*ranges[0])
        for f in futures:
            f.result()
        return c

    def _single(self, alpha, a, b, beta, c):
        key = (a.shape, a.strides, b.shape, b.strides, c.shape, c.strides, a.dtype, b.dtype, c.dtype,
               small_gemm_enabled())
        plan = self.plans.get(key)
        if plan is None:
            plan = self._plan(a, b, c)
            if len(self.plans) < 256:
                self.plans[key] = plan
        if plan is False or not c.flags.writeable:
            return blas().gemm(alpha, a, b, beta, c)      # copies, degenerate sizes, errors
        plan((a, b, c), float(alpha), float(beta))
        return c

    def _plan(self, a, b, c):
        args = self._layout_args(a, b, c)
        if args is None:
            return False
        fn, address = _kernel(self.dtype.name, _small(args)), self.address

        def run(arrays, alpha, beta):
            fn(arrays, *args, alpha, beta, address)
        return run

    def _layout_args(self, a, b, c):
        """The kernel's size and layout arguments, or None where BLAS cannot take the arrays
        as they are (other dtypes, a copy needed, an empty product)."""
        if self.address is None or not (a.dtype == b.dtype == c.dtype == self.dtype) \
                or a.ndim != 2 or b.ndim != 2 or c.ndim != 2:
            return None
        (m, k), n = a.shape, b.shape[1]
        if b.shape[0] != k or c.shape != (m, n) or 0 in (m, n, k):
            return None
        fa, fb, fc = _operand(a), _operand(b), _operand(c)
        if fa is None or fb is None or fc is None or fc[0] != _NO_TRANS and m > 1:
            return None                    # C must be row-major (a block of rows or columns)
        return (*fa[:1], *fb[:1], m, n, k, fa[1], fb[1], fc[1] if fc[0] == _NO_TRANS else max(n, 1))

    def native_call(self, a, b, c, alpha, beta):
        """``c = alpha * a @ b + beta * c`` as ``(ctypes function, arguments)`` for the native
        driver, alpha and beta being 0-d float arrays read when it runs; None where BLAS
        cannot take the arrays as they are."""
        args = self._layout_args(a, b, c)
        if args is None or alpha.dtype.name not in _IR or beta.dtype.name not in _IR:
            return None
        fn = _scalar_kernel(self.dtype.name, alpha.dtype.name, beta.dtype.name, _small(args))
        return fn, ((a, b, c, alpha, beta), *args, self.address)


_gemms = {}


def gemm_for(dtype):
    """The ``Gemm`` of ``dtype`` (float32 or float64), or None without a bound BLAS."""
    dtype = np.dtype(dtype).name
    if dtype not in _IR or blas().gemm_address(dtype) is None:
        return None
    if dtype not in _gemms:
        _gemms[dtype] = Gemm(dtype)
    return _gemms[dtype]

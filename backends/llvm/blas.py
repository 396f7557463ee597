"""BLAS GEMM for the native backend: NumPy's bundled OpenBLAS, bound by symbol.

NumPy's manylinux wheels ship OpenBLAS with a 64-bit integer interface
(``scipy_cblas_sgemm64_``...).  Binding it directly lets GEMM run on arrays
in any of the two BLAS layouts without copies (a transposed operand is a
flag, not a copy) and accumulate into an existing buffer (``beta = 1``), and
gives control of OpenBLAS's thread count, which matters on a shared 2-core
machine.  Other NumPy builds (conda MKL, Accelerate) export other names:
then ``gemm`` falls back to ``numpy.matmul`` with ``out=``.
"""
import contextlib
import ctypes
import glob
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_SYMBOLS = {"float32": "scipy_cblas_sgemm64_", "float64": "scipy_cblas_dgemm64_"}
_SCALAR = {"float32": ctypes.c_float, "float64": ctypes.c_double}


def _load_openblas():
    libs = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas64_*.so*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if all(hasattr(lib, s) for s in _SYMBOLS.values()):
            return lib
    return None


class Blas:
    """GEMM through OpenBLAS when NumPy bundles it, else through NumPy."""

    def __init__(self):
        self.lib = _load_openblas()
        self.functions = {}
        if self.lib is not None:
            for dtype, symbol in _SYMBOLS.items():
                fn = getattr(self.lib, symbol)
                i64, ptr, scalar = ctypes.c_int64, ctypes.c_void_p, _SCALAR[dtype]
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64, scalar, ptr, i64,
                               ptr, i64, scalar, ptr, i64]
                fn.restype = None
                self.functions[dtype] = fn

    @property
    def name(self):
        return "OpenBLAS (NumPy's, 64-bit interface)" if self.lib is not None else "numpy.matmul"

    def gemm_address(self, dtype):
        """The address of the cblas gemm for ``dtype`` (for generated code), or None."""
        fn = self.functions.get(str(dtype))
        return None if fn is None else ctypes.cast(fn, ctypes.c_void_p).value

    def set_num_threads(self, n):
        """Limit OpenBLAS's threads (a 2-thread OpenBLAS on a busy 2-core machine crawls)."""
        if self.lib is not None and hasattr(self.lib, "scipy_openblas_set_num_threads64_"):
            self.lib.scipy_openblas_set_num_threads64_(ctypes.c_int(int(n)))
            self.threads = int(n)

    @contextlib.contextmanager
    def single_threaded(self):
        """OpenBLAS on one thread meanwhile: for kernels that our own threads already split
        (an OpenBLAS of two threads inside each of two ours oversubscribes the cores: a
        two-conv-layer step at mini-batch 256 ran 1.8x slower)."""
        before = getattr(self, "threads", None)
        if before is None or before == 1:
            yield
            return
        self.set_num_threads(1)
        try:
            yield
        finally:
            self.set_num_threads(before)

    def gemm(self, alpha, a, b, beta, c):
        """``c = alpha * a @ b + beta * c`` in place; ``c`` must be C-contiguous."""
        fn = self.functions.get(c.dtype.name)
        m, k = a.shape
        n = b.shape[1]
        if b.shape[0] != k or c.shape != (m, n):
            raise ValueError(f"gemm: shapes {a.shape} @ {b.shape} -> {c.shape} do not match")
        if fn is None or a.dtype != c.dtype or b.dtype != c.dtype or not c.flags.c_contiguous:
            product = np.matmul(a, b)
            c *= beta
            c += alpha * product
            return c
        if m == 0 or n == 0:
            return c
        if k == 0:
            c *= beta
            return c
        ta, lda, a = _layout(a)
        tb, ldb, b = _layout(b)
        fn(_ROW_MAJOR, ta, tb, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta,
           c.ctypes.data, max(n, 1))
        return c


def _layout(x):
    """(transpose flag, leading dimension, array) for BLAS without copying if possible."""
    rows, cols = x.shape
    item = x.itemsize
    if x.strides[1] == item and x.strides[0] >= max(cols, 1) * item:
        return _NO_TRANS, x.strides[0] // item, x
    if x.strides[0] == item and x.strides[1] >= max(rows, 1) * item:
        return _TRANS, x.strides[1] // item, x
    x = np.ascontiguousarray(x)
    return _NO_TRANS, max(cols, 1), x


_blas = None


def blas():
    """The process-wide BLAS binding (loaded on first use)."""
    global _blas
    if _blas is None:
        _blas = Blas()
    return _blas

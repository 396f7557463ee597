"""small_gemm.py: our kernels for products with few rows agree with float64 NumPy, take
the calls they are meant for, and run inside compiled functions (Python and native paths)."""
import numpy as np
import pytest

import symbolic as S
from backends.llvm import gemm as G
from backends.llvm import jit, small_gemm


def _layout(x, how):
    """``x`` (2-d) with the same values in another memory layout."""
    if how == "c":
        return x
    if how == "t":                           # a transposed view of a C array
        return np.ascontiguousarray(x.T).T
    if how == "block":                       # rows padded: leading dimension > columns
        big = np.full((x.shape[0], x.shape[1] + 5), np.nan, x.dtype)
        big[:, :x.shape[1]] = x
        return big[:, :x.shape[1]]
    raise ValueError(how)


def _case(rng, dtype, m, n, k, a_how, b_how):
    a = _layout(rng.normal(size=(m, k)).astype(dtype), a_how)
    b = _layout(rng.normal(size=(k, n)).astype(dtype), b_how)
    return a, b


def _reference(alpha, a, b, beta, c):
    out = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    return out + beta * c.astype(np.float64) if beta else out


def _tolerance(dtype, k):
    return (2e-6 if dtype == "float32" else 1e-14) * max(k, 1) ** 0.5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m", [1, 3, 5, 6, 10, 11, 16])
@pytest.mark.parametrize("n, k", [(32, 16), (37, 33), (100, 784), (1029, 19), (2100, 40)])
@pytest.mark.parametrize("a_how", ["c", "t", "block"])
def test_rows_kernel_matches_numpy(dtype, m, n, k, a_how):
    rng = np.random.default_rng(m * 1000 + n + k)
    a, b = _case(rng, dtype, m, n, k, a_how, "c")
    gemm = G.gemm_for(dtype)
    assert G._small(gemm._layout_args(a, b, np.empty((m, n), dtype))) == ("rows", m)
    for alpha, beta in [(1.0, 0.0), (-0.5, 2.0)]:
        c0 = rng.normal(size=(m, n)).astype(dtype)
        c = np.full_like(c0, np.nan) if beta == 0 else c0.copy()     # beta 0: C is not read
        gemm(alpha, a, b, beta, c)
        expect = _reference(alpha, a, b, beta, c0)
        np.testing.assert_allclose(c, expect, rtol=0, atol=_tolerance(dtype, k) * np.abs(expect).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m", [1, 2, 5, 7, 10, 16])
@pytest.mark.parametrize("n, k", [(16, 32), (17, 35), (1000, 100), (33, 1001)])
@pytest.mark.parametrize("a_how", ["c", "block"])
def test_dots_kernel_matches_numpy(dtype, m, n, k, a_how):
    """``d @ W.T``: W row-major, so B is a transposed view."""
    rng = np.random.default_rng(m * 1000 + n + k)
    a = _layout(rng.normal(size=(m, k)).astype(dtype), a_how)
    w = _layout(rng.normal(size=(n, k)).astype(dtype), "block")
    b = w.T
    gemm = G.gemm_for(dtype)
    assert G._small(gemm._layout_args(a, b, np.empty((m, n), dtype))) == ("dots", m)
    for alpha, beta in [(1.0, 0.0), (0.25, -1.0)]:
        c0 = rng.normal(size=(m, n)).astype(dtype)
        c = np.full_like(c0, np.nan) if beta == 0 else c0.copy()
        gemm(alpha, a, b, beta, c)
        expect = _reference(alpha, a, b, beta, c0)
        np.testing.assert_allclose(c, expect, rtol=0, atol=_tolerance(dtype, k) * np.abs(expect).max())


def test_a_row_block_of_a_larger_c():
    """C may be a block of columns of a larger row-major array (the threaded split)."""
    rng = np.random.default_rng(1)
    a, b = _case(rng, "float32", 10, 64, 50, "c", "c")
    big = np.zeros((10, 100), np.float32)
    G.gemm_for("float32")(1.0, a, b, 0.0, big[:, 20:84])
    np.testing.assert_allclose(big[:, 20:84], a @ b, rtol=1e-5, atol=1e-5)
    assert not big[:, :20].any() and not big[:, 84:].any()


@pytest.mark.parametrize("shape", [
    (20, 100, 100),           # more rows than SMALL
    (10, 16, 100),            # too few columns for the rows kernel
    (10, 100, 8),             # too short a sum
    (1000, 1000, 10),         # a rank-10 update: OpenBLAS
])
def test_other_shapes_go_to_blas(shape):
    m, n, k = shape
    assert small_gemm.kind_for(111, 111, m, n, k) is None


def test_non_finite_values_propagate():
    rng = np.random.default_rng(2)
    a, b = _case(rng, "float32", 4, 40, 20, "c", "c")
    a[1, 3], b[5, 7] = np.inf, np.nan
    c = np.empty((4, 40), np.float32)
    G.gemm_for("float32")(1.0, a, b, 0.0, c)
    with np.errstate(invalid="ignore"):
        expect = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(expect))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(expect))


@pytest.mark.parametrize("kind", ["rows", "dots"])
def test_kernels_use_vector_fmas(kind):
    source = G._source("float32", small=(kind, 10))
    asm = jit.assembly(source.finish()[0])
    if jit.has_feature("fma") and jit.has_feature("avx"):
        assert "vfmadd" in asm and "ymm" in asm


@pytest.mark.parametrize("native_driver", [True, False])
def test_training_with_and_without_small_kernels_agrees(native_driver):
    """A mini-batch-10 FC layer and its gradients: the flag changes only rounding."""
    rng = np.random.default_rng(3)
    x = S.matrix("x")
    results = []
    for flag in (True, False):
        w = S.shared(rng.normal(size=(300, 200)).astype("float32") * 0.05, name="w")
        w.set_value(np.random.default_rng(4).normal(size=(300, 200)).astype("float32") * 0.05)
        h = S.tanh(S.dot(x, w))
        cost = S.sum(S.dot(h, w.T) ** 2)
        g = S.grad(cost, w)
        with S.config.change_flags(small_gemm=flag, native_driver=native_driver):
            f = S.function([x], [cost, S.dot(x, w)], updates=[(w, w - 1e-4 * g)],
                           mode=S.Mode(linker="llvm"))
            xs = np.random.default_rng(5).normal(size=(10, 300)).astype("float32")
            outs = [f(xs) for _ in range(3)]
        results.append((outs, w.get_value()))
    (o1, w1), (o2, w2) = results
    for a, b in zip(o1, o2):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-4)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-6)

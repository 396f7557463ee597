"""The Gemm op: NumPy meaning, gradient, errors."""
import numpy as np
import pytest

import symbolic as S
from symbolic.ops.blas import gemm


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 2), (2, 4)), ((1, 4), (3, 2), (2, 4)),
                                    ((0, 2), (0, 5), (5, 2)), ((2, 3), (2, 0), (0, 3))])
def test_gemm_matches_numpy(dtype, shapes):
    rng = np.random.default_rng(0)
    cs, as_, bs = shapes
    c, a, b = (S.tensor(dtype, (None, None), n) for n in "cab")
    alpha, beta = S.tensor(dtype, (), "alpha"), S.tensor(dtype, (), "beta")
    f = S.function([c, alpha, a, b, beta], gemm(c, alpha, a, b, beta))
    cv, av, bv = (rng.normal(size=s).astype(dtype) for s in shapes)
    out = f(cv, 0.5, av, bv, -2.0)
    np.testing.assert_allclose(out, -2.0 * cv + 0.5 * av @ bv, rtol=1e-5, atol=1e-6)
    assert out.dtype == dtype


def test_gemm_gradient():
    rng = np.random.default_rng(1)
    pts = [rng.normal(size=(3, 2)), np.array(0.7), rng.normal(size=(3, 4)), rng.normal(size=(4, 2)),
           np.array(-1.3)]
    S.verify_grad(lambda c, al, a, b, be: gemm(c, al, a, b, be), pts)


def test_gemm_static_shape_errors():
    with pytest.raises(ValueError, match="A @ B"):
        gemm(S.dmatrix(), 1.0, S.tensor("float64", (2, 3)), S.tensor("float64", (4, 2)), 1.0)
    with pytest.raises(TypeError, match="float matrix"):
        gemm(S.dvector(), 1.0, S.dmatrix(), S.dmatrix(), 1.0)

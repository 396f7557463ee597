"""Reverse-mode gradients, their helpers, and verify_grad itself."""
import numpy as np
import pytest

import symbolic as S
from symbolic.gradcheck import GradientError


def _f64(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape)


def test_grad_of_simple_expression():
    x = S.dvector("x")
    g = S.grad((x ** 2).sum(), x)
    f = S.function([x], g)
    np.testing.assert_allclose(f([1.0, -2.0]), [2.0, -4.0])


def test_grad_accumulates_over_multiple_paths():
    x = S.dscalar("x")
    y = x * x + S.sin(x) * x
    f = S.function([x], S.grad(y, x))
    v = 0.7
    assert np.isclose(f(v), 2 * v + np.cos(v) * v + np.sin(v))


def test_grad_list_and_broadcast_reduction():
    x = S.dmatrix("x")
    b = S.dvector("b")
    cost = S.sum(S.tanh(x + b))
    gx, gb = S.grad(cost, [x, b])
    f = S.function([x, b], [gx, gb])
    xv, bv = _f64(3, 4), _f64(4, seed=1)
    gxv, gbv = f(xv, bv)
    expect = 1 - np.tanh(xv + bv) ** 2
    np.testing.assert_allclose(gxv, expect)
    np.testing.assert_allclose(gbv, expect.sum(0))


def test_runtime_broadcasting_gradient():
    """A dimension of unknown static size that is 1 at run time still gets a summed gradient."""
    x = S.dmatrix("x")
    y = S.dmatrix("y")
    gx = S.grad((x * y).sum(), x)
    f = S.function([x, y], gx)
    out = f(np.ones((1, 3)), np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(out, [[3, 5, 7]])


def test_cost_must_be_scalar():
    x = S.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        S.grad(x * 2, x)


def test_disconnected_inputs_modes():
    x, y = S.dvector("x"), S.dvector("y")
    cost = x.sum()
    with pytest.raises(S.DisconnectedInputError, match="y"):
        S.grad(cost, [x, y])
    with pytest.warns(UserWarning, match="y"):
        S.grad(cost, [x, y], disconnected_inputs="warn")
    _, gy = S.grad(cost, [x, y], disconnected_inputs="ignore")
    f = S.function([x, y], gy, on_unused_input="ignore")
    np.testing.assert_array_equal(f([1.0], [1.0, 2.0]), [0, 0])


def test_grad_wrt_integer_is_error():
    i = S.ivector("i")
    with pytest.raises(TypeError, match="integer"):
        S.grad(S.cast(i, "float64").sum(), i)


def test_grad_through_op_without_gradient_names_op():
    x = S.dvector("x")
    idx = S.argmax(x)
    cost = S.cast(idx, "float64") * x.sum()
    # argmax is not differentiable, but the path through x.sum() is: gradient flows there only
    f = S.function([x], S.grad(cost, x))
    np.testing.assert_allclose(f([0.0, 3.0, 1.0]), [1.0, 1.0, 1.0])


def test_gradient_undefined_raises_with_trace():
    class NoGrad(S.Op):
        def make_node(self, x):
            x = S.as_tensor_variable(x)
            return S.Apply(self, [x], [x.type])

        def perform(self, node, inputs):
            return [inputs[0]]

    x = S.dvector("x")
    y = NoGrad()(x)  # NOGRAD-LINE
    with pytest.raises(S.GradientUndefined, match="NoGrad.*NOGRAD-LINE"):
        S.grad(y.sum(), x)


def test_consider_constant_and_gradient_modifiers():
    x = S.dscalar("x")
    y = x * x
    assert S.function([x], S.grad(y * x, x, consider_constant=[y]))(3.0) == 9.0
    assert S.function([x], S.grad(S.zero_grad(y) * x, x))(3.0) == 9.0
    assert S.function([x], S.grad(S.disconnected_grad(y) * x, x))(3.0) == 9.0
    clipped = S.grad(S.grad_clip(x * 10, -1, 1), x)
    assert S.function([x], clipped)(1.0) == 10.0  # the op's own gradient of 1 is clipped, then *10
    z = S.grad_clip(x, -0.5, 0.5) * 10
    assert S.function([x], S.grad(z, x))(1.0) == 0.5  # the incoming 10 is clipped


def test_known_grads_and_lop():
    x = S.dvector("x")
    y = x * 3
    v = S.dvector("v")
    g = S.Lop(y, x, v)
    f = S.function([x, v], g)
    np.testing.assert_allclose(f([1.0, 2.0], [1.0, -1.0]), [3.0, -3.0])


def test_rop_matches_jacobian_vector_product():
    W = S.dmatrix("W")
    x = S.dvector("x")
    v = S.dvector("v")
    y = S.tanh(S.dot(W, x))
    jv = S.Rop(y, x, v)
    f = S.function([W, x, v], jv)
    Wv, xv, vv = _f64(3, 4), _f64(4, seed=1), _f64(4, seed=2)
    expect = (1 - np.tanh(Wv @ xv) ** 2) * (Wv @ vv)
    np.testing.assert_allclose(f(Wv, xv, vv), expect)


def test_jacobian_and_hessian_symbolic_sizes():
    x = S.dvector("x")
    J = S.jacobian(x ** 2, x)
    H = S.hessian((x ** 3).sum(), x)
    f = S.function([x], [J, H])
    xv = np.array([1.0, 2.0, 3.0])
    j, h = f(xv)
    np.testing.assert_allclose(j, np.diag(2 * xv))
    np.testing.assert_allclose(h, np.diag(6 * xv))


def test_jacobian_of_matrix_output_shape():
    x = S.dvector("x")
    A = S.dmatrix("A")
    J = S.jacobian(A * x, x)
    f = S.function([A, x], J)
    out = f(np.ones((2, 3)), np.ones(3))
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out[1, 2], [0, 0, 1])


def test_second_derivative_through_grad():
    x = S.dscalar("x")
    g = S.grad(S.exp(x * 2), x)
    gg = S.grad(g, x)
    assert np.isclose(S.function([x], gg)(0.5), 4 * np.exp(1.0))


def test_verify_grad_catches_wrong_gradient():
    class BadSquare(S.Op):
        def make_node(self, x):
            x = S.as_tensor_variable(x)
            return S.Apply(self, [x], [x.type])

        def perform(self, node, inputs):
            return [inputs[0] ** 2]

        def grad(self, inputs, output_grads):
            return [output_grads[0] * inputs[0] * 3]  # should be 2 * x

    with pytest.raises(GradientError, match="input 0"):
        S.verify_grad(lambda x: BadSquare()(x), [_f64(3)])
    S.verify_grad(lambda x: x ** 2, [_f64(3)])


def test_verify_grad_float32_tolerances():
    S.verify_grad(lambda x: S.tanh(x).sum(), [_f64(4).astype("float32")])

"""The fused softmax cross-entropy ops and the rewrites that produce them."""
import numpy as np
import pytest

import symbolic as S
from symbolic.ops.crossentropy import SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
from symbolic.ops.elemwise import Elemwise


def _lsm(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("n, k, labels", [
    (4, 4, [0, 2, 1, 1]),      # one label per row (network3)
    (5, 3, [1, 0, 2]),         # fewer picked rows than logits rows
    (4, 1, [2, 0, 1]),         # arange(1) broadcast against three labels: row 0 three times
    (3, 3, [1]),               # one label broadcast over three rows
    (0, 0, []),                # empty batch
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_and_gradient_match_numpy(n, k, labels, dtype):
    rng = np.random.default_rng(0)
    zv = rng.normal(size=(n, 3)).astype(dtype)
    yv = np.array(labels, dtype="int32")
    z, y, kk = S.tensor(dtype, (None, None), "z"), S.ivector("y"), S.lscalar("k")
    nll = SoftmaxCrossEntropy()(z, y, kk)
    d = S.tensor(dtype, (None,), "d")
    dz = SoftmaxCrossEntropyGrad()(d, z, y, kk)
    f = S.function([z, y, kk, d], [nll, dz], mode=S.Mode(optimizer="None"))
    rows, cols = np.broadcast_arrays(np.arange(k), yv)
    dv = rng.normal(size=rows.shape).astype(dtype)
    got_nll, got_dz = f(zv, yv, k, dv)
    expect_nll = -_lsm(zv)[rows, cols] if n else np.zeros(0)
    np.testing.assert_allclose(got_nll, expect_nll, rtol=1e-5)
    # the gradient of sum(d * nll) with respect to z, by the unfused graph
    ref = S.grad(S.sum(d * -S.log_softmax(z)[S.arange(kk), y]), z)
    g = S.function([z, y, kk, d], ref, mode=S.Mode(optimizer="None"))
    np.testing.assert_allclose(got_dz, g(zv, yv, k, dv), rtol=1e-5, atol=1e-6)
    assert got_nll.dtype == dtype and got_dz.dtype == dtype


def test_verify_grad_of_fused_forward():
    y = np.array([0, 2, 1], dtype="int32")
    S.verify_grad(lambda z: SoftmaxCrossEntropy()(z, y, 3), [np.random.default_rng(1).normal(size=(3, 4))])


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="labels must be an integer vector"):
        SoftmaxCrossEntropy()(S.dmatrix(), S.dvector(), 3)
    with pytest.raises(TypeError, match="logits must be a float matrix"):
        SoftmaxCrossEntropy()(S.dvector(), S.ivector(), 3)


def _ops(f):
    return [type(n.op).__name__ if not isinstance(n.op, Elemwise) else str(n.op)
            for n in f.fgraph.toposort()]


@pytest.mark.parametrize("style", ["network3", "categorical_crossentropy"])
def test_network3_cost_and_gradient_become_the_fused_ops(style):
    x, y = S.matrix("x"), S.ivector("y")
    W = S.shared(np.random.default_rng(0).normal(size=(5, 3)).astype("float32"), name="W")
    p = S.softmax(S.dot(x, W))
    if style == "network3":
        cost = -S.mean(S.log(p)[S.arange(y.shape[0]), y])
    else:
        cost = S.mean(S.categorical_crossentropy(p, y))
    g = S.grad(cost, W)
    f = S.function([x, y], [cost, g])
    ops = _ops(f)
    assert "SoftmaxCrossEntropy" in ops and "SoftmaxCrossEntropyGrad" in ops
    assert "Softmax" not in ops and "LogSoftmax" not in ops and "IncSubtensor" not in ops
    reference = S.function([x, y], [cost, g], mode=S.Mode(optimizer="None"))
    xv = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    yv = np.array([0, 1, 2, 0], dtype="int32")
    for a, b in zip(f(xv, yv), reference(xv, yv)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    c, gv = f(xv * 1000, yv)
    assert np.isfinite(c) and np.all(np.isfinite(gv))

"""The LLVM backend's softmax, log-softmax and softmax cross-entropy row kernels."""
import numpy as np
import pytest

import symbolic as S
from backends.llvm.backend import lower
from symbolic.ops.crossentropy import SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
from symbolic.ops.nnet import LogSoftmax, Softmax

TOL = {"float32": dict(rtol=2e-6, atol=1e-6), "float64": dict(rtol=1e-13, atol=1e-15)}


def _var(value):
    return S.as_tensor_variable(np.asarray(value))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(10, 10), (3, 1), (2, 3, 7), (5,), (1, 1000), (0, 4), (4, 0)])
@pytest.mark.parametrize("op_class", [Softmax, LogSoftmax])
def test_softmax_rows_match_the_reference(rng, op_class, shape, dtype):
    x = (rng.normal(size=shape) * 5).astype(dtype)
    if x.size > 3:
        x.flat[0], x.flat[-1] = np.inf, -np.inf      # the reference's inf handling, too
    x = x if x.ndim < 2 else x[..., ::-1]            # non-contiguous
    node = op_class().make_node(_var(x))
    thunk = lower(node)
    assert thunk.how == "native: LLVM row kernel"
    with np.errstate(invalid="ignore"):
        expect = node.op.perform(node, (x,))[0]
    got = thunk(x)[0]
    assert got.dtype == expect.dtype and got.shape == expect.shape
    np.testing.assert_allclose(got, expect, **TOL[dtype])


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "int8", "uint8", "int16"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("d_shape", [(), (10,)])
def test_cross_entropy_rows_match_the_reference(rng, dtype, d_shape, label_dtype):
    z = (rng.normal(size=(10, 7)) * 3).astype(dtype)
    y = rng.integers(0, 7, 10).astype(label_dtype)
    k = np.asarray(10)
    node = SoftmaxCrossEntropy().make_node(_var(z), _var(y), _var(k))
    np.testing.assert_allclose(lower(node)(z, y, k)[0], node.op.perform(node, (z, y, k))[0], **TOL[dtype])
    d = rng.normal(size=d_shape).astype(dtype)
    gnode = SoftmaxCrossEntropyGrad().make_node(_var(d), _var(z), _var(y), _var(k))
    assert lower(gnode).how == "native: LLVM row kernel"
    np.testing.assert_allclose(lower(gnode)(d, z, y, k)[0], gnode.op.perform(gnode, (d, z, y, k))[0],
                               **TOL[dtype])


@pytest.mark.parametrize("y, k", [([0, -1, 2], 3), ([0, 1], 2), ([0, 1, 5], 3)])
def test_cross_entropy_unusual_rows_take_the_reference(y, k):
    z = np.arange(12, dtype="float64").reshape(3, 4)
    y, k = np.asarray(y), np.asarray(k)
    node = SoftmaxCrossEntropy().make_node(_var(z), _var(y), _var(k))
    try:
        expect = node.op.perform(node, (z, y, k))[0]
    except IndexError as e:
        with pytest.raises(IndexError, match=str(e).split(" ")[0]):
            lower(node)(z, y, k)
        return
    np.testing.assert_allclose(lower(node)(z, y, k)[0], expect)


def test_network3_cost_and_gradient_through_llvm(rng):
    z, y = S.dmatrix("z"), S.ivector("y")
    cost = -S.mean(S.log_softmax(z)[S.arange(y.shape[0]), y])
    outputs = [cost, S.grad(cost, z)]
    zv, yv = rng.normal(size=(10, 10)), rng.integers(0, 10, 10).astype("int32")
    ref = S.function([z, y], outputs, mode=S.Mode(linker="numpy"))(zv, yv)
    f = S.function([z, y], outputs, mode=S.Mode(linker="llvm"), profile=True)
    for a, b in zip(f(zv, yv), ref):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert "SoftmaxCrossEntropy" in f.profile_summary(file="str")

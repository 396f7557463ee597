"""Native Philox sampling on the LLVM backend is bit-identical to the reference stream."""
import numpy as np
import pytest

import symbolic as S
from backends.llvm.backend import lower
from symbolic.random import Binomial, Uniform

STATES = [np.array([123, 456 + 2 ** 31, 2 ** 32 - 1, 5]), np.array([0, 0, 0, 0]),
          np.array([7, 9, 2 ** 32 - 1, 2 ** 32 - 1])]   # the last one wraps the run counter


def _both(node, args):
    thunk = lower(node)
    assert thunk.how == "native: LLVM Philox kernel"
    return node.op.perform(node, args), thunk(*args)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size, low, high", [((10, 1000), 0.0, 1.0), ((3, 5), np.arange(5.0), 7.0),
                                             ((0,), 0.0, 1.0), ((7,), -2.0, 3.0), ((1, 1, 1), 1.0, 1.0),
                                             ((2, 3), np.ones((2, 1)), np.full((1, 3), 4.0))])
def test_uniform_is_the_reference_stream(state, dtype, size, low, high):
    node = Uniform(dtype, len(size)).make_node(S.as_tensor_variable(state), size, low, high)
    args = [state, np.array(size, dtype="int64"), np.asarray(low, dtype), np.asarray(high, dtype)]
    (ref_state, ref), (new_state, got) = _both(node, args)
    np.testing.assert_array_equal(new_state, ref_state)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("dtype", ["int64", "int8", "float32"])
@pytest.mark.parametrize("size, n, p", [((10, 1000), 1, 0.5), ((4, 6), np.arange(6), np.linspace(0, 1, 6)),
                                        ((5,), 3, 0.3), ((0,), 1, 0.5), ((3,), 0, 0.5),
                                        ((2, 3), np.array([[2], [9]]), 1.0)])
def test_binomial_is_the_reference_stream(state, dtype, size, n, p):
    node = Binomial(dtype, len(size)).make_node(S.as_tensor_variable(state), size, n, p)
    args = [state, np.array(size, dtype="int64"), np.asarray(n, "int64"), np.asarray(p, "float64")]
    (ref_state, ref), (new_state, got) = _both(node, args)
    np.testing.assert_array_equal(new_state, ref_state)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("n, p, match", [(-1, 0.5, "non-negative"), (1, 1.5, r"\[0, 1\]")])
def test_binomial_errors_are_the_reference_errors(n, p, match):
    node = Binomial("int64", 1).make_node(S.as_tensor_variable(STATES[0]), (4,), n, p)
    with pytest.raises(ValueError, match=match):
        lower(node)(STATES[0], np.array([4]), np.asarray(n, "int64"), np.asarray(p, "float64"))


def test_dropout_masks_are_the_same_on_both_backends():
    x = S.fmatrix("x")
    outputs = {}
    for linker in ("numpy", "llvm"):
        srng = S.RandomStreams(seed=42)
        mask = srng.binomial(size=x.shape, n=1, p=0.5, dtype="float32")
        noise = srng.uniform(size=x.shape)
        f = S.function([x], [x * mask, noise], mode=S.Mode(linker=linker))
        values = np.ones((10, 100), "float32")
        outputs[linker] = [out for _ in range(3) for out in f(values)]
    for a, b in zip(outputs["numpy"], outputs["llvm"]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outputs["llvm"][0], outputs["llvm"][2])   # fresh masks per call

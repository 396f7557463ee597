"""Bugs found by review and differential fuzzing (rewritten vs unrewritten graphs), kept fixed."""
import numpy as np
import pytest

import symbolic as S

NO = S.Mode(optimizer="None")


def _both(inputs, outputs, values):
    fast = S.function(inputs, outputs)(*values)
    slow = S.function(inputs, outputs, mode=NO)(*values)
    return fast, slow


def test_div_mul_cancellation_keeps_runtime_broadcasting():
    a, b = S.vector("a"), S.vector("b")
    fast, slow = _both([a, b], (a / b) * b, [np.ones(1, "float32"), np.arange(1, 6, dtype="float32")])
    assert fast.shape == slow.shape == (5,)
    S.verify_grad(lambda a, b: (a / b) * b, [np.ones((1, 4)), np.full((3, 4), 2.0)])


def test_fused_group_exports_intermediates_at_their_own_shape():
    x, y = S.tensor("float32", (3, 1)), S.tensor("float32", (3, 4))
    a = S.exp(x)
    c = (a + 1) * y
    fast, slow = _both([x, y], [a, c], [np.zeros((3, 1), "float32"), np.ones((3, 4), "float32")])
    assert fast[0].shape == slow[0].shape == (3, 1)
    np.testing.assert_allclose(fast[1], slow[1])


def test_logsumexp_of_an_empty_axis_is_minus_infinity():
    x = S.vector("x")
    fast, slow = _both([x], S.log(S.sum(S.exp(x))), [np.zeros(0, "float32")])
    assert fast == slow == -np.inf
    assert S.logsumexp(S.constant(np.zeros(0, "float32"))).eval() == -np.inf


def test_updates_never_share_buffers_with_each_other_or_the_caller():
    W1 = S.shared(np.zeros((2, 2), "float32"))
    W2 = S.shared(np.zeros((2, 2), "float32"))
    x = S.matrix("x")
    one = np.ones((2, 2), "float32")
    S.function([x], [], updates={W1: x * 2, W2: x * 2})(one)
    assert W1.get_value(borrow=True) is not W2.get_value(borrow=True)
    S.function([x], [], updates={W1: W1 - 0.5 * S.dot(x, x)})(one)
    assert W2.get_value()[0, 0] == 2.0
    v = S.matrix("v")
    arr = one.copy()
    S.function([v], [], updates={W2: v})(arr)
    arr[0, 0] = 99
    assert W2.get_value()[0, 0] == 1.0


def test_outputs_are_private_and_writable():
    W = S.shared(np.ones((2, 2), "float32"))
    y = W * 2
    r = S.function([], y, updates={W: y.T})()
    r[0, 0] = 123
    assert W.get_value()[0, 0] == 2.0
    x = S.vector("x")
    a, b = S.function([x], [x * 2, x * 2])(np.ones(2, "float32"))
    assert a is not b
    assert S.function([x], [x, S.ones(3) * 2])(np.ones(1, "float32"))[1].flags.writeable


def test_failed_call_leaves_every_weight_untouched_with_deferred_gemms():
    W0, W1, W2 = [S.shared(np.zeros((2, 2), "float32")) for _ in range(3)]
    a, b = S.matrix("a"), S.matrix("b")
    f = S.function([a, b], [], updates=[(W0, W0 - S.dot(a, a)), (W1, W1 - S.dot(a, a.T)),
                                        (W2, W2 - S.dot(b, a))])
    with pytest.raises(ValueError):
        f(np.ones((2, 2), "float32"), np.ones((2, 3), "float32"))
    for W in (W0, W1, W2):
        np.testing.assert_array_equal(W.get_value(), np.zeros((2, 2)))


def test_givens_must_keep_static_shapes():
    x, v = S.tensor("float32", (3,)), S.vector("v")
    with pytest.raises(TypeError, match="static shape"):
        S.function([v], S.mean(x), givens={x: v})


def test_update_must_fit_the_shared_variables_static_shape():
    s = S.shared(np.ones(3, "float32"), shape=(3,))
    other = S.shared(np.zeros(2, "float32"))
    v = S.vector("v")
    f = S.function([v], [], updates={s: v, other: other + 1})
    with pytest.raises(ValueError, match="static shape"):
        f(np.ones(6, "float32"))
    assert s.get_value().shape == (3,)
    np.testing.assert_array_equal(other.get_value(), [0, 0])


def test_rewrites_decline_patterns_they_cannot_take():
    c, a, b = S.tensor("float32", (None, 1)), S.matrix(), S.tensor("float32", (None, 3))
    vals = [np.ones((2, 1), "float32"), np.ones((2, 2), "float32"), np.ones((2, 3), "float32")]
    fast, slow = _both([c, a, b], c - 0.1 * S.dot(a, b), vals)
    np.testing.assert_allclose(fast, slow)
    z, m = S.matrix(), S.tensor("bool", (None,))
    S.function([z, m], -S.log_softmax(z)[S.arange(z.shape[0]), m])


def test_numpy_array_index_with_ellipsis():
    x = S.matrix("x")
    out = x[np.array([0, 1]), ...].eval({x: np.arange(6, dtype="float32").reshape(3, 2)})
    np.testing.assert_array_equal(out, [[0, 1], [2, 3]])


def test_fused_cross_entropy_with_no_classes():
    z, y = S.matrix(), S.ivector()
    cost = -S.log_softmax(z)[S.arange(y.shape[0]), y]
    fast, slow = _both([z, y], cost, [np.zeros((3, 0), "float32"), np.zeros(0, "int32")])
    assert fast.shape == slow.shape == (0,)


def test_set_subtensor_gradient_goes_to_the_last_duplicate_write():
    x, y = S.dvector(), S.dvector()
    g = S.grad(S.sum(S.set_subtensor(x[[0, 0]], y)), y)
    np.testing.assert_array_equal(S.function([x, y], g)(np.zeros(3), np.zeros(2)), [0, 1])


def test_unpickled_function_plans_in_place_work_again():
    import pickle
    x = S.dmatrix("x")
    w = S.shared(np.eye(2), name="w")
    f = S.function([x], S.dot(S.tanh(S.dot(x, w)), w))
    g = pickle.loads(pickle.dumps(f))
    assert len(g.fgraph.inplace_plan) == len(f.fgraph.inplace_plan) > 0
    assert all(any(id(n) == k for n in g.fgraph.toposort()) for k in g.fgraph.inplace_plan)
    xv = np.array([[0.5, -0.5], [0.1, 0.2]])
    np.testing.assert_allclose(g(xv), f(xv))


@pytest.mark.parametrize("value, dtype", [(np.int64(10), "int64"), (np.int32(3), "int32"),
                                          (np.uint8(3), "uint8"), (np.float64(1.5), "float64")])
def test_numpy_scalars_keep_their_dtype(value, dtype):
    # np.int64 is a numbers.Real too: it was taken for a Python float and became floatX.
    assert S.as_tensor_variable(value).dtype == dtype

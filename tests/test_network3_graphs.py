"""network3's training graphs after rewriting: what the compiler makes of them.

For the shallow net, one conv-pool layer, two conv-pool layers with ReLU and
the dropout net: the fused softmax cross-entropy and its gradient, fused
elementwise groups, the weight updates as GEMMs accumulating in place, no
float64 anywhere with floatX=float32, and one training step equal to the
unrewritten graph's.
"""
import numpy as np
import pytest

import symbolic as S
from nets import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer
from symbolic.ops.fused import FusedElemwise, FusedReduce
from symbolic.shared import SharedVariable

MB = 4


def _shallow():
    return [FullyConnectedLayer(784, 30), SoftmaxLayer(30, 10)]


def _conv():
    return [ConvPoolLayer((3, 1, 5, 5), (MB, 1, 28, 28)), FullyConnectedLayer(3 * 12 * 12, 20),
            SoftmaxLayer(20, 10)]


def _dbl_conv_relu():
    return [ConvPoolLayer((3, 1, 5, 5), (MB, 1, 28, 28), activation_fn=ReLU),
            ConvPoolLayer((4, 3, 5, 5), (MB, 3, 12, 12), activation_fn=ReLU),
            FullyConnectedLayer(4 * 4 * 4, 20, activation_fn=ReLU), SoftmaxLayer(20, 10)]


def _dropout():
    return [FullyConnectedLayer(784, 40, activation_fn=ReLU, p_dropout=0.5),
            FullyConnectedLayer(40, 40, activation_fn=ReLU, p_dropout=0.5),
            SoftmaxLayer(40, 10, p_dropout=0.5)]


def _training_function(layers, lmbda, mode=None):
    rng = np.random.default_rng(0)
    data_x = S.shared(rng.random((3 * MB, 784)).astype("float32"), name="data_x")
    data_y = S.shared(rng.integers(0, 10, 3 * MB).astype("int32"), name="data_y")
    net = Network(layers, MB)
    cost = net.cost(lmbda, 3)
    grads = S.grad(cost, net.params)
    i = S.lscalar("i")
    f = S.function([i], cost, updates=[(p, p - 0.1 * g) for p, g in zip(net.params, grads)],
                   givens={net.x: data_x[i * MB:(i + 1) * MB], net.y: data_y[i * MB:(i + 1) * MB]},
                   mode=mode)
    return f


@pytest.mark.parametrize("build", [_shallow, _conv, _dbl_conv_relu, _dropout])
@pytest.mark.parametrize("lmbda", [0.0, 0.1])
def test_network3_training_graph_after_rewriting(build, lmbda):
    np.random.seed(0)
    f = _training_function(build(), lmbda)
    nodes = f.fgraph.toposort()
    kinds = [type(n.op).__name__ for n in nodes]
    text = S.debugprint(f, file="str")
    assert "SoftmaxCrossEntropy" in kinds and "SoftmaxCrossEntropyGrad" in kinds
    assert "Softmax" not in kinds and "LogSoftmax" not in kinds
    assert any(isinstance(n.op, (FusedElemwise, FusedReduce)) for n in nodes)
    gemms = [n for n in nodes if kinds[nodes.index(n)] == "Gemm"]
    n_matrix_weights = sum(1 for v in f.shared_vars if v.ndim == 2 and v.name == "w")
    assert len(gemms) == n_matrix_weights
    assert all(id(n) in f.fgraph.inplace_plan for n in gemms)
    assert "Gemm" in text and "(in place: overwrites input 0)" in text
    dtypes = {o.dtype for n in nodes for o in n.outputs}
    assert "float64" not in dtypes, text


@pytest.mark.parametrize("build", [_shallow, _conv, _dbl_conv_relu, _dropout])
def test_network3_training_step_equals_unrewritten_graph(build):
    np.random.seed(0)
    layers = build()
    fast = _training_function(layers, 0.1)
    state = {id(v): v.get_value() for v in fast.shared_vars}
    np.random.seed(0)
    slow = _training_function(build(), 0.1, mode=S.Mode(optimizer="None"))
    for v_fast, v_slow in zip(fast.shared_vars, slow.shared_vars):
        v_slow.set_value(state[id(v_fast)])
    for step in range(2):
        c_fast, c_slow = fast(step), slow(step)
        np.testing.assert_allclose(c_fast, c_slow, rtol=1e-4)
    for v_fast, v_slow in zip(fast.shared_vars, slow.shared_vars):
        if isinstance(v_fast, SharedVariable) and v_fast.dtype == "float32":
            np.testing.assert_allclose(v_fast.get_value(), v_slow.get_value(), rtol=1e-4, atol=1e-5)

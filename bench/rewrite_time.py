"""How long rewriting takes on network3's two-conv-layer ReLU training graph.

Prints the graph size before and after, and the median time of each rewrite
phase over several runs (the target is well under 0.5 s in all).
Run: python bench/rewrite_time.py
"""
import statistics
import time

import numpy as np

import symbolic as S
from symbolic.fgraph import FunctionGraph
from symbolic.rewriting import LEVELS, PHASES
from symbolic.rewriting.core import run_phase
from symbolic.shared import SharedVariable


def network3_dbl_conv_relu(mini_batch_size=10, lmbda=0.1, eta=0.03):
    rng = np.random.default_rng(0)

    def param(*shape, std=0.1):
        return S.shared(rng.normal(0, std, size=shape).astype("float32"))

    data_x = S.shared(np.zeros((1000, 784), dtype="float32"), name="data_x")
    data_y = S.shared(np.zeros(1000, dtype="float32"), name="data_y")
    index = S.lscalar("index")
    x, y = S.matrix("x"), S.ivector("y")
    w1, b1 = param(20, 1, 5, 5), param(20)
    w2, b2 = param(40, 20, 5, 5), param(40)
    w3, b3 = param(640, 100), param(100)
    w4, b4 = param(100, 10), param(10)
    params = [w1, b1, w2, b2, w3, b3, w4, b4]
    a = x.reshape((mini_batch_size, 1, 28, 28))
    a = S.pool_2d(S.conv2d(a, w1, filter_shape=(20, 1, 5, 5), input_shape=(mini_batch_size, 1, 28, 28)),
                  (2, 2), ignore_border=True)
    a = S.relu(a + b1.dimshuffle("x", 0, "x", "x"))
    a = S.pool_2d(S.conv2d(a, w2, filter_shape=(40, 20, 5, 5), input_shape=(mini_batch_size, 20, 12, 12)),
                  (2, 2), ignore_border=True)
    a = S.relu(a + b2.dimshuffle("x", 0, "x", "x"))
    a = S.relu(S.dot(a.reshape((mini_batch_size, 640)), w3) + b3)
    probs = S.softmax(S.dot(a, w4) + b4)
    cost = -S.mean(S.log(probs)[S.arange(y.shape[0]), y]) + \
        0.5 * lmbda * sum((w ** 2).sum() for w in (w1, w2, w3, w4)) / 5000
    grads = S.grad(cost, params)
    updates = [(p, p - eta * g) for p, g in zip(params, grads)]
    givens = {x: data_x[index * mini_batch_size:(index + 1) * mini_batch_size],
              y: S.cast(data_y, "int32")[index * mini_batch_size:(index + 1) * mini_batch_size]}
    outputs = [cost] + [u for _, u in updates]
    outputs = S.graph.clone_replace(outputs, givens)
    shared = [v for v in S.graph.graph_inputs(outputs) if isinstance(v, SharedVariable)]
    return [index] + shared, outputs


def main(repeats=7):
    inputs, outputs = network3_dbl_conv_relu()
    times = {name: [] for name in LEVELS["fast_run"]}
    sizes = None
    for _ in range(repeats):
        fg = FunctionGraph(inputs, outputs)
        before = len(fg.toposort())
        for name in LEVELS["fast_run"]:
            t0 = time.perf_counter()
            run_phase(fg, PHASES[name])
            times[name].append(time.perf_counter() - t0)
        sizes = (before, len(fg.toposort()))
    total = sum(statistics.median(v) for v in times.values())
    print(f"network3 two-conv ReLU training graph: {sizes[0]} nodes before, {sizes[1]} after")
    for name, v in times.items():
        print(f"  {name:<14} {statistics.median(v) * 1e3:8.2f} ms")
    print(f"  {'total':<14} {total * 1e3:8.2f} ms   (target: well under 500 ms)")


if __name__ == "__main__":
    main()

"""Small models trained with function(..., updates=...) on synthetic problems."""
import numpy as np

import symbolic as S


def _blobs(n, rng):
    """Two interleaved half-moons-ish classes that a linear model separates ~90%, an MLP ~100%."""
    y = rng.integers(0, 2, size=n)
    angle = rng.uniform(0, np.pi, size=n)
    x = np.stack([np.cos(angle) + y * 1.0, np.sin(angle) * (1 - 2 * y) + y * 0.3], axis=1)
    return (x + rng.normal(0, 0.1, size=x.shape)).astype("float32"), y.astype("int32")


def test_logistic_regression_learns():
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(400, 5)).astype("float32")
    true_w = rng.normal(size=5).astype("float32")
    yv = (xv @ true_w > 0).astype("int32")
    x, y = S.matrix("x"), S.ivector("y")
    w = S.shared(np.zeros(5, dtype="float32"), name="w")
    b = S.shared(np.float32(0.0), name="b")
    p = S.sigmoid(S.dot(x, w) + b)
    cost = S.mean(S.binary_crossentropy(p, y)) + 0.001 * (w ** 2).sum()
    gw, gb = S.grad(cost, [w, b])
    train = S.function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
    predict = S.function([x], p > 0.5)
    costs = [float(train(xv, yv)) for _ in range(200)]
    assert costs[-1] < costs[0] * 0.5
    accuracy = (predict(xv) == yv).mean()
    assert accuracy >= 0.95, accuracy
    assert w.get_value().dtype == np.float32


def test_two_layer_net_learns_with_minibatches_and_givens():
    rng = np.random.default_rng(1)
    xv, yv = _blobs(600, rng)
    data_x = S.shared(xv, name="data_x")
    data_y = S.shared(yv, name="data_y")
    batch = 50
    index = S.lscalar("index")
    x, y = S.matrix("x"), S.ivector("y")
    W1 = S.shared(rng.normal(0, 1, size=(2, 32)).astype("float32"), name="W1")
    b1 = S.shared(np.zeros(32, dtype="float32"), name="b1")
    W2 = S.shared(rng.normal(0, 0.1, size=(32, 2)).astype("float32"), name="W2")
    b2 = S.shared(np.zeros(2, dtype="float32"), name="b2")
    params = [W1, b1, W2, b2]
    hidden = S.tanh(S.dot(x, W1) + b1)
    probs = S.softmax(S.dot(hidden, W2) + b2)
    cost = -S.mean(S.log(probs)[S.arange(y.shape[0]), y])
    grads = S.grad(cost, params)
    train = S.function([index], cost,
                       updates=[(p, p - 0.3 * g) for p, g in zip(params, grads)],
                       givens={x: data_x[index * batch:(index + 1) * batch],
                               y: data_y[index * batch:(index + 1) * batch]})
    accuracy = S.function([], S.mean(S.eq(S.argmax(probs, axis=1), y)),
                          givens={x: data_x, y: data_y})
    for epoch in range(40):
        for i in range(len(xv) // batch):
            train(i)
    assert accuracy() >= 0.97
    assert all(p.get_value().dtype == np.float32 for p in params)

"""nets: network3's API on the compiler -- shapes, initialisation, cost, dropout,
shape errors, SGD bookkeeping, the CLI, and real MNIST training.

The real-data tests read MNIST from ../shared/data/mnist (or $NETS_DATA) and
are skipped when it is absent; everything else uses small synthetic data.
"""
import json
import os

import numpy as np
import pytest

import symbolic as S
import nets
from nets import (ConvPoolLayer, FullyConnectedLayer, LayerShapeError, Network, ReLU, SoftmaxLayer,
                  linear, sigmoid)
from nets.data import expand_images, shared_dataset

from mnist_paths import mnist_dir as _mnist_dir, needs_mnist


@pytest.fixture(scope="module")
def mnist():
    """The three splits as shared variables, loaded once for the module."""
    return nets.load_data_shared(_mnist_dir())


def _np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _blobs(n, n_in, n_classes, rng):
    """Separable Gaussian clusters in [0, 1]^n_in: learnable in one short epoch."""
    centers = rng.uniform(0, 1, size=(n_classes, n_in))
    y = rng.integers(0, n_classes, size=n)
    x = np.clip(centers[y] + rng.normal(0, 0.05, size=(n, n_in)), 0, 1)
    return x.astype("float32"), y


# ---------------------------------------------------------------- shapes

def test_layer_shapes_and_parameter_counts():
    mbs = 10
    conv1 = ConvPoolLayer(filter_shape=(20, 1, 5, 5), image_shape=(mbs, 1, 28, 28), poolsize=(2, 2))
    conv2 = ConvPoolLayer(filter_shape=(40, 20, 5, 5), image_shape=(mbs, 20, 12, 12), poolsize=(2, 2))
    fc = FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100)
    sm = SoftmaxLayer(n_in=100, n_out=10)
    assert conv1.output_shape == (20, 12, 12) and conv2.output_shape == (40, 4, 4)
    assert conv1.w.get_value().shape == (20, 1, 5, 5) and conv1.b.get_value().shape == (20,)
    assert fc.w.get_value().shape == (640, 100) and fc.b.get_value().shape == (100,)
    assert [conv1.n_params, conv2.n_params, fc.n_params, sm.n_params] == [520, 20040, 64100, 1010]
    net = Network([conv1, conv2, fc, sm], mbs)
    assert net.n_params == 520 + 20040 + 64100 + 1010
    assert len(net.params) == 8
    assert all(p.dtype == S.config.floatX for p in net.params)
    assert "85,670 parameters" in net.summary()

    # The symbolic outputs have the shapes the layers promise.
    x = np.random.default_rng(0).random((mbs, 784)).astype("float32")
    f = S.function([net.x], [conv1.output, conv2.output, fc.output, net.output, sm.y_out])
    outs = f(x)
    assert [o.shape for o in outs] == [(mbs, 20, 12, 12), (mbs, 40, 4, 4), (mbs, 100), (mbs, 10), (mbs,)]
    np.testing.assert_allclose(outs[3].sum(axis=1), 1.0, rtol=1e-5)
    # Zero softmax weights: every class equally likely at the start.
    np.testing.assert_allclose(outs[3], 0.1, rtol=1e-5)


def test_shallow_network_shapes():
    net = Network([FullyConnectedLayer(784, 100), SoftmaxLayer(100, 10)], 4)
    assert net.n_params == 784 * 100 + 100 + 100 * 10 + 10
    out = S.function([net.x], net.output)(np.zeros((4, 784), dtype="float32"))
    assert out.shape == (4, 10) and out.dtype == np.float32


# ---------------------------------------------------------------- initialisation

def test_initial_weight_statistics():
    np.random.seed(123)
    fc = FullyConnectedLayer(n_in=784, n_out=100)
    w, b = fc.w.get_value(), fc.b.get_value()
    assert w.dtype == np.float32 == b.dtype
    assert abs(w.mean()) < 0.002 and w.std() == pytest.approx(np.sqrt(1 / 100), rel=0.02)
    assert abs(b.mean()) < 0.35 and b.std() == pytest.approx(1.0, rel=0.2)

    wide = FullyConnectedLayer(n_in=20, n_out=4000)   # many biases: a tight check of N(0, 1)
    assert wide.b.get_value().std() == pytest.approx(1.0, rel=0.05)
    assert wide.w.get_value().std() == pytest.approx(np.sqrt(1 / 4000), rel=0.02)

    sm = SoftmaxLayer(n_in=100, n_out=10)
    assert not sm.w.get_value().any() and not sm.b.get_value().any()

    conv = ConvPoolLayer(filter_shape=(40, 20, 5, 5), image_shape=(10, 20, 12, 12), poolsize=(2, 2))
    n_out = 40 * 5 * 5 / 4   # network3: filters * kernel area / pool area
    assert conv.w.get_value().std() == pytest.approx(np.sqrt(1 / n_out), rel=0.03)
    assert abs(conv.w.get_value().mean()) < 0.003
    assert conv.b.get_value().shape == (40,)


def test_initialisation_follows_numpy_seed():
    np.random.seed(5)
    a = FullyConnectedLayer(30, 20).w.get_value()
    np.random.seed(5)
    b = FullyConnectedLayer(30, 20).w.get_value()
    c = FullyConnectedLayer(30, 20).w.get_value()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


# ---------------------------------------------------------------- cost and updates

def _small_net(rng, mbs=4):
    np.random.seed(0)
    net = Network([FullyConnectedLayer(n_in=6, n_out=5), SoftmaxLayer(n_in=5, n_out=3)], mbs)
    # Non-zero softmax weights so the cost depends on every parameter.
    net.layers[1].w.set_value(rng.normal(0, 0.5, size=(5, 3)).astype("float32"))
    net.layers[1].b.set_value(rng.normal(0, 0.5, size=3).astype("float32"))
    return net


def _np_cost_and_grads(params, x, y, lmbda, n_batches):
    """network3's cost and its gradient, written independently in NumPy (float64)."""
    w1, b1, w2, b2 = [p.astype("float64") for p in params]
    h = _np_sigmoid(x @ w1 + b1)
    p = _np_softmax(h @ w2 + b2)
    m = len(y)
    cost = -np.mean(np.log(p[np.arange(m), y]))
    cost += 0.5 * lmbda * ((w1 ** 2).sum() + (w2 ** 2).sum()) / n_batches
    d2 = p.copy()
    d2[np.arange(m), y] -= 1
    d2 /= m
    d1 = (d2 @ w2.T) * h * (1 - h)
    reg = lmbda / n_batches
    return cost, [x.T @ d1 + reg * w1, d1.sum(0), h.T @ d2 + reg * w2, d2.sum(0)]


@pytest.mark.parametrize("lmbda", [0.0, 0.7])
def test_cost_equals_numpy(lmbda):
    rng = np.random.default_rng(1)
    net = _small_net(rng)
    x = rng.random((4, 6)).astype("float32")
    y = np.array([0, 2, 1, 2], dtype="int32")
    n_batches = 7
    cost = net.cost(lmbda, n_batches)
    f = S.function([net.x, net.y], [cost] + S.grad(cost, net.params))
    got_cost, *got_grads = f(x, y)
    want_cost, want_grads = _np_cost_and_grads([p.get_value() for p in net.params], x, y, lmbda,
                                               n_batches)
    assert got_cost.dtype == np.float32
    assert float(got_cost) == pytest.approx(want_cost, rel=1e-5)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=1e-6)


def test_sgd_steps_equal_numpy_sgd():
    """Four training calls (givens slicing, updates) match plain NumPy SGD step by step."""
    rng = np.random.default_rng(2)
    net = _small_net(rng)
    x = rng.random((16, 6)).astype("float32")
    y = rng.integers(0, 3, size=16).astype("int32")
    data = shared_dataset(x, y)
    eta, lmbda, n_batches = 0.5, 0.3, 4
    params = [p.get_value().astype("float64") for p in net.params]
    i = S.lscalar("i")
    cost = net.cost(lmbda, n_batches)
    grads = S.grad(cost, net.params)
    train = S.function([i], cost, updates=[(p, p - eta * g) for p, g in zip(net.params, grads)],
                       givens=net._batch_givens(data, i))
    for k in range(n_batches):
        c, g = _np_cost_and_grads(params, x[4 * k:4 * k + 4], y[4 * k:4 * k + 4], lmbda, n_batches)
        assert float(train(k)) == pytest.approx(c, rel=1e-5)
        params = [p - eta * gp for p, gp in zip(params, g)]
        for name, p, got in zip(["w1", "b1", "w2", "b2"], params, net.params):
            np.testing.assert_allclose(got.get_value(), p, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} after step {k}")


def test_conv_network_gradient_matches_finite_differences():
    """The wiring of ConvPool -> FC -> softmax gives the right gradients (float64)."""
    with S.config.change_flags(floatX="float64"):
        np.random.seed(3)
        mbs = 2
        net = Network([ConvPoolLayer((3, 1, 3, 3), (mbs, 1, 6, 6), poolsize=(2, 2), activation_fn=ReLU),
                       FullyConnectedLayer(3 * 2 * 2, 5, activation_fn=sigmoid),
                       SoftmaxLayer(5, 4)], mbs)
        rng = np.random.default_rng(3)
        net.layers[2].w.set_value(rng.normal(size=(5, 4)))
        x = rng.random((mbs, 36))
        y = np.array([1, 3], dtype="int32")
        cost = net.cost(lmbda=0.2, num_training_batches=3)
        f_cost = S.function([net.x, net.y], cost)
        grads = S.function([net.x, net.y], S.grad(cost, net.params))(x, y)
        eps = 1e-6
        for p, g in zip(net.params, grads):
            value = p.get_value()
            for idx in list(np.ndindex(value.shape))[:6]:
                bumped = value.copy()
                bumped[idx] += eps
                p.set_value(bumped)
                up = f_cost(x, y)
                bumped[idx] -= 2 * eps
                p.set_value(bumped)
                down = f_cost(x, y)
                p.set_value(value)
                assert g[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


# ---------------------------------------------------------------- dropout

def _dropout_net(p, n=200, mbs=3):
    """A linear FC layer with identity weights: its outputs show the mask directly."""
    np.random.seed(11)  # seeds the layer's dropout stream
    fc = FullyConnectedLayer(n_in=n, n_out=n, activation_fn=linear, p_dropout=p)
    fc.w.set_value(np.eye(n, dtype="float32"))
    fc.b.set_value(np.zeros(n, dtype="float32"))
    return Network([fc, SoftmaxLayer(n, 2)], mbs), fc


def test_dropout_masks_change_every_call_and_keep_one_minus_p():
    net, fc = _dropout_net(0.5)
    x = np.random.default_rng(0).uniform(1, 2, size=(3, 200)).astype("float32")
    f = S.function([net.x], fc.output_dropout)
    masks = [f(x) != 0 for _ in range(4)]
    for a, b in zip(masks, masks[1:]):
        assert (a != b).any(), "the dropout mask did not change between calls"
    kept = np.mean(masks)
    assert 0.45 < kept < 0.55
    out = f(x)
    assert np.all((out == 0) | (out == x)), "kept units must pass unscaled during training"


def test_dropout_test_time_scaling():
    p = 0.25
    net, fc = _dropout_net(p)
    x = np.random.default_rng(1).uniform(1, 2, size=(3, 200)).astype("float32")
    out = S.function([net.x], fc.output)(x)
    np.testing.assert_allclose(out, (1 - p) * x, rtol=1e-6)
    # The test-time path is deterministic.
    np.testing.assert_array_equal(out, S.function([net.x], fc.output)(x))


def test_dropout_layer_function_and_softmax_dropout():
    x = S.matrix("x")
    dropped = nets.dropout_layer(x, 0.8, srng=S.RandomStreams(7))
    f = S.function([x], dropped)
    ones = np.ones((50, 40), dtype="float32")
    a, b = f(ones), f(ones)
    assert not np.array_equal(a, b)
    assert 0.15 < a.mean() < 0.25 and set(np.unique(a)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="p_dropout"):
        FullyConnectedLayer(10, 10, p_dropout=1.0)
    sm = SoftmaxLayer(20, 10, p_dropout=0.5)
    net = Network([FullyConnectedLayer(10, 20), sm], 5)
    probs = S.function([net.x], net.output_dropout)
    xv = np.ones((5, 10), dtype="float32")
    np.testing.assert_allclose(probs(xv).sum(axis=1), 1, rtol=1e-5)


def test_dropout_network_trains():
    rng = np.random.default_rng(4)
    x, y = _blobs(600, 20, 3, rng)
    train, val = shared_dataset(x[:500], y[:500]), shared_dataset(x[500:], y[500:])
    np.random.seed(4)
    net = Network([FullyConnectedLayer(20, 50, ReLU, p_dropout=0.3),
                   SoftmaxLayer(50, 3, p_dropout=0.3)], 10)
    history = net.SGD(train, 3, 10, 0.1, val, None, verbose=False)
    assert history.epochs[-1]["training_cost"] < history.epochs[0]["training_cost"]
    assert history.best_validation_accuracy > 0.9
    assert history.test_accuracy is None


# ---------------------------------------------------------------- shape errors

def test_mismatched_layers_name_the_layers_and_shapes():
    with pytest.raises(LayerShapeError) as e:
        Network([FullyConnectedLayer(784, 100), SoftmaxLayer(30, 10)], 10)
    msg = str(e.value)
    assert "layer 1 (SoftmaxLayer)" in msg and "(30,)" in msg
    assert "layer 0 (FullyConnectedLayer)" in msg and "(100,)" in msg

    conv = ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28))
    with pytest.raises(LayerShapeError, match=r"layer 1 \(FullyConnectedLayer\).*\(2000,\).*"
                                              r"layer 0 \(ConvPoolLayer\).*\(20, 12, 12\)"):
        Network([conv, FullyConnectedLayer(2000, 100), SoftmaxLayer(100, 10)], 10)

    conv2 = ConvPoolLayer((40, 20, 5, 5), (10, 20, 14, 14))
    with pytest.raises(LayerShapeError, match=r"\(20, 14, 14\).*\(20, 12, 12\)"):
        Network([conv, conv2, FullyConnectedLayer(40 * 5 * 5, 10), SoftmaxLayer(10, 10)], 10)

    with pytest.raises(LayerShapeError, match="mini-batch size 5"):
        Network([conv, FullyConnectedLayer(2880, 10), SoftmaxLayer(10, 10)], 5)
    with pytest.raises(LayerShapeError, match="input channels"):
        ConvPoolLayer((20, 3, 5, 5), (10, 1, 28, 28))
    with pytest.raises(ValueError, match="cost"):
        Network([FullyConnectedLayer(10, 10)], 5)


def test_data_width_mismatch_is_reported_before_training():
    rng = np.random.default_rng(0)
    data = shared_dataset(rng.random((20, 50)).astype("float32"), np.zeros(20))
    net = Network([FullyConnectedLayer(784, 10), SoftmaxLayer(10, 10)], 10)
    with pytest.raises(LayerShapeError, match=r"training_data has 50 values.*layer 0"):
        net.SGD(data, 1, 10, 0.1, data, data)
    with pytest.raises(ValueError, match="mini_batch_size=5 differs"):
        net.SGD(data, 1, 5, 0.1, data, data)


# ---------------------------------------------------------------- SGD bookkeeping

def test_sgd_history_printing_and_remainder(capsys):
    rng = np.random.default_rng(5)
    x, y = _blobs(400, 16, 4, rng)
    # 253 training examples with mini-batches of 10: 25 batches, 3 examples dropped.
    train = shared_dataset(x[:253], y[:253])
    val = shared_dataset(x[253:328], y[253:328])   # 75 -> 7 batches
    test = shared_dataset(x[328:], y[328:])        # 72 -> 7 batches
    np.random.seed(5)
    net = Network([FullyConnectedLayer(16, 30), SoftmaxLayer(30, 4)], 10)
    history = net.SGD(train, 2, 10, 1.0, val, test, lmbda=0.1)
    out = capsys.readouterr().out
    assert "Epoch 0: validation accuracy" in out and "Epoch 1: validation accuracy" in out
    assert "Best validation accuracy of" in out and "Corresponding test accuracy of" in out
    assert history.hyperparameters["training_batches"] == 25
    assert history.hyperparameters["training_examples"] == 253
    assert [e["epoch"] for e in history.epochs] == [0, 1]
    assert history.best_iteration == 25 * (history.best_epoch + 1) - 1
    assert history.test_accuracy == history.epochs[history.best_epoch]["test_accuracy"]
    # Accuracies are means over 7 full mini-batches of 10: multiples of 1/70.
    for e in history.epochs:
        assert round(e["validation_accuracy"] * 70, 3) == round(e["validation_accuracy"] * 70)
    json.dumps(history.to_dict())  # serialisable as it is
    # The dropped remainder is never scored either.
    assert len(net.predict(test[0])) == 70
    assert net.accuracy(test) == pytest.approx(history.epochs[-1]["test_accuracy"])


def test_too_little_data_for_one_mini_batch():
    data = shared_dataset(np.zeros((5, 8), dtype="float32"), np.zeros(5))
    net = Network([FullyConnectedLayer(8, 4), SoftmaxLayer(4, 2)], 10)
    with pytest.raises(ValueError, match="fewer than one mini-batch"):
        net.SGD(data, 1, 10, 0.1, data, data)


def test_network3_style_labels_and_cast():
    """Labels are int32 shared variables; network3's T.cast(shared_y, 'int32') is a no-op."""
    import symbolic.tensor as T
    x, y = shared_dataset(np.zeros((6, 4)), [0, 1, 2, 3, 4, 5])
    assert x.dtype == S.config.floatX and y.dtype == "int32"
    assert T.cast(y, "int32") is y
    iv = T.ivector("y")
    i = T.lscalar()
    f = S.function([i], iv * 1, givens={iv: T.cast(y, "int32")[i * 2:(i + 1) * 2]})
    np.testing.assert_array_equal(f(1), [2, 3])
    assert nets.size((x, y)) == 6


# ---------------------------------------------------------------- expanded data

def test_expand_images_shifts_by_one_pixel():
    side = 4
    imgs = np.arange(2 * side * side, dtype="float32").reshape(2, side * side) + 1
    labels = np.array([3, 7])
    out, out_y = expand_images(imgs, labels, seed=0)
    assert out.shape == (10, 16) and out_y.shape == (10,)
    assert sorted(out_y.tolist()) == [3] * 5 + [7] * 5
    a = imgs[0].reshape(side, side)
    down = np.vstack([np.zeros((1, side)), a[:-1]])
    up = np.vstack([a[1:], np.zeros((1, side))])
    right = np.hstack([np.zeros((side, 1)), a[:, :-1]])
    left = np.hstack([a[:, 1:], np.zeros((side, 1))])
    mine = [o.reshape(side, side) for o, lab in zip(out, out_y) if lab == 3]
    for want in (a, down, up, right, left):
        assert sum(np.array_equal(m, want) for m in mine) == 1
    again, _ = expand_images(imgs, labels, seed=0)
    np.testing.assert_array_equal(out, again)  # the shuffle is reproducible


# ---------------------------------------------------------------- real MNIST

@needs_mnist
def test_shallow_net_one_epoch_on_mnist(mnist):
    """FC 784-100 sigmoid + softmax, one epoch on all 50,000 images: >= 95% test accuracy.

    The book's eta=0.1 gives ~92% after one epoch (97.8% after 60); eta=0.75
    reaches 95.3-95.7% after one epoch over seeds 0-5.
    """
    training_data, validation_data, test_data = mnist
    np.random.seed(0)
    net = Network([FullyConnectedLayer(784, 100), SoftmaxLayer(100, 10)], 10)
    history = net.SGD(training_data, 1, 10, 0.75, validation_data, test_data, verbose=False)
    assert history.test_accuracy >= 0.95, history.to_dict()
    assert history.best_validation_accuracy >= 0.95


@needs_mnist
def test_conv_net_on_mnist_subset(mnist):
    """ConvPool 20x5x5 + FC 100 + softmax (ReLU), one epoch on 2,000 images: well above chance."""
    training_data, validation_data, test_data = mnist
    small = [shared_dataset(d[0].get_value()[:n], d[1].get_value()[:n])
             for d, n in ((training_data, 2000), (validation_data, 1000), (test_data, 1000))]
    np.random.seed(0)
    net = Network([ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28), poolsize=(2, 2), activation_fn=ReLU),
                   FullyConnectedLayer(20 * 12 * 12, 100, activation_fn=ReLU),
                   SoftmaxLayer(100, 10)], 10)
    history = net.SGD(small[0], 1, 10, 0.1, small[1], small[2], verbose=False)
    assert history.test_accuracy > 0.5, history.to_dict()


@needs_mnist
def test_cli_quick_run_writes_history(tmp_path, capsys):
    from nets.cli import main
    rc = main(["shallow", "--epochs", "2", "--train-size", "500", "--eval-size", "200",
               "--eta", "0.5", "--data-dir", _mnist_dir(), "--output-dir", str(tmp_path), "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Epoch 1: validation accuracy" in out and "Test accuracy:" in out
    payload = json.loads((tmp_path / "history.json").read_text())
    assert payload["experiment"] == "shallow"
    assert payload["config"]["epochs"] == 2 and payload["config"]["train_size"] == 500
    run = payload["runs"][0]
    assert len(run["epochs"]) == 2 and run["hyperparameters"]["training_batches"] == 50
    assert payload["test_accuracy"] == run["test_accuracy"] > 0.5


def test_cli_reports_missing_data_cleanly(tmp_path, capsys, monkeypatch):
    from nets.cli import main
    monkeypatch.setenv("NETS_DOWNLOAD", "0")
    rc = main(["--data-dir", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "NETS_DATA" in err


def test_experiments_build_with_the_books_shapes():
    from nets.experiments import EXPERIMENTS
    assert set(EXPERIMENTS) == {"shallow", "basic_conv", "dbl_conv", "dbl_conv_relu", "expanded_data",
                                "expanded_data_double_fc", "double_fc_dropout", "ensemble"}
    for exp in EXPERIMENTS.values():
        net = Network(exp.build(exp.mini_batch_size), exp.mini_batch_size)  # shapes check out
        assert net.layers[-1].n_out == 10
    assert EXPERIMENTS["double_fc_dropout"].epochs == 40 and EXPERIMENTS["ensemble"].ensemble == 5
    assert EXPERIMENTS["dbl_conv_relu"].eta == 0.03 and EXPERIMENTS["dbl_conv_relu"].lmbda == 0.1


# ---------------------------------------------------------------- docs

def _python_blocks(name):
    path = os.path.join(os.path.dirname(__file__), "..", "docs", name)
    blocks, body, lang, start = [], [], None, 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if lang is None and line.startswith("```"):
                lang, start, body = line[3:].strip(), lineno + 1, []
            elif lang is not None and line.rstrip("\n") == "```":
                if lang == "python":
                    blocks.append((path, start, "".join(body)))
                lang = None
            elif lang is not None:
                body.append(line)
    return blocks


def test_migration_guide_examples_run(capsys):
    """docs/migration.md's network3-style code runs with only its imports changed."""
    namespace = {"__name__": "__docs__"}
    np.random.seed(0)
    blocks = _python_blocks("migration.md")
    assert len(blocks) >= 3
    for path, start, source in blocks:
        exec(compile("\n" * (start - 1) + source, path, "exec"), namespace)
    out = capsys.readouterr().out
    assert "(4, 20, 12, 12)" in out and "True" in out
    assert float(namespace["accuracy"]()) > 0.9


def test_nets_guide_examples_compile():
    """docs/nets.md's examples are valid Python (they train for minutes, so are not run)."""
    blocks = _python_blocks("nets.md")
    assert blocks
    for path, start, source in blocks:
        compile("\n" * (start - 1) + source, path, "exec")

"""nets: training beyond network3 -- progress bar, early stopping, learning-rate
schedules, momentum, JSON/CSV history, plots, checkpoints that resume exactly,
voting ensembles, and their command-line options.

Most tests use tiny synthetic data; the resume and CLI tests use small subsets
of the real MNIST in ../shared/data/mnist (or $NETS_DATA) and are skipped
without it.  The plot test is skipped when matplotlib is not installed.
"""
import csv
import io
import json
import os
import sys

import numpy as np
import pytest

import symbolic as S
import nets
from nets import (Ensemble, FullyConnectedLayer, Network, ReLU, SoftmaxLayer, TrainingHistory,
                  halve_on_plateau, step_decay, vote)
from nets.checkpoint import CheckpointError, load_checkpoint, random_states
from nets.data import shared_dataset
from nets.progress import ProgressBar, progress_enabled
from nets.training import EarlyStopping

from mnist_paths import mnist_dir as _mnist_dir, needs_mnist


@pytest.fixture(scope="module")
def small_mnist():
    """600 training, 100 validation and 100 test images of the real MNIST."""
    return nets.load_data_shared(_mnist_dir(), train_size=600, eval_size=100)


def _blobs(n, n_in, n_classes, seed):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 1, size=(n_classes, n_in))
    y = rng.integers(0, n_classes, size=n)
    x = np.clip(centers[y] + rng.normal(0, 0.05, size=(n, n_in)), 0, 1)
    return x.astype(S.config.floatX), y


def _splits(n_train=200, n_val=50, n_test=50, n_in=12, n_classes=3, seed=0):
    x, y = _blobs(n_train + n_val + n_test, n_in, n_classes, seed)
    a, b = n_train, n_train + n_val
    return (shared_dataset(x[:a], y[:a]), shared_dataset(x[a:b], y[a:b]),
            shared_dataset(x[b:], y[b:]))


def _net(seed=0, n_in=12, n_classes=3, p_dropout=0.0, mbs=10):
    np.random.seed(seed)
    return Network([FullyConnectedLayer(n_in, 16, activation_fn=ReLU, p_dropout=p_dropout),
                    SoftmaxLayer(16, n_classes, p_dropout=p_dropout)], mbs)


def _values(net):
    return [p.get_value() for p in net.params]


def _script_validation(monkeypatch, net, validation_data, accuracies):
    """Make the validation accuracy of epoch k be ``accuracies[k]`` (one mini-batch per epoch)."""
    real = net.accuracy_function
    values = iter(accuracies)

    def accuracy_function(data):
        if data is validation_data:
            return lambda j: next(values)
        return real(data)
    monkeypatch.setattr(net, "accuracy_function", accuracy_function)


# ---------------------------------------------------------------- default behaviour

def test_default_sgd_is_network3s_loop_bit_for_bit():
    """With network3's arguments SGD equals the plain loop with a constant eta (dropout too)."""
    train, val, test = _splits()
    net = _net(seed=3, p_dropout=0.2)
    history = net.SGD(train, 2, 10, 0.3, val, test, lmbda=0.1, verbose=False)

    ref = _net(seed=3, p_dropout=0.2)
    i = S.lscalar("i")
    cost = ref.cost(0.1, 20)
    step = S.function([i], cost, updates=[(p, p - 0.3 * g) for p, g in
                                          zip(ref.params, S.grad(cost, ref.params))],
                      givens=ref._batch_givens(train, i))
    costs = [float(step(k)) for _ in range(2) for k in range(20)]
    for got, want in zip(_values(net), _values(ref)):
        np.testing.assert_array_equal(got, want)
    assert history.epochs[1]["training_cost"] == pytest.approx(np.mean(costs[20:]), rel=1e-12)
    assert [e["eta"] for e in history.epochs] == [0.3, 0.3]
    assert history.stop_reason is None and history.resumed_at == []


# ---------------------------------------------------------------- progress bar

def test_progress_bar_text_rate_and_clearing():
    t = [0.0]
    stream = io.StringIO()
    bar = ProgressBar(4, batch_size=10, label="Epoch 2", stream=stream, width=8,
                      min_interval=0.0, clock=lambda: t[0])
    t[0] = 1.0
    bar.update(2)
    line = "Epoch 2 [####----] 2/4 mini-batches, 20 examples/s, ETA 0:01"
    assert stream.getvalue() == "\r" + line
    bar.clear()
    assert stream.getvalue().endswith("\r" + " " * len(line) + "\r")
    t[0] = 4.0
    bar.close()
    assert stream.getvalue().endswith("[####----] 2/4 mini-batches, 5 examples/s, 0:04\n")
    assert progress_enabled(True, verbose=False) and not progress_enabled(False)

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    assert progress_enabled("auto", True, Terminal())
    assert not progress_enabled("auto", False, Terminal())    # quiet
    assert not progress_enabled("auto", True, io.StringIO())  # not a terminal


def test_sgd_progress_forced_and_auto(capsys):
    train, val, _ = _splits()
    _net().SGD(train, 2, 10, 0.1, val, None, verbose=False, progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "\r" in err
    for epoch in (0, 1):
        assert f"Epoch {epoch} [" in err
    assert "20/20 mini-batches" in err and "examples/s" in err
    _net().SGD(train, 1, 10, 0.1, val, None, progress="auto")  # captured: not a terminal
    captured = capsys.readouterr()
    assert captured.err == "" and "Epoch 0: validation accuracy" in captured.out


# ---------------------------------------------------------------- early stopping

def test_early_stopping_rule():
    rule = EarlyStopping(2)
    assert rule.should_stop([0.5, 0.6, 0.6]) is None            # a tie is no improvement ...
    assert "patience=2" in rule.should_stop([0.5, 0.6, 0.6, 0.55])  # ... two epochs of it stop
    assert rule.should_stop([0.5, 0.6, 0.6, 0.7]) is None
    assert EarlyStopping(1, min_delta=0.05).should_stop([0.5, 0.52]) is not None
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(0)


def test_early_stopping_stops_at_the_right_epoch_and_restores_best(monkeypatch):
    train, _, test = _splits()
    val = shared_dataset(*_blobs(10, 12, 3, 1))       # one mini-batch: one call per epoch
    net = _net()
    _script_validation(monkeypatch, net, val, [0.5, 0.7, 0.6, 0.7, 0.65, 0.9, 0.9])
    snapshots = []
    history = net.SGD(train, 7, 10, 0.1, val, test, verbose=False, patience=3, restore_best=True,
                      on_epoch=lambda h: snapshots.append(_values(net)))
    # Best (strictly) at epoch 1; epochs 2, 3, 4 do not beat it: stop before epoch 5.
    assert [e["epoch"] for e in history.epochs] == [0, 1, 2, 3, 4]
    assert "patience=3" in history.stop_reason
    # network3's best epoch takes ties to the later one: epoch 3, whose parameters come back.
    assert history.best_epoch == 3 and history.restored_epoch == 3
    assert history.test_accuracy == history.epochs[3]["test_accuracy"]
    for got, want in zip(_values(net), snapshots[3]):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(snapshots[3][0], snapshots[4][0])


# ---------------------------------------------------------------- learning-rate schedules

def test_schedules():
    s = step_decay(0.8, 0.5, 3)
    assert [s(e) for e in range(7)] == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]
    assert repr(s) == "step_decay(eta0=0.8, factor=0.5, every=3)"

    h = halve_on_plateau(1.0, patience=2, factor=0.5, stop_at=1 / 4)
    for epoch, acc in enumerate([0.5, 0.6, 0.6, 0.55, 0.7, 0.7, 0.7]):
        h.observe(epoch, acc)
    # No strict improvement in epochs 2, 3 -> halved from epoch 4; again after 5, 6.
    assert [h(e) for e in range(8)] == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert h.should_stop(6) is None and "halve_on_plateau" in h.should_stop(7)
    h.observe(3, 0.55)  # replaying an observation changes nothing
    assert h(7) == 0.25
    h.reset()
    assert h(7) == 1.0
    book = halve_on_plateau(0.1, patience=1)  # stops at 1/128 of eta0: after 7 halvings
    for epoch in range(8):
        book.observe(epoch, 0.5)
    assert book.should_stop(7) is None and book.should_stop(8) is not None
    with pytest.raises(ValueError):
        step_decay(0.1, 0.5, 0)


def test_schedule_changes_eta_without_recompiling(monkeypatch):
    train, val, test = _splits()
    compiled = []
    real_function = S.function
    monkeypatch.setattr(S, "function", lambda *a, **k: compiled.append(1) or real_function(*a, **k))
    net = _net()
    seen = []

    def on_epoch(history):
        seen.append((len(compiled), _values(net)))
    history = net.SGD(train, 3, 10, lambda epoch: [0.5, 0.0, 0.25][epoch], val, test,
                      verbose=False, on_epoch=on_epoch)
    assert [e["eta"] for e in history.epochs] == [0.5, 0.0, 0.25]
    # Every function was compiled before the first epoch; none after.
    assert seen[0][0] == seen[1][0] == seen[2][0] == len(compiled) == 4
    # The shared learning rate really took each value: eta = 0 left the parameters alone.
    for before, after in zip(seen[0][1], seen[1][1]):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(seen[1][1][0], seen[2][1][0])
    assert history.hyperparameters["eta"].endswith("<lambda>")
    with pytest.raises(ValueError, match="learning rate for epoch 0"):
        net.SGD(train, 1, 10, lambda epoch: -1.0, val, None)


def test_plateau_schedule_halves_and_ends_training(monkeypatch):
    train, _, _ = _splits()
    val = shared_dataset(*_blobs(10, 12, 3, 1))
    net = _net()
    _script_validation(monkeypatch, net, val, [0.5, 0.4, 0.45, 0.3, 0.3])
    history = net.SGD(train, 5, 10, halve_on_plateau(0.2, patience=1, stop_at=1 / 4), val, None,
                      verbose=False)
    assert [e["eta"] for e in history.epochs] == [0.2, 0.2, 0.1]
    assert "halve_on_plateau" in history.stop_reason
    assert history.hyperparameters["eta"].startswith("halve_on_plateau(eta0=0.2")


# ---------------------------------------------------------------- momentum

def _np_momentum(w, b, x, y, eta, mu, lmbda, mbs, epochs):
    """Classic momentum on a softmax layer, written independently in NumPy (float64)."""
    n_batches = len(y) // mbs
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(epochs):
        for k in range(n_batches):
            xb, yb = x[k * mbs:(k + 1) * mbs], y[k * mbs:(k + 1) * mbs]
            z = xb @ w + b
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            d = p.copy()
            d[np.arange(mbs), yb] -= 1
            d /= mbs
            gw, gb = xb.T @ d + lmbda / n_batches * w, d.sum(axis=0)
            vw, vb = mu * vw - eta * gw, mu * vb - eta * gb
            w, b = w + vw, b + vb
    return w, b, vw, vb


def test_momentum_equals_numpy():
    with S.config.change_flags(floatX="float64"):
        rng = np.random.default_rng(7)
        x, y = rng.random((12, 5)), rng.integers(0, 3, 12)
        data = shared_dataset(x, y)
        layer = SoftmaxLayer(5, 3)
        w0, b0 = rng.normal(0, 0.5, (5, 3)), rng.normal(0, 0.5, 3)
        layer.w.set_value(w0)
        layer.b.set_value(b0)
        net = Network([layer], 4)
        from nets.training import Trainer
        trainer = Trainer(net, data, 2, 4, 0.5, data, None, lmbda=0.3, verbose=False, momentum=0.9)
        trainer.run()
        w, b, vw, vb = _np_momentum(w0, b0, x, y, 0.5, 0.9, 0.3, 4, 2)
        np.testing.assert_allclose(layer.w.get_value(), w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer.b.get_value(), b, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(trainer.velocities[0].get_value(), vw, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(trainer.velocities[1].get_value(), vb, rtol=1e-12, atol=1e-14)
        # Momentum changes the trajectory (it is not silently plain SGD).
        plain, _, _, _ = _np_momentum(w0, b0, x, y, 0.5, 0.0, 0.3, 4, 2)
        assert not np.allclose(plain, w)
    with pytest.raises(ValueError, match="momentum"):
        net.SGD(data, 1, 4, 0.1, data, None, momentum=1.0)


# ---------------------------------------------------------------- history files

def test_history_json_and_csv_after_every_epoch(tmp_path):
    train, val, _ = _splits()
    net = _net()
    rows_seen = []

    def on_epoch(history):  # the files are already written when on_epoch runs
        with open(tmp_path / "h.csv", newline="") as f:
            rows_seen.append(len(list(csv.DictReader(f))))
    history = net.SGD(train, 2, 10, step_decay(0.4, 0.5, 1), val, None, verbose=False,
                      history_path=tmp_path / "h.json", on_epoch=on_epoch)
    assert rows_seen == [1, 2]
    saved = json.loads((tmp_path / "h.json").read_text())
    assert saved == json.loads(json.dumps(history.to_dict()))
    assert TrainingHistory.from_dict(saved).to_dict() == saved
    with open(tmp_path / "h.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["epoch", "eta", "training_cost", "validation_accuracy",
                                 "test_accuracy", "seconds", "examples_per_second"]
    for row, record in zip(rows, history.epochs):
        assert int(row["epoch"]) == record["epoch"]
        assert float(row["eta"]) == record["eta"]
        assert float(row["training_cost"]) == record["training_cost"]  # full precision
        assert float(row["validation_accuracy"]) == record["validation_accuracy"]
        assert row["test_accuracy"] == ""                               # no test data
        assert float(row["examples_per_second"]) > 0
    assert [float(r["eta"]) for r in rows] == [0.4, 0.2]


# ---------------------------------------------------------------- plots

def _history_for_plot():
    history = TrainingHistory({})
    history.epochs = [{"epoch": e, "training_cost": 1.0 / (e + 1), "validation_accuracy": 0.5 + e / 10,
                       "test_accuracy": 0.4 + e / 10} for e in range(3)]
    return history


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = nets.plot_history(_history_for_plot(), tmp_path / "p.png", title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Several runs (an ensemble's members) in one figure, from the CLI payload's shape.
    payload = {"runs": [_history_for_plot().to_dict(), _history_for_plot().to_dict()]}
    assert nets.plot_history(payload, tmp_path / "q.png").stat().st_size > 1000


def test_plot_history_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install symbolic-nets\[plots\]"):
        nets.plot_history(_history_for_plot(), tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()


# ---------------------------------------------------------------- checkpoints

def _resume_net(seed):
    np.random.seed(seed)
    return Network([FullyConnectedLayer(784, 30, p_dropout=0.3),
                    SoftmaxLayer(30, 10, p_dropout=0.2)], 10)


@needs_mnist
def test_interrupted_and_resumed_run_is_bit_identical(small_mnist, tmp_path):
    """2 epochs straight == 1 epoch, interrupt, resume into a fresh network, 1 more epoch.

    Dropout, momentum and a step schedule make every part of the saved state
    matter: parameters, velocities, learning rate and the dropout streams.
    """
    train, val, test = small_mnist
    options = dict(verbose=False, momentum=0.5, restore_best=True)
    eta = step_decay(0.5, 0.5, 1)
    straight = _resume_net(0)
    h_straight = straight.SGD(train, 2, 10, eta, val, test, **options)

    path = tmp_path / "run" / "ckpt.npz"

    def interrupt(history):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        _resume_net(0).SGD(train, 2, 10, eta, val, test, on_epoch=interrupt, checkpoint=path,
                           **options)
    assert load_checkpoint(path).epochs_completed == 1
    assert os.listdir(path.parent) == ["ckpt.npz"]  # the temporary file is gone

    resumed = _resume_net(1)  # different initial weights and dropout seeds: all must come from the file
    h_resumed = resumed.SGD(train, 2, 10, eta, val, test, checkpoint=path, **options)
    for a, b in zip(_values(straight), _values(resumed)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(random_states(straight), random_states(resumed)):
        np.testing.assert_array_equal(a.get_value(), b.get_value())
    strip = [{k: v for k, v in e.items() if k not in ("seconds", "examples_per_second")}
             for e in h_straight.epochs]
    assert strip == [{k: v for k, v in e.items() if k not in ("seconds", "examples_per_second")}
                     for e in h_resumed.epochs]
    assert h_resumed.resumed_at == [1] and h_resumed.best_epoch == h_straight.best_epoch
    ck = load_checkpoint(path)
    assert ck.epochs_completed == 2 and len(ck.velocities) == 4 and len(ck.random_states) == 2
    assert ck.eta == pytest.approx(0.25)

    # A finished run resumed again trains nothing and ends with the same parameters.
    again = _resume_net(2)
    h_again = again.SGD(train, 2, 10, eta, val, test, checkpoint=path, **options)
    assert len(h_again.epochs) == 2
    for a, b in zip(_values(straight), _values(again)):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_errors(tmp_path):
    train, val, _ = _splits()
    path = tmp_path / "c.npz"
    _net().SGD(train, 1, 10, 0.1, val, None, verbose=False, checkpoint=path)
    np.random.seed(0)
    other = Network([FullyConnectedLayer(12, 17), SoftmaxLayer(17, 3)], 10)
    with pytest.raises(CheckpointError, match=r"layer 0 \(FullyConnectedLayer\) w"):
        other.SGD(train, 2, 10, 0.1, val, None, checkpoint=path)
    with pytest.raises(CheckpointError, match="random streams"):
        _net(p_dropout=0.5).SGD(train, 2, 10, 0.1, val, None, checkpoint=path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    with pytest.warns(UserWarning, match="different settings.*lmbda"):
        _net().SGD(train, 1, 10, 0.1, val, None, verbose=False, lmbda=0.5, checkpoint=path)


# ---------------------------------------------------------------- ensembles

def test_vote_majority_and_tie_breaking():
    labels = np.array([[1, 2, 3, 4, 0],
                       [1, 3, 3, 7, 5],
                       [2, 2, 0, 7, 5]])
    assert vote(labels).tolist() == [1, 2, 3, 7, 5]
    tie = np.array([[4, 7], [7, 4]])                  # each example: one vote for 4, one for 7
    assert vote(tie, n_classes=10).tolist() == [4, 4]  # no probabilities: the lowest label
    probs = np.full((2, 2, 10), 0.01)
    probs[0, 0, 4], probs[0, 0, 7] = 0.50, 0.45        # example 0: sums 4 -> 0.51, 7 -> 0.55
    probs[1, 0, 7], probs[1, 0, 4] = 0.10, 0.01
    probs[:, 1, 4] = probs[:, 1, 7] = 0.3              # example 1: equal sums -> lowest
    assert vote(tie, probs).tolist() == [7, 4]
    # A label without the most votes never wins, however confident.
    probs3 = np.zeros((3, 1, 10))
    probs3[2, 0, 9] = 1.0
    assert vote(np.array([[1], [1], [9]]), probs3).tolist() == [1]


def test_ensemble_on_trained_networks():
    train, val, test = _splits(n_test=55)
    members = []
    for seed, mbs in ((0, 10), (1, 10), (2, 5)):
        net = _net(seed=seed, mbs=mbs)
        net.SGD(train, 1, mbs, 0.1, val, test, verbose=False)
        members.append(net)
    ensemble = Ensemble(members)
    labels, probs = ensemble.member_outputs(test[0])
    assert labels.shape == (3, 50) and probs.shape == (3, 50, 3)  # 55 // 10 * 10 examples for all
    for net, row in zip(members, labels):
        np.testing.assert_array_equal(net.predict(test[0])[:50], row)
    np.testing.assert_array_equal(ensemble.predict(test[0]), vote(labels, probs))
    truth = test[1].get_value()[:50]
    assert ensemble.accuracy(test) == np.mean(vote(labels, probs) == truth)
    assert Ensemble(members[:1]).accuracy(test) == pytest.approx(members[0].accuracy(test))
    with pytest.raises(ValueError, match="classes"):
        Ensemble([members[0], _net(n_classes=4)])


# ---------------------------------------------------------------- command line

@needs_mnist
def test_cli_training_options_and_resume(tmp_path, capsys, monkeypatch):
    from nets.cli import main
    common = ["shallow", "--train-size", "300", "--eval-size", "100", "--eta", "0.5",
              "--data-dir", _mnist_dir(), "--output-dir", str(tmp_path), "--momentum", "0.5",
              "--eta-schedule", "step", "--eta-every", "1", "--checkpoint", "--quiet", "--plot"]
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the plot note path, matplotlib or not
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main(common + ["--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("note: no plot:") == 1 and "symbolic-nets[plots]" in out
    assert main(common + ["--epochs", "2"]) == 0  # resumes after epoch 0
    assert "Resumed from" in capsys.readouterr().out
    payload = json.loads((tmp_path / "history.json").read_text())
    run = payload["runs"][0]
    assert [e["eta"] for e in run["epochs"]] == [0.5, 0.25] and run["resumed_at"] == [1]
    assert payload["config"]["momentum"] == 0.5
    assert payload["config"]["eta_schedule"] == "step_decay(eta0=0.5, factor=0.5, every=1)"
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"] and "run" not in rows[0]
    assert float(rows[1]["test_accuracy"]) == run["epochs"][1]["test_accuracy"]
    assert load_checkpoint(tmp_path / "checkpoint.npz").epochs_completed == 2


@needs_mnist
def test_cli_ensemble_votes_with_nets_ensemble(tmp_path, capsys, monkeypatch):
    from nets import cli
    from nets.experiments import EXPERIMENTS, Experiment
    tiny = Experiment("tiny_ensemble", "3 small nets voting", EXPERIMENTS["shallow"].build,
                      epochs=1, eta=0.5, ensemble=3, book_accuracy=0.9)
    monkeypatch.setitem(EXPERIMENTS, "tiny_ensemble", tiny)
    voted = []
    real_accuracy = Ensemble.accuracy
    monkeypatch.setattr(Ensemble, "accuracy",
                        lambda self, data: voted.append(len(self)) or real_accuracy(self, data))
    args = cli.build_parser().parse_args(
        ["shallow", "--train-size", "200", "--eval-size", "100", "--data-dir", _mnist_dir(),
         "--output-dir", str(tmp_path), "--quiet"])
    args.experiment = "tiny_ensemble"
    payload = cli.run(args, out=lambda *a: None)
    assert voted == [3] and len(payload["runs"]) == 3
    assert payload["test_accuracy"] == payload["ensemble_test_accuracy"]
    assert len(payload["member_test_accuracies"]) == 3
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["run"], r["epoch"]) for r in rows] == [("0", "0"), ("1", "0"), ("2", "0")]


@needs_mnist
def test_cli_ensemble_members_trained_apart_vote_like_one_run(tmp_path, monkeypatch):
    """Members trained in separate runs (--members) are the members one run would train."""
    from nets import cli
    from nets.experiments import EXPERIMENTS, Experiment

    def build(mbs):
        return [FullyConnectedLayer(784, 30, p_dropout=0.5), SoftmaxLayer(30, 10, p_dropout=0.5)]
    tiny = Experiment("tiny_ensemble", "3 small dropout nets voting", build,
                      epochs=1, eta=0.5, ensemble=3, book_accuracy=0.9)
    monkeypatch.setitem(EXPERIMENTS, "tiny_ensemble", tiny)

    def run(out_dir, *extra):
        args = cli.build_parser().parse_args(
            ["shallow", "--train-size", "200", "--eval-size", "100", "--data-dir", _mnist_dir(),
             "--output-dir", str(out_dir), "--quiet", "--checkpoint", *extra])
        args.experiment = "tiny_ensemble"
        return cli.run(args, out=lambda *a: None)

    together = run(tmp_path / "one")
    part = run(tmp_path / "apart", "--members", "2,0")
    assert part["members"] == [0, 2] and part["test_accuracy"] is None
    assert (tmp_path / "apart" / "history-members-0-2.json").exists()
    run(tmp_path / "apart", "--members", "1")
    voted = run(tmp_path / "apart")
    assert all(run["resumed_at"] == [1] for run in voted["runs"])
    for k in range(3):
        a = load_checkpoint(tmp_path / "one" / f"checkpoint-{k}.npz")
        b = load_checkpoint(tmp_path / "apart" / f"checkpoint-{k}.npz")
        for x, y in zip(a.params, b.params):
            np.testing.assert_array_equal(x, y)
    assert voted["member_test_accuracies"] == together["member_test_accuracies"]
    assert voted["ensemble_test_accuracy"] == together["ensemble_test_accuracy"]


def test_cli_rejects_bad_members(capsys):
    from nets.cli import main
    for argv, message in ((["ensemble", "--members", "0"], "needs --checkpoint"),
                          (["ensemble", "--members", "5", "--checkpoint"], "0 to 4"),
                          (["shallow", "--members", "0", "--checkpoint"], "one network"),
                          (["ensemble", "--members", "a"], "member numbers")):
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err


def test_cli_rejects_bad_training_options(capsys):
    from nets.cli import main
    for argv, message in ((["--momentum", "1.5"], "--momentum"), (["--patience", "0"], "--patience"),
                          (["--eta-schedule", "plateau", "--eta-factor", "2"], "--eta-factor")):
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err

"""``python -m nets [experiment] [options]``: run a chapter 6 experiment.

With no experiment the ``shallow`` net trains for one epoch: the quick check
that the compiler, the backend and the data all work (a few seconds to a
minute on a laptop CPU with the NumPy backend).  Naming an experiment runs
the book's full schedule unless ``--epochs`` says otherwise.  The per-epoch
history is written as JSON to ``--output-dir`` (default
``./runs/<experiment>``) after every epoch, so a long run can be followed or
interrupted without losing what it measured.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .experiments import EXPERIMENTS

DEFAULT_EXPERIMENT = "shallow"
DEFAULT_EPOCHS_WITHOUT_EXPERIMENT = 1


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m nets",
        description="Train Nielsen's chapter 6 networks (network3) on MNIST.",
        epilog="experiments: " + "; ".join(f"{e.name}: {e.description}" for e in EXPERIMENTS.values()))
    p.add_argument("experiment", nargs="?", choices=sorted(EXPERIMENTS),
                   help=f"what to run (default: {DEFAULT_EXPERIMENT} for "
                        f"{DEFAULT_EPOCHS_WITHOUT_EXPERIMENT} epoch)")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the book's)")
    p.add_argument("--mini-batch-size", type=int, help="mini-batch size (default: 10)")
    p.add_argument("--eta", type=float, help="learning rate (default: the book's)")
    p.add_argument("--lmbda", type=float, help="L2 regularisation (default: the book's)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for weights, dropout masks and the expanded-data shuffle (default 0)")
    p.add_argument("--data-dir", help="MNIST directory or mnist.pkl.gz (default: $NETS_DATA, "
                                      "../shared/data/mnist, ~/.cache/nets/mnist)")
    p.add_argument("--output-dir", help="where history.json goes (default: ./runs/<experiment>)")
    p.add_argument("--backend", help="symbolic backend (linker): numpy, llvm, cuda, or auto "
                                     "(default: SYMBOLIC_FLAGS / config)")
    p.add_argument("--train-size", type=int,
                   help="train on only the first N training examples (quick runs)")
    p.add_argument("--eval-size", type=int,
                   help="validate and test on only the first N examples of each (quick runs)")
    p.add_argument("--quiet", action="store_true", help="only print the per-epoch results")
    return p


class BackendUnavailable(Exception):
    """The requested backend or device cannot be used here."""


def _configure_backend(name):
    """Select the backend before any shared variable exists (they live on its device).

    Fails here, with the backend's own message, rather than at the first
    compiled function after minutes of data loading.
    """
    import symbolic as S
    import backends
    try:
        if name:
            if name == "cuda" and S.config.device == "cpu":
                S.config.device = "cuda"
            S.config.linker = name
        backends.current_device()
        backends.get_backend()
    except (ValueError, RuntimeError, ImportError) as e:
        raise BackendUnavailable(str(e)) from e


def _write_json(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


def run(args, out=print):
    """Run the experiment described by parsed ``args``; return the JSON payload."""
    import symbolic as S
    from .data import load_data_shared
    from .network import Network

    name = args.experiment or DEFAULT_EXPERIMENT
    exp = EXPERIMENTS[name]
    epochs = args.epochs if args.epochs is not None else (
        exp.epochs if args.experiment else DEFAULT_EPOCHS_WITHOUT_EXPERIMENT)
    mbs = args.mini_batch_size or exp.mini_batch_size
    eta = exp.eta if args.eta is None else args.eta
    lmbda = exp.lmbda if args.lmbda is None else args.lmbda
    output_dir = Path(args.output_dir or Path("runs") / name)
    history_path = output_dir / "history.json"

    _configure_backend(args.backend)
    np.random.seed(args.seed)
    t_start = time.perf_counter()
    training_data, validation_data, test_data = load_data_shared(
        args.data_dir, expanded=exp.expanded, train_size=args.train_size,
        eval_size=args.eval_size, seed=args.seed)
    load_seconds = time.perf_counter() - t_start
    n_train = training_data[0].get_value(borrow=True).shape[0]
    out(f"{name}: {exp.description}")
    out(f"epochs={epochs} mini_batch_size={mbs} eta={eta} lmbda={lmbda} seed={args.seed} "
        f"training examples={n_train:,} floatX={S.config.floatX} backend={S.config.linker} "
        f"(data loaded in {load_seconds:.1f} s)")

    payload = {
        "experiment": name, "description": exp.description,
        "config": {"epochs": epochs, "mini_batch_size": mbs, "eta": eta, "lmbda": lmbda,
                   "seed": args.seed, "expanded": exp.expanded, "train_size": args.train_size,
                   "eval_size": args.eval_size, "backend": S.config.linker,
                   "device": S.config.device, "floatX": S.config.floatX,
                   "data_dir": args.data_dir},
        "book_accuracy": exp.book_accuracy,
        "runs": [],
    }

    def save(history, k):
        payload["runs"][k:] = [history.to_dict()]
        _write_json(history_path, payload)

    votes = []
    for k in range(exp.ensemble):
        if exp.ensemble > 1:
            out(f"--- ensemble member {k + 1} of {exp.ensemble}")
        net = Network(exp.build(mbs), mbs)
        if k == 0 and not args.quiet:
            out(net.summary())
        history = net.SGD(training_data, epochs, mbs, eta, validation_data, test_data, lmbda=lmbda,
                          verbose=not args.quiet, on_epoch=lambda h, k=k: save(h, k))
        if args.quiet:
            for e in history.epochs:
                out(f"Epoch {e['epoch']}: validation accuracy {e['validation_accuracy']:.2%}, "
                    f"test accuracy {e['test_accuracy']:.2%}")
        save(history, k)
        if exp.ensemble > 1:
            votes.append(net.predict(test_data[0]))

    if votes:
        # Majority vote per image; a tie goes to the smallest label (np.argmax).
        votes = np.stack(votes)
        labels = test_data[1].get_value()[:votes.shape[1]]
        counts = np.apply_along_axis(np.bincount, 0, votes, minlength=10)
        payload["ensemble_test_accuracy"] = float(np.mean(np.argmax(counts, axis=0) == labels))
        payload["test_accuracy"] = payload["ensemble_test_accuracy"]
        out(f"Ensemble of {exp.ensemble}: test accuracy {payload['ensemble_test_accuracy']:.2%}")
    else:
        payload["test_accuracy"] = payload["runs"][0]["test_accuracy"]
    payload["elapsed_seconds"] = time.perf_counter() - t_start
    _write_json(history_path, payload)
    out(f"Test accuracy: {payload['test_accuracy']:.2%} (book: {exp.book_accuracy:.2%} after "
        f"{exp.epochs} epochs{', expanded data' if exp.expanded else ''}); "
        f"{payload['elapsed_seconds']:.1f} s; history in {history_path}")
    return payload


def main(argv=None):
    args = build_parser().parse_args(argv)
    for opt in ("epochs", "mini_batch_size", "train_size", "eval_size"):
        value = getattr(args, opt)
        if value is not None and value < 1:
            build_parser().error(f"--{opt.replace('_', '-')} must be positive, got {value}")
    from .data import MNISTDataError
    try:
        run(args)
    except (FileNotFoundError, MNISTDataError, BackendUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0

"""``python -m nets [experiment] [options]``: run a chapter 6 experiment.

With no experiment the ``shallow`` net trains for one epoch: the quick check
that the compiler, the backend and the data all work (a few seconds to a
minute on a laptop CPU with the NumPy backend).  Naming an experiment runs
the book's full schedule unless ``--epochs`` says otherwise.  The per-epoch
history is written as JSON to ``--output-dir`` (default
``./runs/<experiment>``) after every epoch, so a long run can be followed or
interrupted without losing what it measured; ``history.csv`` holds the same
epochs as a table.

The options beyond network3 (``--momentum``, ``--eta-schedule``,
``--patience``, ``--restore-best``, ``--checkpoint``, ``--plot``,
``--progress``) are all off by default except the progress bar, which is
drawn only on an interactive terminal and never with ``--quiet``.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from .experiments import EXPERIMENTS
from .history import EPOCH_COLUMNS, history_rows, write_csv, write_json

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
    g = p.add_argument_group("training beyond network3 (all off by default)")
    g.add_argument("--momentum", type=float, default=0.0,
                   help="classic momentum coefficient in [0, 1) (default 0: plain SGD)")
    g.add_argument("--eta-schedule", choices=("constant", "step", "plateau"), default="constant",
                   help="learning-rate schedule: constant (default); step: multiply by "
                        "--eta-factor every --eta-every epochs; plateau: the book's halving after "
                        "--eta-patience epochs without a better validation accuracy, stopping at "
                        "eta/128")
    g.add_argument("--eta-factor", type=float, default=0.5,
                   help="factor for the step and plateau schedules (default 0.5)")
    g.add_argument("--eta-every", type=int, default=10,
                   help="epochs between reductions of the step schedule (default 10)")
    g.add_argument("--eta-patience", type=int, default=10,
                   help="epochs without improvement before the plateau schedule reduces eta "
                        "(default 10, the book's no-improvement-in-ten)")
    g.add_argument("--patience", type=int,
                   help="early stopping: stop after N epochs without a better validation accuracy")
    g.add_argument("--restore-best", action="store_true",
                   help="end with the parameters of the best validation epoch")
    g.add_argument("--checkpoint", action="store_true",
                   help="save checkpoint.npz in the output directory after every epoch, and "
                        "resume from it if it exists")
    g.add_argument("--members", type=_member_list,
                   help="ensemble experiments: train only these members (comma-separated, from "
                        "0), e.g. in parallel processes, each with --checkpoint; a later run "
                        "without --members loads the finished checkpoints and votes")
    g.add_argument("--plot", action="store_true",
                   help="draw history.png (accuracy and cost per epoch) after every epoch; "
                        "needs matplotlib (pip install symbolic-nets[plots])")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: only on an interactive terminal and "
                        "without --quiet)")
    return p


def _member_list(text):
    try:
        members = sorted({int(k) for k in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected member numbers like 0,2,3, got {text!r}")
    if members[0] < 0:
        raise argparse.ArgumentTypeError(f"member numbers start at 0, got {text!r}")
    return members


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


def _eta(args, eta):
    """The learning rate SGD gets: the number, or the schedule ``--eta-schedule`` names."""
    from .schedules import halve_on_plateau, step_decay
    if args.eta_schedule == "step":
        return step_decay(eta, args.eta_factor, args.eta_every)
    if args.eta_schedule == "plateau":
        return halve_on_plateau(eta, args.eta_patience, args.eta_factor)
    return eta


class _Plotter:
    """Redraws history.png; without matplotlib says so once and stays silent after."""

    def __init__(self, path, title, out):
        self.path, self.title, self.out, self.broken = path, title, out, False

    def __call__(self, payload):
        if self.broken:
            return
        from .plots import plot_history
        try:
            plot_history(payload, self.path, title=self.title)
        except ImportError as e:
            self.broken = True
            self.out(f"note: no plot: {e}")


def _check_members(members, exp, checkpoint):
    """``--members`` as a list (None without it), or a ValueError saying what is wrong."""
    if members is None:
        return None
    if exp.ensemble == 1:
        raise ValueError(f"--members: {exp.name} trains one network, not an ensemble")
    if members[-1] >= exp.ensemble:
        raise ValueError(f"--members: {exp.name} has members 0 to {exp.ensemble - 1}, "
                         f"got {members[-1]}")
    if not checkpoint:
        raise ValueError("--members needs --checkpoint: the voting run loads the members "
                         "from their checkpoints")
    return members


def run(args, out=print):
    """Run the experiment described by parsed ``args``; return the JSON payload."""
    import symbolic as S
    from .data import load_data_shared
    from .ensemble import Ensemble
    from .network import Network
    from .schedules import describe_eta

    name = args.experiment or DEFAULT_EXPERIMENT
    exp = EXPERIMENTS[name]
    epochs = args.epochs if args.epochs is not None else (
        exp.epochs if args.experiment else DEFAULT_EPOCHS_WITHOUT_EXPERIMENT)
    mbs = args.mini_batch_size or exp.mini_batch_size
    eta = exp.eta if args.eta is None else args.eta
    lmbda = exp.lmbda if args.lmbda is None else args.lmbda
    output_dir = Path(args.output_dir or Path("runs") / name)
    members_only = _check_members(args.members, exp, args.checkpoint)
    stem = "history" if members_only is None else \
        "history-members-" + "-".join(map(str, members_only))
    history_path = output_dir / f"{stem}.json"
    csv_path = output_dir / f"{stem}.csv"
    schedule = _eta(args, eta)
    progress = "auto" if args.progress is None else args.progress

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
                   "data_dir": args.data_dir, "momentum": args.momentum,
                   "eta_schedule": describe_eta(schedule), "patience": args.patience,
                   "restore_best": args.restore_best, "checkpoint": args.checkpoint},
        "book_accuracy": exp.book_accuracy,
        "runs": [],
    }

    plot = _Plotter(output_dir / "history.png", f"{name}: {exp.description}", out) \
        if args.plot else None

    trained = members_only if members_only is not None else list(range(exp.ensemble))
    if members_only is not None:
        payload["members"] = members_only

    def save(history, k):
        """history.json, history.csv (and history.png) after every epoch of every member."""
        j = trained.index(k)
        payload["runs"][j:] = [history.to_dict()]
        write_json(history_path, payload)
        rows = [row for j, run in zip(trained, payload["runs"])
                for row in history_rows(run, run=j if exp.ensemble > 1 else None)]
        write_csv(csv_path, rows, (["run"] if exp.ensemble > 1 else []) + list(EPOCH_COLUMNS))
        if plot is not None:
            plot(payload)

    members = []
    for k in range(exp.ensemble):
        # Every member is built, trained or not, so member k's weights and dropout seeds are
        # the same numbers from NumPy's generator whichever process trains it.
        net = Network(exp.build(mbs), mbs)
        if k not in trained:
            continue
        if exp.ensemble > 1:
            out(f"--- ensemble member {k + 1} of {exp.ensemble}")
        if k == trained[0] and not args.quiet:
            out(net.summary())
        checkpoint = None
        if args.checkpoint:
            checkpoint = output_dir / ("checkpoint.npz" if exp.ensemble == 1
                                       else f"checkpoint-{k}.npz")
        history = net.SGD(training_data, epochs, mbs, schedule, validation_data, test_data,
                          lmbda=lmbda, verbose=not args.quiet, on_epoch=lambda h, k=k: save(h, k),
                          momentum=args.momentum, patience=args.patience,
                          restore_best=args.restore_best, progress=progress,
                          checkpoint=checkpoint)
        if args.quiet:
            if history.resumed_at:
                out(f"Resumed from {checkpoint} after epoch {history.resumed_at[-1] - 1}")
            for e in history.epochs:
                out(f"Epoch {e['epoch']}: validation accuracy {e['validation_accuracy']:.2%}, "
                    f"test accuracy {e['test_accuracy']:.2%}")
            if history.stop_reason:
                out(f"Stopped early: {history.stop_reason}")
        save(history, k)
        members.append(net)

    if members_only is not None:
        payload["member_test_accuracies"] = [run["test_accuracy"] for run in payload["runs"]]
        payload["test_accuracy"] = None
        payload["elapsed_seconds"] = time.perf_counter() - t_start
        write_json(history_path, payload)
        out(f"Trained members {', '.join(map(str, members_only))} of {exp.ensemble}; run again "
            f"without --members (same --output-dir, --checkpoint) to vote; history in "
            f"{history_path}")
        return payload
    if exp.ensemble > 1:
        # Majority vote per image, ties to the largest summed probability (nets.Ensemble).
        ensemble = Ensemble(members)
        payload["ensemble_test_accuracy"] = ensemble.accuracy(test_data)
        payload["member_test_accuracies"] = ensemble.member_accuracies(test_data)
        payload["test_accuracy"] = payload["ensemble_test_accuracy"]
        out(f"Ensemble of {exp.ensemble}: test accuracy {payload['ensemble_test_accuracy']:.2%}")
    else:
        payload["test_accuracy"] = payload["runs"][0]["test_accuracy"]
    payload["elapsed_seconds"] = time.perf_counter() - t_start
    write_json(history_path, payload)
    out(f"Test accuracy: {payload['test_accuracy']:.2%} (book: {exp.book_accuracy:.2%} after "
        f"{exp.epochs} epochs{', expanded data' if exp.expanded else ''}); "
        f"{payload['elapsed_seconds']:.1f} s; history in {history_path} and {csv_path.name}")
    return payload


def main(argv=None):
    args = build_parser().parse_args(argv)
    for opt in ("epochs", "mini_batch_size", "train_size", "eval_size", "patience", "eta_every",
                "eta_patience"):
        value = getattr(args, opt)
        if value is not None and value < 1:
            build_parser().error(f"--{opt.replace('_', '-')} must be positive, got {value}")
    if not 0.0 <= args.momentum < 1.0:
        build_parser().error(f"--momentum must be in [0, 1), got {args.momentum}")
    if not 0.0 < args.eta_factor < (1.0 if args.eta_schedule == "plateau" else float("inf")):
        build_parser().error(f"--eta-factor must be positive (and below 1 for plateau), "
                             f"got {args.eta_factor}")
    try:
        _check_members(args.members, EXPERIMENTS[args.experiment or DEFAULT_EXPERIMENT],
                       args.checkpoint)
    except ValueError as e:
        build_parser().error(str(e))
    from .checkpoint import CheckpointError
    from .data import MNISTDataError
    try:
        run(args)
    except (FileNotFoundError, MNISTDataError, BackendUnavailable, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0

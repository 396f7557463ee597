"""Plots of a training history: accuracy and cost per epoch, as a PNG file.

matplotlib is an optional extra (``pip install symbolic-nets[plots]``): the
compiler and the networks do not need it, and it is a large dependency for
one picture.  Without it :func:`plot_history` raises an ImportError that
says how to install it, and the command line prints one line and carries on.

The figure is drawn with ``matplotlib.figure.Figure`` directly, never
through ``pyplot``: no global figure state, no GUI backend chosen at import,
so plotting works the same in a script, a test and a headless server.
"""
import json
from pathlib import Path

__all__ = ["plot_history", "PLOTS_INSTALL_HINT"]

PLOTS_INSTALL_HINT = "pip install symbolic-nets[plots]"


def _import_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f"nets.plot_history needs matplotlib: {PLOTS_INSTALL_HINT}") from e
    return Figure


def _runs(history):
    """A list of run dicts (with ``epochs``) from whatever ``history`` is."""
    from .history import TrainingHistory
    if isinstance(history, (str, Path)):
        history = json.loads(Path(history).read_text())
    if isinstance(history, TrainingHistory):
        return [history.to_dict()]
    if isinstance(history, dict):
        return list(history["runs"]) if "runs" in history else [history]
    return [r for h in history for r in _runs(h)]


def plot_history(history, path, title=None):
    """Draw validation/test accuracy and training cost per epoch; save to ``path`` (PNG).

    ``history`` is a TrainingHistory, its ``to_dict()``, the CLI's
    ``history.json`` payload (or its path), or a list of these: several runs
    (an ensemble's members) are drawn on the same axes, numbered.  Returns
    ``path``.
    """
    Figure = _import_figure()
    runs = _runs(history)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_acc, ax_cost = fig.subplots(1, 2)
    # Markers as well as lines: a one-epoch run is a single point, invisible as a line.
    for k, run in enumerate(runs):
        epochs = [e["epoch"] for e in run["epochs"]]
        tag = f" (run {k})" if len(runs) > 1 else ""
        color = f"C{k % 10}"
        ax_acc.plot(epochs, [100 * e["validation_accuracy"] for e in run["epochs"]], "o-",
                    color=color, markersize=3, label=f"validation{tag}")
        test = [e.get("test_accuracy") for e in run["epochs"]]
        if any(t is not None for t in test):
            ax_acc.plot(epochs, [100 * t if t is not None else float("nan") for t in test], "o--",
                        color=color, markersize=3, label=f"test{tag}")
        ax_cost.plot(epochs, [e["training_cost"] for e in run["epochs"]], "o-", color=color,
                     markersize=3, label=f"training cost{tag}")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("accuracy")
    ax_cost.set_xlabel("epoch")
    ax_cost.set_ylabel("training cost")
    ax_cost.set_title("cost (regularisation included)")
    for ax in (ax_acc, ax_cost):
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
        if any(run["epochs"] for run in runs):
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path

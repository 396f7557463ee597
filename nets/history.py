"""What a training run measured, and writing it to disk as JSON and CSV.

``Network.SGD`` returns a :class:`TrainingHistory`: one record per epoch plus
network3's summary (best validation accuracy, and the test accuracy at that
epoch).  It is kept in memory as plain dicts and floats so that it can be
written as JSON without conversion, put into a checkpoint and read back with
:meth:`TrainingHistory.from_dict` (a resumed run continues the same history).

Files are written atomically (a temporary file in the same directory, then
``os.replace``): a run killed while writing leaves the previous complete file,
never half of one, which matters because the files are rewritten after every
epoch precisely so that an interrupted run keeps what it measured.
"""
import csv
import io
import json
import os
from pathlib import Path

__all__ = ["TrainingHistory", "EPOCH_COLUMNS", "write_json", "write_csv", "history_rows"]

#: The per-epoch fields, in the order the CSV file has them.
EPOCH_COLUMNS = ("epoch", "eta", "training_cost", "validation_accuracy", "test_accuracy",
                 "seconds", "examples_per_second")


class TrainingHistory:
    """What ``Network.SGD`` measured: one record per epoch plus the best result.

    ``epochs`` is a list of dicts with ``epoch``, ``eta`` (the learning rate
    used in that epoch), ``training_cost`` (mean over the epoch's
    mini-batches, regularisation included), ``validation_accuracy``,
    ``test_accuracy``, ``seconds`` and ``examples_per_second`` (training
    only).  ``best_validation_accuracy``, ``best_epoch``, ``best_iteration``
    and ``test_accuracy`` (the test accuracy at the best validation epoch)
    summarise them as network3 printed them.  ``stop_reason`` says why
    training ended before ``epochs`` (None if it did not), ``restored_epoch``
    which epoch's parameters ``restore_best`` put back, and ``resumed_at``
    the epochs at which a run continued from a checkpoint.
    """

    def __init__(self, hyperparameters):
        self.hyperparameters = dict(hyperparameters)
        self.epochs = []
        self.best_validation_accuracy = None
        self.best_epoch = None
        self.best_iteration = None
        self.test_accuracy = None
        self.compile_seconds = None
        self.stop_reason = None
        self.restored_epoch = None
        self.resumed_at = []

    _FIELDS = ("best_validation_accuracy", "best_epoch", "best_iteration", "test_accuracy",
               "compile_seconds", "stop_reason", "restored_epoch")

    def to_dict(self):
        out = {"hyperparameters": self.hyperparameters, "epochs": self.epochs}
        out.update((name, getattr(self, name)) for name in self._FIELDS)
        out["resumed_at"] = self.resumed_at
        return out

    @classmethod
    def from_dict(cls, d):
        """The inverse of :meth:`to_dict` (used to resume from a checkpoint)."""
        history = cls(d.get("hyperparameters", {}))
        history.epochs = [dict(e) for e in d.get("epochs", [])]
        for name in cls._FIELDS:
            setattr(history, name, d.get(name))
        history.resumed_at = list(d.get("resumed_at", []))
        return history

    def save(self, path):
        """Write ``<path>.json`` (everything) and ``<path>.csv`` (the epochs).

        A ``.json`` or ``.csv`` suffix on ``path`` is replaced, so
        ``save("runs/a/history")`` and ``save("runs/a/history.json")`` both
        write ``runs/a/history.json`` and ``runs/a/history.csv``.
        """
        stem = _stem(path)
        write_json(stem.with_suffix(".json"), self.to_dict())
        write_csv(stem.with_suffix(".csv"), history_rows(self))
        return stem.with_suffix(".json"), stem.with_suffix(".csv")

    def __repr__(self):
        return (f"TrainingHistory({len(self.epochs)} epochs, best validation "
                f"{self.best_validation_accuracy}, test {self.test_accuracy})")


def _stem(path):
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".json", ".csv") else path


def history_rows(history, run=None):
    """The epoch records of ``history`` (a TrainingHistory or its dict) as CSV rows.

    With ``run`` set, each row starts with a ``run`` column (the CLI writes
    the members of an ensemble into one file).
    """
    epochs = history.epochs if isinstance(history, TrainingHistory) else history["epochs"]
    rows = []
    for record in epochs:
        row = {} if run is None else {"run": run}
        row.update((c, record.get(c)) for c in EPOCH_COLUMNS)
        rows.append(row)
    return rows


def _atomic_write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, payload):
    """Write ``payload`` as indented JSON, atomically."""
    _atomic_write(path, json.dumps(payload, indent=2))


def write_csv(path, rows, columns=None):
    """Write dict ``rows`` as CSV with a header, atomically; None becomes an empty cell.

    Floats are written with ``repr`` precision (Python's ``csv`` default), so
    the file reads back to the very values in the JSON history.
    """
    if columns is None:
        columns = list(rows[0]) if rows else list(EPOCH_COLUMNS)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    _atomic_write(path, buf.getvalue())

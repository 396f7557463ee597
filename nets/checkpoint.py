"""Checkpoints: everything needed to continue training exactly where it stopped.

An interrupted run that resumes from its checkpoint must end with the very
parameters, bit for bit, of a run that was never interrupted.  Training here
is deterministic given its state, so the checkpoint holds the whole state:

* the parameters (every ``w`` and ``b``, in ``net.params`` order);
* the optimizer state: the momentum velocities, the learning-rate shared
  variable's value, and the state of every random stream the training graph
  draws from (the dropout masks -- without them a resumed run would draw the
  masks of epoch 0 again);
* the epoch counter and the history (early stopping and a plateau schedule
  are recomputed from the history, so they need nothing else);
* the best parameters so far, when ``restore_best`` keeps them.

The file is one NumPy ``.npz`` of named arrays plus the metadata as a JSON
document stored in the archive as bytes (key ``__meta__``).  No pickle: the
file can be read with ``np.load(path, allow_pickle=False)`` by any version
of this code, inspected by hand, and loading it cannot run code.  It is
written to a temporary file in the same directory, flushed to disk, then
moved over the old one with ``os.replace``, so a crash while saving leaves
the previous checkpoint intact.
"""
import json
import os
from pathlib import Path

import numpy as np

import symbolic as S
from symbolic.graph import ancestors

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "random_states", "param_labels"]

FORMAT = "nets-checkpoint"
VERSION = 1
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint file cannot be read, or does not fit the network it is loaded into."""


def param_labels(net):
    """A readable name per parameter, in ``net.params`` order: ``layer 0 (ConvPoolLayer) w``."""
    return [f"layer {k} ({type(layer).__name__}) {p.name or 'param'}"
            for k, layer in enumerate(net.layers) for p in layer.params]


def random_states(net):
    """The random-stream states the network's training path draws from, in layer order.

    They are the shared variables with a ``default_update`` (the dropout
    masks' streams) among the ancestors of each layer's dropout output.
    Finding them in the graph, rather than asking the layers, also covers
    layers written by users.
    """
    found, seen = [], set()
    for layer in net.layers:
        out = getattr(layer, "output_dropout", None)
        if out is None:
            continue
        for v in reversed(ancestors([out])):
            if isinstance(v, S.SharedVariable) and v.default_update is not None \
                    and id(v) not in seen:
                seen.add(id(v))
                found.append(v)
    return found


def _key(kind, k):
    return f"{kind}/{k:04d}"


def save_checkpoint(path, net, *, history, eta, velocities=(), best_params=None, extra=None):
    """Write the training state of ``net`` to ``path`` atomically; return the path.

    ``eta`` is the learning-rate shared variable, ``velocities`` the momentum
    shared variables (empty without momentum), ``best_params`` a list of
    arrays or None, ``history`` the TrainingHistory (its length is the
    number of completed epochs).
    """
    path = Path(path)
    arrays = {"eta": np.asarray(eta.get_value())}
    for k, p in enumerate(net.params):
        arrays[_key("param", k)] = p.get_value()
    for k, v in enumerate(velocities):
        arrays[_key("velocity", k)] = v.get_value()
    states = random_states(net)
    for k, s in enumerate(states):
        arrays[_key("random_state", k)] = s.get_value()
    if best_params is not None:
        for k, value in enumerate(best_params):
            arrays[_key("best", k)] = np.asarray(value)
    meta = {
        "format": FORMAT, "version": VERSION,
        "epochs_completed": len(history.epochs),
        "params": [{"label": label, "shape": list(p.get_value(borrow=True).shape),
                    "dtype": p.dtype} for label, p in zip(param_labels(net), net.params)],
        "n_velocities": len(velocities),
        "n_random_states": len(states),
        "has_best": best_params is not None,
        "history": history.to_dict(),
        "extra": extra or {},
    }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class Checkpoint:
    """A checkpoint read back: ``meta`` (the JSON document) and the named arrays."""

    def __init__(self, path, meta, arrays):
        self.path, self.meta, self.arrays = Path(path), meta, arrays

    @property
    def epochs_completed(self):
        return int(self.meta["epochs_completed"])

    @property
    def history(self):
        from .history import TrainingHistory
        return TrainingHistory.from_dict(self.meta["history"])

    @property
    def eta(self):
        return float(self.arrays["eta"])

    def _list(self, kind, n):
        return [self.arrays[_key(kind, k)] for k in range(n)]

    @property
    def params(self):
        return self._list("param", len(self.meta["params"]))

    @property
    def velocities(self):
        return self._list("velocity", self.meta["n_velocities"])

    @property
    def random_states(self):
        return self._list("random_state", self.meta["n_random_states"])

    @property
    def best_params(self):
        return self._list("best", len(self.meta["params"])) if self.meta["has_best"] else None

    def check_fits(self, net):
        """Raise CheckpointError unless ``net`` has the checkpoint's parameters and streams."""
        labels = param_labels(net)
        saved = self.meta["params"]
        if len(saved) != len(net.params):
            raise CheckpointError(
                f"{self.path}: the checkpoint holds {len(saved)} parameters, the network has "
                f"{len(net.params)}; it was saved from a different architecture")
        for label, p, entry in zip(labels, net.params, saved):
            shape = list(p.get_value(borrow=True).shape)
            if entry["shape"] != shape or entry["dtype"] != p.dtype:
                raise CheckpointError(
                    f"{self.path}: {label} is {p.dtype} {tuple(shape)} in the network but "
                    f"{entry['dtype']} {tuple(entry['shape'])} ({entry['label']}) in the checkpoint")
        n_states = len(random_states(net))
        if n_states != self.meta["n_random_states"]:
            raise CheckpointError(
                f"{self.path}: the network draws from {n_states} random streams (dropout), the "
                f"checkpoint saved {self.meta['n_random_states']}")

    def restore_into(self, net):
        """Set ``net``'s parameters and random-stream states to the saved ones."""
        self.check_fits(net)
        for p, value in zip(net.params, self.params):
            p.set_value(value)
        for s, value in zip(random_states(net), self.random_states):
            s.set_value(value)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (all arrays into memory)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from e
    if _META not in arrays:
        raise CheckpointError(f"{path}: not a nets checkpoint (no {_META} entry)")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: the checkpoint's metadata is corrupt ({e})") from e
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: format {meta.get('format')!r} version "
                              f"{meta.get('version')!r}, expected {FORMAT!r} version {VERSION}")
    return Checkpoint(path, meta, arrays)

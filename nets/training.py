"""The training loop behind ``Network.SGD``: network3's, plus opt-in extras.

With only network3's arguments the loop is network3's: the same compiled
functions, the same in-order mini-batches, the same printed lines, the same
numbers (bit for bit: the learning rate now lives in a shared variable
rather than a constant, which the compiler turns into the same update).
Everything else is off unless asked for:

* ``momentum``: classic momentum (chapter 3 of the book), ``v <- mu*v -
  eta*grad`` and ``w <- w + v``, the velocities being shared variables
  updated by the same compiled call;
* ``eta`` may be a schedule (a callable ``epoch -> eta``, see
  :mod:`nets.schedules`) -- its value is written into the learning-rate
  shared variable before each epoch, so the training function is compiled
  once whatever the schedule does;
* ``patience``: early stopping on validation accuracy, and ``restore_best``
  to end with the parameters of the best validation epoch;
* ``progress``: a per-epoch progress bar on stderr (:mod:`nets.progress`);
* ``checkpoint``: the whole training state saved after every epoch, and
  training resumed from it when the file exists (:mod:`nets.checkpoint`);
* ``history_path``: the history written as JSON and CSV after every epoch.

Decisions that depend on what happened so far (early stopping, a plateau
schedule) are computed from the history, never from counters kept on the
side, so a run resumed from a checkpoint takes exactly the decisions the
uninterrupted run would have taken.
"""
import math
import time
import warnings
from pathlib import Path

import numpy as np

import symbolic as S

from .checkpoint import load_checkpoint, save_checkpoint
from .history import TrainingHistory
from .progress import ProgressBar, progress_enabled
from .schedules import describe_eta, eta_at

__all__ = ["EarlyStopping", "Trainer", "sgd"]


class EarlyStopping:
    """Stop when the validation accuracy has not improved for ``patience`` epochs.

    "Improved" means strictly above the best accuracy so far by more than
    ``min_delta`` (a plateau of equal accuracies is no improvement; this is
    the book's "no-improvement-in-n" rule).  The decision is a function of
    the list of validation accuracies alone, so it needs no state.
    """

    def __init__(self, patience, min_delta=0.0):
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise ValueError(f"patience must be a positive number of epochs, got {patience!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)

    def epochs_without_improvement(self, accuracies):
        best, waited = -math.inf, 0
        for acc in accuracies:
            if acc > best + self.min_delta:
                best, waited = acc, 0
            else:
                waited += 1
        return waited

    def should_stop(self, accuracies):
        """A reason (str) to stop after these epochs, or None to go on."""
        waited = self.epochs_without_improvement(accuracies)
        if waited >= self.patience:
            return (f"no improvement of the validation accuracy in {waited} epochs "
                    f"(patience={self.patience})")
        return None


def _floatx_scalar(value):
    return np.asarray(value, dtype=S.config.floatX)


class Trainer:
    """One call of ``Network.SGD``: checks, compiled functions, the epoch loop.

    Kept as an object so that each step is a method of a few lines; ``run()``
    returns the TrainingHistory.  After ``run()``, ``eta`` is the learning
    rate shared variable and ``velocities`` the momentum shared variables
    (empty without momentum), for inspection.
    """

    def __init__(self, net, training_data, epochs, mini_batch_size, eta, validation_data, test_data,
                 lmbda=0.0, verbose=True, on_epoch=None, momentum=0.0, patience=None,
                 restore_best=False, progress=False, checkpoint=None, history_path=None):
        if int(mini_batch_size) != net.mini_batch_size:
            raise ValueError(f"SGD: mini_batch_size={mini_batch_size} differs from the "
                             f"{net.mini_batch_size} the network was built with; layers reshape "
                             f"their input to the build-time size")
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.early_stopping = EarlyStopping(patience) if patience is not None else None
        self.net, self.epochs, self.eta_spec, self.lmbda = net, int(epochs), eta, lmbda
        eta_at(eta, 0)  # a bad learning rate or schedule fails before compiling
        self.verbose, self.on_epoch = verbose, on_epoch
        self.restore_best = bool(restore_best)
        self.show_progress = progress_enabled(progress, verbose)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.history_path = history_path
        self.bar = None

        net._check_data(training_data, "training_data")
        net._check_data(validation_data, "validation_data")
        if test_data is not None:
            net._check_data(test_data, "test_data")
        self.training_data, self.validation_data, self.test_data = \
            training_data, validation_data, test_data
        self.num_training_batches = net._num_batches(training_data, "training_data")
        self.num_validation_batches = net._num_batches(validation_data, "validation_data")
        self.num_test_batches = (net._num_batches(test_data, "test_data")
                                 if test_data is not None else 0)
        from .network import size
        self.hyperparameters = {
            "epochs": self.epochs, "mini_batch_size": net.mini_batch_size,
            "eta": describe_eta(eta), "lmbda": float(lmbda),
            "training_examples": size(training_data),
            "training_batches": self.num_training_batches, "floatX": S.config.floatX,
            "momentum": self.momentum, "patience": patience, "restore_best": self.restore_best,
        }

    # ------------------------------------------------------------ output

    def log(self, *args):
        if self.verbose:
            if self.bar is not None:
                self.bar.clear()
            print(*args)

    # ------------------------------------------------------------ compiling

    def compile(self):
        """Build the update rule and compile train / validate / test once."""
        net = self.net
        cost = net.cost(self.lmbda, self.num_training_batches)
        grads = S.grad(cost, net.params)
        self.eta = S.shared(_floatx_scalar(eta_at(self.eta_spec, 0)), name="eta")
        self.velocities = []
        if self.momentum:
            updates = []
            for p, g in zip(net.params, grads):
                v = S.shared(np.zeros_like(p.get_value(borrow=True)), name=f"velocity_{p.name}")
                self.velocities.append(v)
                # Both updates read the old values (updates are simultaneous),
                # so the parameter step repeats the new velocity's expression.
                step = self.momentum * v - self.eta * g
                updates += [(v, step), (p, p + step)]
        else:
            updates = [(p, p - self.eta * g) for p, g in zip(net.params, grads)]
        i = S.lscalar("i")
        self.train_mb = S.function([i], cost, updates=updates,
                                   givens=net._batch_givens(self.training_data, i), name="train_mb")
        self.validate_mb_accuracy = net.accuracy_function(self.validation_data)
        self.test_mb_accuracy = None
        if self.test_data is not None:
            self.test_mb_accuracy = net.accuracy_function(self.test_data)
            net.test_mb_predictions = net.predictions_function(self.test_data[0])

    # ------------------------------------------------------------ resuming

    def resume(self, history):
        """Load the checkpoint if there is one; return (history, first epoch to train)."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return history, 0
        ck = load_checkpoint(self.checkpoint)
        ck.restore_into(self.net)
        saved = ck.history
        changed = {k: (saved.hyperparameters.get(k), v) for k, v in self.hyperparameters.items()
                   if k != "epochs" and saved.hyperparameters.get(k) != v}
        if changed:
            warnings.warn(f"resuming from {self.checkpoint} with different settings (saved, now): "
                          + ", ".join(f"{k}={a!r}, {b!r}" for k, (a, b) in changed.items()),
                          stacklevel=4)
        if self.velocities:
            saved_v = ck.velocities
            if len(saved_v) == len(self.velocities):
                for v, value in zip(self.velocities, saved_v):
                    v.set_value(value)
            else:
                warnings.warn(f"{self.checkpoint} holds no momentum velocities; they start at zero",
                              stacklevel=4)
        self.eta.set_value(_floatx_scalar(ck.eta))
        if self.restore_best:
            self.best_params = ck.best_params
            if self.best_params is None and saved.best_epoch is not None:
                if saved.best_epoch == ck.epochs_completed - 1:
                    self.best_params = [p.get_value() for p in self.net.params]
                else:
                    warnings.warn(f"{self.checkpoint} was saved without restore_best: the best "
                                  f"parameters so far (epoch {saved.best_epoch}) are not in it",
                                  stacklevel=4)
        saved.hyperparameters = dict(self.hyperparameters)
        saved.resumed_at.append(ck.epochs_completed)
        self.log(f"Resuming from {self.checkpoint} after {ck.epochs_completed} epochs")
        return saved, ck.epochs_completed

    # ------------------------------------------------------------ the loop

    def stop_reason(self, history, epoch):
        """Why training should not run ``epoch`` (None: it should)."""
        if self.early_stopping is not None:
            reason = self.early_stopping.should_stop(
                [e["validation_accuracy"] for e in history.epochs])
            if reason:
                return reason
        should_stop = getattr(self.eta_spec, "should_stop", None)
        return should_stop(epoch) if should_stop is not None else None

    def train_epoch(self, epoch):
        """Run every training mini-batch once, in order; return the costs."""
        n = self.num_training_batches
        costs = np.empty(n)
        if self.show_progress:
            self.bar = ProgressBar(n, batch_size=self.net.mini_batch_size, label=f"Epoch {epoch}")
        for minibatch_index in range(n):
            iteration = n * epoch + minibatch_index
            if iteration % 1000 == 0:
                self.log(f"Training mini-batch number {iteration}")
            costs[minibatch_index] = self.train_mb(minibatch_index)
            if self.bar is not None:
                self.bar.update(minibatch_index + 1)
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return costs

    def evaluate(self):
        validation_accuracy = float(np.mean(
            [self.validate_mb_accuracy(j) for j in range(self.num_validation_batches)]))
        test_accuracy = None
        if self.test_mb_accuracy is not None:
            test_accuracy = float(np.mean(
                [self.test_mb_accuracy(j) for j in range(self.num_test_batches)]))
        return validation_accuracy, test_accuracy

    def save(self, history):
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, self.net, history=history, eta=self.eta,
                            velocities=self.velocities,
                            best_params=self.best_params if self.restore_best else None)
        if self.history_path is not None:
            history.save(self.history_path)

    def run(self):
        t0 = time.perf_counter()
        self.compile()
        compile_seconds = time.perf_counter() - t0
        self.best_params = None
        history, start = self.resume(TrainingHistory(self.hyperparameters))
        history.compile_seconds = compile_seconds
        if hasattr(self.eta_spec, "reset"):
            self.eta_spec.reset()
        observe = getattr(self.eta_spec, "observe", None)
        if observe is not None:  # replay the epochs already trained: the schedule is where it was
            for e in history.epochs:
                observe(e["epoch"], e["validation_accuracy"])
        best_validation_accuracy = (history.best_validation_accuracy
                                    if history.best_validation_accuracy is not None else -1.0)

        for epoch in range(start, self.epochs):
            reason = self.stop_reason(history, epoch)
            if reason:
                history.stop_reason = reason
                self.log(f"Stopping before epoch {epoch}: {reason}.")
                break
            eta = eta_at(self.eta_spec, epoch)
            self.eta.set_value(_floatx_scalar(eta))
            start_time = time.perf_counter()
            training_cost = float(np.mean(self.train_epoch(epoch)))
            train_seconds = time.perf_counter() - start_time
            if not math.isfinite(training_cost):
                self.log(f"Epoch {epoch}: the training cost is {training_cost}; eta={eta} may be "
                         f"too large")
            validation_accuracy, test_accuracy = self.evaluate()
            self.log(f"Epoch {epoch}: validation accuracy {validation_accuracy:.2%}")
            if validation_accuracy >= best_validation_accuracy:
                self.log("This is the best validation accuracy to date.")
                best_validation_accuracy = validation_accuracy
                history.best_validation_accuracy = validation_accuracy
                history.best_epoch = epoch
                history.best_iteration = self.num_training_batches * (epoch + 1) - 1
                history.test_accuracy = test_accuracy
                if test_accuracy is not None:
                    self.log(f"The corresponding test accuracy is {test_accuracy:.2%}")
                if self.restore_best:
                    self.best_params = [p.get_value() for p in self.net.params]
            history.epochs.append({
                "epoch": epoch, "eta": eta, "training_cost": training_cost,
                "validation_accuracy": validation_accuracy, "test_accuracy": test_accuracy,
                "seconds": time.perf_counter() - start_time,
                "examples_per_second": (self.num_training_batches * self.net.mini_batch_size
                                        / train_seconds if train_seconds > 0 else None),
            })
            if observe is not None:
                observe(epoch, validation_accuracy)
            self.save(history)
            if self.on_epoch is not None:
                self.on_epoch(history)

        if self.restore_best and self.best_params is not None:
            for p, value in zip(self.net.params, self.best_params):
                p.set_value(value)
            history.restored_epoch = history.best_epoch
            self.log(f"Restored the parameters of epoch {history.best_epoch}, the best "
                     f"validation epoch.")
            if self.history_path is not None:
                history.save(self.history_path)
        self.log("Finished training network.")
        if history.best_validation_accuracy is not None:
            self.log(f"Best validation accuracy of {history.best_validation_accuracy:.2%} obtained "
                     f"at iteration {history.best_iteration}")
            if history.test_accuracy is not None:
                self.log(f"Corresponding test accuracy of {history.test_accuracy:.2%}")
        return history


def sgd(net, *args, **kwargs):
    """``Network.SGD`` as a function: ``sgd(net, training_data, epochs, ...)``."""
    return Trainer(net, *args, **kwargs).run()

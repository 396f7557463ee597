"""Learning-rate schedules: the learning rate as a function of the epoch.

``Network.SGD`` accepts for ``eta`` a number or any callable ``epoch -> eta``
(epochs counted from 0).  The trainer evaluates it once at the start of each
epoch and writes the value into a shared variable that the compiled update
expression reads, so a changing learning rate never recompiles the training
function.

A schedule may also react to what training measured.  The protocol, all of
it optional, is three methods the trainer calls when they exist:

* ``reset()`` before training starts (a schedule object reused for a second
  network forgets the first one);
* ``observe(epoch, validation_accuracy)`` after every epoch -- and, when a
  run resumes from a checkpoint, once for every epoch already in the
  history, in order, so the schedule is in the state it had when the run was
  interrupted without the checkpoint having to know about it;
* ``should_stop(epoch)`` before each epoch: a string (the reason) ends
  training there, as the book's variable schedule does once the learning
  rate has fallen far enough.

The ready-made schedules keep no hidden state beyond the observations, and
compute the rate of epoch ``e`` from the observations of epochs before
``e`` only, so replaying observations is idempotent and a resumed run gets
exactly the rates of an uninterrupted one.
"""
import math
import types

__all__ = ["constant", "step_decay", "halve_on_plateau", "Constant", "StepDecay",
           "HalveOnPlateau", "describe_eta", "eta_at"]


def _positive(name, value):
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


class Constant:
    """The same rate every epoch (what a plain number for ``eta`` means)."""

    def __init__(self, eta):
        self.eta = float(eta)

    def __call__(self, epoch):
        return self.eta

    def __repr__(self):
        return f"constant({self.eta!r})"


def constant(eta):
    return Constant(eta)


class StepDecay:
    """``eta0 * factor ** (epoch // every)``: multiply by ``factor`` every ``every`` epochs."""

    def __init__(self, eta0, factor=0.5, every=10):
        self.eta0 = _positive("step_decay: eta0", eta0)
        self.factor = _positive("step_decay: factor", factor)
        self.every = int(every)
        if self.every < 1:
            raise ValueError(f"step_decay: every must be a positive number of epochs, got {every!r}")

    def __call__(self, epoch):
        return self.eta0 * self.factor ** (int(epoch) // self.every)

    def __repr__(self):
        return f"step_decay(eta0={self.eta0!r}, factor={self.factor!r}, every={self.every})"


def step_decay(eta0, factor=0.5, every=10):
    """A schedule multiplying the rate by ``factor`` every ``every`` epochs.

    ``step_decay(0.1, 0.5, 10)`` trains epochs 0-9 at 0.1, 10-19 at 0.05, and so on.
    """
    return StepDecay(eta0, factor, every)


class HalveOnPlateau:
    """Chapter 3's variable learning rate: reduce it when validation stops improving.

    The book: "hold the learning rate constant until the validation accuracy
    starts to get worse. Then decrease the learning rate by some amount, say
    a factor of two ... terminate when the learning rate has dropped to 1/128
    of its original value" (with the "no-improvement-in-ten" rule deciding
    when accuracy has stopped improving).

    Epoch ``e`` trains at ``eta0 * factor ** k`` where ``k`` counts how many
    times, in epochs before ``e``, ``patience`` epochs in a row passed without
    the validation accuracy *strictly* exceeding the best so far (the count
    starts again after each reduction).  ``should_stop`` asks training to end
    once the rate has fallen to ``stop_at * eta0`` or below (``stop_at=None``
    never stops).
    """

    def __init__(self, eta0, patience=10, factor=0.5, stop_at=1 / 128):
        self.eta0 = _positive("halve_on_plateau: eta0", eta0)
        self.factor = _positive("halve_on_plateau: factor", factor)
        if self.factor >= 1:
            raise ValueError(f"halve_on_plateau: factor must be below 1, got {factor!r}")
        self.patience = int(patience)
        if self.patience < 1:
            raise ValueError(f"halve_on_plateau: patience must be at least 1, got {patience!r}")
        self.stop_at = None if stop_at is None else _positive("halve_on_plateau: stop_at", stop_at)
        self.reset()

    def reset(self):
        self.accuracies = {}  # epoch -> validation accuracy

    def observe(self, epoch, validation_accuracy):
        self.accuracies[int(epoch)] = float(validation_accuracy)

    def reductions(self, epoch):
        """How many times the rate has been reduced before ``epoch``."""
        best, waited, k = -math.inf, 0, 0
        for e in sorted(self.accuracies):
            if e >= epoch:
                break
            if self.accuracies[e] > best:
                best, waited = self.accuracies[e], 0
            else:
                waited += 1
                if waited >= self.patience:
                    k, waited = k + 1, 0
        return k

    def __call__(self, epoch):
        return self.eta0 * self.factor ** self.reductions(epoch)

    def should_stop(self, epoch):
        if self.stop_at is None:
            return None
        # A relative tolerance so that 0.5 ** 7 == 1/128 counts as reached.
        if self(epoch) <= self.eta0 * self.stop_at * (1 + 1e-9):
            return (f"the learning rate fell to {self(epoch):.3g}, {self.stop_at:.3g} of its "
                    f"initial {self.eta0:g} (halve_on_plateau)")
        return None

    def __repr__(self):
        return (f"halve_on_plateau(eta0={self.eta0!r}, patience={self.patience}, "
                f"factor={self.factor!r}, stop_at={self.stop_at!r})")


def halve_on_plateau(eta0, patience=10, factor=0.5, stop_at=1 / 128):
    """The book's schedule: halve ``eta`` after ``patience`` epochs without a new best
    validation accuracy; stop once it is ``stop_at`` (1/128) of ``eta0``."""
    return HalveOnPlateau(eta0, patience, factor, stop_at)


def eta_at(eta, epoch):
    """The learning rate ``eta`` (a number or a schedule) gives for ``epoch``, checked."""
    value = eta(epoch) if callable(eta) else eta
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"eta: the schedule returned {value!r} for epoch {epoch}, not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"eta: the learning rate for epoch {epoch} is {value!r}; it must be a "
                         f"finite number >= 0")
    return value


def describe_eta(eta):
    """What the history records as the ``eta`` hyperparameter: the number, or the
    schedule's repr (the ready-made ones print their arguments)."""
    if not callable(eta):
        return float(eta)
    if isinstance(eta, types.FunctionType):  # its repr would hold a memory address
        return eta.__qualname__
    return repr(eta)

"""Ensembles of trained networks that vote, as in the book's final experiment.

Chapter 6 trains five networks and lets them vote on each test image: the
label most of them predict wins.  With an odd number of voters and ten
classes, ties still happen (2-2-1), and how they are broken changes the
accuracy in the last decimal the book reports, so the rule is explicit:

**A tie between labels with the same number of votes goes to the label
with the largest softmax probability summed over all members** (members that
voted for something else included: their second choice is information
too).  Only if those sums are exactly equal as well does the lowest label
win.  :func:`vote` without probabilities breaks every tie to the lowest
label (the previous CLI behaviour).
"""
import numpy as np

import symbolic as S

__all__ = ["Ensemble", "vote"]


def vote(labels, probabilities=None, n_classes=None):
    """Majority vote per example.

    ``labels`` is ``(members, n)`` integer predictions; ``probabilities``
    (optional) is ``(members, n, classes)``, each member's softmax output.
    Returns ``n`` labels: per example the most voted label, ties broken by
    the summed probabilities, then by the lowest label (see the module
    docstring).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] == 0:
        raise ValueError(f"vote: labels must be (members, examples) with at least one member, "
                         f"got shape {labels.shape}")
    members, n = labels.shape
    if probabilities is not None:
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.shape[:2] != labels.shape:
            raise ValueError(f"vote: probabilities {probabilities.shape} do not match labels "
                             f"{labels.shape}")
        n_classes = probabilities.shape[2]
    elif n_classes is None:
        n_classes = int(labels.max()) + 1 if labels.size else 1
    counts = np.zeros((n, n_classes), dtype=np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(n), labels.shape), labels), 1)
    tied = counts == counts.max(axis=1, keepdims=True)
    if probabilities is None:
        return np.argmax(tied, axis=1)  # the first (lowest) of the most voted labels
    score = np.where(tied, probabilities.sum(axis=0), -np.inf)
    return np.argmax(score, axis=1)     # np.argmax: the lowest label among equal sums


class Ensemble:
    """Networks voting on every example: ``Ensemble([net1, net2, ...]).accuracy(test_data)``.

    Each member classifies ``n // its mini_batch_size * its mini_batch_size``
    examples (network3 drops the remainder); the ensemble scores the first
    ``n_scored`` examples that every member classified.  The members may
    differ in architecture and mini-batch size, but must have the same
    number of classes.
    """

    def __init__(self, networks):
        self.networks = list(networks)
        if not self.networks:
            raise ValueError("Ensemble: give at least one network")
        classes = {net.layers[-1].n_out for net in self.networks}
        if len(classes) != 1:
            raise ValueError(f"Ensemble: the members have different numbers of classes {classes}")
        self.n_classes = classes.pop()

    def __len__(self):
        return len(self.networks)

    @staticmethod
    def _member_outputs(net, data_x):
        """One member's (labels, probabilities) for its full mini-batches of ``data_x``."""
        net._check_data((data_x, None), "data_x")
        b = net.mini_batch_size
        i = S.lscalar("i")
        f = S.function([i], [net.layers[-1].y_out, net.output],
                       givens={net.x: data_x[i * b:(i + 1) * b]})
        batches = [f(j) for j in range(net._num_batches((data_x, None), "data_x"))]
        return (np.concatenate([np.asarray(y) for y, _ in batches]),
                np.concatenate([np.asarray(p) for _, p in batches]))

    def member_outputs(self, data_x):
        """``(labels, probabilities)`` of every member, ``(members, n)`` and
        ``(members, n, classes)``, cut to the examples all members classified."""
        outs = [self._member_outputs(net, data_x) for net in self.networks]
        n = min(len(labels) for labels, _ in outs)
        return (np.stack([labels[:n] for labels, _ in outs]),
                np.stack([probs[:n] for _, probs in outs]))

    def predict(self, data_x):
        """The voted label of each example all members classified."""
        labels, probabilities = self.member_outputs(data_x)
        return vote(labels, probabilities)

    def accuracy(self, data):
        """Fraction of the scored examples of ``(shared_x, shared_y)`` the vote gets right."""
        predicted = self.predict(data[0])
        truth = data[1].get_value(borrow=True)[:len(predicted)]
        return float(np.mean(predicted == truth))

    def member_accuracies(self, data):
        """Each member's own accuracy on the same examples the vote is scored on."""
        labels, _ = self.member_outputs(data[0])
        truth = data[1].get_value(borrow=True)[:labels.shape[1]]
        return [float(np.mean(row == truth)) for row in labels]

"""Neural-network ops: softmax, log-softmax and the cross-entropies."""
import numpy as np

from ..graph import Apply, Op
from ..types import FLOAT_DTYPES, float_dtype_for
from ..variable import as_tensor_variable
from .elemwise import cast
from . import math as M
from .reduce import sum as _sum
from .shape import arange, shape


def _float_input(x, what):
    x = as_tensor_variable(x)
    if x.ndim < 1:
        raise TypeError(f"{what} needs at least a 1-d input, got a scalar")
    return cast(x, float_dtype_for(x.dtype))


class Softmax(Op):
    """``exp(x) / sum(exp(x))`` along the last axis, computed without overflow."""

    def make_node(self, x):
        x = _float_input(x, "softmax")
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        x, = inputs
        e = np.exp(x - (np.max(x, axis=-1, keepdims=True) if x.shape[-1] else 0))
        return [(e / e.sum(axis=-1, keepdims=True)).astype(x.dtype, copy=False)]

    def grad(self, inputs, output_grads):
        sm = self(inputs[0])
        g = output_grads[0]
        return [M.mul(sm, M.sub(g, _sum(M.mul(g, sm), axis=-1, keepdims=True)))]


class LogSoftmax(Op):
    """``x - logsumexp(x)`` along the last axis."""

    def make_node(self, x):
        x = _float_input(x, "log_softmax")
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        x, = inputs
        if not x.shape[-1]:
            return [x.copy()]
        m = np.max(x, axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        z = x - m
        return [(z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(x.dtype, copy=False)]

    def grad(self, inputs, output_grads):
        g = output_grads[0]
        sm = softmax(inputs[0])
        return [M.sub(g, M.mul(sm, _sum(g, axis=-1, keepdims=True)))]


_softmax, _log_softmax = Softmax(), LogSoftmax()


def softmax(x, axis=-1):
    """Row-wise softmax (over the last axis, as Theano's ``softmax``)."""
    if axis not in (-1, as_tensor_variable(x).ndim - 1):
        raise ValueError(f"softmax: only the last axis is supported, got axis={axis}")
    return _softmax(x)


def log_softmax(x, axis=-1):
    if axis not in (-1, as_tensor_variable(x).ndim - 1):
        raise ValueError(f"log_softmax: only the last axis is supported, got axis={axis}")
    return _log_softmax(x)


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy per row: ``-log(coding[i, true[i]])`` for integer labels,
    ``-sum(true * log(coding), axis=-1)`` for a distribution."""
    coding = as_tensor_variable(coding_dist)
    true = as_tensor_variable(true_dist)
    if true.ndim == coding.ndim:  # a distribution (one-hot rows too, of any dtype)
        return M.neg(_sum(M.mul(true, M.log(coding)), axis=-1))
    if true.dtype in FLOAT_DTYPES or coding.ndim != 2 or true.ndim != 1:
        raise TypeError(f"categorical_crossentropy: expected a matrix of probabilities and a "
                        f"vector of integer labels or a matrix of the same ndim, got {coding.type} "
                        f"and {true.type}")
    return M.neg(M.log(coding[arange(shape(coding)[0]), true]))


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))``."""
    output, target = as_tensor_variable(output), as_tensor_variable(target)
    return M.neg(M.add(M.mul(target, M.log(output)), M.mul(M.sub(1, target), M.log(M.sub(1, output)))))


def softmax_cross_entropy(logits, labels):
    """``categorical_crossentropy(softmax(logits), labels)`` computed stably."""
    logits, labels = as_tensor_variable(logits), as_tensor_variable(labels)
    lsm = log_softmax(logits)
    if labels.ndim == logits.ndim:
        return M.neg(_sum(M.mul(labels, lsm), axis=-1))
    if labels.dtype in FLOAT_DTYPES or logits.ndim != 2 or labels.ndim != 1:
        raise TypeError(f"softmax_cross_entropy: expected a matrix of logits and a vector of "
                        f"integer labels or a matrix of the same ndim, got {logits.type} and "
                        f"{labels.type}")
    return M.neg(lsm[arange(shape(logits)[0]), labels])


def sigmoid_binary_crossentropy(logits, target):
    """``binary_crossentropy(sigmoid(logits), target)`` computed stably."""
    logits, target = as_tensor_variable(logits), as_tensor_variable(target)
    return M.sub(M.softplus(logits), M.mul(target, logits))


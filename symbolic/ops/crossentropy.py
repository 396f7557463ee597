"""The fused softmax cross-entropy and its gradient.

``-log_softmax(z)[arange(k), y]`` (network3's cost) is three ops and a
scattered gradient when written out; the stabilizer turns it into these two
row kernels.  The row index follows NumPy exactly: ``arange(k)`` broadcast
against ``y`` (normally both have one entry per row of ``z``).
"""
import numpy as np

from ..graph import Apply, GradientUndefined, Op
from ..types import FLOAT_DTYPES, INT_DTYPES, TensorType
from ..variable import as_tensor_variable


def _rows_and_labels(k, y):
    return np.broadcast_arrays(np.arange(int(k)), y)


def _log_softmax_rows(z):
    if z.shape[1] == 0:
        return z.copy()
    m = np.max(z, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    s = z - m
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def _check(z, y, k, what):
    z, y, k = as_tensor_variable(z), as_tensor_variable(y), as_tensor_variable(k)
    if z.ndim != 2 or z.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what}: logits must be a float matrix, got {z.type}")
    if y.ndim != 1 or y.dtype not in INT_DTYPES:
        raise TypeError(f"{what}: labels must be an integer vector, got {y.type}")
    if k.ndim != 0 or k.dtype not in INT_DTYPES:
        raise TypeError(f"{what}: the row count must be an integer scalar, got {k.type}")
    return z, y, k


class SoftmaxCrossEntropy(Op):
    """``nll[i] = -log_softmax(z)[r_i, y_i]`` with ``(r, y) = broadcast(arange(k), y)``."""

    def make_node(self, z, y, k):
        z, y, k = _check(z, y, k, "SoftmaxCrossEntropy")
        return Apply(self, [z, y, k], [TensorType(z.dtype, (None,))])

    def perform(self, node, inputs):
        z, y, k = inputs
        rows, labels = _rows_and_labels(k, y)
        lsm = _log_softmax_rows(z[:int(k)] if int(k) <= len(z) else z)
        return [(-lsm[rows, labels]).astype(z.dtype, copy=False)]

    def grad(self, inputs, output_grads):
        z, y, k = inputs
        return [SoftmaxCrossEntropyGrad()(output_grads[0], z, y, k), None, None]

    def connection_pattern(self, node):
        return [[True], [False], [False]]


class SoftmaxCrossEntropyGrad(Op):
    """``dz[r_i] += dnll_i * (softmax(z[r_i]) - onehot(y_i))``; rows never indexed get 0."""

    def make_node(self, dnll, z, y, k):
        z, y, k = _check(z, y, k, "SoftmaxCrossEntropyGrad")
        dnll = as_tensor_variable(dnll)
        if dnll.ndim > 1:
            raise TypeError(f"SoftmaxCrossEntropyGrad: dnll must be a vector, got {dnll.type}")
        return Apply(self, [dnll, z, y, k], [z.type])

    def perform(self, node, inputs):
        dnll, z, y, k = inputs
        rows, labels = _rows_and_labels(k, y)
        d = np.broadcast_to(dnll, rows.shape).astype(z.dtype)
        sm = np.exp(_log_softmax_rows(z))
        per_row = np.zeros(len(z), dtype=z.dtype)
        np.add.at(per_row, rows, d)
        dz = sm * per_row[:, None]
        np.add.at(dz, (rows, labels), -d)
        return [dz.astype(z.dtype, copy=False)]

    def grad(self, inputs, output_grads):
        raise GradientUndefined(self, where="the fused cross-entropy gradient appears only after "
                                            "rewriting; differentiate the graph you wrote instead")

    def connection_pattern(self, node):
        return [[True], [True], [False], [False]]

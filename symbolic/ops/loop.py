"""A loop over an index: the inner graph is evaluated once per ``i`` and stacked.

This is what ``jacobian`` (and so ``hessian``) need for outputs whose size is
only known at run time; it is a narrow form of Theano's ``scan``/``map``.
"""
import numpy as np

from ..graph import Apply, Constant, Op, graph_inputs, toposort
from ..types import TensorType
from ..variable import as_tensor_variable


def evaluate(outputs, values):
    """Evaluate a graph with the ops' reference meaning; ``values`` maps inputs to arrays."""
    env = {id(k): v for k, v in values.items()}
    for node in toposort(outputs, blockers=list(values)):
        args = [env[id(i)] if id(i) in env else i.data for i in node.inputs]
        for var, val in zip(node.outputs, node.op.perform(node, args)):
            env[id(var)] = val
    return [env[id(o)] if id(o) in env else o.data for o in outputs]


class MapIndex(Op):
    """``stack([inner(i) for i in range(n)])`` for an inner graph of one index variable."""

    __props__ = ("index", "inner")

    def __init__(self, index, inner, free):
        self.index, self.inner, self.free = index, inner, tuple(free)

    def make_node(self, n, *free):
        n = as_tensor_variable(n)
        return Apply(self, [n, *free], [TensorType(self.inner.dtype, (None,) + self.inner.type.shape)])

    def perform(self, node, inputs):
        n, *free = inputs
        rows = [evaluate([self.inner], {self.index: np.array(i, dtype="int64"),
                                         **dict(zip(self.free, free))})[0]
                for i in range(int(n))]
        if rows:
            return [np.stack(rows).astype(self.inner.dtype, copy=False)]
        shape = tuple(0 if s is None else s for s in self.inner.type.shape)
        return [np.zeros((0,) + shape, dtype=self.inner.dtype)]

    def connection_pattern(self, node):
        return [[False]] * len(node.inputs)

    def __str__(self):
        return "MapIndex"


def map_index(index, inner, n):
    """Stack ``inner`` evaluated at ``index = 0 .. n-1``."""
    free = [v for v in graph_inputs([inner]) if v is not index and not isinstance(v, Constant)]
    return MapIndex(index, inner, free)(n, *free)

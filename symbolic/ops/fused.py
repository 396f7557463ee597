"""A fused group of elementwise operations: one op, one loop over one iteration space.

The fusion rewrite builds these from maximal convex groups of ``Elemwise``
and ``Cast`` nodes.  Its program is a straight-line list of steps over
registers: registers ``0..n_inputs-1`` hold the inputs, each step appends
one.  This is the unit the native backends compile into a single kernel;
here ``perform`` gives its NumPy meaning by running the steps in order.
"""
import numpy as np

from ..graph import Apply, GradientUndefined, Op
from ..types import TensorType
from .elemwise import broadcast_static_shapes


class FusedElemwise(Op):
    """``steps``: tuples ``(scalar_op or "cast", argument registers, output dtype)``;
    ``outputs``: the registers returned, in order."""

    __props__ = ("steps", "outputs")

    def __init__(self, steps, outputs):
        self.steps, self.outputs = tuple(steps), tuple(outputs)

    def __str__(self):
        names = ["cast" if s[0] == "cast" else s[0].name for s in self.steps]
        return "Fused{" + ",".join(names) + "}"

    def make_node(self, *inputs):
        ndim = inputs[0].ndim
        if any(i.ndim != ndim for i in inputs):
            raise TypeError("FusedElemwise inputs must share their number of dimensions")
        # Each register has the broadcast shape of its own arguments, exactly as the
        # unfused node had: an exported intermediate keeps its (possibly smaller) shape.
        shapes = [i.type.shape for i in inputs]
        for _, args, _ in self.steps:
            shapes.append(broadcast_static_shapes([shapes[a] for a in args], str(self)))
        dtypes = [i.dtype for i in inputs] + [s[2] for s in self.steps]
        return Apply(self, list(inputs), [TensorType(dtypes[r], shapes[r]) for r in self.outputs])

    def perform(self, node, inputs):
        regs = list(inputs)
        for op, args, dtype in self.steps:
            vals = [regs[a] for a in args]
            result = vals[0].astype(dtype) if op == "cast" else op.impl(*vals)
            regs.append(np.asarray(result, dtype=dtype))
        return [regs[r] for r in self.outputs]

    def grad(self, inputs, output_grads):
        raise GradientUndefined(self, where="fusion runs after differentiation; take gradients "
                                            "of the unfused graph")


class FusedReduce(Op):
    """A reduction of a fused elementwise expression, in one pass: ``reduce(elemwise(...))``.

    Both parts keep their own meaning: the elementwise program of a one-output
    ``FusedElemwise`` and a ``Reduce`` op; this op only composes them, so that a
    backend can compute the reduction while it produces the values (``sum(x**2)``
    never stores ``x**2``).
    """

    __props__ = ("elemwise", "reduce")

    def __init__(self, elemwise, reduce):
        if len(elemwise.outputs) != 1:
            raise ValueError("FusedReduce needs a one-output elementwise program")
        self.elemwise, self.reduce = elemwise, reduce

    def __str__(self):
        return f"{self.reduce}{{{str(self.elemwise)}}}"

    def make_node(self, *inputs):
        inner = self.elemwise.make_node(*inputs).outputs[0]
        out = self.reduce.make_node(inner).outputs[0]
        return Apply(self, list(inputs), [out.type])

    def perform(self, node, inputs):
        values = self.elemwise.perform(None, inputs)
        return self.reduce.perform(node, values)

    def grad(self, inputs, output_grads):
        raise GradientUndefined(self, where="fusion runs after differentiation; take gradients "
                                            "of the unfused graph")

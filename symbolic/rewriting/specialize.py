"""Specialization: cheaper forms of general ops once the graph is canonical."""
from ..ops import math as M
from ..ops.elemwise import Elemwise, cast, Cast
from ..ops.nnet import LogSoftmax, Softmax
from ..ops.reduce import ArgReduce
from ..ops.subtensor import Subtensor
from .basic import is_constant_scalar
from .core import register



@register(Elemwise, phase="specialize")
def local_pow_specialize(node):
    """``x**2 -> sqr(x)``, ``x**0.5 -> sqrt(x)``, ``x**1 -> x``, ``x**-1 -> 1/x``."""
    if node.op != M.pow:
        return None
    x, p = node.inputs
    out = node.outputs[0]
    if x.type != out.type:
        return None
    if is_constant_scalar(p, 2):
        return [M.sqr(x)]
    if is_constant_scalar(p, 1):
        return [x]
    if is_constant_scalar(p, 0.5) and x.dtype.startswith("float"):
        return [M.sqrt(x)]
    if is_constant_scalar(p, -1) and x.dtype.startswith("float"):
        return [M.true_div(1, x)]
    return None


_MONOTONE = (M.exp, M.sigmoid, M.softplus, M.tanh)


@register(ArgReduce, phase="specialize")
def local_argmax_of_monotone(node):
    """argmax/argmin of softmax, log_softmax, or an increasing elementwise map -> of its input."""
    x, = node.inputs
    if x.owner is None:
        return None
    op = x.owner.op
    last_axis = node.op.axis == x.ndim - 1 or (node.op.axis is None and x.ndim == 1)
    if isinstance(op, (Softmax, LogSoftmax)) and last_axis:
        return [node.op(x.owner.inputs[0])]
    if isinstance(op, Elemwise) and op in _MONOTONE and x.owner.inputs[0].dtype == x.dtype:
        return [node.op(x.owner.inputs[0])]
    return None


@register(Subtensor, phase="specialize")
def local_subtensor_lift(node):
    """``f(y)[idx] -> f(y[idx])`` for casts and unary elementwise ops: compute only what is kept.

    network3 casts its whole 50,000-label vector on every mini-batch unless
    ``cast(y)[slice]`` becomes ``cast(y[slice])``.
    """
    x, *idx = node.inputs
    inner = x.owner
    if inner is None or len(inner.inputs) != 1:
        return None
    if isinstance(inner.op, Cast):
        return [cast(node.op(inner.inputs[0], *idx), inner.op.dtype)]
    if isinstance(inner.op, Elemwise) and inner.inputs[0].type.shape == x.type.shape:
        return [inner.op(node.op(inner.inputs[0], *idx))]
    return None


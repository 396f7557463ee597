"""Rewrites that every level wants: constant folding and removal of useless work."""
import numpy as np

from ..graph import Constant
from ..ops import math as M
from ..ops.elemwise import Cast, Elemwise, Unbroadcast
from ..ops.shape import DimShuffle, Reshape, Shape, dimshuffle
from ..types import TensorType
from ..variable import TensorConstant
from .core import register
from .shapes import same_shape, shape_root

# Folding larger results would bloat the graph with big constants (Theano skips Alloc too).
FOLD_MAX_SIZE = 1 << 12


def constant_value(v):
    """The NumPy value of a constant variable, else None."""
    return v.data if isinstance(v, Constant) else None


def is_constant_scalar(v, value):
    """True if ``v`` is a constant whose every element equals ``value``."""
    data = constant_value(v)
    return data is not None and data.size > 0 and bool(np.all(data == value))


@register(phase="canonicalize")
def constant_folding(node):
    """Evaluate nodes whose inputs are all constants."""
    if not node.inputs or not all(isinstance(i, Constant) for i in node.inputs):
        return None
    if getattr(node.op, "stateful", False):
        return None
    values = node.op.perform(node, [i.data for i in node.inputs])
    if any(np.size(v) > FOLD_MAX_SIZE for v in values):
        return None
    out = []
    for var, value in zip(node.outputs, values):
        arr = np.array(value, dtype=var.dtype)
        arr.setflags(write=False)
        out.append(TensorConstant(TensorType(var.dtype, arr.shape), arr))
    return out


@register(Shape, phase="canonicalize")
def static_shape(node):
    """``x.shape`` is a constant when ``x``'s static shape is fully known."""
    dims = node.inputs[0].type.shape
    if None in dims:
        return None
    arr = np.array(dims, dtype="int64").reshape(len(dims))
    arr.setflags(write=False)
    return [TensorConstant(TensorType("int64", arr.shape), arr)]


@register(DimShuffle, phase="canonicalize")
def merge_dimshuffles(node):
    """A dimshuffle of a dimshuffle is one dimshuffle; an identity one disappears."""
    x, = node.inputs
    order = node.op.new_order
    if order == tuple(range(x.ndim)):
        return [x]
    inner = x.owner
    if inner is None or not isinstance(inner.op, DimShuffle):
        return None
    composed = tuple(d if d == "x" else inner.op.new_order[d] for d in order)
    return [dimshuffle(inner.inputs[0], composed)]


@register(Reshape, phase="canonicalize")
def useless_reshape(node):
    """Reshape to the shape the input already has statically, or reshape of a reshape."""
    x, shape = node.inputs
    out = node.outputs[0]
    if x.type.shape == out.type.shape and None not in x.type.shape:
        return [x]
    if x.owner is not None and isinstance(x.owner.op, Reshape):
        return [Reshape(node.op.ndim)(x.owner.inputs[0], shape)]
    return None


@register(Cast, phase="canonicalize")
def useless_cast(node):
    x, = node.inputs
    if x.dtype == node.op.dtype:
        return [x]
    return None


def _same_type_as_output(x, node):
    """Replacing the output by ``x`` loses no broadcasting (a different static type would)."""
    return x.type == node.outputs[0].type


@register(Elemwise, phase="specialize")
@register(Elemwise, phase="canonicalize")
def remove_identity_arithmetic(node):
    """``x * 1``, ``x + 0``, ``x - 0``, ``x / 1``, ``--x`` -> ``x`` when no broadcasting is lost."""
    op = node.op
    if op == M.neg:
        inner = node.inputs[0].owner
        if inner is not None and inner.op == M.neg:
            return [inner.inputs[0]]
        return None
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    candidates = []
    if op == M.mul:
        candidates = [(a, b), (b, a)]
        unit = 1
    elif op == M.add:
        candidates = [(a, b), (b, a)]
        unit = 0
    elif op == M.sub:
        candidates = [(a, b)]
        unit = 0
    elif op == M.true_div:
        candidates = [(a, b)]
        unit = 1
    else:
        return None
    for keep, other in candidates:
        if is_constant_scalar(other, unit) and _same_type_as_output(keep, node):
            return [keep]
    return None


@register(Unbroadcast, phase="canonicalize")
def useless_unbroadcast(node):
    """Summing a gradient to its input's shape is a no-op when the shapes provably agree."""
    g, like = node.inputs
    if g.type == node.outputs[0].type and same_shape(g, like):
        return [g]
    return None


@register(Shape, phase="specialize")
def shape_of_shape_root(node):
    """``softmax(z).shape -> z.shape``: never compute a value only to read its shape."""
    x, = node.inputs
    root = shape_root(x)
    if root is x or root.ndim != x.ndim:
        return None
    return [Shape()(root)]

"""Proving two variables have the same run-time shape, without a shape feature on every node.

``shape_root(v)`` follows ops that keep their input's shape (unary and
same-shape elementwise ops, softmax, casts, ``IncSubtensor``, ``Alloc`` to
another variable's shape...) back to the variable that defines the shape.
Two variables with the same root, or equal fully static shapes, have equal
shapes.  This is enough to drop the ``Unbroadcast`` nodes that gradients
insert wherever broadcasting was possible but did not happen.
"""
from ..ops.crossentropy import SoftmaxCrossEntropyGrad
from ..ops.elemwise import Cast, Elemwise, Unbroadcast
from ..ops.nnet import LogSoftmax, Softmax
from ..ops.shape import Alloc, Shape
from ..ops.subtensor import IncSubtensor

_MAX_DEPTH = 64


def shape_root(v, depth=0):
    node = v.owner
    if node is None or depth > _MAX_DEPTH:
        return v
    op = node.op
    if isinstance(op, (Softmax, LogSoftmax, Cast, IncSubtensor)):
        return shape_root(node.inputs[0], depth + 1)
    if isinstance(op, Unbroadcast):
        return shape_root(node.inputs[1], depth + 1)
    if isinstance(op, SoftmaxCrossEntropyGrad):
        return shape_root(node.inputs[1], depth + 1)
    if isinstance(op, Alloc):
        shape_var = node.inputs[1]
        if shape_var.owner is not None and isinstance(shape_var.owner.op, Shape):
            return shape_root(shape_var.owner.inputs[0], depth + 1)
        return v
    if isinstance(op, Elemwise):
        full = [i for i in node.inputs if not all(s == 1 for s in i.type.shape)]
        if not full:
            return v
        roots = {id(r): r for r in (shape_root(i, depth + 1) for i in full)}
        if len(roots) == 1:
            return next(iter(roots.values()))
        return v
    return v


def same_shape(a, b):
    if a is b:
        return True
    if a.type.ndim != b.type.ndim:
        return False
    if None not in a.type.shape and a.type.shape == b.type.shape:
        return True
    return shape_root(a) is shape_root(b)

"""Numerical stabilization: rewrite naive formulas into ones that do not overflow.

Also the canonicalizations the stabilizers need to match, such as the
softmax-gradient cancellation ``(g / sm) * sm -> g``.
"""
from ..ops import math as M
from ..ops.elemwise import Elemwise
from ..ops.nnet import LogSoftmax, Softmax, log_softmax
from ..ops.reduce import Reduce, logsumexp
from ..ops.shape import DimShuffle
from ..ops.subtensor import Subtensor
from .basic import is_constant_scalar
from .core import register


def _owner_op(v, op):
    """The node computing ``v`` if its op equals (or is an instance of) ``op``."""
    node = v.owner
    if node is None:
        return None
    if isinstance(op, type):
        return node if isinstance(node.op, op) else None
    return node if node.op == op else None


@register(Elemwise, phase="canonicalize")
def cancel_div_mul(node):
    """``(a / b) * b -> a`` and ``b * ((a / b) - c) -> a - b * c`` (the softmax gradient)."""
    if node.op != M.mul:
        return None
    out = node.outputs[0]
    for x, b in (node.inputs, node.inputs[::-1]):
        div = _owner_op(x, M.true_div)
        if div is not None and div.inputs[1] is b and div.inputs[0].type == out.type:
            return [div.inputs[0]]
        sub = _owner_op(x, M.sub)
        if sub is not None:
            div = _owner_op(sub.inputs[0], M.true_div)
            if div is not None and div.inputs[1] is b:
                new = M.sub(div.inputs[0], M.mul(b, sub.inputs[1]))
                if new.type == out.type:
                    return [new]
    return None


@register(Elemwise, phase="stabilize")
def local_log_softmax(node):
    """``log(softmax(x))`` -> ``log_softmax(x)``, also through indexing or a dimshuffle."""
    if node.op != M.log:
        return None
    x, = node.inputs
    sm = _owner_op(x, Softmax)
    if sm is not None:
        return [log_softmax(sm.inputs[0])]
    for between in (Subtensor, DimShuffle):
        mid = _owner_op(x, between)
        if mid is not None:
            sm = _owner_op(mid.inputs[0], Softmax)
            if sm is not None:
                return [mid.op(log_softmax(sm.inputs[0]), *mid.inputs[1:])]
    return None


@register(Elemwise, phase="stabilize")
def local_log1p(node):
    """``log(1 + x)`` -> ``log1p(x)``."""
    if node.op != M.log:
        return None
    add = _owner_op(node.inputs[0], M.add)
    if add is None:
        return None
    for one, x in (add.inputs, add.inputs[::-1]):
        if is_constant_scalar(one, 1) and x.type == node.inputs[0].type:
            return [M.log1p(x)]
    return None


@register(Elemwise, phase="stabilize")
def local_expm1(node):
    """``exp(x) - 1`` -> ``expm1(x)``."""
    if node.op != M.sub:
        return None
    e, one = node.inputs
    exp = _owner_op(e, M.exp)
    if exp is not None and is_constant_scalar(one, 1) and e.type == node.outputs[0].type:
        return [M.expm1(exp.inputs[0])]
    return None


@register(Elemwise, phase="stabilize")
def local_log_sigmoid(node):
    """``log(sigmoid(x))`` -> ``-softplus(-x)``; ``log(1 - sigmoid(x))`` -> ``-softplus(x)``."""
    if node.op != M.log:
        return None
    x, = node.inputs
    sig = _owner_op(x, M.sigmoid)
    if sig is not None:
        return [M.neg(M.softplus(M.neg(sig.inputs[0])))]
    sub = _owner_op(x, M.sub)
    if sub is not None and is_constant_scalar(sub.inputs[0], 1):
        sig = _owner_op(sub.inputs[1], M.sigmoid)
        if sig is not None and sig.outputs[0].type == x.type:
            return [M.neg(M.softplus(sig.inputs[0]))]
    return None


@register(Elemwise, phase="stabilize")
def local_logsumexp(node):
    """``log(sum(exp(x)))`` -> a logsumexp that subtracts the maximum first."""
    if node.op != M.log:
        return None
    red = _owner_op(node.inputs[0], Reduce)
    if red is None or red.op.kind != "sum" or red.op.acc_dtype is not None:
        return None
    exp = _owner_op(red.inputs[0], M.exp)
    if exp is None:
        return None
    out = logsumexp(exp.inputs[0], axis=red.op.axes)
    return [out] if out.type == node.outputs[0].type else None


@register(Elemwise, phase="stabilize")
def local_exp_log_softmax(node):
    """``exp(log_softmax(x))`` -> ``softmax(x)``."""
    if node.op != M.exp:
        return None
    ls = _owner_op(node.inputs[0], LogSoftmax)
    if ls is not None:
        from ..ops.nnet import softmax
        return [softmax(ls.inputs[0])]
    return None

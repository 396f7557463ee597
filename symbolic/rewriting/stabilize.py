"""Numerical stabilization: rewrite naive formulas into ones that do not overflow.

Also the canonicalizations the stabilizers need to match, such as the
softmax-gradient cancellation ``(g / sm) * sm -> g``.
"""
from ..ops import math as M
from ..types import FLOAT_DTYPES, INT_DTYPES
from ..ops.elemwise import Elemwise
from ..ops.nnet import LogSoftmax, Softmax, log_softmax
from ..ops.reduce import Reduce, logsumexp
from ..ops.shape import DimShuffle
from ..ops.subtensor import Subtensor
from .basic import is_constant_scalar
from .core import register
from .shapes import same_shape


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
        if div is not None and div.inputs[1] is b and div.inputs[0].type == out.type \
                and same_shape(div.inputs[0], out):
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


def _arange_from_zero(v):
    """The stop of ``arange(0, stop, 1)``, else None."""
    from ..ops.shape import ARange
    node = _owner_op(v, ARange)
    if node is None:
        return None
    start, stop, step = node.inputs
    if is_constant_scalar(start, 0) and is_constant_scalar(step, 1):
        return stop
    return None


def _row_pick(v):
    """``(x, k, y)`` when ``v = x[arange(k), y]``, else None."""
    node = _owner_op(v, Subtensor)
    if node is None or node.op.idx_spec != ("array", "array"):
        return None
    x, rows, labels = node.inputs
    k = _arange_from_zero(rows)
    if k is None or labels.ndim != 1 or labels.dtype not in INT_DTYPES or x.ndim != 2 \
            or x.dtype not in FLOAT_DTYPES:
        return None
    return x, k, labels


@register(Subtensor, phase="stabilize")
def local_softmax_cross_entropy(node):
    """``log_softmax(z)[arange(k), y]`` -> ``-SoftmaxCrossEntropy(z, y, k)``, one row kernel
    (the negation cancels against the cost's own minus sign)."""
    from ..ops.crossentropy import SoftmaxCrossEntropy
    pick = _row_pick(node.outputs[0])
    if pick is None:
        return None
    lsm, k, y = pick
    ls = _owner_op(lsm, LogSoftmax)
    if ls is None:
        return None
    out = M.neg(SoftmaxCrossEntropy()(ls.inputs[0], y, k))
    return [out] if out.type == node.outputs[0].type else None


def _scattered_rows(g):
    """``(v, z_like, k, y)`` when ``g`` is zeros with ``v`` added at ``[arange(k), y]``."""
    from ..ops.shape import Alloc
    from ..ops.subtensor import IncSubtensor
    node = _owner_op(g, IncSubtensor)
    if node is None or node.op.set_instead_of_inc or node.op.idx_spec != ("array", "array"):
        return None
    base, v, rows, labels = node.inputs
    alloc = _owner_op(base, Alloc)
    k = _arange_from_zero(rows)
    if alloc is None or not is_constant_scalar(alloc.inputs[0], 0) or k is None or v.ndim > 1:
        return None
    return v, k, labels


@register(Elemwise, phase="stabilize")
def local_softmax_cross_entropy_grad(node):
    """The log-softmax gradient of a row-picked cost, ``G - softmax(z) * sum(G, 1)`` with
    ``G`` zero but at ``[arange(k), y]``, -> one ``SoftmaxCrossEntropyGrad`` row kernel."""
    from ..ops.crossentropy import SoftmaxCrossEntropyGrad
    if node.op != M.sub:
        return None
    g, prod = node.inputs
    scattered = _scattered_rows(g)
    mul = _owner_op(prod, M.mul)
    if scattered is None or mul is None:
        return None
    v, k, y = scattered
    for sm_var, rowsum in (mul.inputs, mul.inputs[::-1]):
        sm = _owner_op(sm_var, Softmax)
        ds = _owner_op(rowsum, DimShuffle)
        if sm is None or ds is None or ds.op.new_order != (0, "x"):
            continue
        red = _owner_op(ds.inputs[0], Reduce)
        if red is None or red.op.kind != "sum" or red.op.axes != (1,) or red.inputs[0] is not g:
            continue
        out = SoftmaxCrossEntropyGrad()(M.neg(v), sm.inputs[0], y, k)
        return [out] if out.type == node.outputs[0].type else None
    return None


@register(Elemwise, phase="stabilize")
def local_softmax_cross_entropy_grad_through_probs(node):
    """The gradient of ``-log(softmax(z)[arange(k), y])`` (Theano's categorical_crossentropy):
    ``sm * (G - sum(G * sm, 1))`` with ``G`` zero but ``a / sm[arange(k), y]`` at the picked
    entries -> ``SoftmaxCrossEntropyGrad(-a, z, y, k)``, which never divides by a probability."""
    from ..ops.crossentropy import SoftmaxCrossEntropyGrad
    if node.op != M.mul:
        return None
    for sm_var, diff in (node.inputs, node.inputs[::-1]):
        sm = _owner_op(sm_var, Softmax)
        sub = _owner_op(diff, M.sub)
        if sm is None or sub is None:
            continue
        g, rowsum = sub.inputs
        scattered = _scattered_rows(g)
        ds = _owner_op(rowsum, DimShuffle)
        if scattered is None or ds is None or ds.op.new_order != (0, "x"):
            continue
        red = _owner_op(ds.inputs[0], Reduce)
        inner = red is not None and red.op.kind == "sum" and red.op.axes == (1,) and \
            _owner_op(red.inputs[0], M.mul)
        if not inner or set(map(id, inner.inputs)) != {id(g), id(sm_var)}:
            continue
        v, k, y = scattered
        div = _owner_op(v, M.true_div)
        picked = div is not None and _row_pick(div.inputs[1])
        if not picked or picked[0] is not sm_var or picked[2] is not y or picked[1] is not k:
            continue
        out = SoftmaxCrossEntropyGrad()(M.neg(div.inputs[0]), sm.inputs[0], y, k)
        return [out] if out.type == node.outputs[0].type else None
    return None

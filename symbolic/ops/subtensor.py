"""Indexing: ``x[...]`` with NumPy's basic and advanced rules, and its updates.

An index is described by a spec (a tuple with one entry per index item) plus
the symbolic values it needs as inputs, so bounds and index arrays can be
variables (``x[i * n:(i + 1) * n]``, ``x[arange(n), y]``).
Spec entries: ``"int"``, ``("slice", has_start, has_stop, has_step)``,
``"array"`` (an integer or boolean index tensor) and ``"newaxis"``.
"""
import numbers

import numpy as np

from ..graph import Apply, Op, Variable
from ..types import INT_DTYPES, TensorType
from ..variable import as_tensor_variable
from .elemwise import broadcast_static_shapes, unbroadcast


def _is_int_scalar(v):
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_)) or \
        isinstance(v, Variable) and v.ndim == 0 and v.dtype in INT_DTYPES


def parse_index(x, index):
    """Turn a Python index into (spec, inputs)."""
    if not isinstance(index, tuple):
        index = (index,)
    n_ellipsis = sum(i is Ellipsis for i in index)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(_dims_consumed(i) for i in index if i is not Ellipsis)
    if consumed > x.ndim:
        raise IndexError(f"too many indices for a {x.ndim}-d tensor: {consumed} were given")
    if n_ellipsis:
        pos = next(k for k, item in enumerate(index) if item is Ellipsis)
        index = index[:pos] + (slice(None),) * (x.ndim - consumed) + index[pos + 1:]
    spec, inputs = [], []
    for item in index:
        if item is None:
            spec.append("newaxis")
        elif isinstance(item, slice):
            parts = [item.start, item.stop, item.step]
            for what, p in zip(("start", "stop", "step"), parts):
                if p is not None and not _is_int_scalar(p):
                    raise IndexError(f"slice {what} must be an integer scalar, got {p!r}")
            spec.append(("slice",) + tuple(p is not None for p in parts))
            inputs.extend(as_tensor_variable(p) for p in parts if p is not None)
        elif _is_int_scalar(item):
            spec.append("int")
            inputs.append(as_tensor_variable(item))
        else:
            arr = as_tensor_variable(item)
            if arr.dtype not in INT_DTYPES + ("bool",):
                raise IndexError(f"index arrays must be integers or booleans, got {arr.type}")
            spec.append("array")
            inputs.append(arr)
    return tuple(spec), inputs


def _dims_consumed(item):
    if item is None:
        return 0
    if isinstance(item, Variable) and item.dtype == "bool":
        return item.ndim
    if isinstance(item, (np.ndarray, list)) and np.asarray(item).dtype == bool:
        return np.asarray(item).ndim
    return 1


def build_index(spec, values):
    """The NumPy index tuple from a spec and run-time input values."""
    it = iter(values)
    out = []
    for entry in spec:
        if entry == "int":
            out.append(int(next(it)))
        elif entry == "newaxis":
            out.append(None)
        elif entry == "array":
            out.append(next(it))
        else:
            out.append(slice(*[int(next(it)) if present else None for present in entry[1:]]))
    return tuple(out)


def _static(v):
    from .shape import get_static_int
    return get_static_int(v)


def index_static_shape(x_shape, spec, inputs):
    """Static shape of ``x[index]`` under NumPy's rules (None where unknown)."""
    it = iter(inputs)
    advanced = "array" in spec
    groups = []  # (kind, dims) in index order; kind "adv" or "basic"
    dim = 0
    for entry in spec:
        if entry == "newaxis":
            groups.append(("basic", [1]))
        elif entry == "int":
            v = next(it)
            if advanced:
                groups.append(("adv", v.type.shape if isinstance(v, Variable) else ()))
            dim += 1
        elif entry == "array":
            v = next(it)
            if v.dtype == "bool":
                groups.append(("adv", (None,)))
                dim += v.ndim
            else:
                groups.append(("adv", v.type.shape))
                dim += 1
        else:
            parts = [_static(next(it)) if present else None for present in entry[1:]]
            known = all(p is not None for p, present in zip(parts, entry[1:]) if present)
            n = x_shape[dim]
            if known and n is not None:
                groups.append(("basic", [len(range(*slice(*parts).indices(n)))]))
            else:
                groups.append(("basic", [None]))
            dim += 1
    rest = list(x_shape[dim:])
    if not advanced:
        return [d for _, dims in groups for d in dims] + rest
    adv = [dims for kind, dims in groups if kind == "adv"]
    ndim = max(len(d) for d in adv)
    padded = [(1,) * (ndim - len(d)) + tuple(d) for d in adv]
    bshape = list(broadcast_static_shapes(padded, "advanced index"))
    kinds = [k for k, _ in groups]
    first = kinds.index("adv")
    last = len(kinds) - 1 - kinds[::-1].index("adv")
    adjacent = all(k == "adv" for k in kinds[first:last + 1])
    basic_before = [d for k, dims in groups[:first] if k == "basic" for d in dims]
    basic_after = [d for k, dims in groups[last + 1:] if k == "basic" for d in dims]
    basic_between = [d for k, dims in groups[first:last + 1] if k == "basic" for d in dims]
    if adjacent:
        return basic_before + bshape + basic_after + rest
    return bshape + basic_before + basic_between + basic_after + rest


class Subtensor(Op):
    """``x[index]``, basic or advanced."""

    __props__ = ("idx_spec",)

    def __init__(self, idx_spec):
        self.idx_spec = tuple(idx_spec)

    def __str__(self):
        return f"Subtensor{{{_spec_str(self.idx_spec)}}}"

    def make_node(self, x, *index_inputs):
        x = as_tensor_variable(x)
        index_inputs = [as_tensor_variable(i) for i in index_inputs]
        _check_static_bounds(x, self.idx_spec, index_inputs)
        shp = index_static_shape(x.type.shape, self.idx_spec, index_inputs)
        return Apply(self, [x] + index_inputs, [TensorType(x.dtype, shp)])

    def perform(self, node, inputs):
        x, *idx = inputs
        out = x[build_index(self.idx_spec, idx)]
        return [np.asarray(out)]

    def grad(self, inputs, output_grads):
        from .shape import zeros_like
        x, *idx = inputs
        return [IncSubtensor(self.idx_spec, False)(zeros_like(x), output_grads[0], *idx)] + \
            [None] * len(idx)

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)


class IncSubtensor(Op):
    """A copy of ``x`` with ``x[index]`` set to, or incremented by, ``y``.

    Increments through repeated advanced indices accumulate (``np.add.at``).
    """

    __props__ = ("idx_spec", "set_instead_of_inc")

    def __init__(self, idx_spec, set_instead_of_inc):
        self.idx_spec, self.set_instead_of_inc = tuple(idx_spec), set_instead_of_inc

    def __str__(self):
        return f"{'Set' if self.set_instead_of_inc else 'Inc'}Subtensor{{{_spec_str(self.idx_spec)}}}"

    def make_node(self, x, y, *index_inputs):
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        index_inputs = [as_tensor_variable(i) for i in index_inputs]
        target = index_static_shape(x.type.shape, self.idx_spec, index_inputs)
        if y.ndim > len(target):
            raise ValueError(f"{self}: value has {y.ndim} dims but x[index] has {len(target)}")
        if y.dtype != x.dtype:
            from .elemwise import _cast_input
            y = _cast_input(y, x.dtype, str(self)) if y.weak else y
            if y.dtype != x.dtype:
                from ..types import upcast
                if upcast(x.dtype, y.dtype) != x.dtype:
                    raise TypeError(f"{self}: cannot store {y.dtype} values into a {x.dtype} "
                                    f"tensor without losing information; cast them first")
                from .elemwise import cast
                y = cast(y, x.dtype)
        padded = [None] * (len(target) - y.ndim) + list(y.type.shape)
        for t, s in zip(target, padded):
            if t is not None and s is not None and s not in (1, t):
                raise ValueError(f"{self}: value of shape {y.type.shape} does not broadcast "
                                 f"to x[index] of shape {tuple(target)}")
        return Apply(self, [x, y] + index_inputs, [x.type])

    def perform(self, node, inputs):
        x, y, *idx = inputs
        out = x.copy()
        index = build_index(self.idx_spec, idx)
        if self.set_instead_of_inc:
            out[index] = y
        elif "array" in self.idx_spec:
            np.add.at(out, index, y)
        else:
            out[index] += y
        return [out]

    def grad(self, inputs, output_grads):
        x, y, *idx = inputs
        g = output_grads[0]
        gx = IncSubtensor(self.idx_spec, True)(g, 0, *idx) if self.set_instead_of_inc else g
        picked = Subtensor(self.idx_spec)(g, *idx)
        if self.set_instead_of_inc and "array" in self.idx_spec:
            picked = _only_last_writes(picked, x, self.idx_spec, idx)
        gy = unbroadcast(picked, y)
        return [gx, gy] + [None] * len(idx)

    def connection_pattern(self, node):
        return [[True], [True]] + [[False]] * (len(node.inputs) - 2)


def _only_last_writes(picked, x, spec, idx):
    """Zero the entries of ``picked`` whose write a repeated index overwrote.

    With repeated advanced indices, setting keeps only the last write (NumPy's
    rule), so only that element of ``y`` reaches the output.  Which write wins
    is found by setting every position's number and reading the numbers back.
    """
    from . import math as M
    from .reduce import prod
    from .shape import arange, reshape, shape, zeros_like
    numbers = reshape(arange(prod(shape(picked))), shape(picked), ndim=picked.ndim)
    board = IncSubtensor(spec, True)(zeros_like(x, dtype="int64"), numbers, *idx)
    won = M.eq(Subtensor(spec)(board, *idx), numbers)
    return M.switch(won, picked, 0)


def _spec_str(spec):
    parts = []
    for e in spec:
        if isinstance(e, tuple):
            parts.append(":".join("v" if p else "" for p in e[1:]) if any(e[1:]) else ":")
        else:
            parts.append({"int": "i", "array": "[]", "newaxis": "None"}[e])
    return ", ".join(parts)


def _check_static_bounds(x, spec, inputs):
    """Catch ``x[5]`` on a static length-3 axis when the graph is built."""
    it = iter(inputs)
    dim = 0
    for entry in spec:
        if entry == "newaxis":
            continue
        if entry == "int":
            v = _static(next(it))
            n = x.type.shape[dim]
            if v is not None and n is not None and not -n <= v < n:
                raise IndexError(f"index {v} is out of bounds for axis {dim} with size {n}")
            dim += 1
        elif entry == "array":
            v = next(it)
            dim += v.ndim if v.dtype == "bool" else 1
        else:
            for present in entry[1:]:
                if present:
                    next(it)
            dim += 1


def getitem(x, index):
    x = as_tensor_variable(x)
    spec, inputs = parse_index(x, index)
    # Even ``x[:]`` is a node, so that ``set_subtensor(x[:], y)`` works as in NumPy.
    return Subtensor(spec)(x, *inputs)


def _inc_or_set(x, y, set_):
    """``x`` must be the result of indexing (``x[idx]``), as in Theano."""
    node = x.owner
    if node is None or not isinstance(node.op, Subtensor):
        raise TypeError("set_subtensor/inc_subtensor take an indexed tensor, like x[2:5] or "
                        f"x[arange(n), y]; got {x!r}")
    base, *idx = node.inputs
    return IncSubtensor(node.op.idx_spec, set_)(base, y, *idx)


def set_subtensor(x, y):
    """A copy of the indexed tensor with ``x``'s elements replaced by ``y``."""
    return _inc_or_set(x, y, True)


def inc_subtensor(x, y):
    """A copy of the indexed tensor with ``y`` added to ``x``'s elements (duplicates add up)."""
    return _inc_or_set(x, y, False)


def take(x, indices, axis=None):
    x = as_tensor_variable(x)
    if axis is None:
        from .shape import flatten
        return getitem(flatten(x), indices)
    axis = axis % x.ndim
    return getitem(x, (slice(None),) * axis + (indices,))

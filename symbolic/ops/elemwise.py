"""Elementwise ops: one ``Elemwise`` op class over a table of scalar operations.

Each scalar operation is defined once here: its NumPy meaning, its output
dtype rule and its gradient.  Keeping elementwise work in one op class is what
lets the rewrites fuse chains of them into a single loop (the unit the native
backends compile into one kernel).
"""
import numpy as np

from ..config import config
from ..graph import Apply, Op, user_trace
from ..types import FLOAT_DTYPES, TensorType, check_dtype, float_dtype_for, upcast
from ..variable import TensorConstant, as_tensor_variable


_SCALAR_OPS = {}


def scalar_op_named(name):
    return _SCALAR_OPS[name]


class ScalarOp:
    """One elementwise operation.

    ``impl`` is the NumPy meaning; ``out_dtype`` maps the (promoted) input
    dtype to the output dtype; ``grad(inputs, output, gout)`` returns one
    symbolic gradient per input (``None`` where no gradient flows).
    ``promote`` says whether the inputs are first cast to a common dtype.
    """

    def __init__(self, name, nin, impl, out_dtype="same", grad=None, promote=True):
        self.name, self.nin, self.impl = name, nin, impl
        self._out_dtype, self._grad, self.promote = out_dtype, grad, promote
        if name in _SCALAR_OPS:
            raise ValueError(f"a scalar op named {name!r} already exists")
        _SCALAR_OPS[name] = self

    def __reduce__(self):
        # Pickled by name: the table entry holds functions that cannot be pickled.
        return (scalar_op_named, (self.name,))

    def out_dtype(self, in_dtypes):
        rule = self._out_dtype
        if rule == "same":
            return in_dtypes[0]
        if rule == "float":
            return float_dtype_for(in_dtypes[0])
        if rule == "bool":
            return "bool"
        return rule(in_dtypes)

    def grad(self, inputs, output, gout):
        if self._grad is None:
            return [None] * len(inputs)
        return self._grad(inputs, output, gout)

    def __repr__(self):
        return self.name


class Elemwise(Op):
    """Apply a scalar operation over broadcast inputs (NumPy broadcasting)."""

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op

    def __str__(self):
        return self.scalar_op.name

    def make_node(self, *inputs):
        sop = self.scalar_op
        if len(inputs) != sop.nin:
            raise TypeError(f"{sop.name} takes {sop.nin} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(i) for i in inputs]
        if sop.promote:
            inputs = _promote(inputs, sop.name)
        if sop._out_dtype == "float":
            # Integers are cast first: NumPy would compute sqrt(int8) in float16.
            dtype = sop.out_dtype([inputs[0].dtype])
            inputs = [_cast_input(i, dtype, sop.name) for i in inputs]
        ndim = max(i.ndim for i in inputs)
        inputs = [_pad_left(i, ndim) for i in inputs]
        shape = broadcast_static_shapes([i.type.shape for i in inputs], sop.name)
        out_dtype = sop.out_dtype([i.dtype for i in inputs])
        return Apply(self, inputs, [TensorType(out_dtype, shape)])

    def perform(self, node, inputs):
        out = self.scalar_op.impl(*inputs)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def grad(self, inputs, output_grads):
        out = self(*inputs)
        grads = self.scalar_op.grad(inputs, out, output_grads[0])
        result = []
        for x, g in zip(inputs, grads):
            if g is None or x.dtype not in FLOAT_DTYPES:
                result.append(None)
            else:
                result.append(unbroadcast(g, x))
        return result


def broadcast_static_shapes(shapes, what):
    """The static shape of broadcasting equal-rank static shapes, or a clear error."""
    out = []
    for axis, dims in enumerate(zip(*shapes)):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"{what}: shapes {[_fmt(s) for s in shapes]} cannot be broadcast "
                             f"together (axis {axis} has sizes {sorted(known)})")
        if known:
            out.append(known.pop())
        elif all(d == 1 for d in dims):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)


def _fmt(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def _pad_left(x, ndim):
    if x.ndim == ndim:
        return x
    from .shape import dimshuffle
    return dimshuffle(x, ["x"] * (ndim - x.ndim) + list(range(x.ndim)))


def _promote(inputs, what):
    """NumPy promotion where Python scalars are weak and floats become floatX."""
    strong = [i.dtype for i in inputs if not i.weak]
    weak = [i.dtype for i in inputs if i.weak]
    if strong:
        dtype = upcast(*strong)
        if any(w in FLOAT_DTYPES for w in weak) and dtype not in FLOAT_DTYPES:
            dtype = config.floatX
        elif any(w == "int64" for w in weak) and dtype == "bool":
            dtype = "int64"
    else:
        dtype = upcast(*weak)
        if dtype in FLOAT_DTYPES:
            dtype = config.floatX
    return [_cast_input(i, dtype, what) for i in inputs]


def _cast_input(x, dtype, what):
    if x.dtype == dtype:
        return x
    if x.weak:
        value = np.asarray(x.exact if x.exact is not None else x.data).astype(dtype)
        if x.data.dtype.kind != "f" and value != x.data:
            raise OverflowError(f"{what}: Python integer {x.data.item()} does not fit in {dtype}")
        value.setflags(write=False)
        out = TensorConstant(TensorType(dtype, ()), value, weak=True)
        out.exact = x.exact
        return out
    return cast(x, dtype)


class Unbroadcast(Op):
    """Sum ``g`` down to the run-time shape of ``like`` (the reverse of broadcasting).

    Gradients of broadcasting ops need it: which axes were broadcast is only
    known at run time when static shapes are unknown.
    """

    def make_node(self, g, like):
        g, like = as_tensor_variable(g), as_tensor_variable(like)
        if g.ndim < like.ndim:
            raise ValueError(f"unbroadcast: gradient has {g.ndim} dims, input has {like.ndim}")
        return Apply(self, [g, like], [TensorType(g.dtype, like.type.shape)])

    def perform(self, node, inputs):
        g, like = inputs
        return [sum_to_shape(g, like.shape)]

    def grad(self, inputs, output_grads):
        from .shape import broadcast_to, shape
        return [broadcast_to(output_grads[0], shape(inputs[0])), None]

    def connection_pattern(self, node):
        return [[True], [False]]


def sum_to_shape(g, shape):
    """NumPy helper: reduce a broadcast result back to ``shape``."""
    if g.shape == shape:
        return g                      # the usual case in gradients: nothing was broadcast
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape) if g.shape != tuple(shape) else g


def unbroadcast(g, x):
    """``g`` summed to ``x``'s shape; no op at all when static shapes prove it needless."""
    if g.ndim == x.ndim and all(gs == 1 or (xs is not None and xs != 1)
                                for gs, xs in zip(g.type.shape, x.type.shape)):
        return g
    return _unbroadcast(g, x)


_unbroadcast = Unbroadcast()


class Cast(Op):
    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = check_dtype(dtype)

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType(self.dtype, x.type.shape)])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0]).astype(self.dtype)]

    def grad(self, inputs, output_grads):
        x, = inputs
        if x.dtype not in FLOAT_DTYPES or self.dtype not in FLOAT_DTYPES:
            return [None]
        return [cast(output_grads[0], x.dtype)]


def cast(x, dtype):
    """``x`` converted to ``dtype`` (no-op when it already has it)."""
    x = as_tensor_variable(x)
    dtype = check_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast(dtype)(x)


__all__ = ["ScalarOp", "Elemwise", "Cast", "cast", "Unbroadcast", "unbroadcast", "sum_to_shape",
           "broadcast_static_shapes", "user_trace"]

"""Ops that move, reshape, create or measure tensors without arithmetic."""
import numbers

import numpy as np

from ..config import config
from ..graph import Apply, Constant, Op, Variable
from ..types import INT_DTYPES, TensorType, check_dtype, upcast
from ..variable import as_tensor_variable
from .elemwise import Cast, cast, unbroadcast


# ------------------------------------------------------------ static values

def get_static_int(v):
    """The value of an integer scalar variable if it is known when building, else None."""
    if isinstance(v, (numbers.Integral, np.integer)):
        return int(v)
    if isinstance(v, Constant):
        return int(v.data) if v.data.ndim == 0 else None
    node = v.owner
    if node is None:
        return None
    from .subtensor import Subtensor
    if isinstance(node.op, Subtensor) and node.inputs[0].owner is not None \
            and isinstance(node.inputs[0].owner.op, Shape) and len(node.inputs) == 2:
        i = get_static_int(node.inputs[1])
        dims = node.inputs[0].owner.inputs[0].type.shape
        if i is not None and node.op.idx_spec == ("int",) and -len(dims) <= i < len(dims):
            return dims[i]
    if isinstance(node.op, Cast):
        return get_static_int(node.inputs[0])
    return None


def get_static_shape(shape_var):
    """Entries of an int vector known when building (None where not)."""
    if isinstance(shape_var, Constant):
        return [int(s) for s in shape_var.data]
    node = shape_var.owner
    if node is not None and isinstance(node.op, Shape):
        return list(node.inputs[0].type.shape)
    if node is not None and isinstance(node.op, MakeVector):
        return [get_static_int(i) for i in node.inputs]
    n = shape_var.type.shape[0]
    return [None] * n if n is not None else None


def as_shape(shape, what="shape"):
    """A tuple of ints/int scalars, or an int vector, as an int64 vector variable."""
    if isinstance(shape, Variable):
        shape = as_tensor_variable(shape)
        if shape.ndim == 0:
            shape = make_vector(shape)
        if shape.ndim != 1 or shape.dtype not in INT_DTYPES:
            raise TypeError(f"{what} must be a vector of integers, got {shape.type}")
        return cast(shape, "int64")
    if isinstance(shape, (numbers.Integral, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    if all(isinstance(s, (numbers.Integral, np.integer)) for s in shape):
        from ..graph import constant
        return constant(np.array(shape, dtype="int64").reshape(len(shape)))
    return make_vector(*shape)


# ------------------------------------------------------------ ops

class Shape(Op):
    """The run-time shape of a tensor, as an int64 vector."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))])

    def perform(self, node, inputs):
        return [np.array(inputs[0].shape, dtype="int64")]

    def grad(self, inputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]


class MakeVector(Op):
    """Integer scalars gathered into an int64 vector (a shape built from parts)."""

    def make_node(self, *scalars):
        scalars = [as_tensor_variable(s) for s in scalars]
        for i, s in enumerate(scalars):
            if s.ndim != 0 or s.dtype not in INT_DTYPES + ("bool",):
                raise TypeError(f"shape entry {i} must be an integer scalar, got {s.type}")
        scalars = [cast(s, "int64") for s in scalars]
        return Apply(self, scalars, [TensorType("int64", (len(scalars),))])

    def perform(self, node, inputs):
        return [np.array([int(i) for i in inputs], dtype="int64").reshape(len(inputs))]

    def grad(self, inputs, output_grads):
        return [None] * len(inputs)


class Reshape(Op):
    """``x`` with a new shape (``-1`` once, as in NumPy)."""

    __props__ = ("ndim",)

    def __init__(self, ndim):
        self.ndim = ndim

    def make_node(self, x, shape):
        x = as_tensor_variable(x)
        static = get_static_shape(shape)
        if static is None:  # a shape vector of unknown length: ndim says how long it is
            static = [None] * self.ndim
        if static.count(-1) > 1:
            raise ValueError(f"reshape: at most one -1 is allowed, got {static}")
        out = [None if s is None or s < 0 else s for s in static]
        others = [s for s in static if s != -1]
        if None not in x.type.shape and None not in others:
            total, known = int(np.prod(x.type.shape)), int(np.prod(others))
            if -1 not in static:
                fits = total == known
            elif known:
                fits = total % known == 0
                out[static.index(-1)] = total // known
            else:
                fits = total == 0
            if not fits:
                raise ValueError(f"reshape: cannot reshape an array of shape {x.type.shape} "
                                 f"into shape {tuple(static)}")
        return Apply(self, [x, shape], [TensorType(x.dtype, out)])

    def perform(self, node, inputs):
        x, shape = inputs
        try:
            return [np.reshape(x, tuple(int(s) for s in shape))]
        except ValueError as e:
            raise ValueError(f"reshape: {e}") from None

    def grad(self, inputs, output_grads):
        return [reshape(output_grads[0], shape(inputs[0])), None]

    def connection_pattern(self, node):
        return [[True], [False]]


class DimShuffle(Op):
    """Permute axes, insert broadcastable axes ('x') and drop size-1 axes."""

    __props__ = ("input_ndim", "new_order")

    def __init__(self, input_ndim, new_order):
        self.input_ndim = input_ndim
        self.new_order = tuple(new_order)
        kept = [d for d in self.new_order if d != "x"]
        if len(set(kept)) != len(kept) or any(not 0 <= d < input_ndim for d in kept):
            raise ValueError(f"dimshuffle: invalid pattern {new_order} for a {input_ndim}-d input")
        self.dropped = tuple(d for d in range(input_ndim) if d not in kept)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise TypeError(f"dimshuffle: pattern is for {self.input_ndim}-d input, got {x.ndim}-d")
        for d in self.dropped:
            if x.type.shape[d] not in (1, None):
                raise ValueError(f"dimshuffle {self.new_order}: cannot drop axis {d} of size "
                                 f"{x.type.shape[d]}, only axes of size 1 can be dropped")
        shape = [1 if d == "x" else x.type.shape[d] for d in self.new_order]
        return Apply(self, [x], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        x, = inputs
        for d in self.dropped:
            if x.shape[d] != 1:
                raise ValueError(f"dimshuffle {self.new_order}: axis {d} has size {x.shape[d]}; "
                                 f"only axes of size 1 can be dropped")
        kept = [d for d in self.new_order if d != "x"]
        y = np.transpose(x, kept + list(self.dropped))
        shape = [1 if d == "x" else x.shape[d] for d in self.new_order]
        return [y.reshape(shape)]

    def grad(self, inputs, output_grads):
        x, = inputs
        g = output_grads[0]
        kept = [d for d in self.new_order if d != "x"]
        g = dimshuffle(g, [i for i, d in enumerate(self.new_order) if d != "x"])
        order = []
        for d in range(self.input_ndim):
            order.append(kept.index(d) if d in kept else "x")
        return [dimshuffle(g, order)]

    def __str__(self):
        return "DimShuffle{" + ",".join(map(str, self.new_order)) + "}"


class Alloc(Op):
    """``value`` broadcast to ``shape`` in a fresh, writable array."""

    def make_node(self, value, shape):
        value = as_tensor_variable(value)
        static = get_static_shape(shape)
        if len(static) < value.ndim:
            raise ValueError(f"alloc: shape {static} has fewer dimensions than the value ({value.ndim})")
        lead = len(static) - value.ndim
        out = list(static)
        for i, v in enumerate(value.type.shape):
            s = static[lead + i]
            if v is not None and v != 1 and s is not None and s != v:
                raise ValueError(f"alloc: cannot broadcast a value of shape {value.type.shape} to {static}")
            if s is None and v is not None and v != 1:
                out[lead + i] = v
        return Apply(self, [value, shape], [TensorType(value.dtype, out)])

    def perform(self, node, inputs):
        value, shape = inputs
        out = np.empty(tuple(int(s) for s in shape), dtype=node.outputs[0].dtype)
        out[...] = value
        return [out]

    def grad(self, inputs, output_grads):
        return [unbroadcast(output_grads[0], inputs[0]), None]

    def connection_pattern(self, node):
        return [[True], [False]]


class Join(Op):
    """Concatenation along an axis."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, *tensors):
        tensors = [as_tensor_variable(t) for t in tensors]
        dtype = upcast(*[t.dtype for t in tensors])
        tensors = [cast(t, dtype) for t in tensors]
        ndim = tensors[0].ndim
        if any(t.ndim != ndim for t in tensors):
            raise ValueError(f"concatenate: all inputs need the same ndim, got {[t.ndim for t in tensors]}")
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"concatenate: axis {self.axis} is out of range for {ndim}-d inputs")
        axis = self.axis % ndim
        out = []
        for d in range(ndim):
            dims = [t.type.shape[d] for t in tensors]
            if d == axis:
                out.append(None if None in dims else sum(dims))
            else:
                known = {s for s in dims if s is not None}
                if len(known) > 1:
                    raise ValueError(f"concatenate: inputs differ on axis {d}: {dims}")
                out.append(known.pop() if known else None)
        return Apply(self, tensors, [TensorType(dtype, out)])

    def perform(self, node, inputs):
        return [np.concatenate(inputs, axis=self.axis)]

    def grad(self, inputs, output_grads):
        axis = self.axis % inputs[0].ndim
        sizes = make_vector(*[shape(t)[axis] for t in inputs])
        parts = Split(len(inputs), axis)(output_grads[0], sizes)
        return list(parts) if len(inputs) > 1 else [parts]


class Split(Op):
    """``x`` cut along ``axis`` into pieces of the given sizes."""

    __props__ = ("n_splits", "axis")

    def __init__(self, n_splits, axis):
        self.n_splits, self.axis = n_splits, axis

    def make_node(self, x, sizes):
        x = as_tensor_variable(x)
        sizes = as_shape(sizes, "split sizes")
        static = get_static_shape(sizes)
        if static is None:
            static = [None] * self.n_splits
        if len(static) != self.n_splits:
            raise ValueError(f"split: {self.n_splits} splits but {len(static)} sizes")
        axis = self.axis % x.ndim
        if None not in static and x.type.shape[axis] not in (None, sum(static)):
            raise ValueError(f"split: sizes {static} do not add up to axis {axis} "
                             f"of length {x.type.shape[axis]}")
        outs = []
        for s in static:
            shp = list(x.type.shape)
            shp[axis] = s
            outs.append(TensorType(x.dtype, shp))
        return Apply(self, [x, sizes], outs)

    def perform(self, node, inputs):
        x, sizes = inputs
        if sizes.sum() != x.shape[self.axis] or (sizes < 0).any():
            raise ValueError(f"split: sizes {sizes.tolist()} do not add up to axis {self.axis} "
                             f"of length {x.shape[self.axis]}")
        return np.split(x, np.cumsum(sizes)[:-1], axis=self.axis)

    def grad(self, inputs, output_grads):
        x, _ = inputs
        outs = self.make_node(*inputs).outputs
        parts = [g if g is not None else zeros_like(o) for g, o in zip(output_grads, outs)]
        return [concatenate(parts, axis=self.axis), None]

    def connection_pattern(self, node):
        return [[True] * self.n_splits, [False] * self.n_splits]


class ARange(Op):
    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def make_node(self, start, stop, step):
        start, stop, step = (as_tensor_variable(v) for v in (start, stop, step))
        for what, v in (("start", start), ("stop", stop), ("step", step)):
            if v.ndim != 0:
                raise TypeError(f"arange: {what} must be a scalar, got {v.type}")
        values = [v.data.item() if isinstance(v, Constant) else
                  get_static_int(v) if v.dtype in INT_DTYPES else None for v in (start, stop, step)]
        n = None
        if None not in values:
            if values[2] == 0:
                raise ValueError("arange: step must not be zero")
            n = len(np.arange(*values))
        return Apply(self, [start, stop, step], [TensorType(self.dtype, (n,))])

    def perform(self, node, inputs):
        start, stop, step = (v.item() for v in inputs)
        if step == 0:
            raise ValueError("arange: step must not be zero")
        return [np.arange(start, stop, step, dtype=self.dtype)]

    def grad(self, inputs, output_grads):
        return [None, None, None]


# ------------------------------------------------------------ user functions

_shape = Shape()


def shape(x):
    return _shape(x)


def shape_i(x, i):
    return shape(x)[i]


def make_vector(*scalars):
    return MakeVector()(*scalars)


def reshape(x, newshape, ndim=None):
    x = as_tensor_variable(x)
    newshape = as_shape(newshape, "reshape shape")
    n = newshape.type.shape[0]
    if ndim is not None and n is not None and n != ndim:
        raise ValueError(f"reshape: ndim={ndim} but the shape has {n} entries")
    if n is None:
        if ndim is None:
            raise ValueError("reshape: the length of the new shape is unknown; pass ndim=")
        n = ndim
    return Reshape(n)(x, newshape)


def flatten(x, ndim=1):
    """Keep the first ``ndim - 1`` axes and merge the rest (Theano's ``flatten(ndim)``)."""
    x = as_tensor_variable(x)
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim={ndim} is out of range for a {x.ndim}-d tensor")
    from .reduce import prod
    s = shape(x)
    lead = [s[i] for i in range(ndim - 1)]
    rest = x.type.shape[ndim - 1:]
    last = int(np.prod(rest)) if None not in rest else prod(s[ndim - 1:]) if x.ndim else 1
    return reshape(x, lead + [last], ndim=ndim)


def dimshuffle(x, pattern):
    x = as_tensor_variable(x)
    pattern = tuple(p if p == "x" else int(p) for p in pattern)
    if pattern == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, pattern)(x)


def transpose(x, axes=None):
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(a % x.ndim if x.ndim else a for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of a {x.ndim}-d tensor's axes")
    return dimshuffle(x, axes)


def swapaxes(x, a, b):
    x = as_tensor_variable(x)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return dimshuffle(x, order)


def expand_dims(x, axis):
    x = as_tensor_variable(x)
    axis = axis % (x.ndim + 1)
    order = list(range(x.ndim))
    order.insert(axis, "x")
    return dimshuffle(x, order)


def squeeze(x, axis=None):
    x = as_tensor_variable(x)
    if axis is None:
        axes = [i for i, s in enumerate(x.type.shape) if s == 1]
    else:
        axes = [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
    return dimshuffle(x, [i for i in range(x.ndim) if i not in axes])


def alloc(value, *shape_):
    """``value`` broadcast to ``shape_`` (Theano's ``alloc(value, *shape)``)."""
    if len(shape_) == 1 and not isinstance(shape_[0], (numbers.Integral, np.integer)) \
            and not (isinstance(shape_[0], Variable) and shape_[0].ndim == 0):
        shape_ = shape_[0]
    return Alloc()(value, as_shape(shape_))


def broadcast_to(x, shape_):
    return Alloc()(x, as_shape(shape_))


def _filled(value, shape_, dtype):
    value = as_tensor_variable(value)
    if isinstance(value, Constant):  # a constant of the dtype, not a cast node
        from ..graph import constant
        value = constant(np.array(value.data, dtype=check_dtype(dtype)))
    return Alloc()(cast(value, dtype), as_shape(shape_))


def zeros(shape_, dtype=None):
    return _filled(0, shape_, dtype or config.floatX)


def ones(shape_, dtype=None):
    return _filled(1, shape_, dtype or config.floatX)


def full(shape_, fill_value, dtype=None):
    """``fill_value`` everywhere; the dtype is ``fill_value``'s (a Python float is floatX)."""
    return _filled(fill_value, shape_, dtype or as_tensor_variable(fill_value).dtype)


def zeros_like(x, dtype=None):
    x = as_tensor_variable(x)
    return _filled(0, shape(x), dtype or x.dtype)


def ones_like(x, dtype=None):
    x = as_tensor_variable(x)
    return _filled(1, shape(x), dtype or x.dtype)


def fill(model, value):
    """``value`` broadcast to ``model``'s shape (Theano's ``fill``)."""
    model = as_tensor_variable(model)
    return Alloc()(value, shape(model))


def second(model, value):
    return fill(model, value)


def concatenate(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    if len(tensors) == 1:
        return as_tensor_variable(tensors[0])
    return Join(axis)(*tensors)


def stack(tensors, axis=0):
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    ndim = tensors[0].ndim
    if all(t.ndim == 0 and t.dtype in INT_DTYPES for t in tensors) and axis == 0 \
            and len({t.dtype for t in tensors}) == 1 and tensors[0].dtype == "int64":
        return make_vector(*tensors)
    return Join(axis)(*[expand_dims(t, axis if axis >= 0 else axis + ndim + 1) for t in tensors]) \
        if len(tensors) > 1 else expand_dims(tensors[0], axis)


def split(x, splits_size, n_splits, axis=0):
    """Theano's ``split(x, splits_size, n_splits, axis)``: a list of pieces."""
    out = Split(n_splits, axis)(x, splits_size)
    return out if isinstance(out, list) else [out]


def arange(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    values = [as_tensor_variable(v) for v in (start, stop, step)]
    if dtype is None:
        strong = [v.dtype for v in values if not v.weak]
        dtype = upcast(*strong) if strong else "int64"
        if any(v.weak and v.dtype.startswith("float") for v in values) and \
                not dtype.startswith("float"):
            dtype = config.floatX
    return ARange(check_dtype(dtype))(*values)

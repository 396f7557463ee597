"""Reductions: sum, prod, max, min, any, all, argmax/argmin, and what is built on them."""
import numpy as np

from ..graph import Apply, Op
from ..types import FLOAT_DTYPES, TensorType, check_dtype, float_dtype_for
from ..variable import as_tensor_variable
from .elemwise import cast
from . import math as M
from .shape import alloc, dimshuffle, shape


def normalize_axes(axis, ndim, what):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        bound = ndim if ndim else 1  # a scalar accepts axis 0 or -1, as NumPy does
        if not isinstance(a, (int, np.integer)) or not -bound <= a < bound:
            raise ValueError(f"{what}: axis {a} is out of range for a {ndim}-d tensor")
        out.append(int(a) % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axis}")
    return tuple(sorted(out))


def _sum_dtype(dtype):
    return dtype if dtype in FLOAT_DTYPES or dtype == "int64" else "int64"


_REDUCERS = {
    "sum": (np.sum, _sum_dtype),
    "prod": (np.prod, _sum_dtype),
    "max": (np.max, lambda d: d),
    "min": (np.min, lambda d: d),
    "any": (np.any, lambda d: "bool"),
    "all": (np.all, lambda d: "bool"),
}


class Reduce(Op):
    """Reduce ``x`` over ``axes`` (the axes disappear; keepdims is a dimshuffle on top)."""

    __props__ = ("kind", "axes", "acc_dtype")

    def __init__(self, kind, axes, acc_dtype=None):
        self.kind, self.axes, self.acc_dtype = kind, tuple(axes), acc_dtype

    def __str__(self):
        return f"{self.kind.capitalize()}{{{','.join(map(str, self.axes))}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        dtype = self.acc_dtype or _REDUCERS[self.kind][1](x.dtype)
        if self.kind in ("max", "min"):
            for a in self.axes:
                if x.type.shape[a] == 0:
                    raise ValueError(f"{self.kind}: zero-size axis {a} has no {self.kind}imum")
        shp = [s for i, s in enumerate(x.type.shape) if i not in self.axes]
        return Apply(self, [x], [TensorType(dtype, shp)])

    def perform(self, node, inputs):
        fn = _REDUCERS[self.kind][0]
        x, = inputs
        dtype = node.outputs[0].dtype
        if self.kind in ("sum", "prod"):
            return [np.asarray(fn(x, axis=self.axes, dtype=dtype))]
        try:
            return [np.asarray(fn(x, axis=self.axes)).astype(dtype, copy=False)]
        except ValueError as e:
            raise ValueError(f"{self.kind} over axes {self.axes} of shape {x.shape}: {e}") from None

    def grad(self, inputs, output_grads):
        x, = inputs
        if x.dtype not in FLOAT_DTYPES:
            return [None]
        g = _expand(output_grads[0], x.ndim, self.axes)
        if self.kind == "sum":
            return [alloc(cast(g, x.dtype), shape(x))]
        if self.kind in ("max", "min"):
            out = _expand(self(x), x.ndim, self.axes)
            return [M.mul(g, cast(M.eq(x, out), x.dtype))]
        if self.kind == "prod":
            return [M.mul(g, _prod_partials(x, self.axes))]
        return [None]


def _expand(g, ndim, axes):
    """Insert the reduced axes back as broadcastable axes."""
    order, k = [], 0
    for i in range(ndim):
        if i in axes:
            order.append("x")
        else:
            order.append(k)
            k += 1
    return dimshuffle(g, order)


def _prod_partials(x, axes):
    """d prod / d x_i = product of the others, correct also when some x are zero."""
    is_zero = M.eq(x, 0)
    n_zero = _expand(Reduce("sum", axes)(cast(is_zero, "int64")), x.ndim, axes)
    p_nonzero = _expand(Reduce("prod", axes)(M.switch(is_zero, 1, x)), x.ndim, axes)
    at_zero = M.switch(M.eq(n_zero, 1), p_nonzero, 0)
    elsewhere = M.switch(M.eq(n_zero, 0), M.true_div(p_nonzero, M.switch(is_zero, 1, x)), 0)
    return M.switch(is_zero, at_zero, elsewhere)


class ArgReduce(Op):
    """Index of the maximum (or minimum) along one axis, or of the flattened array."""

    __props__ = ("kind", "axis")

    def __init__(self, kind, axis):
        self.kind, self.axis = kind, axis

    def make_node(self, x):
        x = as_tensor_variable(x)
        for a in range(x.ndim) if self.axis is None else [self.axis]:
            if x.type.shape[a] == 0:
                raise ValueError(f"arg{self.kind}: zero-size axis {a} has no {self.kind}imum")
        if self.axis is None:
            shp = ()
        else:
            shp = [s for i, s in enumerate(x.type.shape) if i != self.axis]
        return Apply(self, [x], [TensorType("int64", shp)])

    def perform(self, node, inputs):
        fn = np.argmax if self.kind == "max" else np.argmin
        try:
            return [np.asarray(fn(inputs[0], axis=self.axis), dtype="int64")]
        except ValueError as e:
            raise ValueError(f"arg{self.kind}: {e}") from None

    def grad(self, inputs, output_grads):
        return [None]

    def connection_pattern(self, node):
        return [[False]]


def _reduce(kind, x, axis, keepdims, acc_dtype=None):
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, kind)
    if axes:
        out = Reduce(kind, axes, acc_dtype)(x)
    else:  # nothing to reduce, but the result has the reduction's dtype (int8 sums are int64)
        out = cast(x, acc_dtype or _REDUCERS[kind][1](x.dtype))
    return _expand(out, x.ndim, axes) if keepdims else out


def sum(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    out = _reduce("sum", x, axis, keepdims, acc_dtype=check_dtype(acc_dtype) if acc_dtype else None)
    return cast(out, dtype) if dtype else out


def prod(x, axis=None, keepdims=False):
    return _reduce("prod", x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    return _reduce("min", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    return _reduce("any", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    return _reduce("all", x, axis, keepdims)


def _argreduce(kind, x, axis, keepdims):
    x = as_tensor_variable(x)
    if axis is None or (x.ndim == 1 and axis in (0, -1)):
        out = ArgReduce(kind, None)(x)
        if keepdims:
            out = dimshuffle(out, ["x"] * x.ndim)
        return out
    if not isinstance(axis, (int, np.integer)):
        raise ValueError(f"arg{kind}: axis must be None or one int, got {axis!r}")
    ax, = normalize_axes(axis, x.ndim, f"arg{kind}")
    out = ArgReduce(kind, ax)(x)
    return _expand(out, x.ndim, (ax,)) if keepdims else out


def argmax(x, axis=None, keepdims=False):
    return _argreduce("max", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _argreduce("min", x, axis, keepdims)


def _count(x, axes, dtype):
    dims = [x.type.shape[a] for a in axes]
    if None not in dims:
        return np.array(int(np.prod(dims)), dtype=dtype)
    return cast(prod(shape(x)[list(axes)]) if axes else 1, dtype)


def _mean_dtype(dtype):
    """NumPy's: float inputs keep their dtype (float32 stays float32), others give float64."""
    return dtype if dtype in FLOAT_DTYPES else "float64"


def mean(x, axis=None, keepdims=False, dtype=None):
    """Sum divided by count, in the input's float dtype (float32 stays float32)."""
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, "mean")
    out_dtype = dtype or _mean_dtype(x.dtype)
    total = sum(x, axes, keepdims, acc_dtype=out_dtype if x.dtype not in FLOAT_DTYPES else None)
    return M.true_div(cast(total, out_dtype), _count(x, axes, out_dtype))


def var(x, axis=None, keepdims=False, ddof=0, corrected=None):
    x = as_tensor_variable(x)
    if corrected is not None:
        ddof = 1 if corrected else 0
    axes = normalize_axes(axis, x.ndim, "var")
    xf = cast(x, _mean_dtype(x.dtype))
    centered = M.sub(xf, mean(xf, axes, keepdims=True))
    v = mean(M.sqr(centered), axes, keepdims)
    if ddof:
        n = _count(x, axes, xf.dtype)
        v = M.mul(v, M.true_div(n, M.sub(n, ddof)))
    return v


def std(x, axis=None, keepdims=False, ddof=0, corrected=None):
    return M.sqrt(var(x, axis, keepdims, ddof, corrected))


class LogSumExp(Op):
    """``log(sum(exp(x)))`` over ``axes``, shifted by the maximum so it never overflows.

    An empty axis gives ``-inf`` (the log of an empty sum), as the plain formula does.
    """

    __props__ = ("axes",)

    def __init__(self, axes):
        self.axes = tuple(axes)

    def make_node(self, x):
        x = as_tensor_variable(x)
        x = cast(x, float_dtype_for(x.dtype))
        shp = [s for i, s in enumerate(x.type.shape) if i not in self.axes]
        return Apply(self, [x], [TensorType(x.dtype, shp)])

    def perform(self, node, inputs):
        x, = inputs
        m = np.max(x, axis=self.axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(x - m), axis=self.axes, keepdims=True)) + m
        return [np.asarray(np.squeeze(out, axis=self.axes), dtype=x.dtype)]

    def grad(self, inputs, output_grads):
        x, = inputs
        out = _expand(self(x), x.ndim, self.axes)
        g = _expand(output_grads[0], x.ndim, self.axes)
        return [M.mul(g, M.exp(M.sub(x, out)))]


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` computed without overflow."""
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, "logsumexp")
    out = LogSumExp(axes)(x)
    return _expand(out, x.ndim, axes) if keepdims else out

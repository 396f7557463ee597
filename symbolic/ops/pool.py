"""2-d pooling over the last two axes, with Theano's ``pool_2d`` semantics.

A window of ``ws = (rows, cols)`` slides over the last two axes with
``stride`` (``ws`` by default, i.e. no overlap); every leading axis (batch,
channels, ...) is pooled independently.  Modes:

* ``'max'``: the largest value in the window;
* ``'sum'``: the sum of the window;
* ``'average_inc_pad'``: the mean, counting zero padding as part of the window;
* ``'average_exc_pad'``: the mean over the window's real (non-padding) cells.

``ignore_border=True`` keeps only windows that fit entirely in the (padded)
input; ``ignore_border=False`` adds partial windows at the bottom/right
border so that every cell is covered, and those are pooled over the cells
they do cover (so their averages divide by the clipped size).  ``pad`` adds
``pad[0]`` rows / ``pad[1]`` cols on each side; as in Theano it is only
allowed with ``ignore_border=True`` and must be smaller than ``ws``, and
padding cells never win a max nor count in 'average_exc_pad'.

Ops: ``Pool`` (forward), ``PoolGrad`` (its gradient) and, so that second
derivatives of max pooling exist, ``MaxPoolGradGrad``.  The gradient of max
pooling goes to *every* cell equal to its window's maximum (not only the
first), and cells in several overlapping windows accumulate from each.

NumPy work is vectorised over pixels: the input is laid on a canvas large
enough for every window to be whole (filled with a value that cannot change
the result), and the ops loop only over the ``ws[0] * ws[1]`` window taps,
each a strided slice of the canvas aligned with the output.
"""
import numbers

import numpy as np

from ..graph import Apply, Op
from ..types import TensorType, float_dtype_for
from ..variable import as_tensor_variable
from .elemwise import cast
from .shape import zeros_like

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


class PoolShapeError(ValueError, TypeError):
    """A tensor with too few dimensions was given to pooling.

    A ValueError like the module's other argument errors, and a TypeError as
    Theano raised for it, so code written against either keeps working.
    """


# ------------------------------------------------------------ parameters

def _pair(value, what, minimum):
    """An int or a pair of ints, as a pair of ints >= minimum, or a ValueError."""
    def is_int(v):
        return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))
    if is_int(value):
        value = (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) and v >= minimum
                                                                    for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"pool_2d: {what} must be a pair of ints >= {minimum}, got {value!r}")


def pool_output_length(length, ws, stride, pad, ignore_border):
    """Number of windows along one axis (Theano's rule), or None when unknown.

    With ``ignore_border=False`` windows are added until the axis is covered,
    so a partial last window counts; an empty axis has no windows at all.
    """
    if length is None:
        return None
    padded = length + 2 * pad
    if ignore_border:
        return max(0, (padded - ws) // stride + 1)
    if padded == 0:
        return 0
    if stride >= ws:
        return (padded - 1) // stride + 1
    return max(0, (padded - 1 - ws + stride) // stride) + 1


def _lowest(dtype):
    """A value no element can be below: the neutral fill for max pooling."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


class _PoolGeometry:
    """Window layout of one pooling configuration on a concrete input size."""

    def __init__(self, op, rows, cols):
        self.rows, self.cols = rows, cols
        self.ws, self.stride, self.pad = op.ws, op.stride, op.pad
        self.out = tuple(pool_output_length(n, w, s, p, op.ignore_border)
                         for n, w, s, p in zip((rows, cols), op.ws, op.stride, op.pad))
        # The canvas holds the padded input and every window in full.
        self.canvas = tuple(max(n + 2 * p, (o - 1) * s + w)
                            for n, p, o, s, w in zip((rows, cols), op.pad, self.out, op.stride, op.ws))

    @property
    def empty(self):
        return 0 in self.out

    def to_canvas(self, x, fill):
        """``x`` (..., rows, cols) placed at (pad, pad) on a canvas filled with ``fill``.

        When no padding or partial window is needed the canvas is ``x``
        itself, not a copy: callers only read it.
        """
        if self.canvas == (self.rows, self.cols):
            return x
        canvas = np.full(x.shape[:-2] + self.canvas, fill, dtype=x.dtype)
        self.inner(canvas)[...] = x
        return canvas

    def inner(self, canvas):
        """The part of a canvas that holds the real input cells."""
        (pr, pc) = self.pad
        return canvas[..., pr:pr + self.rows, pc:pc + self.cols]

    def taps(self):
        """For each window tap (u, v): the canvas slice of that tap for every window."""
        (wr, wc), (sr, sc), (out_r, out_c) = self.ws, self.stride, self.out
        for u in range(wr):
            for v in range(wc):
                yield (Ellipsis, slice(u, u + sr * (out_r - 1) + 1, sr),
                       slice(v, v + sc * (out_c - 1) + 1, sc))

    def counts(self, include_padding, dtype):
        """How many cells each window averages over: (out_rows, out_cols).

        Windows are clipped to the padded input; excluding padding further
        clips them to the real cells.  A window can only be empty when the
        input itself is (a 0-row input with padding); it counts 1 so that
        its average is 0 rather than NaN.
        """
        def one_axis(n, ws, stride, pad, out):
            start = np.arange(out) * stride
            end = np.minimum(start + ws, n + 2 * pad)
            if not include_padding:
                start, end = np.maximum(start, pad), np.minimum(end, n + pad)
            return np.maximum(end - start, 0)
        r = one_axis(self.rows, self.ws[0], self.stride[0], self.pad[0], self.out[0])
        c = one_axis(self.cols, self.ws[1], self.stride[1], self.pad[1], self.out[1])
        return np.maximum(np.outer(r, c), 1).astype(dtype)


class _PoolOp(Op):
    """Parameters and checks shared by the pooling ops."""

    __props__ = ("ws", "stride", "pad", "ignore_border", "mode")

    def __init__(self, ws, stride=None, pad=(0, 0), ignore_border=True, mode="max"):
        self.ws = _pair(ws, "ws", 1)
        self.stride = self.ws if stride is None else _pair(stride, "stride", 1)
        self.pad = _pair(pad, "pad", 0)
        self.ignore_border = bool(ignore_border)
        if mode not in MODES:
            raise ValueError(f"pool_2d: mode {mode!r} is not valid; expected one of {', '.join(MODES)}")
        self.mode = mode
        if self.pad != (0, 0) and not self.ignore_border:
            raise ValueError(f"pool_2d: padding {self.pad} needs ignore_border=True (as in Theano)")
        if self.pad[0] >= self.ws[0] or self.pad[1] >= self.ws[1]:
            raise ValueError(f"pool_2d: padding {self.pad} must be smaller than the window {self.ws}")

    def _params(self):
        return dict(ws=self.ws, stride=self.stride, pad=self.pad, ignore_border=self.ignore_border,
                    mode=self.mode)

    def _output_type(self, x, dtype):
        rows, cols = x.type.shape[-2:]
        out = tuple(pool_output_length(n, w, s, p, self.ignore_border)
                    for n, w, s, p in zip((rows, cols), self.ws, self.stride, self.pad))
        return TensorType(dtype, x.type.shape[:-2] + out)

    def _geometry(self, x):
        return _PoolGeometry(self, *x.shape[-2:])

    def __str__(self):
        return (f"{type(self).__name__}{{{self.mode}, ws={self.ws}, stride={self.stride}, "
                f"pad={self.pad}, ignore_border={self.ignore_border}}}")


def _pool_input(x):
    x = as_tensor_variable(x)
    if x.ndim < 2:
        raise PoolShapeError(f"pool_2d: the input needs at least 2 dimensions (pooling is over the "
                             f"last two), got a {x.ndim}-d tensor")
    return x


class Pool(_PoolOp):
    """Pool the last two axes: max, sum or mean of each window."""

    def make_node(self, x):
        x = _pool_input(x)
        if self.mode.startswith("average"):
            x = cast(x, float_dtype_for(x.dtype))
        return Apply(self, [x], [self._output_type(x, x.dtype)])

    def perform(self, node, inputs):
        x, = inputs
        geo = self._geometry(x)
        out_dtype = node.outputs[0].dtype
        if geo.empty:
            return [np.zeros(x.shape[:-2] + geo.out, dtype=out_dtype)]
        if self.mode == "max":
            canvas = geo.to_canvas(x, _lowest(x.dtype))
            taps = geo.taps()
            out = canvas[next(taps)].copy()
            for tap in taps:
                np.maximum(out, canvas[tap], out=out)
            return [out.astype(out_dtype, copy=False)]
        canvas = geo.to_canvas(x, 0)
        out = np.zeros(x.shape[:-2] + geo.out, dtype=x.dtype)
        for tap in geo.taps():
            out += canvas[tap]
        if self.mode != "sum":
            out /= geo.counts(self.mode == "average_inc_pad", out.dtype)
        return [out.astype(out_dtype, copy=False)]

    def grad(self, inputs, output_grads):
        x, = inputs
        gz, = output_grads
        grad_op = PoolGrad(**self._params())
        if self.mode == "max":
            return [grad_op(x, self(x), gz)]
        return [grad_op(x, gz)]


class PoolGrad(_PoolOp):
    """The gradient of ``Pool`` with respect to its input.

    Max mode takes ``(x, pooled, gz)``: a cell receives the gradient of every
    window whose maximum it equals (ties all receive it).  The other modes
    take ``(x, gz)`` (``x`` only for its shape): a cell receives each of its
    windows' gradient, divided by the window's count for the averages.
    """

    def make_node(self, x, *rest):
        x = _pool_input(x)
        n_rest = 2 if self.mode == "max" else 1
        if len(rest) != n_rest:
            raise TypeError(f"{self}: expected {1 + n_rest} inputs "
                            f"({'x, pooled, gz' if n_rest == 2 else 'x, gz'}), got {1 + len(rest)}")
        rest = [as_tensor_variable(r) for r in rest]
        for r in rest:
            if r.ndim != x.ndim:
                raise ValueError(f"{self}: {r.type} does not have the {x.ndim} dimensions of x")
        if self.mode == "max":
            pooled, gz = rest
            inputs = [x, cast(pooled, x.dtype), cast(gz, x.dtype)]
        else:
            x = cast(x, float_dtype_for(x.dtype))
            inputs = [x, cast(rest[0], x.dtype)]
        return Apply(self, inputs, [x.type])

    def perform(self, node, inputs):
        x, gz = inputs[0], inputs[-1]
        geo = self._geometry(x)
        if gz.shape[-2:] != geo.out:
            raise ValueError(f"{self}: the output gradient has shape {gz.shape}, but pooling an "
                             f"input of shape {x.shape} gives {x.shape[:-2] + geo.out}")
        dtype = node.outputs[0].dtype
        if geo.empty:
            return [np.zeros(x.shape, dtype=dtype)]
        grad_canvas = np.zeros(x.shape[:-2] + geo.canvas, dtype=dtype)
        if self.mode == "max":
            pooled = inputs[1]
            canvas = geo.to_canvas(x, _lowest(x.dtype))
            for tap in geo.taps():
                grad_canvas[tap] += np.where(canvas[tap] == pooled, gz, 0)
        else:
            if self.mode != "sum":
                gz = gz / geo.counts(self.mode == "average_inc_pad", gz.dtype)
            for tap in geo.taps():
                grad_canvas[tap] += gz
        return [np.ascontiguousarray(geo.inner(grad_canvas))]

    def grad(self, inputs, output_grads):
        # PoolGrad is linear in gz, and piecewise constant in x (and the pooled max).
        g, = output_grads
        if self.mode == "max":
            x, pooled, gz = inputs
            return [zeros_like(x), zeros_like(pooled), MaxPoolGradGrad(**self._params())(x, pooled, g)]
        x, gz = inputs
        return [zeros_like(x), Pool(**self._params())(g)]


class MaxPoolGradGrad(_PoolOp):
    """The adjoint of max ``PoolGrad`` in its gradient input, for second derivatives.

    Inputs ``(x, pooled, g)``; each window's result is the sum of ``g`` over
    the cells that equal the window's maximum, exactly the cells that max
    ``PoolGrad`` routes that window's gradient to.
    """

    def __init__(self, ws, stride=None, pad=(0, 0), ignore_border=True, mode="max"):
        if mode != "max":
            raise ValueError(f"MaxPoolGradGrad is for mode 'max', got {mode!r}")
        super().__init__(ws, stride, pad, ignore_border, mode)

    def make_node(self, x, pooled, g):
        x = _pool_input(x)
        pooled, g = as_tensor_variable(pooled), as_tensor_variable(g)
        if pooled.ndim != x.ndim or g.ndim != x.ndim:
            raise ValueError(f"{self}: inputs {x.type}, {pooled.type}, {g.type} differ in ndim")
        return Apply(self, [x, cast(pooled, x.dtype), cast(g, x.dtype)], [self._output_type(x, x.dtype)])

    def perform(self, node, inputs):
        x, pooled, g = inputs
        geo = self._geometry(x)
        out = np.zeros(x.shape[:-2] + geo.out, dtype=node.outputs[0].dtype)
        if geo.empty:
            return [out]
        canvas = geo.to_canvas(x, _lowest(x.dtype))
        g_canvas = geo.to_canvas(g, 0)
        for tap in geo.taps():
            out += np.where(canvas[tap] == pooled, g_canvas[tap], 0)
        return [out]

    def grad(self, inputs, output_grads):
        # Linear in g with max PoolGrad as its adjoint; piecewise constant in x and pooled.
        x, pooled, g = inputs
        gout, = output_grads
        return [zeros_like(x), zeros_like(pooled), PoolGrad(**self._params())(x, pooled, gout)]


# ------------------------------------------------------------ user functions

def pool_2d(input, ws=None, ignore_border=True, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last two axes of ``input`` (Theano's ``pool_2d``).

    ``ws`` is the window (rows, cols); ``stride`` defaults to ``ws``; ``pad``
    adds zero rows/cols on each side (only with ``ignore_border=True``).
    ``ds``, ``st`` and ``padding`` are Theano's older names for ``ws``,
    ``stride`` and ``pad``.  ``ignore_border=None`` means False, as it did in
    Theano.  Max and sum keep the input's dtype; averages are float.
    """
    ws = _alias(ws, ds, "ws", "ds")
    stride = _alias(stride, st, "stride", "st")
    pad = _alias(None if pad is None or _pair(pad, "pad", 0) == (0, 0) else pad, padding, "pad",
                 "padding") or (0, 0)
    if ws is None:
        raise ValueError("pool_2d: give the window size ws")
    if ignore_border is None:
        ignore_border = False
    return Pool(ws, stride, pad, ignore_border, mode)(input)


def _alias(value, old, name, old_name):
    """The value of a parameter that may be given under its old Theano name too."""
    if old is None:
        return value
    if value is not None and _pair(value, name, 0) != _pair(old, old_name, 0):
        raise ValueError(f"pool_2d: {name}={value} and its old name {old_name}={old} disagree; "
                         f"give only one")
    return old


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """The old ``theano.tensor.signal.downsample.max_pool_2d`` call.

    ``ignore_border`` defaults to False, as it did there.
    """
    return pool_2d(input, ds, ignore_border=bool(ignore_border), stride=st, pad=padding, mode=mode)


__all__ = ["pool_2d", "max_pool_2d", "Pool", "PoolGrad", "MaxPoolGradGrad", "PoolShapeError",
           "pool_output_length"]

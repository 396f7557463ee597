"""2-d convolution with Theano's ``conv2d`` semantics, and its gradients.

Layout: images are ``(batch, channels, rows, cols)``, filters are
``(n_filters, channels, k_rows, k_cols)`` and the result is
``(batch, n_filters, out_rows, out_cols)``.  With ``filter_flip=True``
(Theano's default) this is a true convolution: the kernel is flipped in both
spatial axes before sliding it over the image; ``filter_flip=False`` gives
cross-correlation.  ``border_mode`` pads the image with zeros on every side:

* ``'valid'``: no padding, ``out = (in - k) // stride + 1``;
* ``'full'``:  ``k - 1`` on each side, ``out = (in + k - 2) // stride + 1``;
* ``'half'``:  ``k // 2`` on each side (same size for odd kernels, stride 1);
* an int ``p`` or a pair ``(ph, pw)``: that many zeros.

Three ops do the work: ``Conv2d`` (the forward pass), ``Conv2dGradInputs``
(the gradient with respect to the images) and ``Conv2dGradWeights`` (with
respect to the filters).  All three are linear in each of their tensor inputs
and the two gradient ops are adjoints of the forward one, so each op's
gradient is written with the other two; second derivatives then come for
free.  The gradient ops take the spatial size of what they reconstruct as an
extra integer input, because with strides that size cannot be recovered from
the output gradient alone.

The NumPy reference work is vectorised over pixels: the forward pass and the
weight gradient copy every kernel window of the padded image into a matrix
(im2col, through a strided view) and do one batched matrix product; the
input gradient does the product first and then scatters it back with a
loop over the kernel taps only.
"""
import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..graph import Apply, Op, Variable
from ..types import TensorType, float_dtype_for, upcast
from ..variable import as_tensor_variable
from .elemwise import cast
from .shape import as_shape, get_static_shape, shape

_BORDER_NAMES = ("valid", "full", "half")


class ConvShapeError(ValueError, TypeError):
    """A tensor with the wrong number of dimensions was given to a convolution.

    It is a ValueError like every other shape mismatch this module reports,
    and also a TypeError because Theano raised that for a wrong ndim; code
    written for either keeps catching it.
    """


# ------------------------------------------------------------ parameters

def _is_int(v):
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def normalize_border_mode(border_mode):
    """'valid', 'full', 'half' or a pair of non-negative ints, or a ValueError.

    An explicit padding of (0, 0) is the same computation as 'valid' and is
    normalised to it, so that the two spellings give equal ops.
    """
    if isinstance(border_mode, str):
        if border_mode not in _BORDER_NAMES:
            raise ValueError(f"conv2d: border_mode {border_mode!r} is not valid; expected 'valid', "
                             f"'full', 'half', an int or a pair of ints")
        return border_mode
    if _is_int(border_mode):
        border_mode = (border_mode, border_mode)
    if isinstance(border_mode, (tuple, list)) and len(border_mode) == 2 \
            and all(_is_int(p) and p >= 0 for p in border_mode):
        pads = (int(border_mode[0]), int(border_mode[1]))
        return "valid" if pads == (0, 0) else pads
    raise ValueError(f"conv2d: border_mode {border_mode!r} is not valid; expected 'valid', 'full', "
                     f"'half', a non-negative int or a pair of non-negative ints")


def normalize_subsample(subsample):
    """The strides as a pair of positive ints, or a ValueError."""
    if _is_int(subsample):
        subsample = (subsample, subsample)
    if isinstance(subsample, (tuple, list)) and len(subsample) == 2 \
            and all(_is_int(s) and s >= 1 for s in subsample):
        return (int(subsample[0]), int(subsample[1]))
    raise ValueError(f"conv2d: subsample {subsample!r} is not valid; expected a pair of positive ints")


def padding_for(border_mode, k_rows, k_cols):
    """The zero padding (rows, cols) on each side for a kernel of this size.

    Kernel sizes may be None (unknown while building); the matching padding is
    then None too, unless the border mode gives it explicitly.
    """
    def one(mode, k, axis):
        if mode == "valid":
            return 0
        if isinstance(mode, tuple):
            return mode[axis]
        if k is None:
            return None
        return k - 1 if mode == "full" else k // 2
    return one(border_mode, k_rows, 0), one(border_mode, k_cols, 1)


def conv_output_length(length, k, pad, stride):
    """Output length along one axis, or None when something is unknown.

    Raises ValueError when the kernel is larger than the padded input, where
    no window fits.
    """
    if length is None or k is None or pad is None:
        return None
    padded = length + 2 * pad
    if padded < k:
        raise ValueError(f"conv2d: a kernel of size {k} does not fit in an input of size {length} "
                         f"padded by {pad} on each side")
    return (padded - k) // stride + 1


def _fmt(shape_):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape_) + ")"


def normalize_shape_hint(hint, what):
    """A user's static shape hint as a 4-tuple of ints and Nones (or None), or a ValueError."""
    if hint is None:
        return None
    if isinstance(hint, Variable) or not isinstance(hint, (tuple, list)):
        raise ValueError(f"conv2d: {what} must be a tuple of 4 ints or None, got {hint!r}")
    hint = tuple(hint)
    if len(hint) != 4:
        raise ValueError(f"conv2d: {what} {hint} must have 4 entries "
                         f"(batch/filters, channels, rows, cols), got {len(hint)}")
    if not all(h is None or (_is_int(h) and h >= 0) for h in hint):
        raise ValueError(f"conv2d: {what} {hint} must hold non-negative ints or None")
    return tuple(None if h is None else int(h) for h in hint)


def _hint_differs(hint, shape):
    return hint is not None and any(h is not None and h != s for h, s in zip(hint, shape))


def _merge_hint(var, hint, what):
    """Combine a variable's static shape with a shape hint, checking that they agree."""
    static = var.type.shape
    if hint is None:
        return static
    for axis, (s, h) in enumerate(zip(static, hint)):
        if s is not None and h is not None and s != h:
            raise ValueError(f"conv2d: {what} {_fmt(hint)} disagrees with the variable's static "
                             f"shape {_fmt(static)} on axis {axis}")
    return tuple(s if h is None else h for s, h in zip(static, hint))


def _check_ndim(var, what, layout):
    if var.ndim != 4:
        raise ConvShapeError(f"conv2d: {what} must be a 4-d tensor {layout}, got a {var.ndim}-d "
                             f"tensor of static shape {_fmt(var.type.shape)}")


def _float_pair(a, b):
    """Both tensors cast to their common float dtype (ints promote as in Theano)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    dtype = float_dtype_for(upcast(a.dtype, b.dtype))
    return cast(a, dtype), cast(b, dtype)


def _spatial_size(var, hint=None):
    """An int64 2-vector with the rows and cols of a 4-d tensor, static where known."""
    known = hint if hint is not None else var.type.shape
    return as_shape([known[i] if known[i] is not None else shape(var)[i] for i in (2, 3)])


def _static_pair(size_var):
    """The build-time (rows, cols) of a gradient op's size input, None where unknown."""
    static = get_static_shape(size_var)
    if static is None or len(static) != 2:
        raise ValueError(f"conv2d gradient: the spatial size must be a vector of 2 ints, "
                         f"got {size_var.type}")
    return static


# ------------------------------------------------------------ NumPy kernels

def _pad_image(x, pad_rows, pad_cols):
    """Zero padding on both sides of the two spatial axes (no copy when there is none)."""
    if pad_rows == 0 and pad_cols == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad_rows, pad_rows), (pad_cols, pad_cols)))


def _im2col(padded, k_rows, k_cols, stride, out_rows, out_cols):
    """Every kernel window of a padded batch, as a (batch, c*k_rows*k_cols, out_rows*out_cols) array.

    ``cols[b, (c, u, v), (i, j)] = padded[b, c, i*sr + u, j*sc + v]``.  It is
    read through a strided view and copied once; in this layout the forward
    pass and the weight gradient are plain batched matrix products whose
    results need no transposing.
    """
    sb, sc, s_rows, s_cols = padded.strides
    batch, channels = padded.shape[:2]
    view = as_strided(padded, (batch, channels, k_rows, k_cols, out_rows, out_cols),
                      (sb, sc, s_rows, s_cols, s_rows * stride[0], s_cols * stride[1]),
                      writeable=False)
    return np.ascontiguousarray(view).reshape(batch, channels * k_rows * k_cols, out_rows * out_cols)


# The window matrix of a whole batch can be large (a 10000-image MNIST batch
# is ~150M values); batches are processed in chunks of at most this many.
_MAX_CHUNK_VALUES = 1 << 24


def _batch_chunks(batch, values_per_item):
    """Slices of the batch axis whose window matrices stay under _MAX_CHUNK_VALUES."""
    step = max(1, _MAX_CHUNK_VALUES // max(1, values_per_item))
    return [slice(start, start + step) for start in range(0, batch, step)]


def _flip(w, filter_flip):
    """The kernel as it is slid over the image: reversed in both spatial axes for a convolution."""
    return w[:, :, ::-1, ::-1] if filter_flip else w


class _ConvOp(Op):
    """What the three convolution ops share: geometry and its run-time checks."""

    __props__ = ("border_mode", "subsample", "filter_flip")

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True):
        self.border_mode = normalize_border_mode(border_mode)
        self.subsample = normalize_subsample(subsample)
        self.filter_flip = bool(filter_flip)

    def _geometry(self, image_hw, kernel_hw):
        """(pads, output rows and cols) for these spatial sizes.

        Sizes may be None while building (the results are then None where they
        depend on them); a kernel that cannot fit raises ValueError.
        """
        pads = padding_for(self.border_mode, *kernel_hw)
        out = tuple(conv_output_length(n, k, p, s)
                    for n, k, p, s in zip(image_hw, kernel_hw, pads, self.subsample))
        return pads, out

    def _params(self):
        return dict(border_mode=self.border_mode, subsample=self.subsample,
                    filter_flip=self.filter_flip)

    def __str__(self):
        return (f"{type(self).__name__}{{{self.border_mode}, stride={self.subsample}, "
                f"flip={self.filter_flip}}}")


class Conv2d(_ConvOp):
    """The forward convolution of a batch of images with a bank of filters.

    ``input_shape`` and ``filter_shape`` are the user's static shape hints
    (4 entries, None where unknown).  They are part of the op so that its
    output type can state the shapes they imply, and the op checks at run
    time that the values really have them.
    """

    __props__ = _ConvOp.__props__ + ("input_shape", "filter_shape")

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True,
                 input_shape=None, filter_shape=None):
        super().__init__(border_mode, subsample, filter_flip)
        self.input_shape = normalize_shape_hint(input_shape, "input_shape")
        self.filter_shape = normalize_shape_hint(filter_shape, "filter_shape")

    def make_node(self, x, w):
        x, w = as_tensor_variable(x), as_tensor_variable(w)
        _check_ndim(x, "the input", "(batch, channels, rows, cols)")
        _check_ndim(w, "the filters", "(n_filters, channels, rows, cols)")
        x, w = _float_pair(x, w)
        xs = _merge_hint(x, self.input_shape, "input_shape")
        ws = _merge_hint(w, self.filter_shape, "filter_shape")
        if xs[1] is not None and ws[1] is not None and xs[1] != ws[1]:
            raise ValueError(f"conv2d: the input has {xs[1]} channels but the filters have "
                             f"{ws[1]} (input shape {_fmt(xs)}, filter shape {_fmt(ws)})")
        out_hw = self._geometry(xs[2:], ws[2:])[1]
        return Apply(self, [x, w], [TensorType(x.dtype, (xs[0], ws[0]) + out_hw)])

    def perform(self, node, inputs):
        x, w = inputs
        self._check_hints(x, w)
        if x.shape[1] != w.shape[1]:
            raise ValueError(f"conv2d: the input has {x.shape[1]} channels but the filters have "
                             f"{w.shape[1]} (input shape {x.shape}, filter shape {w.shape})")
        (pr, pc), (out_r, out_c) = self._geometry(x.shape[2:], w.shape[2:])
        n_filters, channels, k_rows, k_cols = w.shape
        kernel = _flip(w, self.filter_flip).reshape(n_filters, channels * k_rows * k_cols)
        padded = _pad_image(x, pr, pc)
        out = np.empty((x.shape[0], n_filters, out_r * out_c), dtype=node.outputs[0].dtype)
        for part in _batch_chunks(x.shape[0], kernel.shape[1] * out_r * out_c):
            cols = _im2col(padded[part], k_rows, k_cols, self.subsample, out_r, out_c)
            out[part] = np.matmul(kernel, cols)
        return [out.reshape(x.shape[0], n_filters, out_r, out_c)]

    def hints_fit(self, x_shape, w_shape):
        """Whether run-time shapes agree with the ``input_shape``/``filter_shape`` hints
        (a native backend runs the reference, which raises, when they do not)."""
        return not any(_hint_differs(h, s) for h, s in ((self.input_shape, x_shape),
                                                        (self.filter_shape, w_shape)))

    def _check_hints(self, x, w):
        for what, hint, value in (("input_shape", self.input_shape, x),
                                  ("filter_shape", self.filter_shape, w)):
            if _hint_differs(hint, value.shape):
                raise ValueError(f"conv2d: {what} was given as {hint} but the value has shape "
                                 f"{value.shape}")

    def grad(self, inputs, output_grads):
        x, w = inputs
        gz, = output_grads
        image_hw = _spatial_size(x, self.input_shape)
        kernel_hw = _spatial_size(w, self.filter_shape)
        params = self._params()
        return [Conv2dGradInputs(**params)(w, gz, image_hw),
                Conv2dGradWeights(**params)(x, gz, kernel_hw)]

    def __str__(self):
        return (f"Conv2d{{{self.border_mode}, stride={self.subsample}, flip={self.filter_flip}"
                + (f", input_shape={self.input_shape}" if self.input_shape else "")
                + (f", filter_shape={self.filter_shape}" if self.filter_shape else "") + "}")


class Conv2dGradInputs(_ConvOp):
    """The gradient of ``Conv2d`` with respect to its images.

    Inputs: the filters, the gradient of the convolution's output and the
    images' (rows, cols).  Each output-gradient value is spread back over the
    window it was computed from, weighted by the (flipped) kernel; this is the
    adjoint of the forward convolution as a linear map of the images.
    """

    def make_node(self, w, gz, image_hw):
        w, gz = as_tensor_variable(w), as_tensor_variable(gz)
        _check_ndim(w, "the filters", "(n_filters, channels, rows, cols)")
        _check_ndim(gz, "the output gradient", "(batch, n_filters, rows, cols)")
        w, gz = _float_pair(w, gz)
        image_hw = as_shape(image_hw, "conv2d image size")
        rows, cols = _static_pair(image_hw)
        if w.type.shape[0] is not None and gz.type.shape[1] is not None \
                and w.type.shape[0] != gz.type.shape[1]:
            raise ValueError(f"conv2d gradient: {w.type.shape[0]} filters but the output gradient "
                             f"has {gz.type.shape[1]} channels (filter shape {_fmt(w.type.shape)}, "
                             f"gradient shape {_fmt(gz.type.shape)})")
        out = TensorType(w.dtype, (gz.type.shape[0], w.type.shape[1], rows, cols))
        return Apply(self, [w, gz, image_hw], [out])

    def perform(self, node, inputs):
        w, gz, image_hw = inputs
        rows, cols = (int(s) for s in image_hw)
        k_rows, k_cols = w.shape[2:]
        (pr, pc), out_hw = self._geometry((rows, cols), (k_rows, k_cols))
        _check_gradient_shape(gz, w.shape[0], out_hw, (rows, cols), w.shape)
        batch, channels = gz.shape[0], w.shape[1]
        sr, sc = self.subsample
        out_r, out_c = out_hw
        n_filters = w.shape[0]
        kernel_t = _flip(w, self.filter_flip).reshape(n_filters, channels * k_rows * k_cols).T
        padded = np.zeros((batch, channels, rows + 2 * pr, cols + 2 * pc), dtype=node.outputs[0].dtype)
        for part in _batch_chunks(batch, kernel_t.shape[0] * out_r * out_c):
            # contrib[b, c, u, v, i, j]: what output pixel (i, j) sends to padded pixel (i*sr+u, j*sc+v)
            target, grads = padded[part], gz[part]
            contrib = np.matmul(kernel_t, grads.reshape(len(grads), n_filters, out_r * out_c))
            contrib = contrib.reshape(len(grads), channels, k_rows, k_cols, out_r, out_c)
            for u in range(k_rows):
                for v in range(k_cols):
                    target[:, :, u:u + sr * (out_r - 1) + 1:sr, v:v + sc * (out_c - 1) + 1:sc] += \
                        contrib[:, :, u, v]
        return [np.ascontiguousarray(padded[:, :, pr:pr + rows, pc:pc + cols])]

    def grad(self, inputs, output_grads):
        # <grad_inputs(w, gz), g> = <gz, conv(g, w)>: differentiate the right-hand side.
        w, gz, _ = inputs
        g, = output_grads
        params = self._params()
        return [Conv2dGradWeights(**params)(g, gz, _spatial_size(w)),
                Conv2d(**params)(g, w),
                None]

    def connection_pattern(self, node):
        return [[True], [True], [False]]


class Conv2dGradWeights(_ConvOp):
    """The gradient of ``Conv2d`` with respect to its filters.

    Inputs: the images, the gradient of the convolution's output and the
    filters' (rows, cols).  Each filter tap collects the output gradient
    times the image pixels it was multiplied with, summed over the batch and
    every output position.
    """

    def make_node(self, x, gz, kernel_hw):
        x, gz = as_tensor_variable(x), as_tensor_variable(gz)
        _check_ndim(x, "the input", "(batch, channels, rows, cols)")
        _check_ndim(gz, "the output gradient", "(batch, n_filters, rows, cols)")
        x, gz = _float_pair(x, gz)
        kernel_hw = as_shape(kernel_hw, "conv2d kernel size")
        k_rows, k_cols = _static_pair(kernel_hw)
        out = TensorType(x.dtype, (gz.type.shape[1], x.type.shape[1], k_rows, k_cols))
        return Apply(self, [x, gz, kernel_hw], [out])

    def perform(self, node, inputs):
        x, gz, kernel_hw = inputs
        k_rows, k_cols = (int(s) for s in kernel_hw)
        (pr, pc), out_hw = self._geometry(x.shape[2:], (k_rows, k_cols))
        _check_gradient_shape(gz, gz.shape[1], out_hw, x.shape[2:], (gz.shape[1], x.shape[1],
                                                                     k_rows, k_cols))
        if gz.shape[0] != x.shape[0]:
            raise ValueError(f"conv2d gradient: batch of {x.shape[0]} images but the output "
                             f"gradient has a batch of {gz.shape[0]}")
        n_filters, channels = gz.shape[1], x.shape[1]
        padded = _pad_image(x, pr, pc)
        n_pixels = out_hw[0] * out_hw[1]
        dw = np.zeros((n_filters, channels * k_rows * k_cols), dtype=node.outputs[0].dtype)
        for part in _batch_chunks(x.shape[0], dw.shape[1] * n_pixels):
            cols = _im2col(padded[part], k_rows, k_cols, self.subsample, *out_hw)
            # sum over images and pixels of gz[b, f, p] * cols[b, (c, u, v), p]
            grads = gz[part].reshape(len(cols), n_filters, n_pixels)
            dw += np.matmul(grads, cols.transpose(0, 2, 1)).sum(0)
        dw = _flip(dw.reshape(n_filters, channels, k_rows, k_cols), self.filter_flip)
        return [np.ascontiguousarray(dw)]

    def grad(self, inputs, output_grads):
        # <grad_weights(x, gz), g> = <gz, conv(x, g)>: differentiate the right-hand side.
        x, gz, _ = inputs
        g, = output_grads
        params = self._params()
        return [Conv2dGradInputs(**params)(g, gz, _spatial_size(x)),
                Conv2d(**params)(x, g),
                None]

    def connection_pattern(self, node):
        return [[True], [True], [False]]


def _check_gradient_shape(gz, n_filters, out_hw, image_hw, filter_shape):
    """Fail clearly when an output gradient cannot come from this convolution geometry."""
    expected = (n_filters,) + tuple(out_hw)
    if tuple(gz.shape[1:]) != expected:
        raise ValueError(f"conv2d gradient: the output gradient has shape {gz.shape}, but an image "
                         f"of size {tuple(image_hw)} convolved with filters of shape "
                         f"{tuple(filter_shape)} gives (batch, {', '.join(map(str, expected))})")


# ------------------------------------------------------------ user function

def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None):
    """Convolve a batch of images with a bank of filters (Theano's ``conv2d``).

    ``input`` is ``(batch, channels, rows, cols)``, ``filters`` is
    ``(n_filters, channels, k_rows, k_cols)``.  ``input_shape`` (or its old
    name ``image_shape``) and ``filter_shape`` are optional static shapes with
    None for unknown entries; they are checked against the variables when the
    graph is built and fill in the static shape of the result.  ``subsample``
    is the stride; ``filter_flip=False`` computes cross-correlation.  The
    result has the common float dtype of the two inputs.
    """
    if image_shape is not None:
        if input_shape is not None and tuple(input_shape) != tuple(image_shape):
            raise ValueError(f"conv2d: input_shape {tuple(input_shape)} and its alias image_shape "
                             f"{tuple(image_shape)} disagree; give only one")
        input_shape = image_shape
    op = Conv2d(border_mode, subsample, filter_flip,
                normalize_shape_hint(input_shape, "input_shape"),
                normalize_shape_hint(filter_shape, "filter_shape"))
    return op(input, filters)


__all__ = ["conv2d", "Conv2d", "Conv2dGradInputs", "Conv2dGradWeights", "ConvShapeError"]

"""conv2d: forward values and gradients against direct NumPy loops, and build-time checks.

The references below are written as plainly as possible (one output or
input pixel at a time) so that they share nothing with the vectorised
implementation under test.
"""
import itertools

import numpy as np
import pytest

import symbolic as S
from symbolic.constructors import tensor  # S.tensor is shadowed once symbolic.tensor is imported
from symbolic.ops.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, conv2d


# ------------------------------------------------------------ references

def ref_pads(border_mode, k_rows, k_cols):
    if border_mode == "valid":
        return 0, 0
    if border_mode == "full":
        return k_rows - 1, k_cols - 1
    if border_mode == "half":
        return k_rows // 2, k_cols // 2
    if isinstance(border_mode, int):
        return border_mode, border_mode
    return tuple(border_mode)


def _zero_padded(x, border_mode, k_rows, k_cols):
    """(row pad, column pad, x with that many zeros around its last two axes)."""
    batch, channels, rows, cols = x.shape
    pr, pc = ref_pads(border_mode, k_rows, k_cols)
    padded = np.zeros((batch, channels, rows + 2 * pr, cols + 2 * pc))
    padded[:, :, pr:pr + rows, pc:pc + cols] = x
    return pr, pc, padded


def ref_conv2d(x, w, border_mode="valid", subsample=(1, 1), filter_flip=True):
    """out[b, f, i, j] = sum_{c,u,v} padded[b, c, i*sr + u, j*sc + v] * kernel[f, c, u, v]."""
    batch, channels, rows, cols = x.shape
    n_filters, _, k_rows, k_cols = w.shape
    pr, pc, padded = _zero_padded(x, border_mode, k_rows, k_cols)
    sr, sc = subsample
    out_r = (rows + 2 * pr - k_rows) // sr + 1
    out_c = (cols + 2 * pc - k_cols) // sc + 1
    out = np.zeros((batch, n_filters, out_r, out_c))
    for b, f, i, j in itertools.product(range(batch), range(n_filters), range(out_r), range(out_c)):
        total = 0.0
        for c, u, v in itertools.product(range(channels), range(k_rows), range(k_cols)):
            # A true convolution reads the kernel back to front.
            ku, kv = (k_rows - 1 - u, k_cols - 1 - v) if filter_flip else (u, v)
            total += padded[b, c, i * sr + u, j * sc + v] * w[f, c, ku, kv]
        out[b, f, i, j] = total
    return out


def ref_conv2d_grads(x, w, gz, border_mode="valid", subsample=(1, 1), filter_flip=True):
    """d(sum(gz * conv(x, w)))/dx and /dw, accumulated one product at a time."""
    batch, channels, rows, cols = x.shape
    n_filters, _, k_rows, k_cols = w.shape
    pr, pc, padded = _zero_padded(x, border_mode, k_rows, k_cols)
    sr, sc = subsample
    d_padded = np.zeros_like(padded)
    dw = np.zeros(w.shape)
    for b, f, i, j in itertools.product(*map(range, gz.shape)):
        for c, u, v in itertools.product(range(channels), range(k_rows), range(k_cols)):
            ku, kv = (k_rows - 1 - u, k_cols - 1 - v) if filter_flip else (u, v)
            d_padded[b, c, i * sr + u, j * sc + v] += gz[b, f, i, j] * w[f, c, ku, kv]
            dw[f, c, ku, kv] += gz[b, f, i, j] * padded[b, c, i * sr + u, j * sc + v]
    return d_padded[:, :, pr:pr + rows, pc:pc + cols], dw


def _data(rng, shape, dtype="float64"):
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------ forward values

BORDER_MODES = ["valid", "full", "half", 1, (2, 0), (0, 1)]
STRIDES = [(1, 1), (2, 2), (1, 3)]


@pytest.mark.parametrize("border_mode", BORDER_MODES, ids=str)
@pytest.mark.parametrize("subsample", STRIDES, ids=str)
@pytest.mark.parametrize("filter_flip", [True, False])
def test_forward_matches_reference(rng, border_mode, subsample, filter_flip):
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    f = S.function([x, w], conv2d(x, w, border_mode=border_mode, subsample=subsample,
                                  filter_flip=filter_flip))
    for x_shape, w_shape in [((2, 3, 7, 6), (4, 3, 3, 2)),     # non-square kernel and image
                             ((1, 1, 5, 5), (2, 1, 1, 4)),
                             ((3, 1, 4, 9), (1, 1, 4, 3))]:
        xv, wv = _data(rng, x_shape), _data(rng, w_shape)
        got = f(xv, wv)
        expect = ref_conv2d(xv, wv, border_mode, subsample, filter_flip)
        assert got.shape == expect.shape
        np.testing.assert_allclose(got, expect, **_tol("float64"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [0, 1, 3])
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_dtypes_batches_channels(rng, dtype, batch, channels):
    x, w, gz = (S.tensor4(n, dtype=dtype) for n in ("x", "w", "gz"))
    out = conv2d(x, w, border_mode="half", subsample=(2, 1))
    assert out.dtype == dtype
    f = S.function([x, w, gz], [out] + S.grad(S.sum(out * gz), [x, w]))
    xv, wv = _data(rng, (batch, channels, 6, 5), dtype), _data(rng, (2, channels, 3, 3), dtype)
    gzv = _data(rng, (batch, 2, 3, 5), dtype)
    got, gx, gw = f(xv, wv, gzv)
    assert got.dtype == gx.dtype == gw.dtype == dtype
    x64, w64, gz64 = (v.astype("float64") for v in (xv, wv, gzv))
    expect = ref_conv2d(x64, w64, "half", (2, 1))
    assert got.shape == expect.shape == (batch, 2, 3, 5)
    np.testing.assert_allclose(got, expect, **_tol(dtype))
    ref_gx, ref_gw = ref_conv2d_grads(x64, w64, gz64, "half", (2, 1))
    np.testing.assert_allclose(gx, ref_gx, **_tol(dtype))
    np.testing.assert_allclose(gw, ref_gw, **_tol(dtype))


@pytest.mark.parametrize("mode", ["full", "valid"])
def test_flip_is_true_convolution(rng, mode):
    """A one-row image convolved with a one-row kernel is NumPy's 1-d convolution."""
    signal, kernel = _data(rng, 9), _data(rng, 4)
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    f = S.function([x, w], conv2d(x, w, border_mode=mode))
    got = f(signal.reshape(1, 1, 1, 9), kernel.reshape(1, 1, 1, 4))
    np.testing.assert_allclose(got.reshape(-1), np.convolve(signal, kernel, mode))
    g = S.function([x, w], conv2d(x, w, border_mode=mode, filter_flip=False))
    got = g(signal.reshape(1, 1, 1, 9), kernel.reshape(1, 1, 1, 4))
    np.testing.assert_allclose(got.reshape(-1), np.correlate(signal, kernel, mode))


def test_large_batches_are_processed_in_chunks(rng, monkeypatch):
    """Splitting the batch to bound the window matrix must not change any result."""
    import symbolic.ops.conv as conv_module
    monkeypatch.setattr(conv_module, "_MAX_CHUNK_VALUES", 100)
    x, w, gz = (S.tensor4(n, dtype="float64") for n in ("x", "w", "gz"))
    out = conv2d(x, w, border_mode="full", subsample=(2, 1))
    f = S.function([x, w, gz], [out] + S.grad(S.sum(out * gz), [x, w]))
    xv, wv = _data(rng, (5, 2, 5, 4)), _data(rng, (3, 2, 2, 3))
    expect = ref_conv2d(xv, wv, "full", (2, 1))
    gzv = _data(rng, expect.shape)
    got, gx, gw = f(xv, wv, gzv)
    ref_gx, ref_gw = ref_conv2d_grads(xv, wv, gzv, "full", (2, 1))
    for a, b in [(got, expect), (gx, ref_gx), (gw, ref_gw)]:
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("n_filters,channels", [(0, 2), (2, 0)])
def test_zero_filters_or_channels(n_filters, channels):
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    out = conv2d(x, w)
    gx, gw = S.grad(S.sum(out), [x, w])
    f = S.function([x, w], [out, gx, gw])
    got, gxv, gwv = f(np.ones((2, channels, 4, 4)), np.ones((n_filters, channels, 3, 3)))
    assert got.shape == (2, n_filters, 2, 2) and np.all(got == 0)
    assert gxv.shape == (2, channels, 4, 4) and gwv.shape == (n_filters, channels, 3, 3)


def test_mixed_and_integer_dtypes_promote_to_float(rng):
    x32, w64 = S.tensor4("x", dtype="float32"), S.tensor4("w", dtype="float64")
    assert conv2d(x32, w64).dtype == "float64"
    xi = S.tensor4("xi", dtype="int32")
    out = conv2d(xi, S.tensor4("w", dtype="float32"))
    assert out.dtype == "float64"
    f = S.function([xi, w64], conv2d(xi, w64))
    xv = rng.integers(-3, 3, size=(1, 2, 4, 4)).astype("int32")
    wv = _data(rng, (1, 2, 2, 2))
    np.testing.assert_allclose(f(xv, wv), ref_conv2d(xv.astype(float), wv), rtol=1e-12)


# ------------------------------------------------------------ gradients

GRAD_CASES = [("valid", (1, 1), True), ("full", (1, 1), False), ("half", (2, 2), True),
              ((1, 2), (2, 1), False), ("valid", (3, 2), True), (1, (1, 2), True)]


@pytest.mark.parametrize("border_mode,subsample,filter_flip", GRAD_CASES, ids=str)
def test_gradients_match_reference(rng, border_mode, subsample, filter_flip):
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    gz = S.tensor4("gz", dtype="float64")
    out = conv2d(x, w, border_mode=border_mode, subsample=subsample, filter_flip=filter_flip)
    gx, gw = S.grad(S.sum(out * gz), [x, w])
    f = S.function([x, w, gz], [out, gx, gw])
    for batch in (0, 2):
        xv, wv = _data(rng, (batch, 2, 7, 6)), _data(rng, (3, 2, 3, 2))
        gzv = _data(rng, ref_conv2d(xv, wv, border_mode, subsample, filter_flip).shape)
        _, gxv, gwv = f(xv, wv, gzv)
        ref_gx, ref_gw = ref_conv2d_grads(xv, wv, gzv, border_mode, subsample, filter_flip)
        assert gxv.shape == xv.shape and gwv.shape == wv.shape
        np.testing.assert_allclose(gxv, ref_gx, atol=1e-12)
        np.testing.assert_allclose(gwv, ref_gw, atol=1e-12)


def test_gradient_reaches_rows_no_window_reads(rng):
    """With stride 2 on 6 rows and a 3-row kernel, the last row is never read: its gradient is 0."""
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    gx = S.grad(S.sum(conv2d(x, w, subsample=(2, 2))), x)
    gxv = S.function([x, w], gx)(_data(rng, (1, 1, 6, 6)), _data(rng, (1, 1, 3, 3)))
    assert gxv.shape == (1, 1, 6, 6)
    assert np.all(gxv[:, :, 5, :] == 0) and np.all(gxv[:, :, :, 5] == 0)


@pytest.mark.parametrize("border_mode,subsample,filter_flip", GRAD_CASES, ids=str)
def test_verify_grad(rng, border_mode, subsample, filter_flip):
    def fn(x, w):
        return conv2d(x, w, border_mode=border_mode, subsample=subsample, filter_flip=filter_flip)
    S.verify_grad(fn, [_data(rng, (2, 2, 5, 4)), _data(rng, (2, 2, 3, 2))], rng=rng)


@pytest.mark.parametrize("border_mode,subsample", [("valid", (1, 1)), ("full", (2, 1)),
                                                   ((1, 0), (1, 2))], ids=str)
def test_second_derivatives(rng, border_mode, subsample):
    """The gradient ops are differentiable too (they are written with conv ops)."""
    def grad_x(x, w):
        out = conv2d(x, w, border_mode=border_mode, subsample=subsample)
        return S.grad(S.sum(S.tanh(out)), x)

    def grad_w(x, w):
        out = conv2d(x, w, border_mode=border_mode, subsample=subsample, filter_flip=False)
        return S.grad(S.sum(out ** 2), w)
    points = [_data(rng, (1, 2, 5, 4)), _data(rng, (2, 2, 2, 3))]
    S.verify_grad(grad_x, points, rng=rng)
    S.verify_grad(grad_w, points, rng=rng)


def test_grad_ops_check_their_shapes(rng):
    op = Conv2dGradInputs("valid", (1, 1), True)
    w, gz = S.tensor4("w", dtype="float64"), S.tensor4("gz", dtype="float64")
    f = S.function([w, gz], op(w, gz, (5, 5)))
    assert f(_data(rng, (2, 1, 3, 3)), _data(rng, (1, 2, 3, 3))).shape == (1, 1, 5, 5)
    with pytest.raises(ValueError, match="output gradient"):
        f(_data(rng, (2, 1, 3, 3)), _data(rng, (1, 2, 4, 3)))
    x = S.tensor4("x", dtype="float64")
    out = Conv2dGradWeights("full", (2, 2), False)(x, gz, (2, 3))
    assert out.type.shape[2:] == (2, 3)


# ------------------------------------------------------------ static shapes and errors

def test_shape_hints_fill_static_output_shape():
    x, w = S.tensor4("x"), S.tensor4("w")
    out = conv2d(x, w, input_shape=(10, 1, 28, 28), filter_shape=(20, 1, 5, 5))
    assert out.type.shape == (10, 20, 24, 24)
    out = conv2d(x, w, image_shape=(None, 3, 9, 8), filter_shape=(4, 3, 2, 3),
                 border_mode="full", subsample=(2, 2))
    assert out.type.shape == (None, 4, 5, 5)
    out = conv2d(x, w, filter_shape=(4, None, 3, 3), border_mode="half")
    assert out.type.shape == (None, 4, None, None)


def test_static_shapes_of_variables_are_used():
    x = tensor("float64", (2, 3, 8, None), name="x")
    w = tensor("float64", (5, 3, 3, 3), name="w")
    assert conv2d(x, w, border_mode=(1, 2)).type.shape == (2, 5, 8, None)
    assert conv2d(x, w, input_shape=(None, None, None, 7)).type.shape == (2, 5, 6, 5)


def test_network3_style_call(rng):
    """``conv.conv2d(input=..., filters=..., filter_shape=..., image_shape=...)`` from network3."""
    from symbolic.tensor.nnet import conv
    assert conv.conv2d is conv2d
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    out = conv.conv2d(input=x, filters=w, filter_shape=(2, 1, 3, 3), image_shape=(4, 1, 6, 6))
    assert out.type.shape == (4, 2, 4, 4)
    xv, wv = _data(rng, (4, 1, 6, 6)), _data(rng, (2, 1, 3, 3))
    np.testing.assert_allclose(S.function([x, w], out)(xv, wv), ref_conv2d(xv, wv), atol=1e-12)


def test_channel_mismatch_names_both_shapes():
    x, w = S.tensor4("x"), S.tensor4("w")
    with pytest.raises(ValueError, match=r"\(10, 3, 28, 28\).*\(20, 1, 5, 5\)"):
        conv2d(x, w, input_shape=(10, 3, 28, 28), filter_shape=(20, 1, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        conv2d(tensor("float32", (None, 2, None, None)), tensor("float32", (4, 3, 3, 3)))


def test_wrong_ndim_is_a_value_error():
    with pytest.raises(ValueError, match="4-d"):
        conv2d(S.matrix("x"), S.tensor4("w"))
    with pytest.raises(ValueError, match="4-d"):
        conv2d(S.tensor4("x"), S.tensor3("w"))
    with pytest.raises(ValueError, match="4 entries"):
        conv2d(S.tensor4("x"), S.tensor4("w"), input_shape=(1, 28, 28))


def test_hint_disagreeing_with_static_shape():
    x = tensor("float32", (None, 1, 28, 28), name="x")
    with pytest.raises(ValueError, match=r"\(\?, 1, 28, 28\)"):
        conv2d(x, S.tensor4("w"), input_shape=(None, 1, 32, 32))
    with pytest.raises(ValueError, match="disagree"):
        conv2d(x, S.tensor4("w"), input_shape=(1, 1, 28, 28), image_shape=(2, 1, 28, 28))


def test_kernel_larger_than_input():
    x = tensor("float64", (1, 1, 3, 3), name="x")
    with pytest.raises(ValueError, match="does not fit"):
        conv2d(x, tensor("float64", (1, 1, 4, 2), name="w"))
    assert conv2d(x, tensor("float64", (1, 1, 4, 2)), border_mode="full").type.shape == (1, 1, 6, 4)
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    f = S.function([x, w], conv2d(x, w))
    with pytest.raises(ValueError, match="does not fit"):
        f(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 2)))


def test_run_time_checks():
    x, w = S.tensor4("x", dtype="float64"), S.tensor4("w", dtype="float64")
    f = S.function([x, w], conv2d(x, w))
    with pytest.raises(ValueError, match="channels"):
        f(np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3)))
    g = S.function([x, w], conv2d(x, w, input_shape=(None, 1, 6, 6)))
    with pytest.raises(ValueError, match="input_shape"):
        g(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)))


@pytest.mark.parametrize("kwargs", [dict(border_mode="same"), dict(border_mode=-1),
                                    dict(border_mode=(1, 2, 3)), dict(subsample=(0, 1)),
                                    dict(subsample=2.5), dict(filter_shape=(1, 2, 3, "a"))], ids=str)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        conv2d(S.tensor4("x"), S.tensor4("w"), **kwargs)


def test_op_equality_and_normalisation():
    assert Conv2d(border_mode=0) == Conv2d(border_mode="valid") == Conv2d(border_mode=(0, 0))
    assert Conv2d(border_mode=2) == Conv2d(border_mode=(2, 2))
    assert Conv2d(subsample=2) == Conv2d(subsample=(2, 2))
    assert Conv2d(filter_flip=True) != Conv2d(filter_flip=False)
    assert hash(Conv2d("full", (2, 1))) == hash(Conv2d("full", (2, 1)))

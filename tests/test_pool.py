"""pool_2d / max_pool_2d: values and gradients against direct NumPy loops, and argument checks.

The reference enumerates windows one at a time, deciding where they start
and which cells they cover from the rules in words (Theano's), not from the
formulas the implementation uses.
"""
import itertools

import numpy as np
import pytest

import symbolic as S
from symbolic.constructors import tensor  # S.tensor is shadowed once symbolic.tensor is imported
from symbolic.ops.pool import MaxPoolGradGrad, Pool, PoolGrad, max_pool_2d, pool_2d

MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


# ------------------------------------------------------------ references

def ref_window_starts(padded_len, ws, stride, ignore_border):
    """Window starts along one axis.

    ignore_border: every window that fits entirely.  Otherwise: windows are
    added until the whole axis is covered, the last ones possibly partial.
    """
    starts, start = [], 0
    while True:
        if ignore_border:
            if start + ws > padded_len:
                break
        else:
            if start >= padded_len or (starts and starts[-1] + ws >= padded_len):
                break
        starts.append(start)
        start += stride
    return starts


def ref_regions(length, ws, stride, pad, ignore_border, mode):
    """(start, stop) of each window in padded coordinates, clipped as the mode says."""
    padded = length + 2 * pad
    regions = []
    for start in ref_window_starts(padded, ws, stride, ignore_border):
        stop = min(start + ws, padded)
        if mode != "average_inc_pad":  # padding cells are not part of the window
            start, stop = max(start, pad), min(stop, pad + length)
        regions.append((start, stop))
    return regions


def _padded(x, pad):
    out = np.zeros(x.shape[:-2] + (x.shape[-2] + 2 * pad[0], x.shape[-1] + 2 * pad[1]))
    out[..., pad[0]:pad[0] + x.shape[-2], pad[1]:pad[1] + x.shape[-1]] = x
    return out


def ref_pool(x, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
    stride = stride or ws
    padded = _padded(x, pad)
    rows = ref_regions(x.shape[-2], ws[0], stride[0], pad[0], ignore_border, mode)
    cols = ref_regions(x.shape[-1], ws[1], stride[1], pad[1], ignore_border, mode)
    out = np.zeros(x.shape[:-2] + (len(rows), len(cols)))
    for (i, (r0, r1)), (j, (c0, c1)) in itertools.product(enumerate(rows), enumerate(cols)):
        window = padded[..., r0:r1, c0:c1]
        if mode == "max":
            out[..., i, j] = window.max(axis=(-2, -1))
        elif mode == "sum":
            out[..., i, j] = window.sum(axis=(-2, -1))
        else:
            out[..., i, j] = window.mean(axis=(-2, -1))
    return out


def ref_pool_grad(x, gz, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
    """Each window's gradient sent to its cells: to all maxima for max, shared for averages."""
    stride = stride or ws
    padded = _padded(x, pad)
    grad = np.zeros(padded.shape)
    rows = ref_regions(x.shape[-2], ws[0], stride[0], pad[0], ignore_border, mode)
    cols = ref_regions(x.shape[-1], ws[1], stride[1], pad[1], ignore_border, mode)
    for lead in np.ndindex(*x.shape[:-2]):
        for (i, (r0, r1)), (j, (c0, c1)) in itertools.product(enumerate(rows), enumerate(cols)):
            g = gz[lead + (i, j)]
            window = padded[lead][r0:r1, c0:c1]
            if mode == "max":
                share = g * (window == window.max())
            elif mode == "sum":
                share = g * np.ones(window.shape)
            else:
                share = g * np.ones(window.shape) / window.size
            grad[lead][r0:r1, c0:c1] += share
    return grad[..., pad[0]:pad[0] + x.shape[-2], pad[1]:pad[1] + x.shape[-1]]


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


def _compile(x_var, **kwargs):
    """Forward pool and its gradient for a given output gradient."""
    gz = tensor(x_var.dtype, (None,) * x_var.ndim, name="gz")
    out = pool_2d(x_var, **kwargs)
    gx = S.grad(S.sum(out * gz), x_var)
    return S.function([x_var], out), S.function([x_var, gz], gx)


# ------------------------------------------------------------ values

CONFIGS = [  # (ws, ignore_border, stride, pad)
    ((2, 2), True, None, (0, 0)),
    ((2, 2), False, None, (0, 0)),
    ((3, 2), True, None, (0, 0)),
    ((3, 2), False, None, (0, 0)),
    ((3, 3), True, (1, 1), (0, 0)),      # overlapping windows
    ((3, 3), False, (2, 1), (0, 0)),     # overlapping, partial windows at the border
    ((2, 3), False, (3, 4), (0, 0)),     # stride larger than the window: cells skipped
    ((2, 3), True, (3, 4), (0, 0)),
    ((3, 2), True, None, (1, 1)),        # padding
    ((3, 3), True, (2, 1), (2, 1)),
    ((4, 2), True, (1, 2), (3, 0)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ws,ignore_border,stride,pad", CONFIGS, ids=str)
def test_forward_and_grad_match_reference(rng, mode, ws, ignore_border, stride, pad):
    x = S.tensor4("x", dtype="float64")
    f, g = _compile(x, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    for shape in [(2, 3, 7, 5), (1, 1, 4, 8), (1, 2, 6, 6)]:
        xv = rng.standard_normal(shape)
        expect = ref_pool(xv, ws, ignore_border, stride, pad, mode)
        got = f(xv)
        assert got.shape == expect.shape
        np.testing.assert_allclose(got, expect, **_tol("float64"))
        gzv = rng.standard_normal(expect.shape)
        np.testing.assert_allclose(g(xv, gzv), ref_pool_grad(xv, gzv, ws, ignore_border, stride,
                                                             pad, mode), **_tol("float64"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ndim", [2, 3, 5])
def test_any_number_of_leading_axes(rng, mode, dtype, ndim):
    shape = (2, 3, 1)[:ndim - 2] + (5, 7)
    x = tensor(dtype, (None,) * ndim, name="x")
    kwargs = dict(ws=(2, 3), ignore_border=False, stride=(2, 2), mode=mode)
    out = pool_2d(x, **kwargs)
    assert out.dtype == dtype and out.ndim == ndim
    f, g = _compile(x, **kwargs)
    xv = rng.standard_normal(shape).astype(dtype)
    got = f(xv)
    assert got.dtype == dtype
    expect = ref_pool(xv.astype("float64"), (2, 3), False, (2, 2), (0, 0), mode)
    np.testing.assert_allclose(got, expect, **_tol(dtype))
    gzv = rng.standard_normal(expect.shape).astype(dtype)
    gx = g(xv, gzv)
    assert gx.dtype == dtype and gx.shape == shape
    np.testing.assert_allclose(gx, ref_pool_grad(xv.astype("float64"), gzv.astype("float64"),
                                                 (2, 3), False, (2, 2), (0, 0), mode), **_tol(dtype))


@pytest.mark.parametrize("mode", MODES)
def test_empty_batch(mode):
    x = S.tensor4("x", dtype="float64")
    f, g = _compile(x, ws=(2, 2), ignore_border=True, mode=mode)
    assert f(np.zeros((0, 3, 6, 6))).shape == (0, 3, 3, 3)
    assert g(np.zeros((0, 3, 6, 6)), np.zeros((0, 3, 3, 3))).shape == (0, 3, 6, 6)


def test_window_larger_than_input():
    x = S.tensor4("x", dtype="float64")
    xv = np.arange(6.0).reshape(1, 1, 2, 3)
    assert S.function([x], pool_2d(x, (3, 3), ignore_border=True))(xv).shape == (1, 1, 0, 1)
    got = S.function([x], pool_2d(x, (3, 3), ignore_border=False))(xv)
    np.testing.assert_array_equal(got, [[[[5.0]]]])


def test_average_modes_differ_only_with_padding():
    x = S.tensor4("x", dtype="float64")
    xv = np.ones((1, 1, 4, 4))
    inc = S.function([x], pool_2d(x, (2, 2), pad=(1, 1), mode="average_inc_pad"))(xv)
    exc = S.function([x], pool_2d(x, (2, 2), pad=(1, 1), mode="average_exc_pad"))(xv)
    # Corner windows hold one real cell and three padding cells.
    assert inc[0, 0, 0, 0] == 0.25 and exc[0, 0, 0, 0] == 1.0
    np.testing.assert_array_equal(exc, np.ones((1, 1, 3, 3)))
    # Padding never wins a max, even over negative values.
    mx = S.function([x], pool_2d(x, (2, 2), pad=(1, 1), mode="max"))(-xv)
    np.testing.assert_array_equal(mx, -np.ones((1, 1, 3, 3)))


def test_integer_input():
    x = S.tensor4("x", dtype="int32")
    xv = np.arange(-8, 8, dtype="int32").reshape(1, 1, 4, 4)
    out = pool_2d(x, (2, 2), mode="max")
    assert out.dtype == "int32"
    np.testing.assert_array_equal(S.function([x], out)(xv), ref_pool(xv, (2, 2)))
    avg = pool_2d(x, (2, 2), mode="average_exc_pad")
    assert avg.dtype in ("float32", "float64")
    np.testing.assert_allclose(S.function([x], avg)(xv), ref_pool(xv, (2, 2), mode="average_exc_pad"))


# ------------------------------------------------------------ max ties and overlap

def test_max_gradient_goes_to_every_tied_maximum():
    x = S.tensor4("x", dtype="float64")
    gx = S.grad(S.sum(pool_2d(x, (2, 2), mode="max")), x)
    xv = np.array([[[[1.0, 3.0, 0.0, 0.0],
                     [3.0, 2.0, 0.0, 0.0],
                     [5.0, 5.0, 1.0, 2.0],
                     [5.0, 5.0, 0.0, 1.0]]]])
    got = S.function([x], gx)(xv)
    np.testing.assert_array_equal(got, [[[[0, 1, 1, 1],
                                          [1, 0, 1, 1],
                                          [1, 1, 0, 1],
                                          [1, 1, 0, 0]]]])


def test_overlapping_windows_accumulate():
    x = S.tensor4("x", dtype="float64")
    for mode, expect_center in [("max", 4.0), ("sum", 4.0), ("average_inc_pad", 1.0)]:
        gx = S.grad(S.sum(pool_2d(x, (2, 2), stride=(1, 1), mode=mode)), x)
        got = S.function([x], gx)(np.ones((1, 1, 3, 3)))
        # The centre is in all four windows; a corner is in one.
        assert got[0, 0, 1, 1] == expect_center
        assert got[0, 0, 0, 0] == expect_center / 4


@pytest.mark.parametrize("ws,ignore_border,stride,pad", CONFIGS, ids=str)
def test_max_grad_with_many_ties_matches_reference(rng, ws, ignore_border, stride, pad):
    x = S.tensor4("x", dtype="float64")
    f, g = _compile(x, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad, mode="max")
    xv = rng.integers(-1, 2, size=(2, 2, 7, 6)).astype("float64")  # three values: ties everywhere
    gzv = rng.standard_normal(f(xv).shape)
    np.testing.assert_allclose(g(xv, gzv), ref_pool_grad(xv, gzv, ws, ignore_border, stride, pad),
                               atol=1e-12)


def test_max_second_derivative_op_with_ties():
    """MaxPoolGradGrad sums its input over each window's tied maxima."""
    x, pooled, gg = (S.tensor4(n, dtype="float64") for n in ("x", "pooled", "gg"))
    op = MaxPoolGradGrad((2, 2), ignore_border=True)
    f = S.function([x, pooled, gg], op(x, pooled, gg))
    xv = np.array([[[[2.0, 2.0], [1.0, 2.0]]]])
    ggv = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    np.testing.assert_array_equal(f(xv, np.array([[[[2.0]]]]), ggv), [[[[1011.0]]]])


# ------------------------------------------------------------ verify_grad

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ws,ignore_border,stride,pad", [((2, 2), True, None, (0, 0)),
                                                         ((3, 2), False, (2, 1), (0, 0)),
                                                         ((3, 3), True, (2, 2), (1, 2))], ids=str)
def test_verify_grad(rng, mode, ws, ignore_border, stride, pad):
    # Distinct values spaced well beyond the finite-difference step, so no max is ever tied.
    xv = rng.permutation(2 * 5 * 6).reshape(1, 2, 5, 6) * 0.1

    def fn(x):
        return pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
    S.verify_grad(fn, [xv], rng=rng)

    def grad_of_squares(x):
        out = pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
        return S.grad(S.sum(out ** 2), x)
    S.verify_grad(grad_of_squares, [xv], rng=rng)


# ------------------------------------------------------------ static shapes, errors, aliases

def test_static_output_shape():
    x = tensor("float32", (None, 3, 7, 5), name="x")
    assert pool_2d(x, (2, 2)).type.shape == (None, 3, 3, 2)
    assert pool_2d(x, (2, 2), ignore_border=False).type.shape == (None, 3, 4, 3)
    assert pool_2d(x, (3, 3), stride=(1, 2), pad=(1, 1)).type.shape == (None, 3, 7, 3)
    y = tensor("float32", (4, None, 9), name="y")
    assert pool_2d(y, (2, 2), ignore_border=False).type.shape == (4, None, 5)


def test_max_pool_2d_defaults_to_partial_border_windows(rng):
    x = S.tensor4("x", dtype="float64")
    out = max_pool_2d(x, (2, 2))
    xv = rng.standard_normal((1, 2, 5, 5))
    got = S.function([x], out)(xv)
    assert got.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(got, ref_pool(xv, (2, 2), ignore_border=False))


def test_network3_style_call(rng):
    from symbolic.tensor.signal import downsample, pool
    assert downsample.max_pool_2d is max_pool_2d
    assert pool.pool_2d is pool_2d and pool.max_pool_2d is max_pool_2d
    x = S.tensor4("x", dtype="float64")
    out = downsample.max_pool_2d(input=x, ds=(2, 2), ignore_border=True)
    xv = rng.standard_normal((3, 2, 5, 5))
    np.testing.assert_allclose(S.function([x], out)(xv), ref_pool(xv, (2, 2), ignore_border=True))


def test_old_parameter_names():
    x = S.tensor4("x")
    assert pool_2d(x, ds=(2, 2), st=(1, 1), padding=(1, 1)).owner.op == Pool((2, 2), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="disagree"):
        pool_2d(x, ws=(2, 2), ds=(3, 3))


@pytest.mark.parametrize("kwargs,match", [
    (dict(ws=(2, 2), ignore_border=False, pad=(1, 1)), "ignore_border=True"),
    (dict(ws=(2, 2), pad=(2, 0)), "smaller than the window"),
    (dict(ws=(2, 2), mode="average"), "mode"),
    (dict(ws=(0, 2)), "ws"),
    (dict(ws=(2, 2), stride=(1, 0)), "stride"),
    (dict(ws=(2, 2), pad=(-1, 0)), "pad"),
    (dict(ws=None), "window size"),
], ids=str)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pool_2d(S.tensor4("x"), **kwargs)


def test_too_few_dimensions():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        pool_2d(S.vector("x"), (2, 2))


def test_grad_op_checks_gradient_shape():
    x, gz = S.tensor4("x", dtype="float64"), S.tensor4("gz", dtype="float64")
    f = S.function([x, gz], PoolGrad((2, 2), mode="sum")(x, gz))
    with pytest.raises(ValueError, match="output gradient"):
        f(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 2)))


def test_op_equality():
    assert Pool((2, 2)) == Pool(2, stride=(2, 2), pad=0)
    assert Pool((2, 2), mode="sum") != Pool((2, 2))
    assert Pool((2, 2), ignore_border=False) != Pool((2, 2))

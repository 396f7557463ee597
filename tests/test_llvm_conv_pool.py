"""The LLVM backend's native convolution and pooling kernels agree with the reference ops."""
import numpy as np
import pytest

import symbolic as S
from backends.llvm.backend import lower
from symbolic.gradcheck import verify_grad
from symbolic.ops.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
from symbolic.ops.pool import Pool, PoolGrad

TOL = {"float32": dict(rtol=1e-4, atol=1e-4), "float64": dict(rtol=1e-10, atol=1e-10)}

CONV_CASES = [
    # image shape, filter shape, border mode, strides, flip
    ((10, 1, 28, 28), (20, 1, 5, 5), "valid", (1, 1), True),      # network3's first layer
    ((10, 20, 12, 12), (40, 20, 5, 5), "valid", (1, 1), True),    # and its second
    ((3, 2, 7, 6), (4, 2, 3, 2), "full", (1, 1), True),
    ((3, 2, 7, 6), (4, 2, 3, 3), "half", (2, 1), False),
    ((3, 2, 7, 6), (4, 2, 3, 3), (2, 1), (2, 3), True),
    ((2, 3, 5, 5), (2, 3, 5, 5), (0, 4), (1, 1), True),
    ((1, 1, 1, 1), (1, 1, 1, 1), "valid", (1, 1), True),           # size 1 everywhere
    ((2, 1, 4, 9), (3, 1, 4, 1), "valid", (3, 4), False),          # strides past the image
    ((0, 2, 5, 5), (3, 2, 3, 3), "valid", (1, 1), True),           # empty batch
    ((2, 0, 5, 5), (3, 0, 3, 3), "half", (1, 1), True),            # no channels
    # the direct kernel (few channels x taps): a masked last vector, a last block of filters
    ((3, 2, 9, 21), (7, 2, 3, 3), "valid", (1, 1), False),
    ((2, 3, 6, 34), (5, 3, 2, 3), "valid", (1, 1), True),
    ((2, 2, 5, 14), (4, 2, 3, 4), "valid", (1, 1), True),
]


def _native(node):
    thunk = lower(node)
    assert thunk.how.startswith("native")
    return thunk


def _conv_nodes(xs, ws, border, strides, flip, dtype):
    x = S.tensor(dtype=dtype, shape=(None,) * 4)
    w = S.tensor(dtype=dtype, shape=(None,) * 4)
    fwd = Conv2d(border, strides, flip).make_node(x, w)
    gz = S.tensor(dtype=dtype, shape=(None,) * 4)
    grad_in = Conv2dGradInputs(border, strides, flip).make_node(w, gz, S.as_tensor_variable(np.array(xs[2:])))
    grad_w = Conv2dGradWeights(border, strides, flip).make_node(x, gz, S.as_tensor_variable(np.array(ws[2:])))
    return fwd, grad_in, grad_w


@pytest.mark.parametrize("small_gemm", [True, False])     # few filters: our GEMM loops, or BLAS
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("xs, ws, border, strides, flip", CONV_CASES)
def test_conv_kernels_match_the_reference(rng, xs, ws, border, strides, flip, dtype, small_gemm):
    with S.config.change_flags(small_gemm=small_gemm):
        _check_conv_kernels(rng, xs, ws, border, strides, flip, dtype)


def _check_conv_kernels(rng, xs, ws, border, strides, flip, dtype):
    x = rng.normal(size=xs).astype(dtype)
    w = rng.normal(size=ws).astype(dtype)
    fwd, grad_in, grad_w = _conv_nodes(xs, ws, border, strides, flip, dtype)
    expect = fwd.op.perform(fwd, (x, w))[0]
    got = _native(fwd)(x, w)[0]
    assert got.shape == expect.shape and got.dtype == expect.dtype
    np.testing.assert_allclose(got, expect, **TOL[dtype])

    gz = rng.normal(size=expect.shape).astype(dtype)
    image_hw, kernel_hw = np.array(xs[2:]), np.array(ws[2:])
    expect_dx = grad_in.op.perform(grad_in, (w, gz, image_hw))[0]
    got_dx = _native(grad_in)(w, gz, image_hw)[0]
    assert got_dx.shape == expect_dx.shape == xs
    np.testing.assert_allclose(got_dx, expect_dx, **TOL[dtype])
    expect_dw = grad_w.op.perform(grad_w, (x, gz, kernel_hw))[0]
    got_dw = _native(grad_w)(x, gz, kernel_hw)[0]
    assert got_dw.shape == expect_dw.shape == ws
    np.testing.assert_allclose(got_dw, expect_dw, **TOL[dtype])


@pytest.mark.parametrize("images_per_gemm", [1, 2, 3])
def test_conv_kernels_chunk_the_batch(rng, monkeypatch, images_per_gemm):
    import backends.llvm.conv as native_conv
    xs, ws = (7, 2, 6, 5), (3, 2, 3, 2)
    k_times_p = 2 * 3 * 2 * 4 * 4
    monkeypatch.setattr(native_conv, "_COLUMN_BUDGET", images_per_gemm * k_times_p)  # 7 = 3 + 3 + 1...
    _check_conv_kernels(rng, xs, ws, "valid", (1, 1), True, "float64")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_convolutions_split_over_threads(rng, monkeypatch, threads):
    """By images: each thread its own work buffers, the weight gradient summed at the end;
    through the Python schedule and through a native plan."""
    import backends.llvm.conv as native_conv
    monkeypatch.setattr(native_conv, "_PARALLEL_MIN_FLOPS", 1e4)
    with S.config.change_flags(threads=threads):
        _check_conv_kernels(rng, (7, 2, 6, 5), (3, 2, 3, 2), "valid", (1, 1), True, "float64")
        x, w = S.dtensor4("x"), S.dtensor4("w")
        y = S.conv2d(x, w)
        out = [y, *S.grad((y ** 2).sum(), [x, w])]
        fast = S.function([x, w], out, mode=S.Mode(linker="llvm"))
        ref = S.function([x, w], out, mode=S.Mode(linker="numpy"))
        xv, wv = rng.normal(size=(5, 3, 8, 8)), rng.normal(size=(4, 3, 3, 3))
        for _ in range(2):
            for a, b in zip(fast(xv, wv), ref(xv, wv)):
                np.testing.assert_allclose(a, b, **TOL["float64"])
    steps = fast.program.describe()[0]
    assert ("0 Python steps" in steps) == (threads == 1), steps


def test_conv_kernels_take_non_contiguous_inputs(rng):
    x = rng.normal(size=(3, 2, 9, 16)).astype("float32")[:, :, ::-1, ::2]
    w = np.asfortranarray(rng.normal(size=(4, 2, 3, 3)).astype("float32"))
    fwd, _, _ = _conv_nodes(x.shape, w.shape, "half", (1, 1), True, "float32")
    np.testing.assert_allclose(_native(fwd)(x, w)[0], fwd.op.perform(fwd, (x, w))[0], **TOL["float32"])


def test_conv_errors_are_the_reference_errors(rng):
    fwd, grad_in, _ = _conv_nodes((2, 3, 5, 5), (4, 3, 3, 3), "valid", (1, 1), True, "float32")
    x = np.zeros((2, 3, 5, 5), "float32")
    with pytest.raises(ValueError, match="channels"):
        _native(fwd)(x, np.zeros((4, 2, 3, 3), "float32"))
    with pytest.raises(ValueError, match="does not fit"):
        _native(fwd)(np.zeros((2, 3, 2, 2), "float32"), np.zeros((4, 3, 3, 3), "float32"))
    with pytest.raises(ValueError):
        _native(grad_in)(np.zeros((4, 3, 3, 3), "float32"), np.zeros((2, 4, 2, 2), "float32"),
                         np.array([5, 5]))


@pytest.mark.parametrize("border, strides", [("valid", (1, 1)), ("full", (2, 1)), ((1, 2), (1, 2))])
def test_conv_gradients_through_llvm_functions(rng, border, strides):
    x = rng.normal(size=(2, 2, 6, 5))
    w = rng.normal(size=(3, 2, 3, 2))
    verify_grad(lambda a, b: S.conv2d(a, b, border_mode=border, subsample=strides), [x, w],
                mode=S.Mode(linker="llvm"), rng=np.random.default_rng(0))


POOL_CASES = [
    # window, stride, padding, ignore_border
    ((2, 2), None, (0, 0), True),            # network3's
    ((3, 2), (1, 2), (0, 0), False),
    ((3, 3), (2, 2), (1, 2), True),
    ((2, 3), (3, 1), (0, 0), False),
    ((2, 2), (1, 1), (1, 1), True),
    ((1, 1), None, (0, 0), True),
]
POOL_SHAPES = [(2, 3, 7, 6), (5, 4), (1, 1, 1, 1), (2, 1, 1, 3, 8), (2, 0, 4, 4), (3, 2, 0, 5),
               # tiled by 2x2 windows (the vector kernel): whole vectors, then a few windows
               (2, 3, 24, 24), (1, 2, 4, 20), (3, 2, 2)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["max", "sum", "average_inc_pad", "average_exc_pad"])
@pytest.mark.parametrize("ws, stride, pad, ignore_border", POOL_CASES)
def test_pool_kernels_match_the_reference(rng, ws, stride, pad, ignore_border, mode, dtype):
    for shape in POOL_SHAPES:
        x = rng.normal(size=shape).astype(dtype)
        if x.size > 2:
            x.flat[::3] = x.flat[1]              # ties: every tied maximum gets the gradient
            x.flat[2] = np.nan if mode == "max" and x.size > 40 else x.flat[2]
        op = Pool(ws, stride, pad, ignore_border, mode)
        node = op.make_node(S.tensor(dtype=dtype, shape=(None,) * len(shape)))
        expect = op.perform(node, (x,))[0]
        got = _native(node)(x)[0]
        assert got.shape == expect.shape, shape
        np.testing.assert_allclose(got, expect, **TOL[dtype], err_msg=str(shape))

        gz = rng.normal(size=expect.shape).astype(dtype)
        ins = (x, expect, gz) if mode == "max" else (x, gz)
        grad = PoolGrad(ws, stride, pad, ignore_border, mode)
        gnode = grad.make_node(*[S.tensor(dtype=dtype, shape=(None,) * len(shape)) for _ in ins])
        np.testing.assert_allclose(_native(gnode)(*ins)[0], grad.perform(gnode, ins)[0], **TOL[dtype],
                                   err_msg=str(shape))


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("mode", ["max", "average_exc_pad"])
def test_large_pooling_splits_over_threads(rng, monkeypatch, threads, mode):
    import backends.llvm.threads as pool_threads
    monkeypatch.setattr(pool_threads, "PARALLEL_MIN_ELEMENTS", 16)
    with S.config.change_flags(threads=threads):
        test_pool_kernels_match_the_reference(rng, (3, 2), (1, 2), (0, 0), False, mode, "float64")
        x = S.dtensor4("x")
        y = S.pool_2d(x, (2, 2), ignore_border=True, mode=mode)
        out = [y, S.grad((y ** 2).sum(), x)]
        fast = S.function([x], out, mode=S.Mode(linker="llvm"))
        ref = S.function([x], out, mode=S.Mode(linker="numpy"))
        xv = rng.permutation(5 * 3 * 8 * 6).reshape(5, 3, 8, 6) / 7.0
        for _ in range(2):
            for a, b in zip(fast(xv), ref(xv)):
                np.testing.assert_allclose(a, b, **TOL["float64"])
    assert "Pool" in fast.program.describe()[0]          # split: run from Python


def test_pool_kernels_take_non_contiguous_inputs(rng):
    x = rng.normal(size=(4, 6, 10)).astype("float32").transpose(0, 2, 1)
    op = Pool((2, 2))
    node = op.make_node(S.tensor(dtype="float32", shape=(None,) * 3))
    np.testing.assert_array_equal(_native(node)(x)[0], op.perform(node, (x,))[0])


@pytest.mark.parametrize("mode", ["max", "average_exc_pad"])
def test_pool_gradients_through_llvm_functions(rng, mode):
    x = rng.permutation(60).reshape(1, 2, 6, 5) / 7.0     # distinct values: max is differentiable
    verify_grad(lambda a: S.pool_2d(a, (2, 2), ignore_border=True, pad=(1, 1), mode=mode), [x],
                mode=S.Mode(linker="llvm"), rng=np.random.default_rng(0))


def test_integer_pooling_runs_the_reference():
    node = Pool((2, 2)).make_node(S.tensor(dtype="int32", shape=(None, None)))
    assert not lower(node).how.startswith("native")


def _records(f):
    plan, = [p for p in f.program.describe() if p != "runs in Python"]
    assert plan.endswith("0 Python steps"), plan
    return int(plan.split()[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("input_gradient", [False, True])
def test_max_pool_gradient_folded_into_the_weight_gradient(rng, dtype, input_gradient):
    """A first layer's 2x2 max-pool gradient is made image by image inside the direct weight
    gradient (one record fewer), unless something else reads it (the input's gradient)."""
    x, w = S.tensor(dtype=dtype, shape=(None,) * 4), S.tensor(dtype=dtype, shape=(None,) * 4)
    y = S.pool_2d(S.conv2d(x, w), (2, 2), ignore_border=True)
    cost = (S.tanh(y) * np.arange(1, 4).reshape(1, 3, 1, 1)).sum()
    wrt = [w, x] if input_gradient else [w]
    # small integers: many tied maxima, each tie getting the gradient
    xv = rng.integers(0, 2, size=(3, 2, 14, 17)).astype(dtype)
    wv = rng.integers(0, 2, size=(3, 2, 3, 4)).astype(dtype)
    expect = S.function([x, w], S.grad(cost, wrt), mode=S.Mode(linker="numpy"))(xv, wv)
    counts = {}
    for flag in (True, False):
        with S.config.change_flags(small_gemm=flag):
            f = S.function([x, w], S.grad(cost, wrt), mode=S.Mode(linker="llvm"))
            for _ in range(2):
                for got, want in zip(f(xv, wv), expect):
                    np.testing.assert_allclose(got, want, **TOL[dtype])
            counts[flag] = _records(f)
    assert counts[True] == counts[False] - (0 if input_gradient else 1)

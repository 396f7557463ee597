"""CUDA column kernels of convolutions (backends/cuda/conv.py) without a GPU: they compile
with nvcc, and run on the host as one thread, with NumPy's matmul in place of cuBLAS, they
give the reference convolution and its input gradient."""
import numpy as np
import pytest

import symbolic as S
from backends.cuda.conv import column_source
from symbolic.ops.conv import Conv2d, Conv2dGradInputs, conv_output_length, padding_for
from test_cuda_codegen import needs_gxx, needs_nvcc, nvcc_ptx, run_emulated

CASES = [
    # image shape, filter shape, border mode, strides, flip
    ((3, 2, 7, 6), (4, 2, 3, 2), "valid", (1, 1), True),
    ((3, 2, 7, 6), (4, 2, 3, 2), "full", (1, 1), True),
    ((3, 2, 7, 6), (4, 2, 3, 3), "half", (2, 1), False),
    ((3, 2, 7, 6), (4, 2, 3, 3), (2, 1), (2, 3), True),
]


@needs_nvcc
def test_nvcc_column_kernels(tmp_path):
    kernels = [column_source(kind, st, padding_for(b, *ws[2:]), flip, dt)
               for kind in ("im2col", "col2im") for _, ws, b, st, flip in CASES
               for dt in ("float32", "float64")]
    assert nvcc_ptx(tmp_path, kernels, "columns") == len(kernels)
    with pytest.raises(NotImplementedError):
        column_source("im2col", (1, 1), (0, 0), True, "int32")


@needs_gxx
@pytest.mark.parametrize("xs, ws, border, strides, flip", CASES)
def test_emulated_columns_make_the_reference_convolution(tmp_path, xs, ws, border, strides, flip):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    (B, C, H, W), (F, _, KH, KW) = xs, ws
    pad = padding_for(border, KH, KW)
    OH, OW = (conv_output_length(n, k, p, s) for n, k, p, s in zip((H, W), (KH, KW), pad, strides))
    fwd = Conv2d(border, strides, flip)
    node = fwd.make_node(S.dtensor4(), S.dtensor4())
    want = fwd.perform(node, (x, w))[0]
    sizes = {"C": C, "H": H, "W": W, "OH": OH, "OW": OW, "KH": KH, "KW": KW}
    nb, first = 2, 1                                   # a chunk of two images, from image 1
    col = np.zeros((C * KH * KW, nb * OH * OW))
    col, = run_emulated(tmp_path, column_source("im2col", strides, pad, flip, "float64"),
                        {**sizes, "nb": nb, "first": first, "x": x, "col": col}, ["col"])
    got = (w.reshape(F, -1) @ col.reshape(C * KH * KW, -1)).reshape(F, nb, OH, OW).transpose(1, 0, 2, 3)
    np.testing.assert_allclose(got, want[first:first + nb], rtol=1e-12, atol=1e-12)

    gz = rng.normal(size=want.shape)
    grad = Conv2dGradInputs(border, strides, flip)
    gnode = grad.make_node(S.dtensor4(), S.dtensor4(), S.as_tensor_variable(np.array([H, W])))
    want_dx = grad.perform(gnode, (w, gz, np.array([H, W])))[0]
    chunk = gz[first:first + nb].transpose(1, 0, 2, 3).reshape(F, -1)
    dcol = w.reshape(F, -1).T @ chunk                  # K x nb*P, as cuBLAS would give it
    dx, = run_emulated(tmp_path, column_source("col2im", strides, pad, flip, "float64"),
                       {**sizes, "nb": nb, "first": first, "col": dcol, "dx": np.zeros(xs)}, ["dx"])
    np.testing.assert_allclose(dx.reshape(xs)[first:first + nb], want_dx[first:first + nb],
                               rtol=1e-12, atol=1e-12)

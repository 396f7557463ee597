"""CUDA row kernels (backends/cuda/rows.py) without a GPU: every variant compiles with nvcc,
and each runs on the host as one thread of a one-block grid against the reference ops."""
import numpy as np
import pytest

import symbolic as S
from backends.cuda.rows import KINDS, LABEL_DTYPES, row_source
from symbolic.ops.crossentropy import SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
from symbolic.ops.nnet import LogSoftmax, Softmax
from test_cuda_codegen import needs_gxx, needs_nvcc, nvcc_ptx, run_emulated

TOL = {"float32": dict(rtol=3e-6, atol=1e-7), "float64": dict(rtol=1e-13, atol=1e-15)}


@needs_nvcc
def test_nvcc_every_row_kernel(tmp_path):
    kernels = []
    for dt in ("float32", "float64"):
        for kind in KINDS:
            for label in (LABEL_DTYPES if kind.startswith("xent") else (None,)):
                kernels.append(row_source(kind, dt, label))
    assert nvcc_ptx(tmp_path, kernels, "rows") == len(kernels)


def test_same_kernel_same_text_and_unsupported_cases():
    assert row_source("softmax", "float32") == row_source("softmax", "float32")
    assert row_source("xent", "float32", "int32").name != row_source("xent", "float32", "int64").name
    with pytest.raises(NotImplementedError):
        row_source("softmax", "int32")
    with pytest.raises(NotImplementedError):
        row_source("xent", "float32", "float32")
    with pytest.raises(NotImplementedError):
        row_source("argmax", "float32")


def _rows(dtype):
    rng = np.random.default_rng(0)
    z = (rng.normal(size=(5, 7)) * 4).astype(dtype)
    z[1, 2] = -np.inf                      # one cell out of the softmax
    z[2, :] = -np.inf                      # a row of -inf: the maximum is not finite
    z[3, 4] = np.nan
    return z


def _node(op, *dtypes):
    return op.make_node(*[S.tensor(dt, (None,) * nd) for dt, nd in dtypes])


@needs_gxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
def test_emulated_softmax_rows(tmp_path, kind, dtype):
    z = _rows(dtype)
    op = Softmax() if kind == "softmax" else LogSoftmax()
    with np.errstate(all="ignore"):
        want = op.perform(_node(op, (dtype, 2)), [z])[0]
    k = row_source(kind, dtype)
    got, = run_emulated(tmp_path, k, {"rows": 5, "n": 7, "x": z, "out": np.zeros_like(z)}, ["out"])
    np.testing.assert_allclose(got.reshape(z.shape), want, **TOL[dtype])


@needs_gxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("label_dtype", ["int32", "uint8"])
def test_emulated_cross_entropy_rows(tmp_path, dtype, label_dtype):
    z = _rows(dtype)[[0, 1, 4]]
    y = np.array([3, 0, 6], label_dtype)
    xent = SoftmaxCrossEntropy()
    node = xent.make_node(S.tensor(dtype, (None, None)), S.tensor(label_dtype, (None,)), S.lscalar())
    want = xent.perform(node, [z, y, np.int64(3)])[0]
    status = np.zeros(1, np.int64)
    got, st = run_emulated(tmp_path, row_source("xent", dtype, label_dtype),
                           {"rows": 3, "n": 7, "z": z, "y": y, "out": np.zeros(3, dtype), "status": status},
                           ["out", "status"])
    np.testing.assert_allclose(got, want, **TOL[dtype])
    assert st[0] == 0

    grad = SoftmaxCrossEntropyGrad()
    for d, stride in ((np.array([0.5, -2.0, 1.5], dtype), 1), (np.array([0.25], dtype), 0)):
        gnode = grad.make_node(S.tensor(dtype, (None,)), S.tensor(dtype, (None, None)),
                               S.tensor(label_dtype, (None,)), S.lscalar())
        want = grad.perform(gnode, [d, z, y, np.int64(3)])[0]
        got, st = run_emulated(tmp_path, row_source("xent_grad", dtype, label_dtype),
                               {"rows": 3, "n": 7, "d_stride": stride, "d": d, "z": z, "y": y,
                                "out": np.zeros_like(z), "status": np.zeros(1, np.int64)},
                               ["out", "status"])
        np.testing.assert_allclose(got.reshape(z.shape), want, **TOL[dtype])
        assert st[0] == 0


@needs_gxx
def test_emulated_label_out_of_range_sets_the_status(tmp_path):
    z = _rows("float32")[:3]
    y = np.array([1, 7, -1], np.int64)
    got, st = run_emulated(tmp_path, row_source("xent", "float32", "int64"),
                           {"rows": 3, "n": 7, "z": z, "y": y, "out": np.zeros(3, np.float32),
                            "status": np.zeros(1, np.int64)}, ["out", "status"])
    assert st[0] == 1
    assert got[1] == 0 and got[2] == 0                 # rows with a bad label are not written

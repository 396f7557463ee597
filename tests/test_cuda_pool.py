"""CUDA pooling kernels (backends/cuda/pool.py) without a GPU: every configuration compiles
with nvcc, and each runs on the host as one thread against the reference ops."""
import numpy as np
import pytest

import symbolic as S
from backends.cuda.pool import MODES, pool_source
from symbolic.ops.pool import Pool, PoolGrad
from test_cuda_codegen import needs_gxx, needs_nvcc, nvcc_ptx, run_emulated

CASES = [
    # window, stride, padding, ignore_border
    ((2, 2), (2, 2), (0, 0), True),            # network3's
    ((3, 2), (1, 2), (0, 0), False),
    ((3, 3), (2, 2), (1, 2), True),
    ((2, 3), (3, 1), (0, 0), False),
    ((2, 2), (1, 1), (1, 1), True),
]


@needs_nvcc
def test_nvcc_every_pooling_kernel(tmp_path):
    kernels = [pool_source(kind, mode, ws, st, pad, dt)
               for kind in ("forward", "grad") for mode in MODES for ws, st, pad, _ in CASES
               for dt in ("float32", "float64")]
    assert nvcc_ptx(tmp_path, kernels, "pool") == len(kernels)


def test_unsupported_pooling_raises():
    with pytest.raises(NotImplementedError):
        pool_source("forward", "median", (2, 2), (2, 2), (0, 0), "float32")
    with pytest.raises(NotImplementedError):
        pool_source("grad", "max", (2, 2), (2, 2), (0, 0), "int32")


@needs_gxx
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ws, stride, pad, ignore_border", CASES)
def test_emulated_pooling_matches_the_reference(tmp_path, ws, stride, pad, ignore_border, mode):
    rng = np.random.default_rng(3)
    dtype = "float64"
    x = rng.normal(size=(2, 7, 6)).astype(dtype)
    x.flat[::3] = x.flat[1]                    # ties: every tied maximum gets the gradient
    x[1, 2, 3] = np.nan
    op = Pool(ws, stride, pad, ignore_border, mode)
    node = op.make_node(S.tensor(dtype, (None,) * 3))
    with np.errstate(all="ignore"):
        pooled = op.perform(node, (x,))[0]
    (OH, OW), (N, H, W) = pooled.shape[1:], x.shape
    sizes = {"N": N, "H": H, "W": W, "OH": OH, "OW": OW}
    got, = run_emulated(tmp_path, pool_source("forward", mode, ws, stride, pad, dtype),
                        {**sizes, "x": x, "out": np.zeros_like(pooled)}, ["out"])
    np.testing.assert_allclose(got.reshape(pooled.shape), pooled, rtol=1e-14)

    gz = rng.normal(size=pooled.shape).astype(dtype)
    ins = (x, pooled, gz) if mode == "max" else (x, gz)
    grad = PoolGrad(ws, stride, pad, ignore_border, mode)
    gnode = grad.make_node(*[S.tensor(dtype, (None,) * 3) for _ in ins])
    with np.errstate(all="ignore"):
        want = grad.perform(gnode, ins)[0]
    vals = {**sizes, "gz": gz, "gx": np.zeros_like(x)}
    if mode == "max":
        vals.update(x=x, pooled=pooled)
    got, = run_emulated(tmp_path, pool_source("grad", mode, ws, stride, pad, dtype), vals, ["gx"])
    np.testing.assert_allclose(got.reshape(x.shape), want, rtol=1e-14, atol=1e-15)

"""CUDA Philox kernels (backends/cuda/random.py) without a GPU: they compile with nvcc, and
run on the host as one thread they give the reference stream bit for bit."""
import numpy as np
import pytest

import symbolic as S
from backends.cuda.random import philox_source
from symbolic.random import Binomial, Uniform, initial_state
from test_cuda_codegen import needs_gxx, needs_nvcc, nvcc_ptx, run_emulated


@needs_nvcc
def test_nvcc_philox_kernels(tmp_path):
    kernels = [philox_source("uniform", "float32"), philox_source("uniform", "float64"),
               philox_source("binomial")]
    assert nvcc_ptx(tmp_path, kernels, "philox") == 3
    with pytest.raises(NotImplementedError):
        philox_source("uniform", "int32")
    with pytest.raises(NotImplementedError):
        philox_source("normal", "float32")


def _reference(op, state, shape, *params):
    node = op.make_node(S.as_tensor_variable(state), list(shape),
                        *[S.as_tensor_variable(p) for p in params])
    return op.perform(node, (state, np.array(shape, np.int64)) + params)


@needs_gxx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_emulated_uniform_is_the_reference_stream(tmp_path, dtype):
    state = initial_state(1234, 3)
    state[2:] = [7, 1]                                   # a run counter past 2**32
    low = np.array([-1.0, 0.0, 2.0, -3.0, 0.5], dtype)
    high = np.array(4.0, dtype)
    new_state, want = _reference(Uniform(dtype, 1), state, (5,), low, high)
    vals = {"N": 5, "s1": 1, "s2": 0, "n_max": 0, "out": np.zeros(5, dtype), "low": low,
            "high": high.reshape(1), "state": state, "new_state": np.zeros(4, np.int64),
            "status": np.zeros(1, np.int64)}
    got, got_state, status = run_emulated(tmp_path, philox_source("uniform", dtype), vals,
                                          ["out", "new_state", "status"])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_state, new_state)
    assert status[0] == 0


@needs_gxx
def test_emulated_binomial_is_the_reference_stream(tmp_path):
    state = initial_state(99, 0)
    n = np.array([0, 1, 3, 10, 5, 7], np.int64)
    p = np.array([0.5, 0.25, 0.9, 0.3, 1.0, 0.0])
    new_state, want = _reference(Binomial("int64", 1), state, (6,), n, p)
    vals = {"N": 6, "s1": 1, "s2": 1, "n_max": 10, "out": np.zeros(6, np.int64), "n": n, "p": p,
            "state": state, "new_state": np.zeros(4, np.int64), "status": np.zeros(1, np.int64)}
    got, got_state = run_emulated(tmp_path, philox_source("binomial"), vals, ["out", "new_state"])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_state, new_state)


@needs_gxx
def test_emulated_corrupt_state_sets_the_status(tmp_path):
    vals = {"N": 3, "s1": 0, "s2": 0, "n_max": 0, "out": np.zeros(3, np.float32),
            "low": np.zeros(1, np.float32), "high": np.ones(1, np.float32),
            "state": np.array([1, 2, 2 ** 33, 0], np.int64), "new_state": np.zeros(4, np.int64),
            "status": np.zeros(1, np.int64)}
    out, status = run_emulated(tmp_path, philox_source("uniform", "float32"), vals, ["out", "status"])
    assert status[0] == 1 and not out.any()

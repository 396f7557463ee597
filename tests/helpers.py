"""Shared utilities for the op tests: random data, input layouts, compile-and-compare."""
import warnings

import numpy as np

import symbolic as S

FLOATS = ("float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8")

# Non-contiguous layouts an op must accept: the values are equal, the strides differ.
LAYOUTS = ("c", "neg", "T", "strided")

_TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def rand(rng, shape, dtype="float64", low=-1.0, high=1.0):
    """Random values of ``shape`` and ``dtype`` (ints and bools drawn sensibly)."""
    shape = tuple(shape)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.dtype(dtype).kind in "iu":
        lo, hi = int(np.ceil(low)), int(np.floor(high))
        return rng.integers(lo, hi + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def away_from(rng, shape, dtype="float64", low=0.2, high=1.0):
    """Values with |v| in [low, high] and a random sign (away from kinks at 0)."""
    mag = rng.uniform(low, high, size=shape)
    sign = np.where(rng.integers(0, 2, size=shape) == 1, 1.0, -1.0)
    return (mag * sign).astype(dtype)


def layout(arr, kind):
    """An array equal to ``arr`` but stored as ``kind``: 'c' contiguous, 'neg' negative
    strides on every axis, 'T' a transposed view, 'strided' every other element."""
    arr = np.asarray(arr)
    if kind == "c" or arr.ndim == 0:
        return arr.copy()
    if kind == "neg":
        rev = (slice(None, None, -1),) * arr.ndim
        out = np.ascontiguousarray(arr[rev])[rev]
    elif kind == "T":
        out = np.ascontiguousarray(arr.T).T
    elif kind == "strided":
        big = np.zeros(tuple(2 * s for s in arr.shape), dtype=arr.dtype)
        out = big[(slice(None, None, 2),) * arr.ndim]
        out[...] = arr
    else:
        raise ValueError(kind)
    assert np.array_equal(out, arr, equal_nan=arr.dtype.kind == "f")
    return out


def sym(value, mode="none", name=None):
    """A symbolic input for ``value``: static shape unknown ('none'), size-1 dims known
    ('bcast'), or fully known ('static')."""
    value = np.asarray(value)
    if mode == "static":
        shape = value.shape
    elif mode == "bcast":
        shape = tuple(1 if s == 1 else None for s in value.shape)
    else:
        shape = (None,) * value.ndim
    return S.tensor(value.dtype.name, shape, name)


def check_static_shape(var, value):
    """``var.type.shape`` agrees with the computed ``value`` wherever it is known."""
    static = var.type.shape
    assert len(static) == np.ndim(value), f"static ndim {static} vs value shape {np.shape(value)}"
    for s, v in zip(static, np.shape(value)):
        assert s is None or s == v, f"static shape {static} vs value shape {np.shape(value)}"


# The ops' own meaning (no rewrites), then the default compilation, which must agree with it.
UNREWRITTEN = S.Mode(optimizer="None")


def run(build, values, mode="none", layouts=None):
    """Build ``build(*inputs)`` on symbolic inputs typed like ``values``, compile it, run it
    on ``values`` (re-laid out per ``layouts``) and return the result(s).

    Checks that each output's dtype is the variable's and its static shape is right, and
    that the default (rewritten) compilation gives the same values as the unrewritten one,
    whose results are returned.
    """
    values = [np.asarray(v) for v in values]
    inputs = [sym(v, mode, f"in{k}") for k, v in enumerate(values)]
    out = build(*inputs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    if layouts is not None:
        values = [layout(v, k) for v, k in zip(values, layouts)]
    originals = [v.copy() for v in values]
    results = []
    for compile_mode in (UNREWRITTEN, None):
        f = S.function(inputs, outs, on_unused_input="ignore", mode=compile_mode)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            results.append(f(*values))
            if compile_mode is None:
                # a second call (a plan's buffers reused) gives the same values and leaves
                # the first call's outputs, which the caller owns, as they were
                first = [np.array(r, copy=True) for r in _as_list(results[-1])]
                again = _as_list(f(*values))
                for a, b, r in zip(first, again, _as_list(results[-1])):
                    np.testing.assert_array_equal(b, a, err_msg="a second call differs")
                    np.testing.assert_array_equal(r, a, err_msg="a second call changed an output")
        for v, orig in zip(values, originals):
            np.testing.assert_array_equal(v, orig, err_msg="an input was overwritten")
    for o, r, r_default in zip(outs, *results):
        assert isinstance(r, np.ndarray), type(r)
        assert r.dtype == np.dtype(o.dtype), f"value dtype {r.dtype} vs variable dtype {o.dtype}"
        check_static_shape(o, r)
        assert r_default.dtype == r.dtype and r_default.shape == r.shape
        if r.dtype.kind == "f":
            tol = _TOL[r.dtype.name]
            np.testing.assert_allclose(r_default, r, equal_nan=True, rtol=tol["rtol"] * 50,
                                       atol=tol["atol"] * 50, err_msg="rewritten graph differs")
        else:
            np.testing.assert_array_equal(r_default, r, err_msg="rewritten graph differs")
    results = results[0]
    return results if isinstance(out, (list, tuple)) else results[0]


def _as_list(r):
    return list(r) if isinstance(r, list) else [r]


def assert_allclose(actual, expected, dtype=None, rtol=None, atol=None):
    """Same shape and dtype (``dtype`` or ``expected``'s), values close for that dtype."""
    expected = np.asarray(expected)
    dtype = np.dtype(dtype or expected.dtype)
    assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape}, expected {expected.shape}"
    tol = dict(_TOL.get(dtype.name, dict(rtol=0, atol=0)))
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    if dtype.kind == "f":
        np.testing.assert_allclose(actual, expected.astype(dtype), equal_nan=True, **tol)
    else:
        np.testing.assert_array_equal(actual, expected.astype(dtype))


def np_float_dtype(dtype):
    """The float dtype NumPy gives a math function of ``dtype`` (float16 counts as float32)."""
    out = np.sqrt(np.zeros(1, dtype=dtype)).dtype.name
    return "float32" if out == "float16" else out


def grad_of(build, values, wrt=None):
    """Compiled gradient of ``sum(build(*inputs) * proj)`` at ``values`` (fixed projection 1)."""
    values = [np.asarray(v) for v in values]
    inputs = [sym(v, "none", f"in{k}") for k, v in enumerate(values)]
    cost = S.sum(build(*inputs))
    wrt = inputs if wrt is None else [inputs[k] for k in wrt]
    f = S.function(inputs, S.grad(cost, wrt), on_unused_input="ignore")
    return f(*values)

"""Reductions (symbolic/ops/reduce.py): sum, prod, max, min, any, all, argmax, argmin, mean,
var, std, logsumexp."""
import itertools
import warnings

import numpy as np
import pytest

import symbolic as S
from helpers import FLOATS, LAYOUTS, assert_allclose, grad_of, rand, run


def _logsumexp_np(x, axis=None, keepdims=False):
    x = np.asarray(x, dtype="float64")
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros(())
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


def _np_dtype(name, dtype):
    """The result dtype NumPy gives, mapped onto the supported dtypes."""
    x = np.zeros(2, dtype)
    if name in ("sum", "prod"):
        out = np.sum(x).dtype.name
        return {"uint64": "int64"}.get(out, out)
    if name in ("max", "min"):
        return dtype
    if name in ("any", "all"):
        return "bool"
    if name in ("mean", "var", "std"):
        return np.mean(x).dtype.name if dtype != "bool" else "float64"
    return dtype


REDUCTIONS = {
    "sum": (S.sum, np.sum), "prod": (S.prod, np.prod), "max": (S.max, np.max),
    "min": (S.min, np.min), "any": (S.any, np.any), "all": (S.all, np.all),
    "mean": (S.mean, np.mean), "var": (S.var, np.var), "std": (S.std, np.std),
}

# (shape, axis) cases: reductions over all, one, several, negative, no axes, and empty axes
CASES = [((), None), ((5,), None), ((5,), 0), ((5,), -1), ((3, 4), None), ((3, 4), 0),
         ((3, 4), 1), ((3, 4), (0, 1)), ((2, 3, 4), (0, 2)), ((2, 3, 4), -2), ((2, 3, 4), ()),
         ((1, 3, 1), (0, 2)), ((0, 3), 1), ((0, 3), 0), ((2, 0, 3), (0, 2))]


@pytest.mark.parametrize("dtype", FLOATS + ("int32", "int8", "uint8", "bool"))
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_matches_numpy(name, dtype, rng):
    fn, ref = REDUCTIONS[name]
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for (shape, axis), keepdims in zip(CASES, itertools.cycle((False, True, True))):
        if name in ("max", "min") and 0 in shape and (axis is None or any(
                shape[a] == 0 for a in np.atleast_1d(axis))):
            continue  # covered by test_max_of_empty_axis
        x = rand(rng, shape, dtype, -3, 3)
        if name == "prod":
            x = rand(rng, shape, dtype, 1, 2) if dtype in FLOATS else x
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = ref(x, axis=axis, keepdims=keepdims)
        expected = np.asarray(expected).astype(_np_dtype(name, dtype))
        out = run(lambda a: fn(a, axis=axis, keepdims=keepdims), [x], next(modes), [next(layouts)])
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" and name in ("var", "std") else {}
        assert_allclose(out, expected, **tol)


def test_methods_match_functions(rng):
    x = rand(rng, (3, 4), "float64", 0.5, 2)
    for name in ("sum", "prod", "max", "min", "mean", "var", "std", "any", "all"):
        out = run(lambda a: getattr(a, name)(axis=1, keepdims=True), [x])
        assert_allclose(out, getattr(np, name)(x, axis=1, keepdims=True))
    out = run(lambda a: a.sum(axis=0, dtype="float32"), [x])
    assert_allclose(out, x.sum(axis=0).astype("float32"))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), (0, 2)], ids=str)
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std"])
def test_reduction_grad(name, axis, rng):
    fn = REDUCTIONS[name][0]
    if axis == (0, 2):
        x = rand(rng, (2, 3, 2), "float64", 0.5, 1.5)
    else:
        x = rand(rng, (3, 4), "float64", 0.5, 1.5)
    x = x * np.where(rng.integers(0, 2, size=x.shape) == 1, 1, -1)  # distinct, no ties
    S.verify_grad(lambda a: fn(a, axis=axis), [x], rng=rng)
    S.verify_grad(lambda a: fn(a, axis=axis, keepdims=True) * 2, [x], rng=rng)


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("dtype", FLOATS + ("int32",))
def test_var_std_ddof(ddof, dtype, rng):
    x = rand(rng, (4, 5), dtype, -3, 3)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else {}
    pairs = itertools.cycle(((S.var, np.var), (S.std, np.std)))
    for axis, (fn, ref) in zip((None, 0, 1, (0, 1)), pairs):
        out = run(lambda a: fn(a, axis=axis, ddof=ddof), [x], layouts=["T"])
        assert_allclose(out, ref(x, axis=axis, ddof=ddof).astype(_np_dtype("var", dtype)), **tol)
    out = run(lambda a: S.var(a, axis=0, corrected=True), [x])
    assert_allclose(out, np.var(x, axis=0, ddof=1).astype(_np_dtype("var", dtype)), **tol)
    out = run(lambda a: a.std(axis=1, ddof=ddof, keepdims=True), [x])
    expected = np.std(x, axis=1, ddof=ddof, keepdims=True).astype(_np_dtype("std", dtype))
    assert_allclose(out, expected, **tol)
    if dtype == "float64":
        S.verify_grad(lambda a: S.std(a, axis=1, ddof=ddof), [rand(rng, (3, 4))], rng=rng)
        S.verify_grad(lambda a: S.var(a, ddof=ddof), [rand(rng, (2, 3))], rng=rng)


def test_mean_float32_stays_float32(rng):
    x = S.fmatrix("x")
    assert S.mean(x).dtype == "float32"
    assert S.mean(x, axis=0).dtype == "float32"
    assert x.mean(axis=1, keepdims=True).dtype == "float32"
    assert S.var(x).dtype == "float32" and S.std(x, axis=0).dtype == "float32"
    assert S.mean(x, dtype="float64").dtype == "float64"
    v = rand(rng, (100, 3), "float32", 0, 1)
    assert_allclose(run(lambda a: S.mean(a, axis=0), [v]), v.mean(axis=0))
    assert_allclose(run(lambda a: S.mean(a, dtype="float64"), [v]), v.astype("float64").mean(),
                    rtol=1e-6)
    assert S.mean(S.imatrix("i")).dtype == "float64"


def test_max_gradient_goes_to_every_tied_maximum():
    x = np.array([[1.0, 3.0, 3.0, 2.0], [0.5, 0.5, 0.5, 0.5], [4.0, -1.0, 4.0, 4.0]])
    g, = grad_of(lambda a: S.max(a, axis=1), [x])
    np.testing.assert_array_equal(g, [[0, 1, 1, 0], [1, 1, 1, 1], [1, 0, 1, 1]])
    g, = grad_of(lambda a: S.min(a, axis=0), [x])
    np.testing.assert_array_equal(g, [[0, 0, 0, 0], [1, 0, 1, 1], [0, 1, 0, 0]])
    g, = grad_of(S.max, [x])
    np.testing.assert_array_equal(g, (x == 4.0).astype(float))


def test_prod_grad_with_zeros(rng):
    x = np.array([[2.0, 0.0, 3.0, 4.0],    # one zero
                  [0.0, 5.0, 0.0, 2.0],    # two zeros
                  [1.5, 2.0, -1.0, 0.5],   # none
                  [0.0, 0.0, 0.0, 0.0]])   # all zeros
    g, = grad_of(lambda a: S.prod(a, axis=1), [x])
    np.testing.assert_allclose(g, [[0, 24, 0, 0], [0, 0, 0, 0],
                                   [-1, -0.75, 1.5, -3], [0, 0, 0, 0]])
    g, = grad_of(S.prod, [np.array([3.0, 0.0, 2.0])])
    np.testing.assert_allclose(g, [0, 6, 0])
    g, = grad_of(S.prod, [np.array([0.0, 0.0, 2.0])])
    np.testing.assert_allclose(g, [0, 0, 0])
    S.verify_grad(lambda a: S.prod(a, axis=0), [np.array([[2.0, 0.0], [0.0, 0.0], [3.0, 1.5]])],
                  rng=rng)
    S.verify_grad(lambda a: S.prod(a, axis=1), [x[:3]], rng=rng)


@pytest.mark.parametrize("dtype", FLOATS)
def test_logsumexp(dtype, rng):
    for (shape, axis), keepdims, lay in zip(
            [((5,), None), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), (0, 2)), ((0, 3), 1)],
            itertools.cycle((False, True)), itertools.cycle(LAYOUTS)):
        x = rand(rng, shape, dtype, -3, 3)
        out = run(lambda a: S.logsumexp(a, axis=axis, keepdims=keepdims), [x], layouts=[lay])
        assert_allclose(out, _logsumexp_np(x, axis, keepdims).astype(dtype))
    big = np.array([[1e4, 1e4 - 1, -1e4], [-1e3, -1e3, -1e3]], dtype=dtype)
    out = run(lambda a: S.logsumexp(a, axis=1), [big])
    assert np.all(np.isfinite(out))
    assert_allclose(out, np.array([1e4 + np.log1p(np.exp(-1.0)), -1e3 + np.log(3)], dtype))
    inf = np.array([[-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, np.log(3)], [np.inf, 0, 1]],
                   dtype=dtype)
    out = run(lambda a: S.logsumexp(a, axis=-1), [inf])
    assert_allclose(out, np.array([-np.inf, np.log(4), np.inf], dtype))
    g, = grad_of(lambda a: S.logsumexp(a, axis=1), [big.astype("float64")])
    np.testing.assert_allclose(g.sum(axis=1), [1, 1])
    g, = grad_of(lambda a: S.logsumexp(a, axis=1), [inf[1:2].astype("float64")])
    np.testing.assert_allclose(g, [[0, 0.25, 0.75]])


def test_logsumexp_grad(rng):
    x = rand(rng, (3, 4), "float64", -2, 2)
    for axis in (None, 0, 1, (0, 1)):
        S.verify_grad(lambda a: S.logsumexp(a, axis=axis), [x], rng=rng)
    S.verify_grad(lambda a: S.logsumexp(a, axis=1, keepdims=True), [x + 500], rng=rng)


@pytest.mark.parametrize("dtype", FLOATS + ("int32", "uint8", "bool"))
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, dtype, rng):
    fn, ref = getattr(S, name), getattr(np, name)
    layouts = itertools.cycle(LAYOUTS)
    modes = itertools.cycle(["none", "static", "bcast"])
    for shape, axis in [((5,), None), ((5,), 0), ((5,), -1), ((3, 4), None), ((3, 4), 0),
                        ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((1, 3, 1), 2), ((0, 3), 1),
                        ((), None)]:
        x = rand(rng, shape, dtype, -2, 2)  # ints: many ties, NumPy picks the first
        for keepdims in (False, True):
            out = run(lambda a: fn(a, axis=axis, keepdims=keepdims), [x], next(modes),
                      [next(layouts)])
            assert_allclose(out, np.asarray(ref(x, axis=axis, keepdims=keepdims)).astype("int64"))
    x = rand(rng, (3, 4), dtype)
    assert_allclose(run(lambda a: getattr(a, name)(axis=0, keepdims=True), [x]),
                    ref(x, axis=0, keepdims=True))


def test_argmax_has_no_gradient():
    x = S.dmatrix("x")
    with pytest.raises(S.DisconnectedInputError):
        S.grad(S.sum(S.cast(S.argmax(x, axis=1), "float64")), x)
    with pytest.raises(ValueError):
        S.argmax(x, axis=(0, 1))


def test_integer_sums_widen_like_numpy(rng):
    for dtype in ("int8", "int32", "bool", "uint8", "int16"):
        x = rand(rng, (3, 4), dtype, 0, 100)
        for axis in (None, 0, ()):
            out = run(lambda a: S.sum(a, axis=axis), [x])
            assert_allclose(out, np.asarray(np.sum(x, axis=axis)).astype("int64"))
            out = run(lambda a: S.prod(a, axis=axis), [x])
            assert_allclose(out, np.asarray(np.prod(x, axis=axis)).astype("int64"))
        assert_allclose(run(S.sum, [x[0, 0]]), np.sum(x[0, 0]).astype("int64"))
    x = rand(rng, (3, 4), "int32", 0, 100)
    assert_allclose(run(lambda a: S.sum(a, acc_dtype="float64"), [x]), np.sum(x).astype("float64"))


def test_static_shapes_and_errors():
    x = S.tensor("float32", (2, None, 4), "x")
    assert S.sum(x, axis=1).type.shape == (2, 4)
    assert S.sum(x, axis=(0, 2), keepdims=True).type.shape == (1, None, 1)
    assert S.max(x, axis=-1).type.shape == (2, None)
    assert S.argmax(x, axis=0, keepdims=True).type.shape == (1, None, 4)
    assert S.argmax(x).type.shape == ()
    assert S.argmax(x, keepdims=True).type.shape == (1, 1, 1)
    assert S.mean(x, axis=2).type.shape == (2, None)
    assert S.logsumexp(x, axis=0).type.shape == (None, 4)
    with pytest.raises(ValueError):
        S.sum(x, axis=3)
    with pytest.raises(ValueError):
        S.sum(x, axis=(0, -3))
    with pytest.raises(ValueError):
        S.argmax(x, axis=-4)
    empty = S.tensor("float32", (0, 3), "e")
    with pytest.raises(ValueError):
        S.max(empty, axis=0)
    with pytest.raises(ValueError):
        S.min(empty)
    with pytest.raises(ValueError):
        S.argmax(empty, axis=0)
    assert S.max(empty, axis=1).type.shape == (0,)


def test_max_of_empty_axis_fails_at_run_time():
    f = S.function([x := S.matrix("x")], S.max(x, axis=0))
    with pytest.raises(ValueError):
        f(np.zeros((0, 3), "float32"))
    assert f(np.zeros((2, 0), "float32")).shape == (0,)

"""Elementwise ops (symbolic/ops/elemwise.py and the table in symbolic/ops/math.py)."""
import itertools
import math
import operator
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import symbolic as S
from helpers import (FLOATS, LAYOUTS, assert_allclose, away_from, grad_of, np_float_dtype, rand,
                     run)

_erf = np.vectorize(math.erf, otypes=["float64"])


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


# name -> (symbolic fn, NumPy reference, domain, result rule, differentiable)
# domain: (low, high) for uniform draws, or "away" for |x| in [0.2, 1] (away from kinks).
# rule "same": NumPy applied directly gives the dtype; "float": computed in float64 and
# given the float dtype NumPy's math functions give (float16 counted as float32).
UNARY = {
    "neg": (S.neg, np.negative, (-2, 2), "same", True),
    "abs": (S.abs, np.abs, "away", "same", True),
    "abs_": (S.abs_, np.abs, "away", "same", True),
    "sign": (S.sign, np.sign, "away", "same", True),
    "sqr": (S.sqr, np.square, (-2, 2), "same", True),
    "sqrt": (S.sqrt, np.sqrt, (0.1, 3), "float", True),
    "exp": (S.exp, np.exp, (-2, 2), "float", True),
    "expm1": (S.expm1, np.expm1, (-2, 2), "float", True),
    "log": (S.log, np.log, (0.1, 3), "float", True),
    "log1p": (S.log1p, np.log1p, (-0.5, 3), "float", True),
    "log2": (S.log2, np.log2, (0.1, 3), "float", True),
    "log10": (S.log10, np.log10, (0.1, 3), "float", True),
    "sin": (S.sin, np.sin, (-3, 3), "float", True),
    "cos": (S.cos, np.cos, (-3, 3), "float", True),
    "tan": (S.tan, np.tan, (-1.2, 1.2), "float", True),
    "tanh": (S.tanh, np.tanh, (-3, 3), "float", True),
    "sigmoid": (S.sigmoid, _sigmoid, (-5, 5), "float", True),
    "softplus": (S.softplus, lambda x: np.logaddexp(0, x), (-5, 5), "float", True),
    "relu": (S.relu, lambda x: np.maximum(x, np.zeros((), x.dtype)), "away", "same", True),
    "erf": (S.erf, _erf, (-2, 2), "float", True),
    "floor": (S.floor, np.floor, (-3, 3), "same", False),
    "ceil": (S.ceil, np.ceil, (-3, 3), "same", False),
    "round": (S.round, np.round, (-3, 3), "same", False),
    "identity": (S.identity, lambda x: x.copy(), (-2, 2), "same", True),
    "inv": (S.inv, lambda x: np.true_divide(1, x), "away", "numpy", True),
}
INT_UNARY = ["neg", "abs", "sign", "sqr", "sqrt", "exp", "log", "sin", "tanh", "sigmoid",
             "softplus", "relu", "erf", "floor", "ceil", "round", "identity", "inv"]

UNARY_SHAPES = [(), (0,), (1,), (5,), (3, 4), (2, 0, 3), (1, 3, 1), (2, 3, 4)]


def _draw(rng, shape, dtype, domain):
    if np.dtype(dtype).kind in "iub":
        if domain == "away":
            v = rng.integers(1, 4, size=shape) * rng.choice([-1, 1], size=shape)
        else:
            lo, hi = domain
            v = rng.integers(max(int(np.ceil(lo)), 1 if lo > 0 else -3), min(int(hi), 3) + 1,
                             size=shape)
        if dtype == "uint8":
            v = np.abs(v)
        return v.astype(dtype)
    if domain == "away":
        return away_from(rng, shape, dtype, 0.2, 2.0)
    return rand(rng, shape, dtype, *domain)


def _expected_unary(name, x):
    _, ref, _, rule, _ = UNARY[name]
    with np.errstate(all="ignore"):
        if rule == "float":
            return ref(x.astype("float64")).astype(np_float_dtype(x.dtype))
        if rule == "numpy":
            out = ref(x)
            return ref(x.astype("float64")).astype(out.dtype)
        return ref(x)


UNARY_CASES = [(name, dtype) for name in UNARY for dtype in FLOATS + ("int8", "int32", "uint8")
               if dtype in FLOATS or name in INT_UNARY and not (
                   dtype == "uint8" and name in ("neg", "inv", "sign"))]  # no unsigned wrap-around


@pytest.mark.parametrize("name,dtype", UNARY_CASES)
def test_unary_matches_numpy(name, dtype, rng):
    fn, _, domain, _, _ = UNARY[name]
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for shape in UNARY_SHAPES:
        x = _draw(rng, shape, dtype, domain)
        out = run(fn, [x], next(modes), [next(layouts)])
        assert_allclose(out, _expected_unary(name, x))


@pytest.mark.parametrize("name", [n for n, v in UNARY.items() if v[4]])
def test_unary_grad(name, rng):
    fn, _, domain, _, _ = UNARY[name]
    x = _draw(rng, (2, 3), "float64", domain)
    S.verify_grad(fn, [x], rng=rng)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign"])
def test_piecewise_constant_grad_is_zero(name):
    fn = UNARY[name][0]
    g, = grad_of(fn, [np.array([-1.3, 0.4, 2.7])])
    np.testing.assert_array_equal(g, np.zeros(3))


# ------------------------------------------------------------------- binary

BINARY = {
    "add": (S.add, np.add), "sub": (S.sub, np.subtract), "mul": (S.mul, np.multiply),
    "true_div": (S.true_div, np.true_divide), "true_divide": (S.true_divide, np.true_divide),
    "int_div": (S.int_div, np.floor_divide), "floor_div": (S.floor_div, np.floor_divide),
    "mod": (S.mod, np.mod), "pow": (S.pow, np.power),
    "maximum": (S.maximum, np.maximum), "minimum": (S.minimum, np.minimum),
    "eq": (S.eq, np.equal), "neq": (S.neq, np.not_equal), "lt": (S.lt, np.less),
    "le": (S.le, np.less_equal), "gt": (S.gt, np.greater), "ge": (S.ge, np.greater_equal),
    "and_": (S.and_, np.bitwise_and), "or_": (S.or_, np.bitwise_or),
    "xor": (S.xor, np.bitwise_xor),
    "logical_and": (S.logical_and, np.logical_and), "logical_or": (S.logical_or, np.logical_or),
}
OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
             "true_div": operator.truediv, "int_div": operator.floordiv, "mod": operator.mod,
             "pow": operator.pow, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
             "ge": operator.ge, "and_": operator.and_, "or_": operator.or_, "xor": operator.xor}
BITWISE = ("and_", "or_", "xor")
DIVIDING = ("true_div", "true_divide", "int_div", "floor_div", "mod")
DIFFERENTIABLE = ("add", "sub", "mul", "true_div", "int_div", "mod", "pow", "maximum", "minimum")

DTYPE_PAIRS = [("float32", "float32"), ("float64", "float32"), ("int32", "float32"),
               ("int8", "int16"), ("uint8", "int8"), ("int64", "int64"), ("bool", "int8"),
               ("bool", "bool")]

SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 4), (3, 1)),
               ((0, 4), (1, 4)), ((0,), (1,)), ((), (3,)), ((2, 3), ()), ((1,), ()),
               ((2, 0, 1), (3,)), ((1, 1), (1,))]


def _binary_operands(rng, name, shapes, dtypes):
    x, y = (_draw(rng, s, d, (-3, 3)) for s, d in zip(shapes, dtypes))
    if name in DIVIDING:
        y = _draw(rng, shapes[1], dtypes[1], "away")
        if dtypes[1] == "bool":
            y = np.ones(shapes[1], bool)
    if name == "pow":
        x = _draw(rng, shapes[0], dtypes[0], (0.5, 2) if dtypes[0] in FLOATS else (0, 3))
        y = _draw(rng, shapes[1], dtypes[1], (-2, 2) if dtypes[1] in FLOATS else (0, 3))
        if dtypes[1] not in FLOATS and dtypes[1] != "bool":
            y = np.abs(y).astype(dtypes[1])
    return x, y


BINARY_CASES = [
    pytest.param(name, dtypes, id=f"{name}-{'-'.join(dtypes)}")
    for name in BINARY for dtypes in DTYPE_PAIRS
    # bitwise ops take integers and booleans; NumPy rejects the others on two booleans
    if not (name in BITWISE and any(d in FLOATS for d in dtypes)) and
    not (name in ("sub", "pow") + DIVIDING and dtypes == ("bool", "bool"))]


@pytest.mark.parametrize("name,dtypes", BINARY_CASES)
def test_binary_matches_numpy(name, dtypes, rng):
    fn, ref = BINARY[name]
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for shapes in SHAPE_PAIRS:
        x, y = _binary_operands(rng, name, shapes, dtypes)
        with np.errstate(all="ignore"):
            expected = ref(x, y)
        out = run(fn, [x, y], next(modes), [next(layouts), next(layouts)])
        assert_allclose(out, expected)
    if name in OPERATORS:  # the operators users write map onto the same ops
        x, y = _binary_operands(rng, name, ((2, 3), (3,)), dtypes)
        with np.errstate(all="ignore"):
            assert_allclose(run(OPERATORS[name], [x, y]), OPERATORS[name](x, y))


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((3, 1), (4,)), ((), (3,)),
                                    ((2, 1, 3), (1, 4, 1))], ids=str)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_binary_grad(name, shapes, rng):
    fn = BINARY[name][0]
    x = rand(rng, shapes[0], "float64", -2, 2)
    y = away_from(rng, shapes[1], "float64", 0.5, 1.5)
    if name == "pow":
        x = rand(rng, shapes[0], "float64", 0.5, 2)
        y = rand(rng, shapes[1], "float64", -2, 2)
    if name in ("mod", "int_div"):
        # keep x / y away from the integers where mod and floor jump
        y = rand(rng, shapes[1], "float64", 0.8, 1.2)
        x = (rng.integers(-3, 3, size=shapes[0]) + rng.uniform(0.3, 0.7, size=shapes[0])) * 1.0
    S.verify_grad(fn, [x, y], rng=rng)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=0,
                                            max_side=3),
       name=st.sampled_from(["add", "sub", "mul", "true_div", "maximum", "lt", "pow"]),
       dtypes=st.sampled_from(DTYPE_PAIRS[:6]), mode=st.sampled_from(["none", "bcast", "static"]),
       layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)))
def test_binary_random_broadcast_shapes(shapes, name, dtypes, mode, layouts):
    rng = np.random.default_rng(len(str(shapes)))
    fn, ref = BINARY[name]
    x, y = _binary_operands(rng, name, shapes.input_shapes, dtypes)
    with np.errstate(all="ignore"):
        expected = ref(x, y)
    out = run(fn, [x, y], mode, list(layouts))
    assert out.shape == shapes.result_shape
    assert_allclose(out, expected)


def test_runtime_shape_mismatch_is_an_error():
    f = S.function([a := S.vector("a"), b := S.vector("b")], a + b)
    with pytest.raises(ValueError):
        f(np.zeros(2, "float32"), np.zeros(3, "float32"))
    np.testing.assert_array_equal(f(np.ones(1, "float32"), np.ones(3, "float32")), [2, 2, 2])


def test_binary_grad_float32_points(rng):
    x = rand(rng, (3, 4), "float32", 0.5, 2)
    y = rand(rng, (4,), "float32", 0.5, 2)
    S.verify_grad(lambda a, b: a * b + a / b - S.pow(a, b), [x, y], rng=rng)


def test_maximum_gradient_goes_to_ties():
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 3.0, 2.0])
    gx, gy = grad_of(S.maximum, [x, y])
    np.testing.assert_array_equal(gx, [1, 0, 1])
    np.testing.assert_array_equal(gy, [1, 1, 0])
    gx, gy = grad_of(S.minimum, [x, y])
    np.testing.assert_array_equal(gx, [1, 1, 0])
    np.testing.assert_array_equal(gy, [1, 0, 1])


def test_neg_and_sub_of_booleans_are_type_errors():
    b = S.tensor("bool", (None,), "b")
    with pytest.raises(TypeError):
        -b
    with pytest.raises(TypeError):
        b - b
    assert (b - 1).dtype == "int64" and (b + b).dtype == "bool"


def test_bitwise_on_floats_is_a_type_error():
    x = S.matrix("x")
    for fn in (S.and_, S.or_, S.xor):
        with pytest.raises(TypeError):
            fn(x, x)
    with pytest.raises(TypeError):
        S.invert(x)


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "uint8"])
def test_invert_and_logical_not(dtype, rng):
    x = _draw(rng, (3, 4), dtype, (-3, 3))
    assert_allclose(run(S.invert, [x], layouts=["neg"]), np.invert(x))
    assert_allclose(run(S.logical_not, [x], layouts=["T"]), np.logical_not(x))
    assert_allclose(run(lambda a: ~a, [x]), ~x)


@pytest.mark.parametrize("dtype", FLOATS + ("int32",))
def test_isnan_isinf(dtype, rng):
    x = _draw(rng, (2, 5), dtype, (-3, 3))
    if dtype in FLOATS:
        x[0, :3] = [np.nan, np.inf, -np.inf]
    for fn, ref in ((S.isnan, np.isnan), (S.isinf, np.isinf)):
        assert_allclose(run(fn, [x], "static", ["neg"]), ref(x))


# ------------------------------------------------------------------ ternary

CLIP_SHAPES = [((3, 4), (), ()), ((3, 4), (4,), (3, 1)), ((0, 2), (), (2,)), ((5,), (1,), ())]


@pytest.mark.parametrize("dtype", FLOATS + ("int32", "int8"))
def test_clip_matches_numpy(dtype, rng):
    for mode, (sx, slo, shi), lay in zip(["none", "bcast", "static", "none"], CLIP_SHAPES, LAYOUTS):
        x = _draw(rng, sx, dtype, (-3, 3))
        lo = _draw(rng, slo, dtype, (-2, -1))
        hi = _draw(rng, shi, dtype, (1, 2))
        out = run(S.clip, [x, lo, hi], mode, [lay, "c", "c"])
        assert_allclose(out, np.clip(x, lo, hi))
    x = _draw(rng, (3, 4), dtype, (-3, 3))
    assert_allclose(run(lambda a: a.clip(-1, 1), [x]), np.clip(x, -1, 1))


def test_clip_grad(rng):
    x = away_from(rng, (3, 4), "float64", 0.1, 2.0)
    lo = np.full((4,), -0.7) + rng.uniform(-0.05, 0.05, size=4)
    hi = np.full((3, 1), 0.9) + rng.uniform(-0.05, 0.05, size=(3, 1))
    S.verify_grad(S.clip, [x, lo, hi], rng=rng)
    gx, glo, ghi = grad_of(S.clip, [np.array([-2.0, 0.0, 2.0]), np.array(-1.0), np.array(1.0)])
    np.testing.assert_array_equal(gx, [0, 1, 0])
    assert glo == 1 and ghi == 1


@pytest.mark.parametrize("cond_dtype", ["bool", "int32", "float32"])
@pytest.mark.parametrize("fn", [S.switch, S.where], ids=["switch", "where"])
def test_switch_matches_numpy(fn, cond_dtype, rng):
    cases = [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()), ((0, 3), (3,), (1, 3)), ((), (2,), (2,))]
    for (sc, sa, sb), lay, mode in zip(cases, LAYOUTS, ["none", "bcast", "static", "none"]):
        c = _draw(rng, sc, cond_dtype, (-1, 1))
        a = rand(rng, sa, "float32")
        b = rand(rng, sb, "float64")
        out = run(fn, [c, a, b], mode, [lay, lay, "c"])
        assert_allclose(out, np.where(c, a, b))
    # int branches keep their dtype, Python literals stay weak
    c = rand(rng, (4,), "bool")
    a = rand(rng, (4,), "int8", -3, 3)
    assert_allclose(run(lambda cc, aa: fn(cc, aa, 0), [c, a]), np.where(c, a, np.int8(0)))
    assert run(lambda cc, aa: fn(cc, aa, 0.5), [c, a]).dtype == "float32"


def test_switch_grad(rng):
    c = rng.integers(0, 2, size=(3, 4)).astype(bool)
    a = rand(rng, (3, 4), "float64")
    b = rand(rng, (4,), "float64")
    ga, gb = grad_of(lambda cc, x, y: S.switch(cc, x, y) * 2, [c, a, b], wrt=[1, 2])
    np.testing.assert_array_equal(ga, 2.0 * c)
    np.testing.assert_array_equal(gb, (2.0 * ~c).sum(axis=0))
    S.verify_grad(lambda x, y: S.switch(S.gt(x, 0), x * y, y), [a, b], rng=rng)


# --------------------------------------------------------- dtype promotion

PYTHON_SCALAR_CASES = [
    ("float32", 1.5, "float32"), ("float64", 1.5, "float64"), ("int32", 1.5, "float32"),
    ("int8", 1, "int8"), ("uint8", 2, "uint8"), ("int64", 1, "int64"), ("bool", 1, "int64"),
    ("bool", True, "bool"), ("float32", 2, "float32"), ("int16", 1.0, "float32"),
]


@pytest.mark.parametrize("dtype,scalar,expected", PYTHON_SCALAR_CASES, ids=str)
def test_python_scalars_are_weak(dtype, scalar, expected, rng):
    x = _draw(rng, (2, 3), dtype, (0, 3))
    for build in (lambda a: a + scalar, lambda a: scalar + a, lambda a: S.mul(scalar, a)):
        assert run(build, [x]).dtype == expected
    np.testing.assert_allclose(run(lambda a: a + scalar, [x]).astype("float64"),
                               (x.astype("float64") + scalar).astype(expected).astype("float64"))


def test_python_float_follows_floatX():
    with S.config.change_flags(floatX="float64"):
        x = S.ivector("x")
        assert (x + 1.5).dtype == "float64"
        assert (x * 0.5).dtype == "float64"
        assert (S.fvector("y") + 1.5).dtype == "float32"
    x = S.ivector("x")
    assert (x + 1.5).dtype == "float32"
    assert S.add(1.5, 2.5).dtype == "float32"
    assert S.add(1, 2).dtype == "int64"


def test_python_int_overflow_is_an_error():
    with pytest.raises(OverflowError):
        S.tensor("int8", (None,), "x") + 300
    with pytest.raises(OverflowError):
        S.tensor("uint8", (None,), "x") + (-1)


@pytest.mark.parametrize("a,b", [("int8", "int8"), ("int32", "int32"), ("int16", "uint8"),
                                 ("bool", "bool"), ("int64", "int8")], ids=str)
def test_true_div_of_ints_gives_numpy_dtype(a, b, rng):
    x = _draw(rng, (5,), a, (1, 3))
    y = np.ones(5, dtype=b) if b == "bool" else _draw(rng, (5,), b, (1, 3))
    out = run(S.true_div, [x, y])
    assert_allclose(out, np.true_divide(x, y))


# --------------------------------------------------------- static shapes

@pytest.mark.parametrize("fn", [S.add, S.mul, S.maximum, S.eq, S.pow, S.true_div],
                         ids=lambda f: str(f))
def test_incompatible_static_shapes_raise(fn):
    a = S.tensor("float32", (2, 3), "a")
    b = S.tensor("float32", (4, 3), "b")
    with pytest.raises(ValueError):
        fn(a, b)
    with pytest.raises(ValueError):
        fn(a, S.tensor("float32", (5,), "c"))


def test_incompatible_static_shapes_raise_for_ternary_ops():
    with pytest.raises(ValueError):
        S.switch(S.tensor("bool", (2,), "c"), S.tensor("float32", (3,)), 1.0)
    with pytest.raises(ValueError):
        S.clip(S.tensor("float32", (2, 3)), S.tensor("float32", (2,)), 1.0)


def test_static_shape_inference():
    a = S.tensor("float32", (2, 1, None), "a")
    b = S.tensor("float64", (3, 1), "b")
    out = a + b
    assert out.type.shape == (2, 3, None)
    assert out.dtype == "float64"
    assert (a + 1).type.shape == (2, 1, None)
    c = S.tensor("float32", (None, 1), "c")
    assert (c * S.tensor("float32", (1, 1), "d")).type.shape == (None, 1)
    assert (c + S.tensor("float32", (1, 4), "d")).type.shape == (None, 4)
    assert S.exp(S.tensor("int32", (0, 2))).type == S.TensorType("float64", (0, 2))


def test_elemwise_wrong_arity():
    with pytest.raises(TypeError):
        S.add(S.vector("x"))
    assert isinstance(S.add, S.Elemwise)


# ----------------------------------------------------- numerical stability

@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_softplus_stable_for_large_inputs(dtype):
    x = np.array([-1e4, -1e3, -50.0, 0.0, 50.0, 1e3, 1e4], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        sig = run(S.sigmoid, [x])
        sp = run(S.softplus, [x])
        gsig, = grad_of(S.sigmoid, [x])
        gsp, = grad_of(S.softplus, [x])
    assert np.all(np.isfinite(sig)) and np.all(np.isfinite(sp))
    np.testing.assert_allclose(sig[[0, 1, 3, 5, 6]], [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(sp, [0, 0, np.log1p(np.exp(-50.0)), np.log(2), 50, 1e3, 1e4],
                               rtol=1e-6)
    assert np.all(np.isfinite(gsig)) and np.all(np.isfinite(gsp))
    np.testing.assert_allclose(gsp[[0, 1, 3, 5, 6]], [0, 0, 0.5, 1, 1])


@pytest.mark.parametrize("dtype", FLOATS)
def test_relu_nan_and_leaky(dtype, rng):
    x = np.array([np.nan, -1.0, 0.5, -np.inf, np.inf], dtype=dtype)
    out = run(S.relu, [x])
    np.testing.assert_array_equal(np.isnan(out), [True, False, False, False, False])
    np.testing.assert_array_equal(out[1:], [0, 0.5, 0, np.inf])
    y = away_from(rng, (3, 4), dtype)
    assert_allclose(run(lambda a: S.relu(a, alpha=0.25), [y]), np.where(y > 0, y, 0.25 * y))
    S.verify_grad(lambda a: S.relu(a, alpha=0.1), [away_from(rng, (3, 4), "float64")], rng=rng)


# ----------------------------------------------------------------- cast

ALL_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")


@pytest.mark.parametrize("src", ALL_DTYPES)
def test_cast_matches_numpy(src, rng):
    x = _draw(rng, (3, 4), src, (0, 3)) if src != "bool" else rand(rng, (3, 4), "bool")
    for dst, lay in zip(ALL_DTYPES, itertools.cycle(LAYOUTS)):
        out = run(lambda a: S.cast(a, dst), [x], layouts=[lay])
        assert_allclose(out, x.astype(dst))
        assert run(lambda a: a.astype(dst), [x[:0]]).shape == (0, 4)
    v = S.tensor(src, (2, None), "v")
    assert S.cast(v, "float64").type.shape == (2, None)
    assert S.cast(v, src) is v


def test_cast_grad(rng):
    g, = grad_of(lambda a: S.cast(S.cast(a, "float32"), "float64") * 3, [rand(rng, (2, 2))])
    np.testing.assert_array_equal(g, np.full((2, 2), 3.0))
    x = S.dvector("x")
    with pytest.raises(S.DisconnectedInputError):
        S.grad(S.sum(S.cast(S.cast(x, "int32"), "float64")), x)


def test_unbroadcast(rng):
    g = rand(rng, (2, 3, 4))
    like = np.zeros((3, 1))
    out = run(lambda a, b: S.unbroadcast(a, b), [g, like])
    assert_allclose(out, g.sum(axis=0).sum(axis=-1, keepdims=True))
    out = run(lambda a, b: S.unbroadcast(a, b), [g, np.zeros((2, 3, 4))], "static")
    assert_allclose(out, g)
    const = S.constant(np.zeros((3, 1)))
    S.verify_grad(lambda a: S.unbroadcast(a, const), [g], rng=rng)
    with pytest.raises(ValueError):
        S.unbroadcast(S.vector("a"), S.matrix("b"))


def test_python_float_keeps_precision_in_float64_graphs(rng):
    x = rand(rng, (5,), "float64")
    assert_allclose(run(lambda a: a * 0.1, [x]), x * 0.1)

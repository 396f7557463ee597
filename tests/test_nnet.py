"""Neural-network ops (symbolic/ops/nnet.py): softmax, log_softmax and the cross-entropies."""
import itertools
import warnings

import numpy as np
import pytest

import symbolic as S
from helpers import FLOATS, LAYOUTS, assert_allclose, grad_of, np_float_dtype, rand, run


def _log_softmax_np(x):
    x = np.asarray(x, dtype="float64")
    if x.shape[-1] == 0:
        return x.copy()
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _softmax_np(x):
    with np.errstate(invalid="ignore"):
        return np.exp(_log_softmax_np(x))


SHAPES = [(3, 4), (5,), (2, 3, 4), (0, 4), (1, 1), (3, 1), (2, 0)]


@pytest.mark.parametrize("dtype", FLOATS + ("int32", "int8"))
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_matches_numpy(name, dtype, rng):
    fn = getattr(S, name)
    ref = _softmax_np if name == "softmax" else _log_softmax_np
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for shape in SHAPES:
        x = rand(rng, shape, dtype, -5, 5)
        out = run(fn, [x], next(modes), [next(layouts)])
        assert_allclose(out, ref(x).astype(np_float_dtype(dtype)))
        out = run(lambda a: fn(a, axis=-1), [x])
        assert_allclose(out, ref(x).astype(np_float_dtype(dtype)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_large_logits(dtype):
    x = np.array([[1e4, 1e4 - 1, -1e4], [-1e3, -1e3, -1e3], [1e3, 0, -np.inf],
                  [88.0, 89.0, 90.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        sm = run(S.softmax, [x])
        lsm = run(S.log_softmax, [x[:, :2]])
    assert np.all(np.isfinite(sm)) and np.all(np.isfinite(lsm))
    np.testing.assert_allclose(sm.sum(axis=-1), 1, rtol=1e-6)
    assert_allclose(sm, _softmax_np(x).astype(dtype))
    assert_allclose(lsm, _log_softmax_np(x[:, :2]).astype(dtype))
    np.testing.assert_allclose(lsm[0], [-np.log1p(np.exp(-1.0)), -1 - np.log1p(np.exp(-1.0))],
                               rtol=1e-6)
    lsm_inf = run(S.log_softmax, [x])
    assert lsm_inf[2, 2] == -np.inf and np.all(np.isfinite(lsm_inf[[0, 1, 3]]))
    g, = grad_of(lambda a: S.log_softmax(a)[:, 0], [x[:, :2].astype("float64")])
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g.sum(axis=-1), 0, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4), (5,), (2, 2, 3)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_grad(name, shape, rng):
    fn = getattr(S, name)
    S.verify_grad(fn, [rand(rng, shape, "float64", -2, 2)], rng=rng)
    S.verify_grad(fn, [rand(rng, shape, "float64", -2, 2) + 300], rng=rng)


def test_softmax_errors_and_static_shape():
    x = S.tensor("float32", (2, 5), "x")
    assert S.softmax(x).type == x.type
    assert S.log_softmax(S.tensor("int32", (None, 3))).type == S.TensorType("float64", (None, 3))
    assert S.softmax(x, axis=1).type == x.type
    with pytest.raises(ValueError):
        S.softmax(x, axis=0)
    with pytest.raises(ValueError):
        S.log_softmax(x, axis=0)
    with pytest.raises(TypeError):
        S.softmax(S.scalar("s"))


# --------------------------------------------------------- cross-entropies

def _labels(rng, n, k, dtype="int32"):
    return rng.integers(0, k, size=n).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint8"])
def test_categorical_crossentropy_int_labels(dtype, label_dtype, rng):
    for n, lay, mode in zip((4, 1, 0), LAYOUTS, ("none", "static", "bcast")):
        p = _softmax_np(rand(rng, (n, 3), dtype, -2, 2)).astype(dtype)
        y = _labels(rng, n, 3, label_dtype)
        out = run(S.categorical_crossentropy, [p, y], mode, [lay, "c"])
        assert_allclose(out, -np.log(p[np.arange(n), y]))
    p = _softmax_np(rand(rng, (4, 3), "float64", -2, 2))
    y = S.constant(_labels(rng, 4, 3))
    S.verify_grad(lambda q: S.categorical_crossentropy(q, y), [p], rng=rng)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("onehot_dtype", FLOATS + ("int32", "int8"))
def test_categorical_crossentropy_one_hot(dtype, onehot_dtype, rng):
    for n, lay in zip((4, 1, 0), LAYOUTS):
        p = _softmax_np(rand(rng, (n, 3), dtype, -2, 2)).astype(dtype)
        y = np.eye(3, dtype=onehot_dtype)[_labels(rng, n, 3)]
        out = run(S.categorical_crossentropy, [p, y], "none", [lay, lay])
        # log(p) is computed in p's precision, however wide the one-hot's dtype makes the result
        assert_allclose(out, -np.sum(y * np.log(p), axis=-1), rtol=2e-6 if dtype == "float32" else None)
    # a soft target distribution too
    p = _softmax_np(rand(rng, (4, 3), dtype)).astype(dtype)
    t = _softmax_np(rand(rng, (4, 3), dtype)).astype(dtype)
    assert_allclose(run(S.categorical_crossentropy, [p, t]), -np.sum(t * np.log(p), axis=-1))
    S.verify_grad(S.categorical_crossentropy, [_softmax_np(rand(rng, (4, 3))),
                                               _softmax_np(rand(rng, (4, 3)))], rng=rng)


def test_categorical_crossentropy_errors():
    with pytest.raises(TypeError):
        S.categorical_crossentropy(S.matrix("p"), S.imatrix("y")[0][0])
    with pytest.raises(TypeError):
        S.categorical_crossentropy(S.tensor3("p"), S.ivector("y"))
    with pytest.raises(TypeError):
        S.categorical_crossentropy(S.matrix("p"), S.tensor3("t"))


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_crossentropy(dtype, rng):
    for shape, tshape, lay in zip([(3, 4), (5,), (0, 2), (2, 3)], [(3, 4), (5,), (0, 2), (3,)],
                                  LAYOUTS):
        p = rand(rng, shape, dtype, 0.05, 0.95)
        t = rand(rng, tshape, dtype, 0, 1)
        out = run(S.binary_crossentropy, [p, t], "none", [lay, lay])
        expected = -(t * np.log(p.astype("float64")) + (1 - t) * np.log1p(-p.astype("float64")))
        assert_allclose(out, expected.astype(dtype), rtol=1e-4 if dtype == "float32" else None)
    S.verify_grad(S.binary_crossentropy, [rand(rng, (3, 4), "float64", 0.1, 0.9),
                                          rand(rng, (3, 4), "float64", 0, 1)], rng=rng)
    labels = rand(rng, (3,), "int32", 0, 1)
    out = run(S.binary_crossentropy, [rand(rng, (3,), dtype, 0.1, 0.9), labels])
    assert out.dtype == "float64"  # NumPy: float32 * int32 is float64


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_cross_entropy(dtype, rng):
    logits = rand(rng, (4, 5), dtype, -3, 3)
    y = _labels(rng, 4, 5)
    expected = -_log_softmax_np(logits)[np.arange(4), y]
    assert_allclose(run(S.softmax_cross_entropy, [logits, y], "none", ["T", "c"]),
                    expected.astype(dtype))
    onehot = np.eye(5, dtype=dtype)[y]
    assert_allclose(run(S.softmax_cross_entropy, [logits, onehot], "static", ["neg", "c"]),
                    expected.astype(dtype))
    assert_allclose(run(S.softmax_cross_entropy, [logits, onehot.astype("int8")]),
                    expected.astype(dtype))
    big = np.array([[1e4, 0, -1e4], [-1e3, 1e3, 0]], dtype=dtype)
    out = run(S.softmax_cross_entropy, [big, np.array([1, 1], dtype="int32")])
    assert_allclose(out, np.array([1e4, 0], dtype=dtype))
    const = S.constant(y)
    S.verify_grad(lambda a: S.softmax_cross_entropy(a, const), [rand(rng, (4, 5))], rng=rng)
    S.verify_grad(S.softmax_cross_entropy, [rand(rng, (4, 5)), _softmax_np(rand(rng, (4, 5)))],
                  rng=rng)

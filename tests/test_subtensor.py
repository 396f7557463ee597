"""Indexing (symbolic/ops/subtensor.py): basic and advanced ``x[...]``, set/inc_subtensor,
take, with NumPy's rules."""
import numpy as np
import pytest

import symbolic as S
from helpers import FLOATS, LAYOUTS, assert_allclose, grad_of, rand, run

E = Ellipsis
BASIC = [
    ((5,), 2), ((5,), -1), ((5,), slice(1, 4)), ((5,), slice(None, None, -1)),
    ((6,), slice(4, 0, -2)), ((6,), slice(-2, None, -3)), ((3, 4), (1,)),
    ((3, 4), (slice(None), 2)), ((3, 4), (E, 0)), ((3, 4), (None, slice(None), 1)),
    ((3, 4), (slice(None, None, -1), slice(1, None, 2))), ((2, 3, 4), (E, None, slice(1, 3))),
    ((2, 3, 4), (1, E)), ((0, 3), (slice(1, 2),)), ((4, 0), (slice(1, 3), slice(None))),
    ((3, 4), (slice(10, 20),)), ((3, 4), (-2, slice(-10, None))), ((2, 3), (E,)),
    ((2, 3), (1, 2)), ((1, 3), (0, slice(None, None, -2))), ((3, 4), (slice(None, None, 2),)),
]
ADVANCED = [
    ((5,), [0, 2, 2, -1]), ((3, 4), ([0, 2],)), ((3, 4), (slice(None), [0, 2])),
    ((2, 3, 4), ([0, 1], slice(None), [1, 2])), ((2, 3, 4), (slice(None), [0, 2], [1, 3])),
    ((2, 3, 4), (0, slice(None), [1, 2])), ((3, 4), ([[0, 1], [2, 0]],)),
    ((3, 4), (np.array([True, False, True]),)), ((3, 4), (slice(1, None), np.array([0, -1]))),
    ((2, 3, 4), ([0, 1], [1, 2], [3, 0])), ((3, 4), (np.array([], dtype="int64"),)),
    ((2, 3, 4), (E, [0, 3])), ((2, 3, 4), ([1, 0], None, [0, 2])),
    ((3, 4), (np.array([[True, False, True, True], [False] * 4, [True] * 4]),)),
    ((2, 3, 4), (slice(None, None, -1), [2, 0], slice(1, 3))), ((0, 3), (slice(None), [0, 2])),
    ((3, 4), (np.array([2, 0], dtype="int32"), slice(None, None, -1))),
    ((2, 3, 4), (1, [0, 2], 3)), ((2, 3, 4), ([[1], [0]], slice(None), [0, 3, 1])),
]
CASES = BASIC + ADVANCED


def _has_duplicates(shape, index):
    flat = np.arange(int(np.prod(shape))).reshape(shape)[index]
    return np.unique(flat).size != np.asarray(flat).size


def _ids(cases):
    return [f"{s}-{i}" for s, i in cases]


@pytest.mark.parametrize("shape,index", CASES, ids=_ids(CASES))
def test_getitem_matches_numpy(shape, index, rng):
    for dtype, mode, lay in zip(FLOATS + ("int32", "bool"), ["none", "bcast", "static", "none"],
                                LAYOUTS):
        x = rand(rng, shape, dtype)
        out = run(lambda a: a[index], [x], mode, [lay])
        assert_allclose(out, x[index])
    out = run(lambda a: S.getitem(a, index), [x], "static")
    assert_allclose(out, x[index])


@pytest.mark.parametrize("shape,index", CASES, ids=_ids(CASES))
def test_getitem_grad(shape, index, rng):
    x = rand(rng, shape)
    if x[index].size:
        S.verify_grad(lambda a: a[index], [x], rng=rng)
    g, = grad_of(lambda a: a[index] * 2, [x])
    expected = np.zeros(shape)
    np.add.at(expected, index, 2.0)
    np.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize("shape,index", CASES, ids=_ids(CASES))
@pytest.mark.parametrize("kind", ["set", "inc"])
def test_set_inc_subtensor_match_numpy(kind, shape, index, rng):
    fn = S.set_subtensor if kind == "set" else S.inc_subtensor
    for dtype, mode, lay in zip(FLOATS + ("int32",), ["none", "bcast", "static"], LAYOUTS):
        x = rand(rng, shape, dtype)
        target_shape = x[index].shape
        for y in (rand(rng, target_shape, dtype), rand(rng, (), dtype),
                  rand(rng, target_shape[1:], dtype)):
            expected = x.copy()
            if kind == "set":
                expected[index] = y
            else:
                np.add.at(expected, index, y)
            out = run(lambda a, b: fn(a[index], b), [x, y], mode, [lay, lay])
            assert_allclose(out, expected)
            np.testing.assert_array_equal(out.shape, shape)


@pytest.mark.parametrize("shape,index", CASES, ids=_ids(CASES))
@pytest.mark.parametrize("kind", ["set", "inc"])
def test_set_inc_subtensor_grad(kind, shape, index, rng):
    fn = S.set_subtensor if kind == "set" else S.inc_subtensor
    x = rand(rng, shape)
    y = rand(rng, x[index].shape)
    if kind == "set" and _has_duplicates(shape, index):
        S.verify_grad(lambda a: fn(a[index], y), [x], rng=rng)  # y's gradient is ambiguous
        return
    S.verify_grad(lambda a, b: fn(a[index], b), [x, y], rng=rng)
    if y.ndim:
        S.verify_grad(lambda a, b: fn(a[index], b), [x, rand(rng, ())], rng=rng)


def test_inc_subtensor_accumulates_duplicates():
    x = S.dmatrix("x")
    f = S.function([x], S.inc_subtensor(x[[0, 0, 1]], 1))
    np.testing.assert_array_equal(f(np.zeros((3, 2))), [[2, 2], [1, 1], [0, 0]])
    v = S.dvector("v")
    out = S.inc_subtensor(v[[2, 2, 2, 0]], np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(S.function([v], out)(np.zeros(3)), [4, 0, 6])
    # the gradient of a gather with repeated indices adds up too
    g, = grad_of(lambda a: a[[0, 0, 1]], [np.zeros(3)])
    np.testing.assert_array_equal(g, [2, 1, 0])
    # and inc_subtensor's gradient for y gathers
    gy, = grad_of(lambda a, b: S.inc_subtensor(a[[0, 0, 1]], b) * np.array([1.0, 2.0, 3.0]),
                  [np.zeros(3), np.zeros(3)], wrt=[1])
    np.testing.assert_array_equal(gy, [1, 1, 2])


def test_set_subtensor_basic():
    x = S.dmatrix("x")
    y = S.dvector("y")
    out = S.set_subtensor(x[1:, 0], y)
    v = np.arange(6.0).reshape(3, 2)
    res = S.function([x, y], out)(v, np.array([10.0, 20.0]))
    np.testing.assert_array_equal(res, [[0, 1], [10, 3], [20, 5]])
    np.testing.assert_array_equal(v, np.arange(6.0).reshape(3, 2))  # the input is not changed
    with pytest.raises(TypeError):
        S.set_subtensor(x, y)  # not an indexed tensor


def test_set_subtensor_of_indexed_view():
    x = S.dmatrix("x")
    out = S.set_subtensor(x[:, ::-1][0], 7.0)  # updates the reversed copy
    v = np.arange(6.0).reshape(2, 3)
    expected = v[:, ::-1].copy()
    expected[0] = 7
    np.testing.assert_array_equal(S.function([x], out)(v), expected)


def test_advanced_index_with_arange_and_ivector(rng):
    x = S.dmatrix("x")
    y = S.ivector("y")
    picked = x[S.arange(x.shape[0]), y]
    assert picked.ndim == 1
    f = S.function([x, y], picked)
    v = rand(rng, (4, 3))
    labels = np.array([2, 0, 1, 2], dtype="int32")
    np.testing.assert_array_equal(f(v, labels), v[np.arange(4), labels])
    np.testing.assert_array_equal(f(v[::-1, ::-1], labels), v[::-1, ::-1][np.arange(4), labels])
    g = S.function([x, y], S.grad(S.sum(picked * 3), x))(v, labels)
    expected = np.zeros((4, 3))
    expected[np.arange(4), labels] = 3
    np.testing.assert_array_equal(g, expected)
    const = S.constant(labels)
    S.verify_grad(lambda a: a[S.arange(a.shape[0]), const], [v], rng=rng)
    S.verify_grad(lambda a: S.log(a[S.arange(4), const] + 2), [v], rng=rng)
    n = S.lscalar("n")
    f = S.function([x, y, n], x[S.arange(n), y[:n]])
    np.testing.assert_array_equal(f(v, labels, 2), v[[0, 1], labels[:2]])
    with pytest.raises(IndexError):
        f(v, np.array([3, 0, 1, 2], dtype="int32"), 4)


def test_symbolic_slice_bounds(rng):
    x = S.dmatrix("x")
    i, n = S.lscalar("i"), S.lscalar("n")
    f = S.function([x, i, n], x[i * n:(i + 1) * n])
    v = rand(rng, (7, 2))
    for k in range(4):
        np.testing.assert_array_equal(f(v, k, 2), v[k * 2:(k + 1) * 2])
    g = S.function([x, i], x[i, ::-1])
    np.testing.assert_array_equal(g(v, -1), v[-1, ::-1])
    h = S.function([x, i, n], x[i::n, n:])
    np.testing.assert_array_equal(h(v, 1, 1), v[1::1, 1:])
    np.testing.assert_array_equal(h(v, -2, -1), v[-2::-1, -1:])
    j = S.iscalar("j")
    np.testing.assert_array_equal(S.function([x, j], x[:j])(v, 3), v[:3])
    gr = S.function([x, i, n], S.grad(S.sum(x[i * n:(i + 1) * n]), x))(v, 1, 3)
    np.testing.assert_array_equal(gr, (np.arange(7) // 3 == 1)[:, None] * np.ones((7, 2)))


def test_symbolic_bool_mask(rng):
    x = S.dvector("x")
    f = S.function([x], x[x > 0])
    v = rand(rng, (8,))
    np.testing.assert_array_equal(f(v), v[v > 0])
    m = S.dmatrix("m")
    out = S.set_subtensor(m[m < 0], 0)
    w = rand(rng, (3, 4))
    np.testing.assert_array_equal(S.function([m], out)(w), np.maximum(w, 0))
    g = S.function([m], S.grad(S.sum(m[m > 0] ** 2), m))(w)
    np.testing.assert_allclose(g, np.where(w > 0, 2 * w, 0))


def test_static_shapes():
    x = S.tensor("float32", (5, 4), "x")
    assert x[1:3].type.shape == (2, 4)
    assert x[::-1].type.shape == (5, 4)
    assert x[::-2, 1].type.shape == (3,)
    assert x[-1].type.shape == (4,)
    assert x[None, ..., None].type.shape == (1, 5, 4, 1)
    assert x[[0, 2]].type.shape == (2, 4)
    assert x[:, [0, 2, 3]].type.shape == (5, 3)
    assert x[10:].type.shape == (0, 4)
    y = S.tensor("float32", (None, 4, 6), "y")
    assert y[[0, 1], :, [1, 2]].type.shape == (2, 4)
    assert y[:, [0, 1], [1, 2]].type.shape == (None, 2)
    assert y[0, :, [1, 2]].type.shape == (2, 4)
    assert y[1:3].type.shape == (None, 4, 6)
    i = S.lscalar("i")
    assert x[i:i + 2].type.shape == (None, 4)
    assert x[S.arange(5), S.ivector("l")].type.shape == (5,)
    assert x[x > 0].type.shape == (None,)
    # indexing a shape gives a length known when building
    assert S.alloc(0.0, y.shape[1], x.shape[0]).type.shape == (4, 5)


def test_index_errors():
    x = S.tensor("float32", (3, 4), "x")
    with pytest.raises(IndexError):
        x[3]
    with pytest.raises(IndexError):
        x[:, -5]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError):
        x[..., 0, ...]
    with pytest.raises(IndexError):
        x[1.5]
    with pytest.raises(IndexError):
        x[S.vector("f")]
    with pytest.raises(IndexError):
        x[0:S.dscalar("d")]
    m = S.matrix("m")
    f = S.function([m], m[5])
    with pytest.raises(IndexError):
        f(np.zeros((3, 4), "float32"))
    with pytest.raises(ValueError):
        S.set_subtensor(x[0:2], S.tensor("float32", (3,)))
    with pytest.raises(ValueError):
        S.inc_subtensor(x[0], S.matrix("two_d"))
    with pytest.raises(TypeError):
        S.inc_subtensor(S.imatrix("i")[0], S.vector("floats"))
    # a weak Python scalar takes x's dtype
    out = S.inc_subtensor(S.imatrix("i")[0], 2)
    assert out.dtype == "int32"
    out = S.set_subtensor(S.fmatrix("f")[0], S.bvector("b"))
    assert out.dtype == "float32"


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_take(axis, rng):
    x = rand(rng, (3, 4), "float64")
    for idx, lay in zip([[0, 2], np.array([[1, -1], [0, 0]]), np.array([], dtype="int64"), 1],
                        LAYOUTS):
        out = run(lambda a: S.take(a, idx, axis=axis), [x], "none", [lay])
        assert_allclose(out, np.take(x, idx, axis=axis))
    S.verify_grad(lambda a: S.take(a, [1, 1, 0], axis=axis), [x], rng=rng)
    i = S.lvector("i")
    a = S.dmatrix("a")
    f = S.function([a, i], S.take(a, i, axis=axis))
    np.testing.assert_array_equal(f(x, np.array([0, 2])), np.take(x, [0, 2], axis=axis))

"""Products (symbolic/ops/linalg.py): dot, matmul, outer, tensordot, batched_dot."""
import itertools

import numpy as np
import pytest

import symbolic as S
from helpers import FLOATS, LAYOUTS, assert_allclose, rand, run

DTYPE_PAIRS = [("float32", "float32"), ("float64", "float64"), ("float32", "float64"),
               ("int32", "int32"), ("int8", "int16"), ("int32", "float32")]

DOT_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)), ((), (3, 4)),
              ((3, 4), ()), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4,)),
              ((4,), (2, 4, 5)), ((0,), (0,)), ((3, 0), (0, 5)), ((0, 4), (4, 2)), ((3, 4), (4, 0)),
              ((1, 4), (4, 1)), ((2, 1, 3), (3,))]


def _tol(dtypes):
    return dict(rtol=1e-4, atol=1e-5) if "float32" in dtypes else {}


def _values(rng, shapes, dtypes):
    return [rand(rng, s, d, -3, 3) for s, d in zip(shapes, dtypes)]


@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids="-".join)
def test_dot_matches_numpy(dtypes, rng):
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for shapes in DOT_SHAPES:
        a, b = _values(rng, shapes, dtypes)
        out = run(S.dot, [a, b], next(modes), [next(layouts), next(layouts)])
        assert_allclose(out, np.dot(a, b), **_tol(dtypes))
    a, b = _values(rng, ((3, 4), (4, 2)), dtypes)
    assert_allclose(run(lambda x, y: x.dot(y), [a, b]), np.dot(a, b), **_tol(dtypes))


@pytest.mark.parametrize("shapes", DOT_SHAPES[:10] + DOT_SHAPES[-2:], ids=str)
def test_dot_grad(shapes, rng):
    a, b = (rand(rng, s) for s in shapes)
    S.verify_grad(S.dot, [a, b], rng=rng)


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)),
                 ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (2, 4, 5)),
                 ((4,), (2, 4, 5)), ((2, 3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                 ((1, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (1, 3, 4, 2)), ((0, 3, 4), (4, 5)),
                 ((2, 3, 0), (2, 0, 5)), ((2, 0, 4), (1, 4, 3))]


@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids="-".join)
def test_matmul_matches_numpy(dtypes, rng):
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for shapes in MATMUL_SHAPES:
        a, b = _values(rng, shapes, dtypes)
        out = run(S.matmul, [a, b], next(modes), [next(layouts), next(layouts)])
        assert_allclose(out, np.matmul(a, b), **_tol(dtypes))
        out = run(lambda x, y: x @ y, [a, b], next(modes))
        assert_allclose(out, a @ b, **_tol(dtypes))


@pytest.mark.parametrize("shapes", MATMUL_SHAPES[:12], ids=str)
def test_matmul_grad(shapes, rng):
    a, b = (rand(rng, s) for s in shapes)
    S.verify_grad(S.matmul, [a, b], rng=rng)


def test_matmul_numpy_array_operand(rng):
    a = rand(rng, (3, 4))
    b = rand(rng, (4, 2))
    x = S.dmatrix("x")
    np.testing.assert_allclose(S.function([x], a @ x)(b), a @ b)
    np.testing.assert_allclose(S.function([x], x @ b)(a), a @ b)


def test_static_shapes_and_errors():
    a = S.tensor("float32", (2, 3), "a")
    v = S.tensor("float32", (3,), "v")
    assert S.dot(a, v).type.shape == (2,)
    assert S.dot(v, S.tensor("float32", (3, None))).type.shape == (None,)
    assert S.dot(v, v).type.shape == ()
    assert S.matmul(S.tensor("float32", (5, 1, 2, 3)), S.tensor("float32", (4, 3, 7))).type.shape \
        == (5, 4, 2, 7)
    assert S.matmul(v, S.tensor("float32", (6, 3, 2))).type.shape == (6, 2)
    assert S.matmul(S.tensor("float32", (6, 2, 3)), v).type.shape == (6, 2)
    assert S.outer(v, S.tensor("float32", (2, 2))).type.shape[0] == 3
    assert S.tensordot(S.tensor("float32", (2, 3, 4)), S.tensor("float32", (4, 3, 5)),
                       [[1, 2], [1, 0]]).type.shape == (2, 5)
    with pytest.raises(ValueError):
        S.dot(a, S.tensor("float32", (2, 3)))
    with pytest.raises(ValueError):
        S.dot(v, S.tensor("float32", (4,)))
    with pytest.raises(ValueError):
        S.matmul(a, S.tensor("float32", (4, 2)))
    with pytest.raises(ValueError):
        S.matmul(S.tensor("float32", (2, 2, 3)), S.tensor("float32", (3, 3, 1)))
    with pytest.raises(ValueError):
        S.matmul(S.scalar("s"), a)
    with pytest.raises(ValueError):
        S.tensordot(a, S.tensor("float32", (2, 3)), [[0], [1]])
    with pytest.raises(ValueError):
        S.tensordot(a, a, [[0, 1], [0]])
    f = S.function([m := S.matrix("m"), w := S.vector("w")], S.dot(m, w))
    with pytest.raises(ValueError):
        f(np.zeros((2, 3), "float32"), np.zeros(4, "float32"))


@pytest.mark.parametrize("dtype", FLOATS + ("int32",))
def test_outer(dtype, rng):
    for shapes, lay in zip([((3,), (4,)), ((0,), (2,)), ((2, 2), (3,)), ((1,), (1,))], LAYOUTS):
        a, b = _values(rng, shapes, (dtype, dtype))
        assert_allclose(run(S.outer, [a, b], "none", [lay, lay]), np.outer(a, b))
    S.verify_grad(S.outer, [rand(rng, (3,)), rand(rng, (2,))], rng=rng)
    S.verify_grad(S.outer, [rand(rng, (2, 2)), rand(rng, (2,))], rng=rng)


TENSORDOTS = [((3, 4), (4, 5), 1), ((2, 3, 4), (3, 4, 5), 2), ((2, 3), (4, 5), 0),
              ((2, 3, 4), (4, 3, 5), [[1, 2], [1, 0]]), ((2, 3, 4), (4, 5), ([2], [0])),
              ((2, 3, 4), (5, 2), ([0], [1])), ((2, 3, 4), (2, 3, 4), 3),
              ((2, 3, 4), (4, 2), ((0, 2), (1, 0))), ((3, 4), (4, 3), [[0, 1], [1, 0]]),
              ((0, 3), (3, 2), 1), ((2, 3), (3, 0), [[1], [0]]), ((3,), (3,), [[-1], [0]]),
              ((2, 3, 4), (4,), [[-1], [-1]])]


@pytest.mark.parametrize("a_shape,b_shape,axes", TENSORDOTS, ids=str)
def test_tensordot(a_shape, b_shape, axes, rng):
    for dtypes, mode, lay in zip(DTYPE_PAIRS[:4], ["none", "static", "bcast", "none"], LAYOUTS):
        a, b = _values(rng, (a_shape, b_shape), dtypes)
        out = run(lambda x, y: S.tensordot(x, y, axes), [a, b], mode, [lay, lay])
        assert_allclose(out, np.tensordot(a, b, axes), **_tol(dtypes))
    a, b = rand(rng, a_shape), rand(rng, b_shape)
    if a.size and b.size:
        S.verify_grad(lambda x, y: S.tensordot(x, y, axes), [a, b], rng=rng)


BATCHED = [((2, 3, 4), (2, 4, 5)), ((2, 3), (2, 3)), ((2, 3, 4), (2, 4)), ((2, 4), (2, 4, 5)),
           ((0, 3, 4), (0, 4, 2)), ((3, 2, 4, 2), (3, 2, 5)), ((2, 3, 4), (2, 4, 5, 2))]


@pytest.mark.parametrize("a_shape,b_shape", BATCHED, ids=str)
def test_batched_dot(a_shape, b_shape, rng):
    def ref(a, b):  # Theano's batched_dot: a[i] . b[i], contracting a's last axis, b's second
        if not a.shape[0]:
            return np.zeros(a.shape[:-1] + b.shape[2:], a.dtype)
        return np.stack([np.tensordot(a[i], b[i], [[a.ndim - 2], [0]])
                         for i in range(a.shape[0])])
    for dtypes, mode, lay in zip(DTYPE_PAIRS[:4], ["none", "static", "bcast", "none"], LAYOUTS):
        a, b = _values(rng, (a_shape, b_shape), dtypes)
        out = run(S.batched_dot, [a, b], mode, [lay, lay])
        assert_allclose(out, ref(a, b).astype(out.dtype), **_tol(dtypes))
    a, b = rand(rng, a_shape), rand(rng, b_shape)
    if a.size:
        S.verify_grad(S.batched_dot, [a, b], rng=rng)

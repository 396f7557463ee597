"""Shape ops (symbolic/ops/shape.py): reshape, flatten, dimshuffle and friends, alloc and the
constructors built on it, concatenate, stack, split, arange, shape."""
import itertools

import numpy as np
import pytest

import symbolic as S
from symbolic.ops.shape import DimShuffle
from helpers import FLOATS, LAYOUTS, assert_allclose, grad_of, rand, run

DTYPES = FLOATS + ("int32", "bool")


# ------------------------------------------------------------------ reshape

RESHAPES = [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1)), ((2, 3, 4), (2, -1, 2)),
            ((6,), (1, 6, 1)), ((0, 3), (3, 0)), ((0, 3), (-1, 3)), ((2, 0), (0, 5)), ((1,), ()),
            ((), (1, 1)), ((3, 4), (12,)), ((4, 1), (2, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_matches_numpy(dtype, rng):
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for src, dst in RESHAPES:
        x = rand(rng, src, dtype)
        mode = next(modes)
        out = run(lambda a: S.reshape(a, dst), [x], mode, [next(layouts)])
        assert_allclose(out, np.reshape(x, dst))
        out = run(lambda a: a.reshape(dst), [x], mode, [next(layouts)])
        assert_allclose(out, np.reshape(x, dst))
        if len(dst) > 1:
            out = run(lambda a: a.reshape(*dst), [x], mode)
            assert_allclose(out, np.reshape(x, dst))


def test_reshape_static_shape():
    x = S.tensor("float32", (2, 3, 4), "x")
    assert S.reshape(x, (6, -1)).type.shape == (6, 4)
    assert S.reshape(x, (-1,)).type.shape == (24,)
    y = S.tensor("float32", (None, 3), "y")
    assert S.reshape(y, (-1,)).type.shape == (None,)
    assert S.reshape(y, (3, -1)).type.shape == (3, None)
    assert S.reshape(x, (y.shape[0], 4)).type.shape == (None, 4)
    assert S.reshape(x, (x.shape[1], x.shape[0] * 4)).type.shape[0] == 3


def test_reshape_errors():
    x = S.tensor("float32", (2, 3), "x")
    with pytest.raises(ValueError):
        S.reshape(x, (4, 2))
    with pytest.raises(ValueError):
        S.reshape(x, (-1, -1))
    with pytest.raises(ValueError):
        S.reshape(x, (4, -1))
    with pytest.raises(ValueError):
        S.reshape(S.matrix("m"), (2, 3), ndim=3)
    with pytest.raises(TypeError):
        S.reshape(x, S.vector("shape_of_floats"))
    f = S.function([m := S.matrix("m")], S.reshape(m, (5, -1)))
    with pytest.raises(ValueError):
        f(np.zeros((2, 3), "float32"))


def test_reshape_symbolic_shape(rng):
    x = rand(rng, (3, 4), "float32")
    shape = np.array([2, 6], dtype="int32")
    a, s = S.fmatrix("a"), S.ivector("s")
    out = S.reshape(a, s, ndim=2)
    assert out.ndim == 2
    np.testing.assert_array_equal(S.function([a, s], out)(x, shape), x.reshape(2, 6))
    n = S.lscalar("n")
    out = S.function([a, n], a.reshape((n, -1)))(x, 6)
    np.testing.assert_array_equal(out, x.reshape(6, -1))
    with pytest.raises(ValueError):
        S.reshape(a, s)  # the length of s is unknown


def test_reshape_grad(rng):
    S.verify_grad(lambda a: S.reshape(a, (3, -1)) * np.arange(4.0), [rand(rng, (2, 6))], rng=rng)
    S.verify_grad(lambda a: a.reshape((-1,)), [rand(rng, (2, 3, 2))], rng=rng)


# ------------------------------------------------------------------ flatten

@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_flatten(ndim, rng):
    for shape, lay, mode in zip([(2, 3, 4, 5), (2, 0, 3, 1), (1, 1, 1, 1)], LAYOUTS,
                                ["none", "static", "bcast"]):
        x = rand(rng, shape, "float32")
        expected = x.reshape(shape[:ndim - 1] + (int(np.prod(shape[ndim - 1:])),))
        assert_allclose(run(lambda a: S.flatten(a, ndim), [x], mode, [lay]), expected)
        assert_allclose(run(lambda a: a.flatten(ndim), [x], mode, [lay]), expected)
    t = S.tensor("float32", (2, None, 4, 5), "t")
    assert S.flatten(t, 2).type.shape == (2, None)
    assert S.flatten(t, 3).type.shape == (2, None, 20)
    assert S.flatten(S.tensor("float32", (2, 3, 4, 5)), ndim).type.shape == \
        (2, 3, 4, 5)[:ndim - 1] + (int(np.prod((2, 3, 4, 5)[ndim - 1:])),)
    S.verify_grad(lambda a: S.flatten(a, ndim) * 2, [rand(rng, (2, 1, 3, 2))], rng=rng)


def test_flatten_errors_and_scalar(rng):
    with pytest.raises(ValueError):
        S.flatten(S.matrix("m"), 3)
    with pytest.raises(ValueError):
        S.flatten(S.matrix("m"), 0)
    assert_allclose(run(S.flatten, [np.float32(3.0)]), np.array([3.0], "float32"))


# --------------------------------------------------------------- dimshuffle

DIMSHUFFLES = [((2, 3), (1, 0)), ((2, 3), ("x", 0, 1)), ((2, 3), (0, "x", 1)),
               ((2, 3, 4), (2, 0, 1)), ((1, 3), (1,)), ((3, 1), (0,)), ((1, 3, 1), (1,)),
               ((1, 3, 1), ("x", 1, "x")), ((1, 3, 1), (2, 1, 0)), ((0, 3), (1, "x", 0)),
               ((), ("x", "x")), ((1,), ()), ((5,), ("x", 0))]


def _np_dimshuffle(x, pattern):
    kept = [p for p in pattern if p != "x"]
    dropped = tuple(i for i in range(x.ndim) if i not in kept)
    y = np.squeeze(x, axis=dropped) if dropped else x
    order = [kept.index(k) for k in sorted(kept)]
    y = np.transpose(y, np.argsort(order)) if kept else y
    for i, p in enumerate(pattern):
        if p == "x":
            y = np.expand_dims(y, i)
    return y


@pytest.mark.parametrize("dtype", DTYPES)
def test_dimshuffle(dtype, rng):
    modes = itertools.cycle(["bcast", "static", "none"])
    layouts = itertools.cycle(LAYOUTS)
    for shape, pattern in DIMSHUFFLES:
        x = rand(rng, shape, dtype)
        expected = _np_dimshuffle(x, pattern)
        mode = next(modes)
        out = run(lambda a: S.dimshuffle(a, pattern), [x], mode, [next(layouts)])
        assert_allclose(out, expected)
        out = run(lambda a: a.dimshuffle(*pattern), [x], mode, [next(layouts)])
        assert_allclose(out, expected)


def test_dimshuffle_drops_broadcastable_axis(rng):
    row = S.row("r")
    out = row.dimshuffle(1)
    assert out.type.shape == (None,)
    x = rand(rng, (1, 5), "float32")
    np.testing.assert_array_equal(S.function([row], out)(x), x[0])
    # an axis of unknown length may be dropped; it is checked at run time
    m = S.matrix("m")
    f = S.function([m], m.dimshuffle(1))
    np.testing.assert_array_equal(f(x), x[0])
    with pytest.raises(ValueError):
        f(rand(rng, (2, 5), "float32"))
    with pytest.raises(ValueError):
        S.tensor("float32", (2, 5)).dimshuffle(1)
    with pytest.raises(ValueError):
        m.dimshuffle(0, 0)
    with pytest.raises(ValueError):
        m.dimshuffle(0, 2)
    with pytest.raises(TypeError):
        DimShuffle(3, (0, 1, 2))(m)
    g, = grad_of(lambda a: a.dimshuffle(1, "x") * np.arange(5.0).reshape(5, 1),
                 [rand(rng, (1, 5))])
    np.testing.assert_array_equal(g, np.arange(5.0).reshape(1, 5))


def test_dimshuffle_grad(rng):
    S.verify_grad(lambda a: a.dimshuffle(2, "x", 0, 1) * np.arange(12.0).reshape(4, 1, 1, 3),
                  [rand(rng, (1, 3, 4))], rng=rng)
    S.verify_grad(lambda a: a.dimshuffle(1, "x"), [rand(rng, (1, 3))], rng=rng)


def test_transpose_swapaxes_expand_dims_squeeze(rng):
    x = rand(rng, (2, 3, 4), "float64")
    cases = [
        (lambda a: a.T, x.T), (lambda a: S.transpose(a), x.T),
        (lambda a: S.transpose(a, (1, 0, 2)), x.transpose(1, 0, 2)),
        (lambda a: a.transpose(2, 0, 1), x.transpose(2, 0, 1)),
        (lambda a: a.transpose((-1, 0, 1)), x.transpose(-1, 0, 1)),
        (lambda a: S.swapaxes(a, 0, 2), np.swapaxes(x, 0, 2)),
        (lambda a: S.swapaxes(a, -1, 1), np.swapaxes(x, -1, 1)),
        (lambda a: S.expand_dims(a, 0), np.expand_dims(x, 0)),
        (lambda a: S.expand_dims(a, -1), np.expand_dims(x, -1)),
        (lambda a: S.expand_dims(a, 2), np.expand_dims(x, 2)),
    ]
    for (fn, expected), lay in zip(cases, itertools.cycle(LAYOUTS)):
        assert_allclose(run(fn, [x], "static", [lay]), expected)
        S.verify_grad(fn, [rand(rng, (2, 1, 2))], rng=rng)
    y = rand(rng, (1, 3, 1), "float32")
    assert_allclose(run(S.squeeze, [y], "bcast"), np.squeeze(y))
    assert_allclose(run(lambda a: S.squeeze(a, 0), [y]), np.squeeze(y, 0))
    assert_allclose(run(lambda a: S.squeeze(a, (0, -1)), [y], "static", ["neg"]),
                    np.squeeze(y, (0, -1)))
    assert S.squeeze(S.tensor("float32", (1, None, 1))).type.shape == (None,)
    S.verify_grad(lambda a: S.squeeze(a, 0) * 2, [rand(rng, (1, 3, 1))], rng=rng)
    with pytest.raises(ValueError):
        S.transpose(S.matrix("m"), (0, 0))
    with pytest.raises(ValueError):
        S.squeeze(S.tensor("float32", (2, 3)), 0)


# -------------------------------------------------- alloc and constructors

@pytest.mark.parametrize("dtype", DTYPES)
def test_alloc_and_broadcast_to(dtype, rng):
    cases = [((), (2, 3)), ((3,), (2, 3)), ((1, 3), (4, 3)), ((2, 1), (2, 5)), ((3,), (0, 3)),
             ((1,), (2, 0)), ((), ())]
    for (vshape, shape), lay, mode in zip(cases, itertools.cycle(LAYOUTS),
                                          itertools.cycle(["none", "bcast", "static"])):
        v = rand(rng, vshape, dtype)
        out = run(lambda a: S.alloc(a, *shape), [v], mode, [lay])
        assert_allclose(out, np.broadcast_to(v, shape))
        out = run(lambda a: S.broadcast_to(a, shape), [v], mode, [lay])
        assert_allclose(out, np.broadcast_to(v, shape))
        assert out.flags.writeable
    # symbolic shape entries
    v = rand(rng, (3,), dtype)
    n = S.lscalar("n")
    a = S.tensor(dtype, (None,), "a")
    f = S.function([a, n], S.alloc(a, n, 3))
    assert_allclose(f(v, 4), np.broadcast_to(v, (4, 3)))
    f = S.function([a, n], S.alloc(a, S.stack([n, 3])))
    assert_allclose(f(v, 2), np.broadcast_to(v, (2, 3)))


def test_alloc_static_shape_and_errors():
    v = S.tensor("float32", (1, 3), "v")
    assert S.alloc(v, 4, 3).type.shape == (4, 3)
    assert S.alloc(v, 2, 4, 3).type.shape == (2, 4, 3)
    assert S.alloc(v, S.lscalar("n"), S.lscalar("m")).type.shape == (None, 3)
    with pytest.raises(ValueError):
        S.alloc(v, 4, 2)
    with pytest.raises(ValueError):
        S.alloc(v, 3)
    f = S.function([w := S.vector("w")], S.alloc(w, 2, 3))
    with pytest.raises(ValueError):
        f(np.zeros(4, "float32"))


def test_alloc_grad(rng):
    S.verify_grad(lambda a: S.alloc(a, 2, 3, 4) * np.arange(24.0).reshape(2, 3, 4),
                  [rand(rng, (3, 1))], rng=rng)
    S.verify_grad(lambda a: S.broadcast_to(a, (3, 2)), [rand(rng, (2,))], rng=rng)
    S.verify_grad(lambda a: S.fill(np.zeros((2, 3)), a), [rand(rng, ())], rng=rng)


def test_zeros_ones_full_like(rng):
    assert_allclose(run(lambda: S.zeros((2, 3)), []), np.zeros((2, 3), "float32"))
    assert_allclose(run(lambda: S.ones((4,), dtype="int32"), []), np.ones(4, "int32"))
    assert_allclose(run(lambda: S.full((2, 2), 7.5, dtype="float64"), []), np.full((2, 2), 7.5))
    assert_allclose(run(lambda: S.full((2, 2), 7), []), np.full((2, 2), 7))
    assert_allclose(run(lambda: S.full((2,), 0.5), []), np.full(2, 0.5, "float32"))
    assert_allclose(run(lambda: S.zeros((0, 3), dtype="bool"), []), np.zeros((0, 3), bool))
    with S.config.change_flags(floatX="float64"):
        assert S.zeros((2,)).dtype == "float64"
    n = S.lscalar("n")
    np.testing.assert_array_equal(S.function([n], S.ones((n, 2)))(3), np.ones((3, 2)))
    v = S.dscalar("v")
    out = S.full((2, n), v)
    assert out.dtype == "float64"
    np.testing.assert_array_equal(S.function([v, n], out)(1.5, 3), np.full((2, 3), 1.5))
    assert S.full((2,), v, dtype="float32").dtype == "float32"
    S.verify_grad(lambda a: S.full((2, 3), a), [np.array(0.5)], rng=rng)
    for dtype in DTYPES:
        x = rand(rng, (2, 0, 3), dtype)
        y = rand(rng, (3, 1), dtype)
        for v in (x, y):
            assert_allclose(run(S.zeros_like, [v], layouts=["T"]), np.zeros_like(v))
            assert_allclose(run(S.ones_like, [v]), np.ones_like(v))
            assert_allclose(run(lambda a: S.zeros_like(a, dtype="int8"), [v]),
                            np.zeros_like(v, dtype="int8"))
            assert_allclose(run(lambda a: S.fill(a, 3), [v]), np.full_like(v, 3, dtype="int64"))
            assert_allclose(run(lambda a: S.second(a, 2.5), [v]),
                            np.full(v.shape, 2.5, dtype="float32"))
    assert S.zeros_like(S.tensor("float64", (2, None))).type.shape == (2, None)
    assert S.zeros((2, 3)).type.shape == (2, 3)


# -------------------------------------------------------------- concatenate

CONCATS = [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 0)], 1), ([(2, 3), (2, 4)], -1),
           ([(0, 3), (2, 3)], 0), ([(1, 2, 3), (1, 2, 3), (1, 2, 3)], 1), ([(3,), (0,), (2,)], 0)]


@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float32", "float64"),
                                    ("int8", "int32"), ("int32", "float32"), ("bool", "bool")],
                         ids="-".join)
def test_concatenate(dtypes, rng):
    modes = itertools.cycle(["none", "bcast", "static"])
    layouts = itertools.cycle(LAYOUTS)
    for shapes, axis in CONCATS:
        values = [rand(rng, s, d) for s, d in zip(shapes, itertools.cycle(dtypes))]
        out = run(lambda *xs: S.concatenate(xs, axis=axis), values, next(modes),
                  [next(layouts) for _ in values])
        assert_allclose(out, np.concatenate(values, axis=axis))


def test_concatenate_static_shape_and_errors():
    a = S.tensor("float32", (2, 3), "a")
    b = S.tensor("float32", (None, 3), "b")
    c = S.tensor("float32", (4, 3), "c")
    assert S.concatenate([a, c]).type.shape == (6, 3)
    assert S.concatenate([a, b]).type.shape == (None, 3)
    assert S.concatenate([a, S.tensor("float32", (2, None))], axis=1).type.shape == (2, None)
    with pytest.raises(ValueError):
        S.concatenate([a, c], axis=1)
    with pytest.raises(ValueError):
        S.concatenate([a, S.vector("v")])
    with pytest.raises(ValueError):
        S.concatenate([a, c], axis=2)
    with pytest.raises(ValueError):
        S.concatenate([])
    assert S.concatenate([a]) is a
    f = S.function([b, c], S.concatenate([b, c], axis=1))
    with pytest.raises(ValueError):
        f(np.zeros((3, 3), "float32"), np.zeros((4, 3), "float32"))


def test_concatenate_grad(rng):
    S.verify_grad(lambda a, b, c: S.concatenate([a, b, c], axis=1) * np.arange(6.0),
                  [rand(rng, (2, 1)), rand(rng, (2, 3)), rand(rng, (2, 2))], rng=rng)
    S.verify_grad(lambda a, b: S.concatenate([a, b], axis=0),
                  [rand(rng, (0, 2)), rand(rng, (3, 2))], rng=rng)
    # a float32 piece joined with a float64 one gets a float32 gradient
    x, y = S.fvector("x"), S.dvector("y")
    gx, gy = S.grad(S.sum(S.concatenate([x, y]) * 2), [x, y])
    assert gx.dtype == "float32" and gy.dtype == "float64"


# -------------------------------------------------------------------- stack

@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_stack(axis, rng):
    for shape, lay in zip([(2, 3), (0, 2), (1, 4)], LAYOUTS):
        xs = [rand(rng, shape, d) for d in ("float32", "float64", "float32")]
        out = run(lambda *a: S.stack(a, axis=axis), xs, "none", [lay] * 3)
        assert_allclose(out, np.stack(xs, axis=axis))
    S.verify_grad(lambda a, b: S.stack([a, b], axis=axis) * 3,
                  [rand(rng, (2, 3)), rand(rng, (2, 3))], rng=rng)
    out = run(lambda a: S.stack([a], axis=axis), [rand(rng, (2, 3))])
    assert out.shape == np.stack([np.zeros((2, 3))], axis=axis).shape


def test_stack_scalars(rng):
    a, b = S.lscalar("a"), S.lscalar("b")
    v = S.stack([a, b, 3])
    assert v.dtype == "int64" and v.type.shape == (3,)
    np.testing.assert_array_equal(S.function([a, b], v)(1, 2), [1, 2, 3])
    x, y = S.dscalar("x"), S.dscalar("y")
    v = S.stack([x, y])
    assert v.dtype == "float64" and v.type.shape == (2,)
    np.testing.assert_array_equal(S.function([x, y], v)(1.5, 2.5), [1.5, 2.5])
    i = S.iscalar("i")
    assert S.stack([i, i]).dtype == "int32"
    S.verify_grad(lambda p, q: S.stack([p, q * 2]), [np.array(0.3), np.array(0.7)], rng=rng)
    with pytest.raises(ValueError):
        S.stack([])
    with pytest.raises(ValueError):
        S.stack([S.tensor("float32", (2,)), S.tensor("float32", (3,))])


# -------------------------------------------------------------------- split

@pytest.mark.parametrize("dtype", DTYPES)
def test_split(dtype, rng):
    cases = [((7, 2), [3, 4], 0), ((2, 6), [1, 0, 5], 1), ((2, 5), [5], -1), ((0, 3), [0, 0], 0),
             ((2, 3, 4), [2, 2], 2)]
    for (shape, sizes, axis), lay, mode in zip(cases, itertools.cycle(LAYOUTS),
                                               itertools.cycle(["none", "static", "bcast"])):
        x = rand(rng, shape, dtype)
        outs = run(lambda a: S.split(a, sizes, len(sizes), axis), [x], mode, [lay])
        expected = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
        assert len(outs) == len(expected)
        for o, e in zip(outs, expected):
            assert_allclose(o, e)


def test_split_symbolic_sizes(rng):
    x, s = S.matrix("x"), S.lvector("s")
    parts = S.split(x, s, 2, axis=1)
    f = S.function([x, s], parts)
    v = rand(rng, (2, 5), "float32")
    a, b = f(v, np.array([2, 3]))
    np.testing.assert_array_equal(a, v[:, :2])
    np.testing.assert_array_equal(b, v[:, 2:])
    with pytest.raises(ValueError):
        f(v, np.array([2, 2]))
    with pytest.raises(ValueError):
        f(v, np.array([-1, 6]))


def test_split_static_shape_and_errors():
    x = S.tensor("float32", (7, None), "x")
    a, b = S.split(x, [3, 4], 2)
    assert a.type.shape == (3, None) and b.type.shape == (4, None)
    with pytest.raises(ValueError):
        S.split(x, [3, 4], 3)
    with pytest.raises(ValueError):
        S.split(x, [3, 3], 2)


def test_split_grad(rng):
    def use_all(a):
        p, q, r = S.split(a, [1, 2, 2], 3, axis=1)
        return S.concatenate([r * 2, p * 3, q], axis=1)
    S.verify_grad(use_all, [rand(rng, (2, 5))], rng=rng)

    def use_some(a):  # pieces that do not reach the cost get a zero gradient
        p, q = S.split(a, [2, 1], 2, axis=0)
        return q * 2
    S.verify_grad(use_some, [rand(rng, (3, 2))], rng=rng)
    g, = grad_of(lambda a: S.split(a, [2, 1], 2)[1], [rand(rng, (3,))])
    np.testing.assert_array_equal(g, [0, 0, 1])


# ------------------------------------------------------------------- arange

@pytest.mark.parametrize("args", [(5,), (2, 7), (7, 2, -2), (0,), (5, 2), (1, 10, 3), (-3, 3),
                                  (0.0, 1.0, 0.25), (2.5,), (1, 2.5, 0.5)], ids=str)
def test_arange(args):
    out = run(lambda: S.arange(*args), [])
    expected = np.arange(*args)
    if expected.dtype.kind == "f":
        expected = expected.astype("float32")  # Python floats are floatX
    assert_allclose(out, expected)
    for dtype in ("int32", "float64"):
        assert_allclose(run(lambda: S.arange(*args, dtype=dtype), []),
                        np.arange(*args, dtype=dtype))


def test_arange_symbolic(rng):
    n, m = S.lscalar("n"), S.iscalar("m")
    r = S.arange(n)
    assert r.dtype == "int64" and r.type.shape == (None,)
    np.testing.assert_array_equal(S.function([n], r)(4), np.arange(4))
    np.testing.assert_array_equal(S.function([n], S.arange(n, 10, 3))(2), np.arange(2, 10, 3))
    assert S.arange(m).dtype == "int32"
    np.testing.assert_array_equal(S.function([n, m], S.arange(m, n))(5, 1), np.arange(1, 5))
    x = S.dscalar("x")
    assert S.arange(x).dtype == "float64"
    assert S.arange(3).type.shape == (3,)
    t = S.tensor("float32", (5, None), "t")
    assert S.arange(t.shape[0]).type.shape == (5,)
    assert S.arange(1, t.shape[0], 2).type.shape == (2,)
    assert S.arange(t.shape[1]).type.shape == (None,)
    with pytest.raises(ValueError):
        S.arange(0, 3, 0)
    with pytest.raises(ValueError):
        S.function([n], S.arange(0, 3, n))(0)
    with pytest.raises(TypeError):
        S.arange(S.lvector("v"))


# ------------------------------------------------------------ shape queries

def test_shape_shape_i_make_vector_as_shape(rng):
    x = rand(rng, (2, 0, 3), "float32")
    assert_allclose(run(S.shape, [x], layouts=["T"]), np.array(x.shape, dtype="int64"))
    assert_allclose(run(lambda a: a.shape, [x]), np.array(x.shape, dtype="int64"))
    assert_allclose(run(lambda a: S.shape_i(a, 2), [x]), np.array(3, dtype="int64"))
    assert_allclose(run(lambda a: a.shape[-1], [x]), np.array(3, dtype="int64"))
    assert_allclose(run(lambda a: a.size, [x]), np.array(0, dtype="int64"))
    assert S.shape(S.tensor("float32", (2, None))).type.shape == (2,)
    a, b = S.lscalar("a"), S.iscalar("b")
    v = S.make_vector(a, b, 4)
    assert v.dtype == "int64" and v.type.shape == (3,)
    np.testing.assert_array_equal(S.function([a, b], v)(1, 2), [1, 2, 4])
    with pytest.raises(TypeError):
        S.make_vector(S.dscalar("d"))
    with pytest.raises(TypeError):
        S.make_vector(S.lvector("v"))
    assert S.as_shape((2, 3)).data.tolist() == [2, 3]
    assert S.as_shape(5).data.tolist() == [5]
    s = S.as_shape((a, 3))
    assert s.dtype == "int64" and s.type.shape == (2,)
    assert S.as_shape(b).type.shape == (1,)
    assert S.as_shape(S.ivector("iv")).dtype == "int64"
    with pytest.raises(TypeError):
        S.as_shape(S.dvector("dv"))
    # the shape of a computed tensor is known statically where its inputs' are
    t = S.tensor("float32", (2, 3), "t")
    g = S.grad(S.sum(t.shape[0] * t), t)
    assert g.type.shape == (2, 3)

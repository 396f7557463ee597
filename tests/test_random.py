"""Random streams: the Philox generator, the stream definition, and the update behaviour.

The stream definition is checked against a deliberately naive pure-Python
re-implementation of the module docstring, so that the documented contract
(which other backends must reproduce) and the NumPy code cannot drift apart.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import symbolic as S
from symbolic.graph import GradientUndefined
from symbolic.random import Uniform, initial_state, philox4x32, philox_words

MASK = 0xFFFFFFFF


# ------------------------------------------------------------ pure-Python reference

def ref_philox(ctr, key):
    """Philox4x32-10 on Python ints, written straight from the paper."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK)
        k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
    return [c0, c1, c2, c3]


def ref_word(seed, stream_id, run, t):
    """Word w[t] of run ``run`` of stream ``stream_id``, per the module docstring."""
    seed %= 2 ** 64
    key = (seed & MASK, ((seed >> 32) ^ stream_id) & MASK)
    b = t // 4
    return ref_philox((b & MASK, b >> 32, run & MASK, run >> 32), key)[t % 4]


def ref_uniform(seed, stream_id, run, n, dtype):
    w = lambda t: ref_word(seed, stream_id, run, t)  # noqa: E731
    if dtype == "float32":
        return np.array([(w(i) >> 8) * 2.0 ** -24 for i in range(n)], dtype="float32")
    return np.array([((w(i) >> 5) * 2 ** 26 + (w(n + i) >> 6)) * 2.0 ** -53 for i in range(n)])


def ref_normal(seed, stream_id, run, n, dtype):
    w = lambda t: ref_word(seed, stream_id, run, t)  # noqa: E731
    m = (n + 1) // 2
    u53 = lambda a, b: ((a >> 5) * 2 ** 26 + (b >> 6)) * 2.0 ** -53  # noqa: E731
    cos, sin = [], []
    for i in range(m):
        if dtype == "float32":
            u1, u2 = 1.0 - w(i) * 2.0 ** -32, w(m + i) * 2.0 ** -32
        else:
            u1, u2 = 1.0 - u53(w(i), w(m + i)), u53(w(2 * m + i), w(3 * m + i))
        r, t = math.sqrt(-2.0 * math.log(u1)), 2.0 * math.pi * u2
        cos.append(r * math.cos(t))
        sin.append(r * math.sin(t))
    return np.array((cos + sin)[:n]).astype(dtype)


def ref_binomial(seed, stream_id, run, trials, probs):
    n = len(trials)
    return np.array([sum(ref_word(seed, stream_id, run, t * n + i) * 2.0 ** -32 < probs[i]
                         for t in range(trials[i])) for i in range(n)])


def ref_state(seed, stream_id):
    seed %= 2 ** 64
    return [seed & MASK, ((seed >> 32) ^ stream_id) & MASK, 0, 0]


# ------------------------------------------------------------ Philox itself

KAT = [  # Random123 kat_vectors, philox4x32 10 rounds: counter, key, expected output
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((MASK,) * 4, (MASK, MASK), (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    out = philox4x32(counter, key)
    assert out.dtype == np.uint32
    assert [int(v) for v in out] == list(expected)
    assert ref_philox(counter, key) == list(expected)


def test_philox_vectorized_matches_one_at_a_time():
    rng = np.random.default_rng(0)
    counters = rng.integers(0, 2 ** 32, size=(3, 5, 4), dtype=np.uint64)
    key = (0xDEADBEEF, 0x01234567)
    out = philox4x32(counters, key)
    assert out.shape == (3, 5, 4)
    for idx in np.ndindex(3, 5):
        assert [int(v) for v in out[idx]] == ref_philox([int(c) for c in counters[idx]], key)


def test_philox_rejects_words_wider_than_32_bits():
    with pytest.raises(ValueError, match="32 bits"):
        philox4x32([2 ** 32, 0, 0, 0], (0, 0))
    with pytest.raises(ValueError, match="key"):
        philox4x32([0, 0, 0, 0], (2 ** 32, 0))


def test_word_stream_layout_and_block_offsets():
    # w[4b + j] is lane j of block b; any window of words is the same slice.
    key, run = (7, 3), 5
    full = philox_words(key, run, 0, 23)
    assert [int(v) for v in full] == [ref_word(7, 3, 5, t) for t in range(23)]
    assert np.array_equal(philox_words(key, run, 6, 11), full[6:17])
    assert philox_words(key, run, 3, 0).shape == (0,)
    # A block index past 2**32 uses the high counter word.
    t = 4 * (2 ** 32 + 1) + 2
    assert int(philox_words(key, run, t, 1)[0]) == ref_philox((1, 1, 5, 0), key)[2]


def test_pinned_values_for_seed_42():
    """Literal values: the stream for a given seed must never change silently."""
    words = philox_words((42, 0), 0, 0, 8)
    assert [hex(int(w)) for w in words] == [
        "0x9ceaf053", "0x77f5493b", "0x12bf50ad", "0x5742b3d7",
        "0xfcdb2127", "0x53ba6cfd", "0x838f5a6e", "0x744e06fb"]
    srng = S.RandomStreams(42)
    f = S.function([], [srng.uniform((4,), dtype="float32"), srng.uniform((2,), dtype="float64"),
                        srng.binomial((6,), n=3, p=0.5)])
    u32, u64, b = f()
    assert [float(v).hex() for v in u32] == [
        "0x1.39d5e00000000p-1", "0x1.dfd5240000000p-2", "0x1.2bf5000000000p-4", "0x1.5d0acc0000000p-2"]
    assert [float(v).hex() for v in u64] == ["0x1.2b8f0511e4c0dp-1", "0x1.c24652d59ec6ap-1"]
    assert b.tolist() == [2, 1, 1, 2, 1, 2]


# ------------------------------------------------------------ the documented stream

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_follows_the_documented_stream(dtype):
    seed = (0x1234 << 32) | 99  # exercises the seed's high word in the key
    srng = S.RandomStreams(seed)
    first = srng.uniform((2, 3), dtype=dtype)
    second = srng.uniform((5,), low=-2.0, high=3.0, dtype=dtype)
    f = S.function([], [first, second])
    for run in range(2):
        a, b = f()
        assert a.dtype == dtype and b.dtype == dtype
        np.testing.assert_array_equal(a, ref_uniform(seed, 0, run, 6, dtype).reshape(2, 3))
        u = ref_uniform(seed, 1, run, 5, dtype)
        low, high = np.asarray(-2.0, dtype), np.asarray(3.0, dtype)
        np.testing.assert_array_equal(b, low + (high - low) * u)


@pytest.mark.parametrize("dtype,n", [("float32", 7), ("float64", 6), ("float64", 1)])
def test_normal_follows_the_documented_stream(dtype, n):
    srng = S.RandomStreams(5)
    f = S.function([], srng.normal((n,), avg=1.0, std=2.0, dtype=dtype))
    for run in range(2):
        z = ref_normal(5, 0, run, n, dtype)
        expected = np.asarray(1.0, dtype) + np.asarray(2.0, dtype) * z
        np.testing.assert_allclose(f(), expected, rtol=1e-6 if dtype == "float32" else 1e-13)


def test_binomial_follows_the_documented_stream():
    srng = S.RandomStreams(11)
    trials = np.array([0, 1, 3, 5, 2], dtype="int64")
    probs = np.array([0.5, 0.9, 0.3, 0.5, 1.0])
    n, p = S.lvector("n"), S.dvector("p")
    f = S.function([n, p], srng.binomial((5,), n=n, p=p))
    for run in range(2):
        np.testing.assert_array_equal(f(trials, probs), ref_binomial(11, 0, run, trials, probs))


def test_state_layout_and_advance():
    srng = S.RandomStreams(2 ** 40 + 17)
    srng.uniform((3,))
    srng.uniform((3,))
    (s0, new0), (s1, _) = srng.state_updates
    assert s0.dtype == "int64" and s0.type.shape == (4,)
    assert s0.get_value().tolist() == ref_state(2 ** 40 + 17, 0) == [17, 2 ** 8, 0, 0]
    assert s1.get_value().tolist() == [17, 2 ** 8 ^ 1, 0, 0]
    assert s0.default_update is new0
    f = S.function([], new0.owner.outputs[1])
    f()
    f()
    assert s0.get_value().tolist() == [17, 2 ** 8, 2, 0]
    # The run counter carries into its high word.
    s0.set_value(np.array([17, 2 ** 8, MASK, 0]))
    f()
    assert s0.get_value().tolist() == [17, 2 ** 8, 0, 1]


def test_perform_does_not_mutate_the_input_state():
    op = Uniform("float64", 1)
    state = initial_state(3, 0)
    state.setflags(write=False)  # any write would raise
    node = op.make_node(S.shared(initial_state(3, 0), shape=(4,)), (4,), 0.0, 1.0)
    new_state, sample = op.perform(node, [state, np.array([4]), np.float64(0.0), np.float64(1.0)])
    assert state.tolist() == [3, 0, 0, 0]
    assert new_state.tolist() == [3, 0, 1, 0] and new_state is not state
    assert sample.shape == (4,) and sample.dtype == "float64"


def test_bad_state_value_is_reported():
    op = Uniform("float64", 0)
    node = op.make_node(S.shared(initial_state(3, 0), shape=(4,)), (), 0.0, 1.0)
    with pytest.raises(ValueError, match="random state"):
        op.perform(node, [np.array([0, -1, 0, 0]), np.zeros(0, "int64"), 0.0, 1.0])


# ------------------------------------------------------------ determinism and updates

def test_same_seed_same_samples_and_reseeding():
    def build(seed):
        srng = S.RandomStreams(seed)
        return srng, S.function([], [srng.uniform((4,)), srng.normal((3,)), srng.binomial((5,), p=0.3)])

    srng_a, f_a = build(123)
    _, f_b = build(123)
    runs_a = [f_a() for _ in range(3)]
    runs_b = [f_b() for _ in range(3)]
    for ra, rb in zip(runs_a, runs_b):
        for x, y in zip(ra, rb):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(runs_a[0][0], runs_a[1][0])

    srng_a.seed(123)  # back to the first numbers
    for x, y in zip(f_a(), runs_a[0]):
        np.testing.assert_array_equal(x, y)
    srng_a.seed(124)
    other = f_a()
    assert not np.array_equal(other[0], runs_a[0][0])
    _, f_c = build(124)
    for x, y in zip(other, f_c()):
        np.testing.assert_array_equal(x, y)
    srng_a.seed()  # None: the seed given at construction
    np.testing.assert_array_equal(f_a()[0], runs_a[0][0])


def test_same_seed_same_samples_in_another_process():
    code = ("import symbolic as S\n"
            "f = S.function([], S.RandomStreams(77).uniform((3,), dtype='float64'))\n"
            "f()\n"
            "print(repr(f().tolist()))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert eval(out) == ref_uniform(77, 0, 1, 3, "float64").tolist()


def test_seed_none_uses_fresh_entropy_and_records_it():
    a, b = S.RandomStreams(), S.RandomStreams()
    assert isinstance(a.default_instance_seed, int)
    assert a.default_instance_seed != b.default_instance_seed
    with pytest.raises(TypeError, match="seed"):
        S.RandomStreams(1.5)


def test_each_call_draws_new_numbers_and_draws_are_independent():
    srng = S.RandomStreams(8)
    x = S.matrix("x")
    u1 = srng.uniform(x.shape)
    u2 = srng.uniform(x.shape)
    f = S.function([x], [u1, u2])
    data = np.zeros((200, 50), dtype="float32")
    a1, a2 = f(data)
    b1, b2 = f(data)
    assert not np.array_equal(a1, b1)
    assert not np.array_equal(a1, a2)
    # Two streams in one function, and two calls of one stream, are uncorrelated.
    for p, q in [(a1, a2), (a1, b1), (a2, b2)]:
        r = np.corrcoef(p.ravel(), q.ravel())[0, 1]
        assert abs(r) < 4 / np.sqrt(p.size)


def test_sample_used_twice_is_one_draw():
    srng = S.RandomStreams(4)
    u = srng.uniform((5,))
    a, b = S.function([], [u, u * 1.0])()
    np.testing.assert_array_equal(a, b)


def test_no_default_updates_leaves_the_state_alone():
    srng = S.RandomStreams(9)
    u = srng.uniform((6,))
    state = srng.state_updates[0][0]
    before = state.get_value()
    frozen = S.function([], u, no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    assert state.get_value().tolist() == before.tolist()
    also_frozen = S.function([], u, no_default_updates=[state])
    np.testing.assert_array_equal(also_frozen(), frozen())
    live = S.function([], u)
    first = frozen()
    np.testing.assert_array_equal(live(), first)   # draws the same numbers, then advances
    assert not np.array_equal(frozen(), first)


def test_explicit_updates_from_the_streams():
    srng = S.RandomStreams(9)
    u = srng.uniform((6,))
    f = S.function([], u, updates=srng.updates(), no_default_updates=True)
    assert not np.array_equal(f(), f())


def test_failed_call_leaves_the_state_unchanged():
    srng = S.RandomStreams(10)
    x = S.matrix("x")
    p = S.vector("p")
    mask = srng.binomial(size=x.shape, p=p)
    f = S.function([x, p], x * S.cast(mask, x.dtype))
    state = srng.state_updates[0][0]
    before = state.get_value()
    with pytest.raises(TypeError):
        f(np.array([["a"]]), np.ones(1, "float32"))        # wrong input dtype
    with pytest.raises(ValueError, match="broadcast"):
        f(np.ones((2, 3), "float32"), np.ones(4, "float32"))  # p does not fit size
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        f(np.ones((2, 3), "float32"), np.full(3, 1.5, "float32"))
    assert state.get_value().tolist() == before.tolist()
    f(np.ones((2, 3), "float32"), np.full(3, 0.5, "float32"))
    assert state.get_value().tolist() == before.tolist()[:2] + [1, 0]


# ------------------------------------------------------------ shapes and dtypes

def test_size_from_a_symbolic_shape():
    srng = S.RandomStreams(1)
    x = S.matrix("x")
    u = srng.uniform(x.shape)
    assert u.ndim == 2 and u.type.shape == (None, None)
    b = srng.binomial((x.shape[0], 3), p=0.5)
    assert b.type.shape == (None, 3)
    f = S.function([x], [u, b])
    ru, rb = f(np.zeros((4, 7), dtype="float32"))
    assert ru.shape == (4, 7) and rb.shape == (4, 3)
    assert ru.dtype == S.config.floatX and rb.dtype == "int64"


def test_size_as_a_symbolic_vector_needs_ndim():
    srng = S.RandomStreams(1)
    shp = S.lvector("shp")
    with pytest.raises(ValueError, match="ndim"):
        srng.normal(shp)
    z = srng.normal(shp, ndim=3)
    assert z.ndim == 3
    f = S.function([shp], z)
    assert f(np.array([2, 1, 4])).shape == (2, 1, 4)
    with pytest.raises(ValueError, match="ndim=3"):
        f(np.array([2, 4]))
    with pytest.raises(ValueError, match="ndim=2"):
        srng.normal((2, 3, 4), ndim=2)


def test_static_sizes_and_empty_draws():
    srng = S.RandomStreams(1)
    scalar = srng.uniform()
    also_scalar = srng.normal(())
    empty = srng.uniform((0, 3))
    empty_b = srng.binomial((3, 0), n=4)
    assert scalar.type.shape == () and empty.type.shape == (0, 3)
    s, s2, e, eb = S.function([], [scalar, also_scalar, empty, empty_b])()
    assert s.shape == () and s2.shape == () and 0 <= s < 1
    assert e.shape == (0, 3) and eb.shape == (3, 0) and eb.dtype == "int64"
    with pytest.raises(ValueError, match="negative"):
        srng.uniform((2, -1))
    n = S.lscalar("n")
    f = S.function([n], srng.uniform((n, 2)))
    with pytest.raises(ValueError, match="negative"):
        f(-3)


@S.config.change_flags(floatX="float32")
def test_default_and_explicit_dtypes():
    srng = S.RandomStreams(1)
    assert srng.uniform((2,)).dtype == "float32"
    assert srng.normal((2,)).dtype == "float32"
    assert srng.uniform((2,), dtype="float64").dtype == "float64"
    assert srng.uniform((2,), low=S.dscalar("lo")).dtype == "float64"  # widened, as Theano did
    assert srng.binomial((2,)).dtype == "int64"
    assert srng.binomial((2,), dtype="int32").dtype == "int32"
    assert srng.binomial((2,), dtype="float32").dtype == "float32"
    with S.config.change_flags(floatX="float64"):
        assert srng.uniform((2,)).dtype == "float64"
    with pytest.raises(TypeError, match="float32 or float64"):
        srng.uniform((2,), dtype="int32")
    with pytest.raises(TypeError, match="integer"):
        srng.binomial((2,), n=S.dscalar("n"))
    f = S.function([], [srng.uniform((3,), dtype="float64"), srng.binomial((3,), n=2, dtype="int8")])
    a, b = f()
    assert a.dtype == "float64" and b.dtype == "int8"


def test_literal_parameters_keep_full_precision():
    srng = S.RandomStreams(1)
    u = srng.uniform((3,), low=0.1, high=0.1, dtype="float64")
    np.testing.assert_array_equal(S.function([], u)(), np.full(3, 0.1))
    op = srng.binomial((3,), p=0.7).owner.inputs[3]
    assert op.dtype == "float64" and float(op.data) == 0.7


def test_parameters_broadcast_against_size():
    srng = S.RandomStreams(1)
    low = S.vector("low")
    u = srng.uniform((4, 3), low=low, high=low + 1)
    assert u.type.shape == (4, 3)
    lo = np.array([0.0, 10.0, 20.0], dtype="float32")
    r = S.function([low], u)(lo)
    assert ((r >= lo) & (r <= lo + 1)).all()
    with pytest.raises(ValueError, match="broadcast"):
        srng.uniform((4, 3), low=np.zeros(5))
    with pytest.raises(ValueError, match="more than size"):
        srng.uniform((3,), low=S.matrix("m"))
    # size=None: the parameters' broadcast shape, as in Theano.
    z = srng.normal(avg=low, std=1.0)
    assert z.ndim == 1 and S.function([low], z)(lo).shape == (3,)


# ------------------------------------------------------------ statistics

N_STAT = 200_000


def _check_moments(x, mean, var, k=5):
    x = np.asarray(x, dtype="float64").ravel()
    n = x.size
    assert abs(x.mean() - mean) < k * math.sqrt(var / n), (x.mean(), mean)
    # The sample variance's standard error, for a distribution with finite 4th moment.
    assert abs(x.var() - var) < k * math.sqrt(2.0 / n) * max(var, 1e-12) * 2, (x.var(), var)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_statistics(dtype):
    srng = S.RandomStreams(21)
    u = S.function([], srng.uniform((N_STAT,), low=-1.0, high=3.0, dtype=dtype))()
    assert u.dtype == dtype
    assert u.min() >= -1.0 and u.max() <= 3.0
    _check_moments(u, 1.0, 16.0 / 12.0)
    hist = np.histogram(u, bins=10, range=(-1, 3))[0]
    expected = N_STAT / 10
    assert np.all(np.abs(hist - expected) < 5 * math.sqrt(expected))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_statistics(dtype):
    srng = S.RandomStreams(22)
    z = S.function([], srng.normal((N_STAT + 1,), avg=2.0, std=0.5, dtype=dtype))()
    assert z.dtype == dtype and np.isfinite(z).all()
    _check_moments(z, 2.0, 0.25)
    std = (z - 2.0) / 0.5
    assert abs(np.mean(np.abs(std) < 1.0) - 0.682689) < 5 * math.sqrt(0.22 / z.size)
    assert abs(np.mean(std ** 3)) < 5 * math.sqrt(15 / z.size)


def test_binomial_statistics():
    srng = S.RandomStreams(23)
    p = S.scalar("p")
    draws = [srng.binomial((N_STAT,), n=1, p=0.3),
             srng.binomial((N_STAT // 4,), n=10, p=0.25),
             srng.binomial((N_STAT // 4,), n=7, p=p)]
    b1, b10, bp = S.function([p], draws)(np.float32(0.6))
    assert set(np.unique(b1)) <= {0, 1}
    _check_moments(b1, 0.3, 0.3 * 0.7)
    assert b10.min() >= 0 and b10.max() <= 10
    _check_moments(b10, 2.5, 10 * 0.25 * 0.75)
    p32 = float(np.float32(0.6))
    _check_moments(bp, 7 * p32, 7 * p32 * (1 - p32))
    edges = S.function([], [srng.binomial((100,), n=5, p=0.0), srng.binomial((100,), n=5, p=1.0)])()
    assert (edges[0] == 0).all() and (edges[1] == 5).all()


def test_binomial_with_per_element_n_and_p():
    srng = S.RandomStreams(24)
    n, p = S.lvector("n"), S.dvector("p")
    f = S.function([n, p], srng.binomial((50_000, 3), n=n, p=p))
    trials, probs = np.array([1, 4, 20]), np.array([0.9, 0.5, 0.1])
    r = f(trials, probs)
    for j in range(3):
        mean, var = trials[j] * probs[j], trials[j] * probs[j] * (1 - probs[j])
        _check_moments(r[:, j], mean, var)
        assert r[:, j].max() <= trials[j]
    with pytest.raises(ValueError, match="non-negative"):
        f(np.array([1, -1, 2]), probs)


def test_binomial_with_many_trials_is_chunked():
    from symbolic import random as R
    old = R._BINOMIAL_CHUNK_WORDS
    R._BINOMIAL_CHUNK_WORDS = 64  # many chunks; the result must not depend on the chunking
    try:
        small = R.binomial_counts((1, 2), 0, np.full(10, 100), np.full(10, 0.3))
    finally:
        R._BINOMIAL_CHUNK_WORDS = old
    assert np.array_equal(small, R.binomial_counts((1, 2), 0, np.full(10, 100), np.full(10, 0.3)))


# ------------------------------------------------------------ network3's dropout

def test_network3_dropout_mask():
    from symbolic.tensor import shared_randomstreams
    import symbolic.tensor as T
    srng = shared_randomstreams.RandomStreams(np.random.RandomState(0).randint(999999))
    p_dropout = 0.25
    layer = T.matrix("layer")
    mask = srng.binomial(n=1, p=1 - p_dropout, size=layer.shape)
    assert mask.dtype == "int64"
    out = layer * T.cast(mask, S.config.floatX)
    assert out.dtype == S.config.floatX
    f = S.function([layer], out)
    data = np.ones((100, 100), dtype=S.config.floatX)
    first, second = f(data), f(data)
    assert first.dtype == S.config.floatX
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert not np.array_equal(first, second)
    keep = np.concatenate([first, second]).mean()
    assert abs(keep - 0.75) < 5 * math.sqrt(0.75 * 0.25 / 20_000)


def test_gradients_do_not_flow_through_sampling():
    srng = S.RandomStreams(3)
    low, p, w = S.scalar("low"), S.scalar("p"), S.vector("w")
    u = srng.uniform((3,), low=low, high=low + 1.0)
    with pytest.raises(GradientUndefined, match="Uniform"):
        S.grad(S.sum(u), low)
    mask = srng.binomial((3,), p=p)
    cost = S.sum(w * S.cast(mask, "float32"))
    # An integer mask stops the gradient at the cast already: p is disconnected.
    with pytest.raises(S.DisconnectedInputError, match="does not depend on p"):
        S.grad(cost, p)
    # A float mask reaches the op, which refuses to differentiate.
    with pytest.raises(GradientUndefined, match="Binomial"):
        S.grad(S.sum(srng.binomial((3,), p=p, dtype="float32")), p)
    # The dropout case: the gradient with respect to the weights is the mask.
    g = S.grad(cost, w)
    f = S.function([w, p], [g, mask], no_default_updates=True)
    gv, m = f(np.ones(3, "float32"), np.float32(0.5))
    np.testing.assert_array_equal(gv, m.astype("float32"))
    # The reparameterised normal is differentiable in avg and std.
    avg, std = S.scalar("avg"), S.scalar("std")
    eps = srng.normal((4,))
    g_avg, g_std = S.grad(S.sum(avg + std * eps), [avg, std])
    gv_avg, gv_std, e = S.function([avg, std], [g_avg, g_std, eps], no_default_updates=True)(1.0, 2.0)
    assert gv_avg == 4.0 and np.isclose(gv_std, e.sum())


def test_disconnected_grad_shields_a_random_parameter():
    srng = S.RandomStreams(3)
    low = S.scalar("low")
    cost = S.sum(srng.uniform((3,), low=S.disconnected_grad(low), high=2.0) * low)
    assert S.grad(cost, low) is not None

"""The LLVM backend's native driver: one native call per function call (backends/llvm/
driver.py, plan.py, program.py), checked against the NumPy reference backend.

What is checked: plans are made and used (no Python steps where every op has a native
plan), results agree with the reference over repeated calls, every call that a plan cannot
take (another signature, a value-dependent failure, a non-ndarray input, a busy plan)
still gives the reference's result or error, outputs are the caller's own arrays, and
shared variables change only when a call succeeds.
"""
import pickle
import threading

import numpy as np
import pytest

import symbolic as S
from backends.llvm.program import NativeProgram
from symbolic.tensor import nnet

from helpers import LAYOUTS, layout

LLVM, REF = S.Mode(linker="llvm"), S.Mode(linker="numpy")


def compile_both(inputs, outputs, **kw):
    return S.function(inputs, outputs, mode=LLVM, **kw), S.function(inputs, outputs, mode=REF, **kw)


def native_plans(f):
    assert isinstance(f.program, NativeProgram)
    return f.program.describe()


def assert_same(a, b, rtol=2e-6):
    a, b = (x if isinstance(x, list) else [x] for x in (a, b))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol)


def test_a_training_step_runs_as_one_native_call(rng):
    """network3's pattern: a mini-batch sliced from shared data by an index, softmax
    cross-entropy, SGD updates (in place into the weights for the GEMM ones)."""
    data = S.shared(rng.random((50, 8), dtype=np.float32), name="data")
    labels = S.shared(rng.integers(0, 3, 50).astype(np.int32), name="labels")
    params = []

    def build():
        w = S.shared(rng.standard_normal((8, 3)).astype(np.float32), name="w")
        b = S.shared(np.zeros(3, np.float32), name="b")
        return w, b
    w, b = build()
    w2, b2 = S.shared(w.get_value(), name="w2"), S.shared(b.get_value(), name="b2")
    i = S.lscalar("i")

    def step(w, b, mode):
        x, y = data[i * 5:(i + 1) * 5], labels[i * 5:(i + 1) * 5]
        p = nnet.softmax(S.dot(x, w) + b)
        cost = -S.mean(S.log(p)[S.arange(y.shape[0]), y])
        gw, gb = S.grad(cost, [w, b])
        return S.function([i], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)], mode=mode)
    fast, ref = step(w, b, LLVM), step(w2, b2, REF)
    storage = w.get_value(borrow=True)
    for k in [0, 3, 9, 3, 1]:
        assert_same(fast(k), ref(k), rtol=1e-5)
        assert_same(w.get_value(), w2.get_value(), rtol=1e-5)
        assert_same(b.get_value(), b2.get_value(), rtol=1e-5)
    plans = native_plans(fast)
    assert len(plans) == 1 and plans[0].endswith("0 Python steps"), plans
    assert fast.program.stats["python"] == 0
    assert w.get_value(borrow=True) is storage            # the GEMM update wrote in place
    del params


def test_mini_batch_indices_past_the_end_give_the_reference_result(rng):
    """A slice that would come out shorter than planned fails the native call; the Python
    schedule then gives NumPy's clamped slice."""
    data = S.shared(rng.random(23).astype(np.float32))
    i = S.lscalar("i")
    fast, ref = compile_both([i], [data[i * 5:(i + 1) * 5].sum(), data[i * 5:(i + 1) * 5] * 2])
    for k in [0, 2, 4, 5, -1, -5, 7, 1]:
        assert_same(fast(k), ref(k))
    # 0, 2 and 1 give whole mini-batches; 4 and -5 three values, 5, -1 and 7 none
    assert fast.program.stats == {"native": 3, "python": 5, "planned": 1}


def test_an_index_out_of_bounds_raises_as_the_reference_does(rng):
    x = S.shared(rng.random((4, 3)).astype(np.float32))
    i = S.lscalar("i")
    fast, ref = compile_both([i], x[i] * 3)
    assert_same(fast(-4), ref(-4))
    assert_same(fast(2), ref(2))
    for bad in (4, -5):
        with pytest.raises(IndexError):
            ref(bad)
        with pytest.raises(IndexError):
            fast(bad)
    assert_same(fast(3), ref(3))


def test_a_label_out_of_range_changes_no_weight(rng):
    """The cross-entropy kernel's status word fails the native call before the deferred
    in-place updates run; the Python schedule then raises the reference's error."""
    x, y = S.matrix("x"), S.ivector("y")
    w = S.shared(rng.standard_normal((4, 3)).astype(np.float32), name="w")
    cost = S.mean(nnet.categorical_crossentropy(nnet.softmax(S.dot(x, w)), y))
    f = S.function([x, y], cost, updates=[(w, w - 0.1 * S.grad(cost, w))], mode=LLVM)
    xv = rng.random((5, 4)).astype(np.float32)
    f(xv, np.array([0, 1, 2, 1, 0], np.int32))
    before = w.get_value()
    with pytest.raises(Exception):
        f(xv, np.array([0, 1, 7, 1, 0], np.int32))
    np.testing.assert_array_equal(w.get_value(), before)
    f(xv, np.array([2, 2, 2, 1, 0], np.int32))
    assert not np.array_equal(w.get_value(), before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_signature_gets_its_own_plan(rng, dtype):
    x, y = S.tensor(dtype, (None, None), "x"), S.tensor(dtype, (None,), "y")
    fast, ref = compile_both([x, y], [S.exp(x) * y, (x * y).sum(axis=0), S.dot(x, x.T)])
    cases = [layout(rng.random((3, 4)).astype(dtype), kind) for kind in LAYOUTS] \
        + [rng.random((5, 4)).astype(dtype)]
    for _ in range(2):
        for xv in cases:
            yv = rng.random(xv.shape[1]).astype(dtype)
            assert_same(fast(xv, yv), ref(xv, yv), rtol=1e-5)
    assert len(native_plans(fast)) == len(cases)
    assert fast.program.stats["python"] == 0


def test_inputs_that_are_not_arrays_of_the_input_type_still_work(rng):
    x = S.fvector("x")
    fast, ref = compile_both([x], S.tanh(x) + 1)
    for value in ([0.5, 1.5], np.arange(3, dtype=np.int8), np.ones(2, np.float32)[::-1]):
        assert_same(fast(value), ref(value))
    with pytest.raises(TypeError, match="float32"):
        fast(np.ones(2))
    s = S.lscalar("s")
    fast, ref = compile_both([s], s * 3 + 1)
    for value in (2, np.int64(5), np.array(7), -3):
        assert_same(fast(value), ref(value))
    with pytest.raises(TypeError):
        fast(2.5)


def test_read_only_and_empty_inputs(rng):
    x = S.matrix("x")
    fast, ref = compile_both([x], [x * 2, x.sum(axis=1), S.dot(x, x.T)])
    ro = rng.random((3, 2)).astype(np.float32)
    ro.flags.writeable = False
    for value in (ro, np.zeros((0, 2), np.float32), np.zeros((3, 0), np.float32), ro.copy()):
        assert_same(fast(value), ref(value))


def test_outputs_belong_to_the_caller(rng):
    """Outputs are fresh arrays every call, even when they are an input, a view of one, a
    constant or the same value twice."""
    x = S.fvector("x")
    f = S.function([x], [x, x.T, x[1:], S.constant(np.float32(3)), x * 2, x * 2, x.shape],
                   mode=LLVM)
    v = np.arange(3, dtype=np.float32)
    first = f(v)
    again = f(v + 10)
    for a, b in zip(first, again):
        assert a is not b
    np.testing.assert_array_equal(first[0], v)
    np.testing.assert_array_equal(first[2], v[1:])
    assert first[4] is not first[5]
    first[4][...] = -1
    np.testing.assert_array_equal(first[5], v * 2)
    for out in first:
        assert isinstance(out, np.ndarray) and out.flags.writeable and out.base is None
        assert not np.shares_memory(out, v)
    np.testing.assert_array_equal(first[6], [3])


def test_shared_values_replaced_or_reshaped(rng):
    w = S.shared(np.ones((2, 3), np.float32), name="w")
    x = S.matrix("x")
    f = S.function([x], S.dot(x, w), updates=[(w, w * 2)], mode=LLVM)
    xv = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(f(xv), [[2, 2, 2]])
    w.set_value(np.full((2, 3), 5, np.float32))
    np.testing.assert_array_equal(f(xv), [[10, 10, 10]])
    np.testing.assert_array_equal(w.get_value(), np.full((2, 3), 10))
    w.set_value(np.ones((2, 4), np.float32))
    np.testing.assert_array_equal(f(xv), [[2, 2, 2, 2]])
    assert len(native_plans(f)) == 2


def test_ops_without_a_native_plan_run_between_native_segments(rng):
    x, y = S.matrix("x"), S.matrix("y")
    out = S.exp(S.concatenate([x, y], axis=0)).sum() + S.inc_subtensor(x[[0, 1, 0]], 1.0).sum()
    fast, ref = compile_both([x, y], out)
    for _ in range(3):
        xv, yv = rng.random((2, 3)).astype(np.float32), rng.random((4, 3)).astype(np.float32)
        assert_same(fast(xv, yv), ref(xv, yv), rtol=1e-5)
    plan, = native_plans(fast)
    assert "IncSubtensor" in plan and "0 Python steps" not in plan
    assert fast.program.stats["python"] == 0


def test_random_streams_match_the_reference_call_after_call():
    srng_a, srng_b = S.RandomStreams(seed=7), S.RandomStreams(seed=7)
    x = S.matrix("x")
    fa = S.function([x], x * srng_a.binomial(size=x.shape, p=0.5) + srng_a.uniform(size=x.shape),
                    mode=LLVM)
    fb = S.function([x], x * srng_b.binomial(size=x.shape, p=0.5) + srng_b.uniform(size=x.shape),
                    mode=REF)
    xv = np.ones((3, 4), np.float32)
    draws = [fa(xv) for _ in range(4)]
    for d in draws:
        np.testing.assert_array_equal(d, fb(xv))
    assert not np.array_equal(draws[0], draws[1])


def test_concurrent_calls_from_two_threads_agree(rng):
    x = S.matrix("x")
    w = S.shared(rng.random((6, 6)).astype(np.float32))
    f = S.function([x], S.tanh(S.dot(x, w)).sum(axis=1), mode=LLVM)
    inputs = [rng.random((4, 6)).astype(np.float32) for _ in range(8)]
    expected = [np.tanh(v @ w.get_value()).sum(axis=1) for v in inputs]
    errors = []

    def work():
        for _ in range(50):
            for v, e in zip(inputs, expected):
                if not np.allclose(f(v), e, rtol=1e-5):
                    errors.append(v)
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_the_flag_switches_the_driver_off():
    x = S.fvector("x")
    with S.config.change_flags(native_driver=False):
        f = S.function([x], x + 1, mode=LLVM)
    assert not isinstance(f.program, NativeProgram)
    np.testing.assert_array_equal(f(np.zeros(2, np.float32)), [1, 1])
    g = S.function([x], x + 1, mode=S.Mode(linker="llvm"), profile=True)
    assert not isinstance(g.program, NativeProgram)         # profiles time every node


def test_pickled_functions_plan_again(rng):
    w = S.shared(np.ones(3, np.float32), name="w")
    x = S.fvector("x")
    f = S.function([x], (x * w).sum(), updates=[(w, w + x)], mode=LLVM)
    f(np.ones(3, np.float32))
    g = pickle.loads(pickle.dumps(f))
    assert isinstance(g.program, NativeProgram)
    assert g(np.ones(3, np.float32)) == f(np.ones(3, np.float32))


def test_update_shapes_are_checked_against_static_shapes():
    s = S.shared(np.ones(3, "float32"), shape=(3,))
    v = S.vector("v")
    f = S.function([v], [], updates={s: v * 2}, mode=LLVM)
    f(np.ones(3, "float32"))
    with pytest.raises(ValueError, match="static shape"):
        f(np.ones(4, "float32"))
    np.testing.assert_array_equal(s.get_value(), [2, 2, 2])


@pytest.mark.parametrize("arch", ["fc", "conv"])
def test_network3_graphs_have_no_python_steps(arch, rng):
    from nets.network import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer
    mb = 4
    if arch == "fc":
        layers = [FullyConnectedLayer(784, 30, rng=rng), SoftmaxLayer(30, 10)]
    else:
        layers = [ConvPoolLayer((4, 1, 5, 5), (mb, 1, 28, 28), activation_fn=ReLU, rng=rng),
                  ConvPoolLayer((6, 4, 5, 5), (mb, 4, 12, 12), activation_fn=ReLU, rng=rng),
                  FullyConnectedLayer(6 * 4 * 4, 20, activation_fn=ReLU, rng=rng), SoftmaxLayer(20, 10)]
    net = Network(layers, mb)
    xs = S.shared(rng.random((4 * mb, 784), dtype=np.float32))
    ys = S.shared(rng.integers(0, 10, 4 * mb).astype(np.int32))
    cost = net.cost(0.1, 4)
    grads = S.grad(cost, net.params)
    i = S.lscalar("i")
    train = S.function([i], cost, updates=[(p, p - 0.1 * g) for p, g in zip(net.params, grads)],
                       givens=net._batch_givens((xs, ys), i), mode=LLVM)
    for k in range(4):
        assert np.isfinite(train(k))
    plan, = native_plans(train)
    assert plan.endswith("0 Python steps"), plan
    assert train.program.stats == {"native": 4, "python": 0, "planned": 1}


@pytest.mark.parametrize("threads", [1, 2])
def test_large_kernels_split_over_threads_inside_a_plan(rng, threads):
    x = S.fvector("x")
    with S.config.change_flags(threads=threads):
        fast, ref = compile_both([x], [S.exp(x) * 2 + 1, nnet.log_softmax(x.reshape((8, -1))).sum()])
        v = rng.random(1 << 19).astype(np.float32)
        for _ in range(2):
            assert_same(fast(v), ref(v), rtol=1e-4)
    plan, = native_plans(fast)
    assert ("0 Python steps" in plan) == (threads == 1), plan


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_draws_of_several_trials_and_a_corrupt_state(dtype):
    streams = [S.RandomStreams(seed=3), S.RandomStreams(seed=3)]
    x = S.tensor(dtype, (None, None), "x")
    fa, fb = (S.function([x], x * srng.uniform(size=x.shape, low=-1.0, high=2.0, dtype=dtype)
                         + srng.binomial(size=x.shape, n=3, p=0.3), mode=mode)
              for srng, mode in zip(streams, (LLVM, REF)))
    xv = np.ones((3, 5), dtype)
    for _ in range(3):
        np.testing.assert_array_equal(fa(xv), fb(xv))
    assert native_plans(fa)[0].endswith("0 Python steps")
    for srng in streams:
        for state, _ in srng.state_updates:
            state.set_value(np.array([1, 2, 2 ** 33, 0], np.int64))
    with pytest.raises(ValueError, match="random state"):
        fb(xv)
    with pytest.raises(ValueError, match="random state"):
        fa(xv)
    assert streams[0].state_updates[0][0].get_value()[2] == 2 ** 33      # unchanged


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_argmax_and_argmin_rows_match_numpy(rng, dtype):
    x = S.tensor(dtype, (None, None, None), "x")
    outs = [S.argmax(x, axis=-1), S.argmin(x, axis=2), S.argmax(x), S.argmax(x, axis=1)]
    fast, ref = compile_both([x], outs)
    v = rng.integers(0, 4, (3, 5, 7)).astype(dtype)          # ties: the first one wins
    v[0, 1, 3] = np.nan
    v[1, 2, [2, 5]] = np.nan                                   # the first NaN wins
    v[2, 0, 0] = -np.inf
    for value in (v, v[:, ::-1, ::2], np.ones((2, 1, 1), dtype)):
        for a, b in zip(fast(value), ref(value)):
            np.testing.assert_array_equal(a, b)
    plan = native_plans(fast)[0]
    assert plan.count("ArgReduce") == 1, plan                  # only the axis-1 one is in Python


def test_buffers_whose_lifetimes_do_not_overlap_share_memory(rng):
    x = S.matrix("x")
    ws = [S.shared(rng.standard_normal((16, 16)).astype(np.float32) / 4) for _ in range(6)]
    h = x
    for w in ws:
        h = S.tanh(S.dot(h, w)).T.T * 1.5            # a Dot, then a fused group: two buffers
    out = [h.sum(), S.grad(h.sum(), ws[0])]
    fast, ref = compile_both([x], out)
    for _ in range(3):
        v = rng.standard_normal((8, 16)).astype(np.float32)
        assert_same(fast(v), ref(v), rtol=1e-4)
    plan, = fast.program.plans.values()
    assert plan.memory["blocks"] < plan.memory["buffers"], plan.memory


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_few_rows_times_a_large_transposed_matrix(rng, dtype):
    """``d @ W.T`` with few rows runs as ``(W @ d.T).T`` (faster in OpenBLAS): the same values,
    through a plan and through the Python schedule."""
    d, w = S.tensor(dtype, (None, None), "d"), S.tensor(dtype, (None, None), "w")
    fast, ref = compile_both([d, w], [S.dot(d, w.T), S.dot(d, w.T) * 2])
    with S.config.change_flags(native_driver=False):
        slow = S.function([d, w], [S.dot(d, w.T), S.dot(d, w.T) * 2], mode=LLVM)
    for m in (1, 5, 40):
        dv, wv = rng.random((m, 300)).astype(dtype), rng.random((400, 300)).astype(dtype)
        expect = ref(dv, wv)
        assert_same(fast(dv, wv), expect, rtol=1e-5)
        assert_same(slow(dv, wv), expect, rtol=1e-5)


@pytest.mark.parametrize("shape", [(64, 8, 16), (8, 8, 64)])
def test_gemm_split_by_rows_or_columns_over_threads(rng, monkeypatch, shape):
    """Inside a plan that splits kernels over our threads, OpenBLAS runs single-threaded and
    large GEMMs are split by rows (tall C) or columns (wide C) of C."""
    import backends.llvm.conv as native_conv
    import backends.llvm.gemm as native_gemm
    from backends.llvm.blas import blas
    monkeypatch.setattr(native_gemm, "PARALLEL_MIN_MNK", 16)
    monkeypatch.setattr(native_conv, "_PARALLEL_MIN_FLOPS", 1e3)
    m, k, n = shape
    with S.config.change_flags(threads=2):
        x, a, img = S.matrix("x"), S.matrix("a"), S.tensor4("img")
        w = S.shared(rng.random((k, n)).astype(np.float32), name="w")
        filt = S.shared(rng.random((2, 1, 3, 3)).astype(np.float32), name="filt")
        y = S.dot(x, w)
        out = [y, S.conv2d(img, filt).sum()]
        upd = [(w, w - 0.1 * S.dot(a.T, y))]
        fast = S.function([x, a, img], out, updates=upd, mode=LLVM)
        w2 = S.shared(w.get_value(), name="w2")
        ref = S.function([x, a, img], [S.dot(x, w2), S.conv2d(img, filt).sum()],
                         updates=[(w2, w2 - 0.1 * S.dot(a.T, S.dot(x, w2)))], mode=REF)
        for _ in range(3):
            xv, av = rng.random((m, k)).astype(np.float32), rng.random((m, k)).astype(np.float32)
            iv = rng.random((4, 1, 6, 6)).astype(np.float32)
            assert_same(fast(xv, av, iv), ref(xv, av, iv), rtol=1e-4)
            assert_same(w.get_value(), w2.get_value(), rtol=1e-4)
        plan, = fast.program.plans.values()
        assert plan.parallel
        assert blas().threads == 2                 # restored after each call


def test_concatenate_split_and_basic_inc_subtensor_run_natively(rng):
    x, y = S.tensor3("x"), S.matrix("y")
    i = S.lscalar("i")
    outs = [S.concatenate([x, x * 2, x[:, ::-1]], axis=1), S.concatenate([x, -x], axis=-1),
            S.set_subtensor(x[:, 0], y), S.inc_subtensor(x[1:, ::2, -1], 3.0),
            S.inc_subtensor(x[0, 1], y[0]), S.grad((S.concatenate([x, x ** 2], axis=0) ** 2).sum(), x),
            S.set_subtensor(x[i], x[0] * 2)]
    fast, ref = compile_both([x, y, i], outs)
    for _ in range(2):
        xv = layout(rng.random((3, 4, 5)).astype(np.float32), "T")
        yv = rng.random((3, 5)).astype(np.float32)
        assert_same(fast(xv, yv, 1), ref(xv, yv, 1), rtol=1e-5)
    plan, = native_plans(fast)
    assert plan.endswith("(SetSubtensor{i})"), plan          # only the variable index in Python

"""The CUDA backend against the reference, run on the host through the CuPy emulator.

``tests/cuda_emulator.py`` stands in for CuPy (same API subset, same strictness about host
and device arrays) and runs the generated kernels compiled by g++, so everything the backend
decides -- where each value lives, which kernel variant, the launch arguments, the strides
of non-contiguous device arrays, host fallbacks -- is checked here without a GPU.  The same
tests run again on the real CuPy wherever a GPU is found (test ids ending in ``[gpu]``).
"""
import pickle

import numpy as np
import pytest

import symbolic as S
import cuda_emulator
from backends.cuda import runtime

TOL = {"float32": dict(rtol=3e-5, atol=3e-6), "float64": dict(rtol=1e-11, atol=1e-12)}


def _real_gpu():
    """Whether CuPy and a GPU are here (then every test also runs on the GPU)."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.fixture(params=["emulated"] + ([pytest.param("gpu", marks=pytest.mark.gpu)]
                                        if _real_gpu() else []))
def emu(request):
    """The CuPy the backend runs on: the emulator, and the real one where there is a GPU
    (those runs are marked ``gpu``: ``pytest -m gpu`` runs only them)."""
    if request.param == "emulated":
        if cuda_emulator.GXX is None:
            pytest.skip("the CUDA emulator needs g++")
        with cuda_emulator.installed() as e:
            yield e
        return
    import cupy
    old = runtime.use_module(cupy)
    try:
        yield cupy
    finally:
        runtime.use_module(old)


def emulated(module):
    return isinstance(module, cuda_emulator.Emulator)


def on_both(build, values, tol=None):
    """``build()`` -> (inputs, outputs, updates, shared variables to compare), compiled on
    the reference (device=cpu) and on the CUDA backend (emulated GPU), called once with
    ``values``; the outputs and the shared values after the call must agree.  Returns the
    CUDA function and its outputs."""
    got = []
    for device, linker in (("cpu", "numpy"), ("cuda", "cuda")):
        with S.config.change_flags(device=device, linker=linker):
            ins, outs, updates, shared = build()
            f = S.function(ins, outs, updates=updates)
            out = f(*values)
            out = out if isinstance(out, list) else [out]
            for o in out:
                assert isinstance(o, np.ndarray), f"{linker}: an output is a {type(o)}"
            got.append((out, [v.get_value() for v in shared], f))
    (ref_out, ref_shared, _), (out, shared, f) = got
    for a, b in zip(ref_out + ref_shared, out + shared):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
        np.testing.assert_allclose(b, a, **(tol or TOL.get(a.dtype.name, dict(rtol=0, atol=0))))
    return f, out


def device_layout(value, kind):
    """A device array equal to ``value`` stored as ``kind`` (see helpers.layout)."""
    cp = runtime.cupy()
    value = np.asarray(value)
    if kind == "c" or value.ndim == 0:
        return cp.asarray(value)
    if kind == "T":
        return cp.asarray(np.ascontiguousarray(value.T)).T
    rev = (slice(None, None, -1),) * value.ndim
    if kind == "neg":
        return cp.asarray(np.ascontiguousarray(value[rev]))[rev]
    big = cp.zeros(tuple(2 * s for s in value.shape), dtype=value.dtype)
    view = big[(slice(None, None, 2),) * value.ndim]
    view[...] = cp.asarray(value)
    return view


def shared_on_device(value, kind, name):
    """A shared variable holding ``value`` as a device array of layout ``kind`` (on the
    reference device: a plain copy)."""
    v = S.shared(np.asarray(value), name=name)
    if S.config.device != "cpu":
        v.set_value(device_layout(value, kind), borrow=True)
    return v


RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------------------
# elementwise programs and reductions
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [((4, 3), (4, 3)), ((4, 1), (1, 3)), ((3,), (2, 4, 3)),
                                    ((0, 3), (1, 3)), ((1, 1), (5, 2)), ((), (2, 3))])
def test_elementwise_broadcasting_agrees(emu, dtype, shapes):
    a, b = (RNG.uniform(-2, 2, s).astype(dtype) for s in shapes)

    def build():
        x, y = S.tensor(dtype, (None,) * a.ndim), S.tensor(dtype, (None,) * b.ndim)
        z = S.maximum(0, x * y + S.exp(y)) - S.tanh(x) / (1 + S.sqr(y))
        return [x, y], [z, S.sigmoid(z) > 0.7], [], []
    on_both(build, [a, b])


@pytest.mark.parametrize("kind", ["c", "T", "neg", "strided"])
def test_elementwise_on_device_layouts(emu, kind):
    w = RNG.normal(size=(5, 4)).astype("float32")
    b = RNG.normal(size=(4,)).astype("float32")

    def build():
        sw, sb = shared_on_device(w, kind, "w"), shared_on_device(b, kind, "b")
        return [], [S.relu(sw * 2 + sb), sw.T * sb[:, None], S.softplus(sw[::2, 1:]),
                    S.exp(sw) * sw], [], []
    on_both(build, [])
    if emulated(emu):
        assert any(name.startswith("sym_ews") for name in emu.launches)     # .T and [::2]
        assert any(name.startswith("sym_ew_") for name in emu.launches) == (kind == "c")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2), -1])
def test_reductions_agree(emu, dtype, axis):
    x = (RNG.uniform(-3, 3, (4, 70, 3)) if dtype != "int64"
         else RNG.integers(-9, 9, (4, 70, 3))).astype(dtype)

    def build():
        v = S.tensor(dtype, (None,) * 3)
        outs = [S.sum(v, axis=axis), S.max(v, axis=axis), S.min(v * 2, axis=axis)]
        if dtype != "int64":
            outs += [S.mean(S.exp(v / 4), axis=axis), S.prod(v[:, :5] / 2, axis=axis)]
        return [v], outs, [], []
    on_both(build, [x])


def test_float32_sum_of_many_values_is_accurate(emu):
    x = RNG.uniform(0, 1, 300_000).astype("float32")

    def build():
        v = S.fvector()
        return [v], [S.sum(v)], [], []
    _, (got,) = on_both(build, [x], tol=dict(rtol=1e-6))
    assert abs(float(got) - x.astype(np.float64).sum()) <= 1e-6 * x.sum()


def test_reduction_of_transposed_device_array(emu):
    w = RNG.normal(size=(6, 80)).astype("float64")

    def build():
        sw = shared_on_device(w, "T", "w")
        return [], [S.sum(sw, axis=0), S.max(sw, axis=1), S.sum(sw.T[::3])], [], []
    on_both(build, [])


def test_empty_max_raises_the_reference_error(emu):
    with S.config.change_flags(device="cuda", linker="cuda"):
        x = S.shared(np.zeros((0, 3), "float32"))
        f = S.function([], S.max(x, axis=0))
        with pytest.raises(ValueError):
            f()


# ----------------------------------------------------------------------------------------
# products, shapes, indexing
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_gemm_and_the_sgd_update(emu, dtype):
    x = RNG.normal(size=(7, 5)).astype(dtype)
    w0 = RNG.normal(size=(5, 3)).astype(dtype)
    b0 = RNG.normal(size=(3,)).astype(dtype)

    def build():
        xv = S.tensor(dtype, (None, None))
        w, b = S.shared(w0.copy(), name="w"), S.shared(b0.copy(), name="b")
        y = S.tanh(S.dot(xv, w) + b)
        cost = S.mean(S.sqr(y)) + 0.1 * S.sum(S.sqr(w))
        gw, gb = S.grad(cost, [w, b])
        upd = [(w, w - 0.5 * gw), (b, b - 0.5 * gb)]
        return [xv], [cost, S.dot(xv[0], w), S.dot(xv, w[:, 0])], upd, [w, b]
    f, _ = on_both(build, [x])
    assert isinstance(f.shared_vars[0].container.value, runtime.cupy().ndarray)


def test_shape_ops_agree(emu):
    a = RNG.normal(size=(2, 3, 4)).astype("float32")

    def build():
        s = S.shared(a, name="a")
        flat = S.reshape(s, (6, 4))
        outs = [flat.T, s.dimshuffle(2, "x", 0, 1), S.concatenate([flat, flat * 2], axis=0),
                S.concatenate([s, s[:, :1]], axis=1), s[1, ::-1, 2:], s[-1], S.shape(s),
                S.zeros((3, 2)) + 1, S.alloc(s[0, 0], 2, 3, 4), S.set_subtensor(s[:, 1], 5.0),
                S.inc_subtensor(s[1:, :, ::2], flat[:3, :2])]
        return [], outs, [], []
    on_both(build, [])


def test_indexing_with_host_integers_and_gradient(emu):
    data = RNG.normal(size=(20, 3)).astype("float64")

    def build():
        i = S.lscalar("i")
        d = S.shared(data, name="d")
        batch = d[i * 5:(i + 1) * 5]
        cost = S.sum(S.sqr(batch)) + S.sum(d[i])
        return [i], [batch, S.grad(cost, d)], [], []
    on_both(build, [np.int64(2)])


def test_out_of_range_index_raises_the_reference_error(emu):
    with S.config.change_flags(device="cuda", linker="cuda"):
        d = S.shared(np.zeros((4, 2), "float32"))
        i = S.lscalar()
        f = S.function([i], d[i])
        assert f(3).shape == (2,)
        with pytest.raises(IndexError):
            f(4)


# ----------------------------------------------------------------------------------------
# neural-network ops
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_cross_entropy_and_gradients(emu, dtype):
    z0 = RNG.normal(size=(6, 10)).astype(dtype) * 3
    labels = RNG.integers(0, 10, 6).astype("int64")

    def build():
        z = S.shared(z0, name="z")
        y = S.lvector("y")
        p = S.softmax(z)
        cost = -S.mean(S.log(p)[S.arange(y.shape[0]), y])
        return [y], [p, S.log_softmax(z), cost, S.grad(cost, z)], [], []
    on_both(build, [labels])


def test_label_out_of_range_raises_the_reference_error(emu):
    with S.config.change_flags(device="cuda", linker="cuda"):
        z = S.shared(np.zeros((3, 4), "float32"))
        y = S.lvector()
        cost = -S.mean(S.log(S.softmax(z))[S.arange(y.shape[0]), y])
        f = S.function([y], cost)
        assert np.isfinite(f(np.array([0, 1, 3])))
        with pytest.raises(IndexError):
            f(np.array([0, 1, 4]))


@pytest.mark.parametrize("mode", ["max", "average_inc_pad", "average_exc_pad", "sum"])
@pytest.mark.parametrize("ws, stride, pad, ignore_border", [((2, 2), None, (0, 0), True),
                                                            ((3, 2), (2, 1), (1, 1), True),
                                                            ((2, 2), None, (0, 0), False)])
def test_pooling_and_gradient(emu, mode, ws, stride, pad, ignore_border):
    x0 = RNG.normal(size=(2, 3, 7, 6)).astype("float32")

    def build():
        x = S.shared(x0, name="x")
        y = S.pool_2d(x, ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)
        return [], [y, S.grad(S.sum(S.sqr(y)), x)], [], []
    on_both(build, [])


@pytest.mark.parametrize("border_mode, subsample, flip", [("valid", (1, 1), True),
                                                          ("full", (1, 1), False),
                                                          ("half", (2, 1), True),
                                                          ((1, 2), (1, 2), True)])
def test_convolution_and_gradients(emu, border_mode, subsample, flip):
    x0 = RNG.normal(size=(3, 2, 8, 7)).astype("float32")
    w0 = RNG.normal(size=(4, 2, 3, 3)).astype("float32")

    def build():
        x, w = S.shared(x0, name="x"), S.shared(w0, name="w")
        y = S.conv2d(x, w, border_mode=border_mode, subsample=subsample, filter_flip=flip)
        gx, gw = S.grad(S.sum(S.sqr(y)), [x, w])
        return [], [y, gx, gw], [], []
    on_both(build, [], tol=dict(rtol=2e-4, atol=2e-4))


def test_random_streams_are_bit_identical_and_advance(emu):
    def build():
        srng = S.RandomStreams(1234)
        u = srng.uniform((3, 5), low=-1.0, high=2.0, dtype="float32")
        m = srng.binomial((7,), n=1, p=0.3, dtype="float32")
        k = srng.binomial((2, 2), n=5, p=0.5, dtype="int64")
        return [], [u, m, k, srng.uniform((4,), dtype="float64")], [], []
    results = []
    for device, linker in (("cpu", "numpy"), ("cuda", "cuda")):
        with S.config.change_flags(device=device, linker=linker):
            _, outs, _, _ = build()
            f = S.function([], outs)
            results.append([f(), f()])
    (ref1, ref2), (got1, got2) = results
    for a, b in zip(ref1 + ref2, got1 + got2):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got1[0], got2[0])


def test_argmax_argmin_and_nodes_without_a_cuda_lowering(emu):
    x0 = RNG.normal(size=(4, 5)).astype("float32")
    x0[2, 3] = np.nan

    def build():
        x = S.shared(x0, name="x")
        idx = S.lvector("idx")
        return [idx], [S.argmax(x, axis=1), S.argmin(x, axis=0), S.argmax(x[:2]),
                       S.argmin(x.T, axis=-1), x[idx] * 2], [], []   # x[idx]: the host
    f, _ = on_both(build, [np.array([3, 0, 3])])
    hows = {getattr(t, "how", "") for t, *_ in f.program.steps}
    assert any(h.startswith("host") for h in hows)


# ----------------------------------------------------------------------------------------
# shared variables, transfers, selection
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("graphs", [True, False])
def test_minibatch_step_moves_only_the_index_and_the_cost(emu, graphs):
    """network3's training step: givens slice the shared data set on the device."""
    n, mbs = 40, 10
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(n, 6)).astype("float32")
    ys = rng.integers(0, 3, n).astype("int64")
    xs[np.arange(n), ys] += 2                      # learnable
    with S.config.change_flags(device="cuda", linker="cuda", cuda_graphs=graphs):
        data_x, data_y = S.shared(xs, name="x"), S.shared(ys, name="y")
        w = S.shared(np.zeros((6, 3), "float32"), name="w")
        b = S.shared(np.zeros(3, "float32"), name="b")
        x, y, i = S.matrix("x"), S.lvector("y"), S.lscalar("i")
        p = S.softmax(S.dot(x, w) + b)
        cost = -S.mean(S.log(p)[S.arange(y.shape[0]), y])
        gw, gb = S.grad(cost, [w, b])
        train = S.function([i], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)],
                           givens={x: data_x[i * mbs:(i + 1) * mbs],
                                   y: data_y[i * mbs:(i + 1) * mbs]})
        train(0)
        moved = train.program.transfers
        before = moved.bytes_to_device, moved.bytes_to_host, moved.to_device, moved.to_host
        costs = [float(train(k)) for k in range(4)]
        after = moved.bytes_to_device, moved.bytes_to_host, moved.to_device, moved.to_host
    # a few scalars go over (the batch size from a shape, a slice's start), and the status
    # words of the cross-entropy kernels come back with the cost; no data
    assert after[0] - before[0] <= 4 * 64, "a training step copied data to the device"
    assert 4 * 4 <= after[1] - before[1] <= 4 * 64, "a step brought back more than the cost"
    assert (train.program.graphs is not None) == graphs
    if graphs:              # one copy each way per replay
        assert train.program.graphs.replays == 4, train.program.graphs.failures
        assert (after[2] - before[2], after[3] - before[3]) == (4, 4)
    assert costs[0] < np.log(3) and costs[-1] < costs[0]
    for v in (data_x, data_y, w, b):
        assert isinstance(v.container.value, runtime.cupy().ndarray)


def test_get_set_value_and_pickling_to_a_cpu_machine(emu):
    with S.config.change_flags(device="cuda", linker="cuda"):
        w = S.shared(np.arange(6, dtype="float32").reshape(2, 3), name="w")
        value = w.get_value()
        assert type(value) is np.ndarray and value[1, 2] == 5
        w.set_value(np.ones((2, 3), "float32"))
        dev = runtime.cupy().asarray(np.full((2, 3), 7, "float32"))
        w.set_value(dev, borrow=True)
        assert w.container.value is dev
        f = S.function([], w * 2)
        blob = pickle.dumps((w, f))
    w2, f2 = pickle.loads(blob)              # device=cpu now: a CPU-only machine
    assert type(w2.container.value) is np.ndarray
    np.testing.assert_array_equal(f2(), np.full((2, 3), 14, "float32"))


def test_selection_errors_say_what_is_missing(monkeypatch):
    import sys
    old = runtime.use_module(None)
    try:
        monkeypatch.setitem(sys.modules, "cupy", None)          # CuPy not installed
        with S.config.change_flags(device="cuda"):
            with pytest.raises(runtime.CudaUnavailable, match=r"pip install 'symbolic-nets\[cuda\]'"):
                S.shared(np.zeros(2))
        runtime.use_module(cuda_emulator.Emulator(devices=None))     # no GPU
        with S.config.change_flags(device="cuda"):
            with pytest.raises(runtime.CudaUnavailable, match="no usable GPU"):
                S.shared(np.zeros(2))
        runtime.use_module(cuda_emulator.Emulator(devices=1))
        with S.config.change_flags(device="cuda1"):
            with pytest.raises(runtime.CudaUnavailable, match=r"1 GPU\(s\) \(cuda0\)"):
                S.shared(np.zeros(2))
        with S.config.change_flags(device="cuda", linker="llvm"):
            x = S.vector()
            with pytest.raises(ValueError, match="linker='cuda'"):
                S.function([x], x * 2)
        with S.config.change_flags(device="cpu", linker="cuda"):
            x = S.vector()
            with pytest.raises(ValueError, match="config.device='cuda'"):
                S.function([x], x * 2)
    finally:
        runtime.use_module(old)


def test_auto_linker_picks_cuda_on_a_gpu_device(emu):
    with S.config.change_flags(device="cuda", linker="auto"):
        x = S.vector()
        f = S.function([x], x * 2)
        assert f.backend.name == "cuda"
        np.testing.assert_array_equal(f(np.ones(3, "float32")), 2)


@pytest.mark.parametrize("graphs", [True, False])
def test_network3_conv_net_with_dropout_trains_like_the_reference(emu, graphs):
    """A small network3 net (conv-pool, FC with dropout, softmax) trained for two epochs:
    the same parameters as on the reference backend, dropout masks included, whether the
    calls replay CUDA graphs or launch kernel by kernel."""
    from nets.training import Trainer
    from nets import ConvPoolLayer, FullyConnectedLayer, Network, ReLU, SoftmaxLayer
    from nets.data import shared_dataset
    mbs = 5
    xs = RNG.uniform(0, 1, (30, 64)).astype("float32")
    ys = (xs[:, :32].sum(axis=1) > xs[:, 32:].sum(axis=1)).astype("int64")
    results = []
    for device, linker in (("cpu", "numpy"), ("cuda", "cuda")):
        with S.config.change_flags(device=device, linker=linker, cuda_graphs=graphs):
            np.random.seed(3)
            net = Network([ConvPoolLayer((2, 1, 3, 3), (mbs, 1, 8, 8), activation_fn=ReLU),
                           FullyConnectedLayer(2 * 3 * 3, 12, activation_fn=ReLU, p_dropout=0.5),
                           SoftmaxLayer(12, 2, p_dropout=0.5)], mbs)
            data = shared_dataset(xs, ys)
            trainer = Trainer(net, data, 2, mbs, 0.2, data, data, lmbda=0.1, verbose=False)
            history = trainer.run()
            results.append(([p.get_value() for p in net.params], history))
    for f in (trainer.train_mb, trainer.validate_mb_accuracy, trainer.test_mb_accuracy):
        cache = f.program.graphs
        assert (cache is not None) == graphs
        if graphs:          # every call after the first of a layout is a replay
            assert cache.replays > 0 and not cache.failures, cache.failures
    (ref, ref_h), (got, got_h) = results
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    assert [e["validation_accuracy"] for e in got_h.epochs] == \
        [e["validation_accuracy"] for e in ref_h.epochs]


# ----------------------------------------------------------------------------------------
# CUDA graphs
# ----------------------------------------------------------------------------------------
def _softmax_regression(xs, ys, mbs):
    """network3's pattern in small: a train function slicing shared data by an index."""
    data_x, data_y = S.shared(xs, name="x"), S.shared(ys, name="y")
    w = S.shared(np.zeros((xs.shape[1], 3), "float32"), name="w")
    x, y, i = S.matrix("x"), S.lvector("y"), S.lscalar("i")
    p = S.softmax(S.dot(x, w))
    cost = -S.mean(S.log(p)[S.arange(y.shape[0]), y])
    train = S.function([i], cost, updates=[(w, w - 0.1 * S.grad(cost, w))],
                       givens={x: data_x[i * mbs:(i + 1) * mbs], y: data_y[i * mbs:(i + 1) * mbs]})
    return train, w, data_y


def test_graph_replays_agree_with_the_reference_including_a_short_last_batch(emu):
    rng = np.random.default_rng(7)
    xs, ys = rng.normal(size=(25, 4)).astype("float32"), rng.integers(0, 3, 25).astype("int64")
    order = [0, 1, 0, 2, 1, 1, 0, 2]               # index 2 slices rows 20:25 (5 rows)
    results = []
    for device, linker in (("cpu", "numpy"), ("cuda", "cuda")):
        with S.config.change_flags(device=device, linker=linker):
            train, w, _ = _softmax_regression(xs, ys, 10)
            results.append(([float(train(k)) for k in order], w.get_value(), train))
    (ref_costs, ref_w, _), (costs, got_w, train) = results
    np.testing.assert_allclose(costs, ref_costs, rtol=1e-5)
    np.testing.assert_allclose(got_w, ref_w, rtol=1e-5, atol=1e-6)
    cache = train.program.graphs
    assert cache.captures == 1 and cache.replays >= 4 and not cache.failures


def test_graph_call_with_a_bad_label_raises_and_changes_nothing(emu):
    rng = np.random.default_rng(8)
    xs, ys = rng.normal(size=(20, 4)).astype("float32"), rng.integers(0, 3, 20).astype("int64")
    with S.config.change_flags(device="cuda", linker="cuda"):
        train, w, data_y = _softmax_regression(xs, ys, 10)
        for k in (0, 1, 0):
            train(k)
        assert train.program.graphs.replays == 2     # the capturing call replays too
        bad = ys.copy()
        bad[3] = 7
        data_y.set_value(bad)                       # copied in place: the graph stays valid
        before = w.get_value()
        with pytest.raises(IndexError):
            train(0)
        np.testing.assert_array_equal(w.get_value(), before)
        train(1)                                    # rows 10:20 are fine
        assert train.program.graphs.captures == 1
        assert not np.array_equal(w.get_value(), before)


def test_set_value_keeps_the_graph_and_is_seen_by_it(emu):
    with S.config.change_flags(device="cuda", linker="cuda"):
        v = S.shared(np.ones(4, "float32"), name="v")
        k = S.fscalar("k")
        f = S.function([k], S.sum(v * k), updates=[(v, v + 1)])
        assert [float(f(np.float32(2))) for _ in range(3)] == [8, 16, 24]
        v.set_value(np.zeros(4, "float32"))
        assert float(f(np.float32(3))) == 0 and float(f(np.float32(1))) == 4
        assert f.program.graphs.captures == 1 and f.program.graphs.replays == 4
        np.testing.assert_array_equal(v.get_value(), 2)


def test_a_call_that_needs_the_host_midway_is_not_captured(emu):
    with S.config.change_flags(device="cuda", linker="cuda"):
        v = S.shared(np.arange(5, dtype="float64"), name="v")
        idx = S.lvector("idx")
        y = S.inc_subtensor(v[idx], 1.0) * 2         # advanced indexing: the host reference
        f = S.function([idx], S.sum(y))
        for _ in range(3):
            assert float(f(np.array([0, 2, 2]))) == 2 * (10 + 3)
        assert f.program.graphs.captures == 0
        assert "back to the host" in next(iter(f.program.graphs.failures.values()))


def test_a_layout_that_failed_is_recorded_again_later(emu, monkeypatch):
    """A layout whose recording fell back runs eagerly for a while and is then recorded
    again (twice at most), its results right throughout."""
    from backends.cuda.graphs import GraphCache
    monkeypatch.setattr(GraphCache, "RETRY_AFTER", 2)
    with S.config.change_flags(device="cuda", linker="cuda"):
        v = S.shared(np.arange(5, dtype="float64"), name="v")
        idx = S.lvector("idx")
        f = S.function([idx], S.sum(S.inc_subtensor(v[idx], 1.0) * 2))
        for _ in range(12):                   # record, 2 eager, record, 2 eager, record, ...
            assert float(f(np.array([0, 2, 2]))) == 2 * (10 + 3)
        assert list(f.program.graphs.retries.values()) == [3]


# ----------------------------------------------------------------------------------------
# every kernel the backend launched compiles with nvcc
# ----------------------------------------------------------------------------------------
@pytest.mark.skipif(__import__("shutil").which("nvcc") is None, reason="nvcc is not on PATH")
def test_every_launched_kernel_compiles_with_nvcc(emu, tmp_path):
    """The emulator compiles kernels as host C++; the GPU compiles them with NVRTC.  Run a
    network3 conv net with dropout (and whatever the tests before ran) and give every kernel
    source launched so far to nvcc for sm_90."""
    test_network3_conv_net_with_dropout_trains_like_the_reference(emu, True)
    from test_cuda_codegen import nvcc_ptx
    sources = list(runtime.compiled_sources.values())
    assert len(sources) >= 20
    assert nvcc_ptx(tmp_path, sources, stem="launched") == len(sources)


def test_small_grids_and_column_chunks(emu, monkeypatch):
    """Grid-stride loops with fewer blocks than items, and convolutions whose column matrix
    is built in several chunks of images, give the same results."""
    if not emulated(emu):
        pytest.skip("sizes the emulator can run quickly")
    from backends.cuda import lower_nnet
    monkeypatch.setattr(runtime, "MAX_BLOCKS", 2)
    monkeypatch.setattr(lower_nnet, "COLUMN_VALUES", 2 * 9 * 36 * 2)   # two images per chunk
    x0 = RNG.normal(size=(5, 2, 8, 8)).astype("float32")
    w0 = RNG.normal(size=(3, 2, 3, 3)).astype("float32")

    def build():
        x, w = S.shared(x0, name="x"), S.shared(w0, name="w")
        y = S.pool_2d(S.relu(S.conv2d(x, w)), (2, 2), ignore_border=True)
        gx, gw = S.grad(S.sum(S.sqr(y)), [x, w])
        return [], [y, gx, gw, S.softmax(S.reshape(y, (5, -1))), S.sum(x, axis=(0, 2))], [], []
    on_both(build, [], tol=dict(rtol=2e-4, atol=2e-4))


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_and_boolean_programs(emu, dtype):
    a = (RNG.integers(0, 2, (3, 4)) if dtype == "bool" else RNG.integers(0, 9, (3, 4))).astype(dtype)
    b = (RNG.integers(0, 2, (4,)) if dtype == "bool" else RNG.integers(1, 5, (4,))).astype(dtype)

    def build():
        x, y = S.tensor(dtype, (None, None)), S.tensor(dtype, (None,))
        outs = [x * y + x, S.maximum(x, y), S.eq(x, y), S.cast(x, "float32") / 3,
                S.sum(x, axis=0), S.max(x, axis=1)]
        if dtype != "bool":
            outs += [x // y, x % y]
        return [x, y], outs, [], []
    on_both(build, [a, b])



def test_nets_command_line_on_the_gpu(emu, tmp_path):
    """``python -m nets --backend cuda``, the README's main job on a GPU, on a few images."""
    from mnist_paths import mnist_dir
    import nets.cli as cli
    if mnist_dir() is None:
        pytest.skip("no MNIST")
    if not emulated(emu):
        pytest.skip("the GPU session runs the real thing")
    payloads = {}
    for backend in ("numpy", "cuda"):
        args = cli.build_parser().parse_args(
            ["basic_conv", "--epochs", "1", "--train-size", "100", "--eval-size", "50",
             "--backend", backend, "--data-dir", mnist_dir(),
             "--output-dir", str(tmp_path / backend), "--quiet"])
        with S.config.change_flags():
            payloads[backend] = cli.run(args, out=lambda *a: None)
    got = payloads["cuda"]
    assert got["config"]["backend"] == "cuda" and got["config"]["device"] == "cuda"
    ref = payloads["numpy"]["runs"][0]["epochs"][0]
    run = got["runs"][0]["epochs"][0]
    assert abs(run["training_cost"] - ref["training_cost"]) < 1e-4
    assert abs(run["test_accuracy"] - ref["test_accuracy"]) <= 0.02


@pytest.mark.parametrize("graphs", [True, False])
def test_updates_that_read_each_other_see_the_old_values(emu, graphs):
    """A swap and ``(w_prev, w)``: every new value is computed before any is stored, also
    when the new values are copied over the old buffers in place."""
    with S.config.change_flags(device="cuda", linker="cuda", cuda_graphs=graphs):
        a = S.shared(np.full(3, 1.0, "float32"), name="a")
        b = S.shared(np.full(3, 2.0, "float32"), name="b")
        w = S.shared(np.zeros(3, "float32"), name="w")
        w_prev = S.shared(np.zeros(3, "float32"), name="w_prev")
        f = S.function([], [], updates=[(a, b), (b, a), (w, w + 1), (w_prev, w)])
        for k in range(1, 6):
            f()
            np.testing.assert_array_equal(a.get_value(), 1.0 if k % 2 == 0 else 2.0)
            np.testing.assert_array_equal(b.get_value(), 2.0 if k % 2 == 0 else 1.0)
            np.testing.assert_array_equal(w.get_value(), k)
            np.testing.assert_array_equal(w_prev.get_value(), k - 1)
        if graphs:
            assert f.program.graphs.replays >= 3, f.program.graphs.failures


def test_graphs_with_many_joined_parts_and_the_shape_of_a_host_slice(emu):
    """A join of many parts is captured (no host pointer table); the shape of a host value
    that depends on an input is recomputed at every replay."""
    with S.config.change_flags(device="cuda", linker="cuda"):
        v = S.shared(np.arange(12, dtype="float32").reshape(4, 3), name="v")
        n = S.lscalar("n")
        host_slice = S.arange(10)[:n]                       # host values, length n
        parts = [v * k for k in range(10)]
        f = S.function([n], [S.sum(S.concatenate(parts, axis=0)),
                             S.sum(v) * S.shape(host_slice)[0]])
        got = [f(np.int64(k)) for k in (3, 3, 5, 2, 5)]
    want_join = float(np.arange(12).sum() * sum(range(10)))
    assert [float(j) for j, _ in got] == [want_join] * 5
    assert [float(s) for _, s in got] == [66.0 * k for k in (3, 3, 5, 2, 5)]
    assert f.program.graphs.replays >= 3 and not f.program.graphs.failures


def test_view_layout_is_numpys():
    """The offsets a graph replay computes for index-dependent slices are NumPy's."""
    from backends.cuda.lower_shapes import view_layout
    base = np.zeros((7, 5, 4), "float32")
    rng = np.random.default_rng(3)
    for a in (base, base[::-1], base[:, ::2].transpose(2, 0, 1), base[1:, :, ::-3]):
        for _ in range(200):
            index = []
            for n in a.shape:
                kind = rng.integers(0, 4)
                if kind == 0:
                    index.append(int(rng.integers(-n, n)))
                elif kind == 3:
                    index.append(None)
                    index.append(slice(None))
                else:
                    lo, hi = (int(v) for v in rng.integers(-n - 2, n + 2, 2))
                    step = int(rng.choice([-3, -1, 1, 2]))
                    index.append(slice(lo if kind == 1 else None, hi, step))
            view = a[tuple(index) + (Ellipsis,)]
            offset = (view.__array_interface__["data"][0] - a.__array_interface__["data"][0])
            want = (offset // 4 if view.size else None, view.shape, view.strides)
            got = view_layout(a.shape, a.strides, 4, tuple(index))
            assert got[1] == want[1], (a.strides, index)
            if view.size:                   # (NumPy's strides of an empty view are arbitrary)
                assert got[0] == want[0] and got[2] == want[2], (a.strides, index)


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (1, 1), (0,)])
def test_reductions_and_products_of_empty_and_size_one_arrays(emu, shape):
    x0 = RNG.normal(size=shape).astype("float64")

    def build():
        x = S.shared(x0, name="x")
        outs = [S.sum(x), S.prod(x * 2, axis=0), S.sum(S.exp(x), axis=-1), x * 3 + 1]
        if len(shape) == 2:
            outs += [S.dot(x, x.T), S.sum(x, axis=1, keepdims=True)]
        return [], outs, [], []
    on_both(build, [])

"""Large native kernels split over threads give the same results with one thread and two."""
import numpy as np
import pytest

import symbolic as S
from backends.llvm import elemwise as E, threads


@pytest.mark.parametrize("n, parts", [(1, 2), (64, 2), (65, 2), (300_001, 2), (300_001, 3), (10, 1)])
def test_slices_cover_the_range_once(n, parts):
    ranges = threads.slices(n, parts)
    assert ranges[0][0] == 0 and ranges[-1][1] == n and len(ranges) <= parts
    assert all(hi > lo for lo, hi in ranges)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(lo % 64 == 0 for lo, _ in ranges)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_fused_kernels_agree_with_numpy(rng, monkeypatch, n_threads, dtype):
    splits = []
    original = threads.run_split
    monkeypatch.setattr(threads, "run_split", lambda part, n: splits.append(n) or original(part, n))
    n = threads.PARALLEL_MIN_ELEMENTS + 1001          # slices of unequal length
    a, b = (rng.normal(size=n).astype(dtype) for _ in range(2))
    x, y, s = S.vector(dtype=dtype), S.vector(dtype=dtype), S.scalar(dtype=dtype)
    with S.config.change_flags(threads=n_threads):
        f = S.function([x, y, s], [S.maximum(0, x * y + s), S.tanh(x) - y], mode=S.Mode(linker="llvm"))
        relu, diff = f(a, b, np.asarray(0.5, dtype))
    np.testing.assert_allclose(relu, np.maximum(0, a * b + np.asarray(0.5, dtype)), rtol=1e-6)
    np.testing.assert_allclose(diff, np.tanh(a) - b, rtol=1e-5, atol=1e-6)
    assert bool(splits) == (n_threads > 1)


def test_in_place_updates_split_over_threads(rng):
    n = threads.PARALLEL_MIN_ELEMENTS * 2
    w = S.shared(rng.normal(size=n).astype("float32"), name="w")
    before = w.get_value()
    g = S.fvector("g")
    with S.config.change_flags(threads=2):
        step = S.function([g], [], updates=[(w, w - 0.5 * g)], mode=S.Mode(linker="llvm"))
        grad = rng.normal(size=n).astype("float32")
        step(grad)
    np.testing.assert_allclose(w.get_value(), before - np.float32(0.5) * grad, rtol=1e-6)


def test_a_forked_child_gets_its_own_pool(rng):
    import multiprocessing
    n = threads.PARALLEL_MIN_ELEMENTS + 5
    with S.config.change_flags(threads=2):
        x = S.fvector("x")
        f = S.function([x], S.exp(x) * 2, mode=S.Mode(linker="llvm"))
        value = rng.normal(size=n).astype("float32")
        expect = f(value)                                   # the parent's pool now exists
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(1) as pool:
            got = pool.apply_async(f, (value,)).get(timeout=60)
    np.testing.assert_array_equal(got, expect)


def _recording_splits(monkeypatch):
    """(length of the range, slices it ran as) of each split over the threads."""
    seen = []
    run_split = threads.run_split

    def recording(part, n, **kw):
        ran = []
        result = run_split(lambda lo, hi: ran.append(lo) or part(lo, hi), n, **kw)
        seen.append((n, len(ran)))
        return result
    monkeypatch.setattr(threads, "run_split", recording)
    return seen


REDUCE_SPLIT_CASES = [
    # shape, axis, the axis split: the first kept axis (slices write their rows of the
    # output) when it has a slice for each thread, else the longest reduced axis (slices
    # reduce into partials)
    ((threads.PARALLEL_MIN_REDUCED + 77,), None, 0),
    ((2, (threads.PARALLEL_MIN_REDUCED + 99) // 2), 1, 0),
    ((1, threads.PARALLEL_MIN_REDUCED + 5), 1, 1),
    ((7, 3, (threads.PARALLEL_MIN_REDUCED + 20) // 21), (0, 2), 1),
    ((5, 1, (threads.PARALLEL_MIN_REDUCED + 4) // 5), (0, 2), 2),
    ((3000, (threads.PARALLEL_MIN_REDUCED + 2999) // 3000), 0, 1),
]


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("shape, axis, split_axis", REDUCE_SPLIT_CASES)
def test_large_reductions_split_over_threads(rng, monkeypatch, shape, axis, split_axis, n_threads,
                                             native):
    seen = _recording_splits(monkeypatch)
    a = rng.normal(size=shape).astype("float32")
    x = S.tensor(dtype="float32", shape=(None,) * len(shape))
    with S.config.change_flags(threads=n_threads, native_driver=native):
        f = S.function([x], [S.sum(x * 2, axis=axis), S.max(x, axis=axis), S.min(x - 1, axis=axis),
                             S.any(x > 4.5, axis=axis)], mode=S.Mode(linker="llvm"))
        f(a)                    # (planning runs the steps in Python too: count a later call)
        seen.clear()
        total, top, low, big = f(a)
    np.testing.assert_allclose(total, np.sum(a.astype(np.float64) * 2, axis=axis), rtol=1e-6, atol=1e-6)
    assert total.dtype == np.float32
    np.testing.assert_array_equal(top, np.max(a, axis=axis))
    np.testing.assert_array_equal(low, np.min(a - np.float32(1), axis=axis))
    np.testing.assert_array_equal(big, np.any(a > 4.5, axis=axis))
    assert seen == ([] if n_threads == 1 else [(shape[split_axis], 2)] * 4)   # four reductions


def test_a_split_float32_sum_keeps_float64_accuracy(rng):
    """The partial sums of the slices are float64, as one thread's accumulator is: a sum of
    values whose float32 partial sums would round away the small ones stays exact."""
    n = threads.PARALLEL_MIN_REDUCED + 1
    a = np.full(n, 1e-8, np.float32)
    a[0] = 1.0
    x = S.fvector("x")
    with S.config.change_flags(threads=2):
        got = S.function([x], S.sum(x), mode=S.Mode(linker="llvm"))(a)
    assert got == np.float32(np.sum(a, dtype=np.float64))
    assert got != np.float32(1.0)


def test_small_reductions_stay_on_one_thread(rng, monkeypatch):
    seen = _recording_splits(monkeypatch)
    x = S.fmatrix("x")
    with S.config.change_flags(threads=2):
        f = S.function([x], S.sum(x, axis=0), mode=S.Mode(linker="llvm"))
        a = rng.normal(size=(1000, 1000)).astype("float32")
        np.testing.assert_allclose(f(a), a.sum(axis=0), rtol=1e-5, atol=1e-4)
    assert seen == []


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_row_kernels_split_over_threads(rng, monkeypatch, dtype, n_threads, native):
    seen = _recording_splits(monkeypatch)
    rows, n = 601, threads.PARALLEL_MIN_ELEMENTS // 600 + 1    # just over the threshold
    z, y = S.matrix("z", dtype=dtype), S.ivector("y")
    cost = -S.mean(S.log_softmax(z)[S.arange(y.shape[0]), y])
    x3 = S.tensor(dtype=dtype, shape=(None, None, None))
    outputs = [cost, S.grad(cost, z), S.softmax(z), S.log_softmax(x3)]
    zv = rng.normal(size=(rows, n)).astype(dtype) * 3
    yv = rng.integers(0, n, rows).astype("int32")
    x3v = rng.normal(size=(7, 86, n)).astype(dtype)
    ref = S.function([z, y, x3], outputs, mode=S.Mode(linker="numpy"))(zv, yv, x3v)
    with S.config.change_flags(threads=n_threads, native_driver=native):
        f = S.function([z, y, x3], outputs, mode=S.Mode(linker="llvm"))
        f(zv, yv, x3v)
        seen.clear()
        got = f(zv, yv, x3v)
    tol = dict(rtol=2e-5, atol=1e-7) if dtype == "float32" else dict(rtol=1e-12, atol=1e-15)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, **tol)
    # the cross-entropy, its gradient, softmax and the 3-d log-softmax (7 x 86 rows)
    assert sorted(seen) == ([] if n_threads == 1 else sorted([(rows, 2)] * 3 + [(7 * 86, 2)]))


def test_a_label_out_of_range_in_a_split_row_kernel_gives_the_reference_error(rng):
    rows, n = 600, threads.PARALLEL_MIN_ELEMENTS // 500
    z, y = S.fmatrix("z"), S.ivector("y")
    cost = -S.mean(S.log_softmax(z)[S.arange(y.shape[0]), y])
    zv = rng.normal(size=(rows, n)).astype("float32")
    yv = rng.integers(0, n, rows).astype("int32")
    with S.config.change_flags(threads=2):
        f = S.function([z, y], cost, mode=S.Mode(linker="llvm"))
        f(zv, yv)
        for row in (3, rows - 3):        # in the first slice, in the second
            bad = yv.copy()
            bad[row] = n
            with pytest.raises(IndexError, match=f"index {n} is out of bounds"):
                f(zv, bad)
        np.testing.assert_allclose(f(zv, yv), S.function([z, y], cost, mode=S.Mode(linker="numpy"))(zv, yv),
                                   rtol=1e-5)


def test_reductions_without_an_axis_to_split_run_on_one_thread(rng, monkeypatch):
    """No slice for each thread along the first kept axis nor along any reduced one (a
    reduction over no axes, over a size-1 axis): one call, the right result."""
    seen = _recording_splits(monkeypatch)
    a = rng.normal(size=(1, 1, threads.PARALLEL_MIN_REDUCED + 3)).astype("float32")
    with S.config.change_flags(threads=2):
        for axes, expect in [((1,), a.sum(axis=1)), ((), a)]:
            k = E.compile_fused_reduce([], 1, ["float32"], 0, "sum", axes, "float32")
            out = np.empty(expect.shape, np.float32)
            k(out, [a])
            np.testing.assert_array_equal(out, expect)
    assert seen == []


def test_a_split_reduction_that_overflows_warns_no_more_than_one_thread(monkeypatch):
    monkeypatch.setattr(threads, "PARALLEL_MIN_REDUCED", 64)
    a = np.full(1000, 3e38, np.float32)
    x = S.fvector("x")
    with S.config.change_flags(threads=2):
        f = S.function([x], S.sum(x), mode=S.Mode(linker="llvm"))
        with np.errstate(all="raise"):
            assert f(a) == np.inf


def test_a_failing_slice_waits_for_the_others(monkeypatch):
    import time
    finished = []

    def part(lo, hi):
        if lo == 0:
            raise RuntimeError("first slice")
        time.sleep(0.05)
        finished.append(lo)
    with S.config.change_flags(threads=2):
        with pytest.raises(RuntimeError, match="first slice"):
            threads.run_split(part, 1000, align=1)
    assert finished == [500]

"""Large native kernels split over threads give the same results with one thread and two."""
import numpy as np
import pytest

import symbolic as S
from backends.llvm import threads


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

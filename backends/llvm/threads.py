"""The persistent thread pool that splits large native kernels over the cores.

Kernels are ctypes calls, which release the GIL, so Python threads run them in parallel.
Forking and joining costs 25-70 us, hence the threshold: only kernels over
``PARALLEL_MIN_ELEMENTS`` elements (about a quarter of a millisecond of work) are split,
small ones stay on the calling thread.  The thread count is ``config.threads`` (default:
the CPUs this process may use); the calling thread runs the first slice itself, so the pool
holds ``threads - 1`` workers, rebuilt when the flag changes.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from symbolic.config import config

PARALLEL_MIN_ELEMENTS = 1 << 18
# A reduction does less per element (a sum of float32 ran at ~6 G elements/s on one core),
# so it is split only from here: at 1.2M elements two threads took 0.31 ms against one
# thread's 0.17, at 4M 0.99 ms against 1.29.
PARALLEL_MIN_REDUCED = 1 << 22
_ALIGN = 64            # slice boundaries on whole cache lines of float32 / float64

_lock = threading.Lock()
_pool = None
_pool_size = 0


def _forget_pool():
    """In a forked child the pool's threads do not exist: work sent to them would never run."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def count():
    return config.threads


def _workers(n):
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="symbolic-llvm")
            _pool_size = n
        return _pool


def slices(n, parts, align=_ALIGN):
    """``parts`` contiguous (lo, hi) ranges covering [0, n), aligned, none empty."""
    step = -(-n // parts)
    step = -(-step // align) * align
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def pool_submit(fn, *args):
    """``fn(*args)`` on one of the pool's threads (a future)."""
    return _workers(max(count() - 1, 1)).submit(fn, *args)


def run_split(part, n, align=_ALIGN):
    """``part(lo, hi)`` over slices of [0, n) on ``config.threads`` threads; the results."""
    ranges = slices(n, count(), align)
    if len(ranges) == 1:
        return [part(*ranges[0])]
    futures = [pool_submit(part, lo, hi) for lo, hi in ranges[1:]]
    try:
        first = part(*ranges[0])
    except BaseException:
        for f in futures:                 # nothing may still be writing when the error leaves
            try:
                f.result()
            except BaseException:
                pass
        raise
    return [first] + [f.result() for f in futures]

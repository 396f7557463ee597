"""Native Philox4x32-10 sampling for ``Uniform`` and ``Binomial``, bit-identical to the reference.

symbolic/random.py defines the stream: word ``w[j]`` of a run is lane ``j % 4`` of
``philox4x32(counter=(b_lo, b_hi, run_lo, run_hi), key)`` for block ``b = j // 4``.  The
kernels compute, for each sample, the block holding its word and pick the lane; the block is
recomputed per word (4x the arithmetic of sharing it) so that the loop over samples has no
cross-iteration state and vectorizes: the 32x32->64-bit products become packed multiplies.

* uniform float32: ``low + (high - low) * u24(w[i])``; float64 with ``u53(w[i], w[N + i])``,
  each operation rounded separately (no fused multiply-add), as the reference does.
* binomial: for each trial ``t < n_max``, sample ``i`` gains one when ``t < n[i]`` and
  ``w[t*N + i] * 2**-32 < p[i]`` (exact in float64).

``Normal`` stays on the reference: its log/cos/sin would differ from NumPy's in the last
place, and the stream must be the same on every backend.

The native driver's plans use a variant of each kernel that reads the key and run counter
from the state array and writes the advanced state itself (``from_state``), so a training
step with dropout needs no Python at all.
"""
import numpy as np

from symbolic.random import (PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1, Binomial,
                             Uniform, next_state, unpack_state)

from .loops import KernelSource, compile_kernel, for_range, if_then

_FLOAT = {"float32": "float", "float64": "double"}
_SCALARS = ("N", "k0", "k1", "run_lo", "run_hi", "s1", "s2", "n_max")


def _word(b, a, j):
    """Word ``j`` (i64) of the run, as an i32."""
    c = _block(b, a, b.op("lshr", j, 2))
    lane = b.conv("trunc", b.op("and", j, 3), "i32")
    w = c[3]
    for k in (2, 1, 0):
        w = b.select(b.icmp("eq", lane, k), c[k], w)
    return w


def _block(b, a, block):
    """The four words (i32) of block ``block`` (i64) of the run."""
    c = [b.conv("trunc", block, "i32"), b.conv("trunc", b.op("lshr", block, 32), "i32"),
         b.conv("trunc", a["run_lo"], "i32"), b.conv("trunc", a["run_hi"], "i32")]
    k0, k1 = b.conv("trunc", a["k0"], "i32"), b.conv("trunc", a["k1"], "i32")
    for r in range(PHILOX_ROUNDS):
        rk0 = b.op("add", k0, (r * PHILOX_W0) & 0xFFFFFFFF)
        rk1 = b.op("add", k1, (r * PHILOX_W1) & 0xFFFFFFFF)
        p0 = b.op("mul", b.conv("zext", c[0], "i64"), PHILOX_M0)
        p1 = b.op("mul", b.conv("zext", c[2], "i64"), PHILOX_M1)
        hi0, lo0 = b.conv("trunc", b.op("lshr", p0, 32), "i32"), b.conv("trunc", p0, "i32")
        hi1, lo1 = b.conv("trunc", b.op("lshr", p1, 32), "i32"), b.conv("trunc", p1, "i32")
        c = [b.op("xor", b.op("xor", hi1, c[1]), rk0), lo1, b.op("xor", b.op("xor", hi0, c[3]), rk1), lo0]
    return c


def _u01(b, w, shift, scale, ty):
    return b.binop("fmul", b.conv("uitofp", b.op("lshr", w, shift), ty), b.const(ty, scale))


def _uniform_body(dtype):
    def body(b, a, arr):
        ty = _FLOAT[dtype]

        def sample(i):
            if dtype == "float32":
                u = _u01(b, _word(b, a, i), 8, 2.0 ** -24, ty)
            else:
                hi = _u01(b, _word(b, a, i), 5, 1.0, ty)
                lo = _u01(b, _word(b, a, b.op("add", a["N"], i)), 6, 1.0, ty)
                u = b.binop("fmul", b.binop("fadd", b.binop("fmul", hi, b.const(ty, 2.0 ** 26)), lo),
                            b.const(ty, 2.0 ** -53))
            low = b.load(ty, b.gep(ty, arr["low"], b.op("mul", i, a["s1"])))
            high = b.load(ty, b.gep(ty, arr["high"], b.op("mul", i, a["s2"])))
            b.store(b.binop("fadd", low, b.binop("fmul", b.binop("fsub", high, low), u)), b.gep(ty, arr["out"], i))
        for_range(b, 0, a["N"], sample, "i")
    return body


def _binomial_body(b, a, arr):
    def trial(t):
        def sample(i):
            w = _word(b, a, b.op("add", b.op("mul", t, a["N"]), i))
            u = _u01(b, w, 0, 2.0 ** -32, "double")
            p = b.load("double", b.gep("double", arr["p"], b.op("mul", i, a["s2"])))
            n = b.load("i64", b.gep("i64", arr["n"], b.op("mul", i, a["s1"])))
            hit = b.op("and", b.fcmp("olt", u, p), b.icmp("slt", t, n))
            out = b.gep("i64", arr["out"], i)
            before = b.select(b.icmp("eq", t, 0), b.const("i64", 0), b.load("i64", out))
            b.store(b.op("add", before, b.conv("zext", hit, "i64")), out)
        for_range(b, 0, a["N"], sample, "i")
    for_range(b, 0, a["n_max"], trial, "t")


def _one_trial_body(b, a, arr):
    """Binomial samples of one trial each (dropout masks): sample ``i`` is word ``i``, so one
    Philox block gives four samples (the general kernel computes a block per word)."""
    def put(i, w):
        u = _u01(b, w, 0, 2.0 ** -32, "double")
        p = b.load("double", b.gep("double", arr["p"], b.op("mul", i, a["s2"])))
        n = b.load("i64", b.gep("i64", arr["n"], b.op("mul", i, a["s1"])))
        hit = b.op("and", b.fcmp("olt", u, p), b.icmp("sgt", n, 0))
        b.store(b.conv("zext", hit, "i64"), b.gep("i64", arr["out"], i))

    def whole(blk):
        words = _block(b, a, blk)
        for lane in range(4):
            put(b.op("add", b.op("shl", blk, 2), lane), words[lane])
    for_range(b, 0, b.op("lshr", a["N"], 2), whole, "blk")
    tail = b.op("and", a["N"], -4)
    for_range(b, tail, a["N"], lambda i: put(i, _word(b, a, i)), "tail")


_BODIES = {"uniform": (("out", "low", "high"), None), "binomial": (("out", "n", "p"), _binomial_body),
           "one_trial": (("out", "n", "p"), _one_trial_body)}
_STATE_SCALARS = ("N", "s1", "s2", "n_max")
_MASK32 = 0xFFFFFFFF


def _source(what, dtype, from_state):
    arrays, body = _BODIES[what]
    body = body or _uniform_body(dtype)
    if not from_state:
        k = KernelSource(arrays, _SCALARS)
        body(k.b, k.args, k.arrays)
        return k
    # The key and run counter come from the state array, checked as unpack_state does
    # (status 1, nothing written, for a word outside [0, 2**32)); the advanced state is
    # written as next_state does.
    k = KernelSource(arrays + ("state", "new_state", "status"), _STATE_SCALARS)
    b, a, arr = k.b, k.args, k.arrays
    words = [b.load("i64", b.gep("i64", arr["state"], b.const("i64", j))) for j in range(4)]
    bad = b.const("i1", 0)
    for w in words:
        bad = b.op("or", bad, b.op("or", b.icmp("slt", w, 0), b.icmp("sgt", w, _MASK32)))
    b.store(b.conv("zext", bad, "i64"), arr["status"])
    a.update(k0=words[0], k1=words[1], run_lo=words[2], run_hi=words[3])

    def run():
        nxt = b.op("add", b.op("or", words[2], b.op("shl", words[3], 32)), 1)
        for j, w in enumerate((words[0], words[1], b.op("and", nxt, _MASK32), b.op("lshr", nxt, 32))):
            b.store(w, b.gep("i64", arr["new_state"], b.const("i64", j)))
        body(b, a, arr)
    if_then(b, b.op("xor", bad, b.const("i1", 1)), run)
    return k


def _kernel(what, dtype=None, from_state=False):
    """The Philox kernel ``what`` (uniform of ``dtype``, binomial, one_trial): its key and
    run counter as scalar arguments, or ``from_state`` read from a state array."""
    return compile_kernel(("philox", what, dtype, from_state), lambda: _source(what, dtype, from_state),
                          len(_STATE_SCALARS if from_state else _SCALARS))


# ----------------------------------------------------------------------------------------
# lowerings
# ----------------------------------------------------------------------------------------
def _param(value, dtype, shape):
    """(flat contiguous array, stride 0 or 1) of a parameter broadcast to ``shape``."""
    value = np.asarray(value, dtype=dtype)
    if value.size == 1:
        return value.reshape(1), 0
    return np.ascontiguousarray(np.broadcast_to(value, shape)).reshape(-1), 1


def _state_words(state):
    """(k0, k1, run_lo, run_hi) of a valid state, or None (the reference then says why)."""
    try:
        (k0, k1), run = unpack_state(state, "random")
    except ValueError:
        return None
    return [k0, k1, run & 0xFFFFFFFF, run >> 32]


def _lower(kind):
    def lower(node, inplace_k):
        op = node.op
        if kind == "uniform" and op.dtype not in _FLOAT:
            return None

        def run(state, size, *params):
            words = _state_words(state)
            try:
                shape = tuple(int(s) for s in size)
                param_arrays = [np.broadcast_to(p, shape) for p in params]
            except (TypeError, ValueError):
                param_arrays = None
            if words is None or param_arrays is None or len(shape) != op.ndim or min(shape, default=1) < 0:
                return op.perform(node, (state, size) + params)     # the reference's error
            n = int(np.prod(shape, dtype=np.int64))
            if kind == "uniform":
                (low, s1), (high, s2) = (_param(p, op.dtype, shape) for p in params)
                out = np.empty(n, dtype=op.dtype)
                if n:
                    _kernel("uniform", op.dtype)((out, low, high), n, *words, s1, s2, 0)
            else:
                trials, p = params
                if (np.asarray(trials) < 0).any() or not ((np.asarray(p) >= 0) & (np.asarray(p) <= 1)).all():
                    return op.perform(node, (state, size) + params)
                (trials, s1), (p, s2) = _param(trials, "int64", shape), _param(p, "float64", shape)
                n_max = int(trials.max()) if trials.size else 0
                counts = np.zeros(n, dtype=np.int64)
                if n and n_max:
                    _kernel("one_trial" if n_max == 1 else "binomial")(
                        (counts, trials, p), n, *words, s1, s2, n_max)
                if np.dtype(op.dtype).kind in "iu" and counts.size and counts.max() > np.iinfo(op.dtype).max:
                    return op.perform(node, (state, size) + params)   # the reference's overflow error
                out = counts.astype(op.dtype, copy=False)
            return [next_state(state, words[2] + (words[3] << 32)), out.reshape(shape)]
        run.how = "native: LLVM Philox kernel"
        return run
    return lower


LOWERINGS = {Uniform: _lower("uniform"), Binomial: _lower("binomial")}


def _planner(kind):
    """Uniform and Binomial with static size and parameters (dropout masks, weight noise):
    the state-reading kernel, which checks the state and writes the next one natively."""
    def plan(planner, node, values):
        op = node.op
        state, size, *params = values
        if kind == "uniform" and op.dtype not in _FLOAT or state.array.shape != (4,) \
                or state.array.dtype != np.int64 or size.kind != "static" \
                or any(p.kind != "static" for p in params):
            return None
        shape = tuple(int(s) for s in size.array)
        if len(shape) != op.ndim or min(shape, default=1) < 0:
            return None
        try:
            param_arrays = [np.broadcast_to(p.array, shape) for p in params]
        except ValueError:
            return None
        n = int(np.prod(shape, dtype=np.int64))
        if kind == "uniform":
            (low, s1), (high, s2) = (_param(p, op.dtype, shape) for p in param_arrays)
            arrays, what, n_max, sample_dtype = (low, high), "uniform", 0, op.dtype
        else:
            trials, p = param_arrays
            if (trials < 0).any() or not ((p >= 0) & (p <= 1)).all():
                return None
            (trials, s1), (p, s2) = _param(trials, "int64", shape), _param(p, "float64", shape)
            n_max = int(trials.max()) if trials.size else 0
            if np.dtype(op.dtype).kind in "iu" and n_max > np.iinfo(op.dtype).max or n_max == 0 or not n:
                return None
            arrays, what, sample_dtype = (trials, p), "one_trial" if n_max == 1 else "binomial", "int64"
        planner.keep.extend(arrays)
        new_state = planner.output(0, (4,), np.int64)
        sample = planner.output(1, shape, op.dtype)
        counts = sample if sample_dtype == op.dtype else planner.output_scratch(shape, sample_dtype)
        flat = planner.reshape(counts, (n,))
        status = planner.scratch(1, np.int64)
        planner.call(_kernel(what, op.dtype if kind == "uniform" else None, from_state=True),
                     (flat.array,) + arrays + (state.array, new_state.array, status), n, s1, s2, n_max)
        planner.check_status(status)
        if counts is not sample:
            planner.copy(sample, counts)
        return [new_state, sample]
    return plan


PLANNERS = {Uniform: _planner("uniform"), Binomial: _planner("binomial")}

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
"""
import numpy as np

from symbolic.random import (PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1, Binomial,
                             Uniform, next_state, unpack_state)

from .loops import KernelSource, compile_kernel, for_range

_FLOAT = {"float32": "float", "float64": "double"}
_SCALARS = ("N", "k0", "k1", "run_lo", "run_hi", "s1", "s2", "n_max")


def _word(b, a, j):
    """Word ``j`` (i64) of the run, as an i32."""
    block = b.op("lshr", j, 2)
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
    lane = b.conv("trunc", b.op("and", j, 3), "i32")
    w = c[3]
    for k in (2, 1, 0):
        w = b.select(b.icmp("eq", lane, k), c[k], w)
    return w


def _u01(b, w, shift, scale, ty):
    return b.binop("fmul", b.conv("uitofp", b.op("lshr", w, shift), ty), b.const(ty, scale))


def _uniform_source(dtype):
    k = KernelSource(("out", "low", "high"), _SCALARS)
    b, a, arr = k.b, k.args, k.arrays
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
    return k


def _binomial_source():
    k = KernelSource(("out", "n", "p"), _SCALARS)
    b, a, arr = k.b, k.args, k.arrays

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
    return k


def _kernel(what, dtype=None):
    if what == "uniform":
        return compile_kernel(("philox", what, dtype), lambda: _uniform_source(dtype), len(_SCALARS))
    return compile_kernel(("philox", what), _binomial_source, len(_SCALARS))


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
                    _kernel("binomial")((counts, trials, p), n, *words, s1, s2, n_max)
                if np.dtype(op.dtype).kind in "iu" and counts.size and counts.max() > np.iinfo(op.dtype).max:
                    return op.perform(node, (state, size) + params)   # the reference's overflow error
                out = counts.astype(op.dtype, copy=False)
            return [next_state(state, words[2] + (words[3] << 32)), out.reshape(shape)]
        run.how = "native: LLVM Philox kernel"
        return run
    return lower


LOWERINGS = {Uniform: _lower("uniform"), Binomial: _lower("binomial")}

"""Random streams: reproducible random numbers inside compiled graphs.

Why counter-based
-----------------
Samples come from Philox4x32-10 (Salmon et al., "Parallel random numbers: as
easy as 1, 2, 3", SC 2011), a *counter-based* generator: the i-th block of
random bits is a pure function ``philox(key, counter=i)``, with no sequential
state to carry from one number to the next.  That is what lets every backend
(this NumPy reference, a later LLVM or CUDA one) produce the *same* stream, in
any order and in parallel, from a four-word state.  The definition below is the
contract those backends must follow; the NumPy code in this module is its
reference implementation.

The generator
-------------
``philox4x32(counter, key)`` maps a counter of four 32-bit words
``(c0, c1, c2, c3)`` and a key of two words ``(k0, k1)`` to four words, by ten
rounds of::

    hi0:lo0 = 0xD2511F53 * c0          (64-bit product of 32-bit words)
    hi1:lo1 = 0xCD9E8D57 * c2
    (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)

where round ``r`` (0..9) uses the key ``(k0 + r * 0x9E3779B9, k1 + r * 0xBB67AE85)``
modulo 2**32.  It matches the Random123 known-answer vectors (see the tests).

The stream state
----------------
Each call of a ``RandomStreams`` method owns one *stream*, numbered 0, 1, 2...
in the order of the calls on that ``RandomStreams``.  Its state is a shared
int64 vector of four 32-bit words (int64 because the tensor types have no
unsigned 32/64-bit dtypes)::

    state = [k0, k1, n_lo, n_hi]
    k0 = seed mod 2**32
    k1 = ((seed mod 2**64) >> 32) XOR stream_id            (mod 2**32)
    n  = n_lo + 2**32 * n_hi: the run counter (how many times the state was
         advanced; starts at 0)

so for the usual seeds below 2**32 the key is simply ``(seed, stream_id)``.
Running the op returns the sample and the new state ``[k0, k1, n + 1]``
(64-bit wraparound, one step per run whatever the sample size); the compiled function stores the new state as the
shared variable's default update, so each call draws fresh numbers.

The words of one run
--------------------
One run of the op sees the infinite word sequence ``w[0], w[1], ...``::

    w[4*b + j] = philox4x32(counter=(b_lo, b_hi, n_lo, n_hi), key=(k0, k1))[j]

for block index ``b = b_lo + 2**32 * b_hi`` and lane ``j`` in 0..3.  A draw
of ``N`` items of which each needs ``K`` words gives item ``i`` (``0 <= i <
N``) its ``k``-th word from ``w[k*N + i]`` ("planes": word plane ``k`` is the
slice ``w[k*N : (k+1)*N]``).  Samples are numbered in C order of ``size``.
From a word ``w`` (and ``a``, ``b`` for two) these uniforms are exact::

    u24(w)    = (w >> 8) * 2**-24                      in [0, 1), 24 bits
    u32(w)    = w * 2**-32                             in [0, 1), 32 bits
    u53(a, b) = ((a >> 5) * 2**26 + (b >> 6)) * 2**-53 in [0, 1), 53 bits

Distributions (``N`` samples, parameters broadcast to ``size``):

* ``uniform``, float32: ``K = 1``, ``u = u24(w[i])``;
  float64: ``K = 2``, ``u = u53(w[i], w[N + i])``.
  The sample is ``low + (high - low) * u`` evaluated in the output dtype,
  each operation rounded separately (no fused multiply-add).  In float32 the
  rounding can give exactly ``high``.
* ``normal`` (Box-Muller): ``M = ceil(N / 2)`` items of two uniforms each.
  float32: ``K = 2``, ``u1 = 1 - u32(w[m])`` (in (0, 1], never 0, so the log
  is finite), ``u2 = u32(w[M + m])``;
  float64: ``K = 4``, ``u1 = 1 - u53(w[m], w[M + m])``,
  ``u2 = u53(w[2M + m], w[3M + m])``.
  With ``r = sqrt(-2 log u1)`` and ``t = (2 pi) * u2`` (float64 arithmetic,
  ``2 pi`` the float64 constant), the standard
  normals are ``z = concatenate(r cos t, r sin t)[:N]``: item ``m`` gives sample
  ``m`` and sample ``M + m``.  ``z`` is rounded to the output dtype, then the
  sample is ``avg + std * z`` in that dtype.  (Other backends agree with this
  up to the last-place accuracy of their ``log``/``cos``/``sin``.)
* ``binomial(n, p)``: trial ``t`` (``0 <= t < n_i``) of sample ``i`` succeeds
  when ``u32(w[t*N + i]) < p_i``, compared exactly in float64 (``p`` widened
  to float64; equivalently the integer test ``w < p * 2**32``), and the
  sample is the number of successes.  So ``n = 1`` gives a Bernoulli draw
  from the first word of each sample.  ``n < 0`` or ``p`` outside [0, 1] is
  an error.

Gradients
---------
Sampling is not differentiable here: asking for a gradient through a sample
with respect to ``low``, ``high``, ``avg``, ``std`` or ``p`` raises
``GradientUndefined`` (as Theano's random ops did), rather than silently
dropping that path.  For a reparameterised normal write
``avg + std * srng.normal(size)``, which is differentiable in ``avg`` and
``std``.  An integer sample (binomial's default int64) already stops the
gradient at the cast that uses it, so ``p`` there is simply disconnected.
"""
import numbers

import numpy as np

from .config import config
from .graph import Apply, GradientUndefined, Op, Variable, constant
from .ops.elemwise import cast
from .ops.shape import as_shape, get_static_shape
from .shared import shared
from .types import FLOAT_DTYPES, INT_DTYPES, TensorType, check_dtype, upcast
from .variable import as_tensor_variable

__all__ = ["RandomStreams", "RandomOp", "Uniform", "Normal", "Binomial", "philox4x32",
           "philox_words", "initial_state", "uniform01", "standard_normal", "binomial_counts",
           "unpack_state", "next_state"]

# ------------------------------------------------------------------ Philox

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10
_MASK32 = 0xFFFFFFFF
_U64_MASK = np.uint64(_MASK32)
_U64_32 = np.uint64(32)


def _round_keys(k0, k1, rounds):
    """The key of each round: the Weyl sequence (k0 + r*W0, k1 + r*W1) mod 2**32."""
    return [(np.uint64((int(k0) + r * PHILOX_W0) & _MASK32),
             np.uint64((int(k1) + r * PHILOX_W1) & _MASK32)) for r in range(rounds)]


def _philox_rounds(c0, c1, c2, c3, k0, k1, rounds=PHILOX_ROUNDS):
    """Philox on counter words held in uint64 arrays (values below 2**32).

    32x32->64-bit products are exact in uint64, so the high and low halves of
    each multiplication come from one shift and one mask.
    """
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for rk0, rk1 in _round_keys(k0, k1, rounds):
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = ((p1 >> _U64_32) ^ c1 ^ rk0, p1 & _U64_MASK,
                          (p0 >> _U64_32) ^ c3 ^ rk1, p0 & _U64_MASK)
    return c0, c1, c2, c3


def philox4x32(counter, key, rounds=PHILOX_ROUNDS):
    """Philox4x32: counters of shape (..., 4) and a key of 2 words -> uint32 (..., 4).

    The standalone form, for known-answer tests and for checking backends.
    """
    counter = np.asarray(counter, dtype=np.uint64)
    if counter.shape[-1:] != (4,) or (counter > _MASK32).any():
        raise ValueError("philox4x32: counter must have 4 words of 32 bits in its last axis")
    k0, k1 = (int(k) for k in key)
    if not (0 <= k0 <= _MASK32 and 0 <= k1 <= _MASK32):
        raise ValueError("philox4x32: key must be 2 words of 32 bits")
    words = _philox_rounds(*(counter[..., j] for j in range(4)), k0, k1, rounds)
    return np.stack(words, axis=-1).astype(np.uint32)


def philox_words(key, run, start, count):
    """Words ``w[start : start + count]`` of one run (see the module docstring).

    Returned as uint64 values below 2**32 (the form the distributions compute
    in).  Only the blocks that hold the requested words are generated.
    """
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    first, stop = start // 4, (start + count + 3) // 4
    blocks = np.arange(first, stop, dtype=np.uint64)
    run_lo, run_hi = np.uint64(run & _MASK32), np.uint64((run >> 32) & _MASK32)
    out = _philox_rounds(blocks & _U64_MASK, blocks >> _U64_32, run_lo, run_hi, key[0], key[1])
    words = np.stack(out, axis=-1).reshape(-1)
    offset = start - 4 * first
    return words[offset:offset + count]


def _planes(key, run, k, n):
    """Word planes 0..k-1 of a draw of ``n`` items, as a (k, n) array."""
    return philox_words(key, run, 0, k * n).reshape(k, n)


# ------------------------------------------------------------------ uniforms

def _u24(w):
    return ((w >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24))


def _u32(w):
    return w.astype(np.float64) * 2.0 ** -32


def _u53(a, b):
    hi = (a >> np.uint64(5)).astype(np.float64)
    lo = (b >> np.uint64(6)).astype(np.float64)
    return (hi * 2.0 ** 26 + lo) * 2.0 ** -53


def uniform01(key, run, n, dtype):
    """``n`` uniforms in [0, 1) of ``dtype``, as defined in the module docstring."""
    if dtype == "float32":
        return _u24(_planes(key, run, 1, n)[0])
    a, b = _planes(key, run, 2, n)
    return _u53(a, b)


def standard_normal(key, run, n, dtype):
    """``n`` standard normals by Box-Muller, rounded to ``dtype``."""
    m = (n + 1) // 2
    if dtype == "float32":
        a, b = _planes(key, run, 2, m)
        u1, u2 = 1.0 - _u32(a), _u32(b)
    else:
        w = _planes(key, run, 4, m)
        u1, u2 = 1.0 - _u53(w[0], w[1]), _u53(w[2], w[3])
    r = np.sqrt(-2.0 * np.log(u1))
    t = (2.0 * np.pi) * u2
    return np.concatenate([r * np.cos(t), r * np.sin(t)])[:n].astype(dtype)


_BINOMIAL_CHUNK_WORDS = 1 << 20


def binomial_counts(key, run, n, p):
    """Successes of ``n[i]`` trials with probability ``p[i]`` (flat int64/float64 arrays).

    Word planes are generated a chunk at a time, so memory stays bounded by
    the number of samples however large ``n`` is.
    """
    size = n.shape[0]
    counts = np.zeros(size, dtype=np.int64)
    n_max = int(n.max()) if size else 0
    if n_max == 0:
        return counts
    per_chunk = max(1, _BINOMIAL_CHUNK_WORDS // size)
    for t0 in range(0, n_max, per_chunk):
        t1 = min(n_max, t0 + per_chunk)
        w = philox_words(key, run, t0 * size, (t1 - t0) * size).reshape(t1 - t0, size)
        trial = np.arange(t0, t1)[:, None]
        counts += ((_u32(w) < p) & (trial < n)).sum(axis=0)
    return counts


# ------------------------------------------------------------------ state

STATE_WORDS = 4


def initial_state(seed, stream_id):
    """The state ``[k0, k1, 0, 0]`` of stream ``stream_id`` under ``seed``.

    Pure integer arithmetic: the same seed gives the same state in every
    process (nothing depends on Python's hash or on global RNGs).
    """
    seed = int(seed) % 2 ** 64
    k0 = seed & _MASK32
    k1 = ((seed >> 32) ^ int(stream_id)) & _MASK32
    return np.array([k0, k1, 0, 0], dtype="int64")


def unpack_state(state, who):
    """((k0, k1), run) of a state vector, or a ValueError naming ``who``."""
    state = np.asarray(state)
    if state.shape != (STATE_WORDS,) or state.dtype.kind not in "iu" \
            or (state < 0).any() or (state > _MASK32).any():
        raise ValueError(f"{who}: the random state must be {STATE_WORDS} words in [0, 2**32) "
                         f"([k0, k1, run_lo, run_hi]), got {state!r}")
    k0, k1, lo, hi = (int(v) for v in state)
    return (k0, k1), lo + (hi << 32)


def next_state(state, run):
    """A new array (the input is never modified) with the run counter advanced."""
    run = (run + 1) % 2 ** 64
    return np.array([state[0], state[1], run & _MASK32, run >> 32], dtype="int64")


# ------------------------------------------------------------------ ops

class RandomOp(Op):
    """Draw a tensor of shape ``size`` from one stream: (state, size, *params) -> (new_state, sample).

    The op is a pure function of its inputs: the state comes in as a value and
    the advanced state goes out as a new value, so a failed call or a
    ``no_default_updates`` function leaves the shared state untouched.
    Subclasses name their parameters and implement ``_sample``.
    """

    __props__ = ("dtype", "ndim")
    param_names = ()

    def __init__(self, dtype, ndim):
        self.dtype = check_dtype(dtype)
        self.ndim = int(ndim)

    def _prepare_params(self, params):
        """Check and cast the parameter variables (subclasses define the dtypes)."""
        raise NotImplementedError

    def make_node(self, state, size, *params):
        name = type(self).__name__.lower()
        if len(params) != len(self.param_names):
            raise TypeError(f"{name}: expected parameters {', '.join(self.param_names)}, "
                            f"got {len(params)} values")
        state = as_tensor_variable(state)
        if state.dtype != "int64" or state.ndim != 1 or state.type.shape[0] not in (None, STATE_WORDS):
            raise TypeError(f"{name}: the state must be an int64 vector of {STATE_WORDS} words, "
                            f"got {state.type}")
        size = as_shape(size, f"{name}: size")
        static = get_static_shape(size)
        if static is None:   # a vector of unknown length: checked when the op runs
            static = [None] * self.ndim
        if len(static) != self.ndim:
            raise ValueError(f"{name}: size has {len(static)} entries but the op draws "
                             f"{self.ndim}-d samples")
        if any(s is not None and s < 0 for s in static):
            raise ValueError(f"{name}: size {tuple(static)} has a negative entry")
        params = self._prepare_params([as_tensor_variable(p) for p in params])
        out_shape = list(static)
        for pname, p in zip(self.param_names, params):
            if p.ndim > self.ndim:
                raise ValueError(f"{name}: {pname} has {p.ndim} dimensions, more than size ({self.ndim})")
            lead = self.ndim - p.ndim
            for axis, d in enumerate(p.type.shape, start=lead):
                if d is None or d == 1:
                    continue
                if out_shape[axis] is None:
                    out_shape[axis] = d
                elif out_shape[axis] != d:
                    raise ValueError(f"{name}: {pname} of shape {p.type.shape} cannot be broadcast "
                                     f"to size {tuple(static)}")
        state_type = TensorType("int64", (STATE_WORDS,))
        return Apply(self, [state, size, *params], [state_type, TensorType(self.dtype, out_shape)])

    def perform(self, node, inputs):
        name = type(self).__name__.lower()
        state, size, *params = inputs
        key, run = unpack_state(state, name)
        shape = tuple(int(s) for s in size)
        if len(shape) != self.ndim:
            raise ValueError(f"{name}: size {shape} has {len(shape)} entries, but the graph was "
                             f"built for {self.ndim}-d samples (ndim={self.ndim})")
        if any(s < 0 for s in shape):
            raise ValueError(f"{name}: size {shape} has a negative entry")
        flat = []
        for pname, p in zip(self.param_names, params):
            try:
                flat.append(np.broadcast_to(p, shape).reshape(-1))
            except ValueError:
                raise ValueError(f"{name}: {pname} of shape {np.shape(p)} cannot be broadcast "
                                 f"to size {shape}") from None
        n = int(np.prod(shape, dtype=np.int64))
        sample = self._sample(key, run, n, flat).reshape(shape)
        return [next_state(state, run), np.asarray(sample, dtype=self.dtype)]

    def _sample(self, key, run, n, params):
        raise NotImplementedError

    def grad(self, inputs, output_grads):
        # Differentiable-looking parameters get an explicit error rather than a
        # silent zero: a sample is not a differentiable function of them here.
        for i, inp in enumerate(inputs[2:], start=2):
            if inp.dtype in FLOAT_DTYPES:
                raise GradientUndefined(self, i)
        return [None] * len(inputs)

    def connection_pattern(self, node):
        # [input][output]; outputs are (new_state, sample).  The parameters
        # reach the sample, but through sampling, which has no gradient.
        return [[False, False], [False, False]] + [[False, True] for _ in self.param_names]

    def __str__(self):
        return f"{type(self).__name__}{{{self.dtype}, ndim={self.ndim}}}"


def _cast_float(p, dtype):
    if p.dtype == dtype:
        return p
    if p.dtype not in FLOAT_DTYPES + INT_DTYPES + ("bool",):
        raise TypeError(f"cannot use {p.type} as a random parameter")
    return cast(p, dtype)


class Uniform(RandomOp):
    """Uniform samples in [low, high)."""

    param_names = ("low", "high")

    def _prepare_params(self, params):
        if self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"uniform: dtype must be float32 or float64, got {self.dtype}")
        return [_cast_float(p, self.dtype) for p in params]

    def _sample(self, key, run, n, params):
        low, high = params
        u = uniform01(key, run, n, self.dtype)
        return low + (high - low) * u


class Normal(RandomOp):
    """Normal samples with mean ``avg`` and standard deviation ``std``."""

    param_names = ("avg", "std")

    def _prepare_params(self, params):
        if self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"normal: dtype must be float32 or float64, got {self.dtype}")
        return [_cast_float(p, self.dtype) for p in params]

    def _sample(self, key, run, n, params):
        avg, std = params
        return avg + std * standard_normal(key, run, n, self.dtype)


class Binomial(RandomOp):
    """The number of successes in ``n`` trials of probability ``p``."""

    param_names = ("n", "p")

    def _prepare_params(self, params):
        n, p = params
        if n.dtype not in INT_DTYPES + ("bool",):
            raise TypeError(f"binomial: n must be an integer, got {n.type}")
        if p.dtype not in FLOAT_DTYPES:
            p = cast(p, "float64")
        return [cast(n, "int64"), p]

    def _sample(self, key, run, n, params):
        trials, p = params
        if (trials < 0).any():
            raise ValueError(f"binomial: n must be non-negative, got {trials.min()}")
        p = p.astype(np.float64)
        if not ((p >= 0) & (p <= 1)).all():
            raise ValueError("binomial: p must be in [0, 1]")
        counts = binomial_counts(key, run, trials, p)
        if self.dtype in INT_DTYPES and counts.size and counts.max() > np.iinfo(self.dtype).max:
            raise OverflowError(f"binomial: a count of {counts.max()} does not fit in {self.dtype}")
        return counts


# ------------------------------------------------------------------ streams

class RandomStreams:
    """A factory of random tensors whose shared states advance on every call.

    Each method call creates one stream (its own shared state, a distinct
    stream id) and returns the sample variable; the state's ``default_update``
    is the op's new state, so every call of a compiled function that uses the
    sample draws new numbers (unless compiled with ``no_default_updates``).

    ``seed=None`` draws a seed from the operating system, as Theano's
    ``shared_randomstreams`` did; pass an int for reproducible runs (the same
    seed gives the same numbers in every process).  The seed used is kept in
    ``default_instance_seed``.
    """

    def __init__(self, seed=None):
        if seed is None:
            seed = int(np.random.SeedSequence().entropy) % 2 ** 64
        self.default_instance_seed = _check_seed(seed)
        self.state_updates = []   # (state shared variable, new state), as in Theano
        self._stream_ids = []

    def seed(self, seed=None):
        """Reset every stream made so far to its first numbers under ``seed``.

        ``None`` reuses ``default_instance_seed``.  Streams keep their ids, so
        after ``seed(s)`` a graph draws exactly what it would have drawn from
        a fresh ``RandomStreams(s)``.
        """
        seed = self.default_instance_seed if seed is None else _check_seed(seed)
        for (state, _), stream_id in zip(self.state_updates, self._stream_ids):
            state.set_value(initial_state(seed, stream_id))

    def updates(self):
        """The (state, new state) pairs, for ``function(..., updates=...)``."""
        return list(self.state_updates)

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None):
        """Samples uniform in [low, high); dtype defaults to floatX (or wider params)."""
        dtype = _float_dtype(dtype, (low, high), "uniform")
        return self._draw(Uniform, size, ndim, dtype, _float_params(dtype, low, high))

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None):
        """Normal samples of mean ``avg`` and standard deviation ``std``."""
        dtype = _float_dtype(dtype, (avg, std), "normal")
        return self._draw(Normal, size, ndim, dtype, _float_params(dtype, avg, std))

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64"):
        """Counts of successes in ``n`` trials of probability ``p`` (int64 by default).

        A Python float ``p`` keeps its full precision (float64) whatever floatX is.
        """
        if isinstance(p, numbers.Real) and not isinstance(p, Variable):
            p = constant(np.float64(p))
        params = [as_tensor_variable(n), as_tensor_variable(p)]
        return self._draw(Binomial, size, ndim, check_dtype(dtype, "binomial dtype"), params)

    def _draw(self, op_class, size, ndim, dtype, params):
        if size is None:
            size, implied = _broadcast_size(params)
            ndim = implied if ndim is None else ndim
        size = as_shape(size, f"{op_class.__name__.lower()}: size")
        known = size.type.shape[0]
        if ndim is None:
            if known is None:
                raise ValueError(f"{op_class.__name__.lower()}: the length of size is not known "
                                 f"when building the graph; pass ndim=")
            ndim = known
        elif known is not None and known != ndim:
            raise ValueError(f"{op_class.__name__.lower()}: ndim={ndim} but size has {known} entries")
        stream_id = len(self._stream_ids)
        state = shared(initial_state(self.default_instance_seed, stream_id),
                       name=f"random_state_{stream_id}", shape=(STATE_WORDS,))
        new_state, sample = op_class(dtype, ndim).make_node(state, size, *params).outputs
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        self._stream_ids.append(stream_id)
        return sample


def _check_seed(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(f"RandomStreams: seed must be an int, got {seed!r}")
    return int(seed)


def _float_params(dtype, *values):
    """Variables as they are; literals (numbers, arrays) straight in ``dtype``, unrounded before."""
    return [as_tensor_variable(v) if isinstance(v, Variable) else constant(np.asarray(v, dtype=dtype))
            for v in values]


def _float_dtype(dtype, values, what):
    """Explicit dtype, else floatX widened by any symbolic float parameter (Theano's rule)."""
    if dtype is None:
        strong = [v.dtype for v in values if isinstance(v, Variable) and not getattr(v, "weak", False)
                  and v.dtype in FLOAT_DTYPES]
        return upcast(config.floatX, *strong)
    dtype = check_dtype(dtype, f"{what} dtype")
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{what}: dtype must be float32 or float64, got {dtype}")
    return dtype


def _broadcast_size(params):
    """``size=None``: the broadcast shape of the parameters, and its length."""
    ndim = max(p.ndim for p in params)
    if ndim == 0:
        return (), 0
    from .ops.shape import shape
    total = params[0]
    for p in params[1:]:
        total = total + p
    return shape(total), ndim

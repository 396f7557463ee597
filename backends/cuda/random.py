"""CUDA C for Philox4x32-10 sampling (``Uniform``, ``Binomial``), bit-identical to the
reference stream of ``symbolic/random.py`` and to the LLVM kernels of
``backends/llvm/random.py``.

Sample ``i`` of a draw of ``N`` computes the Philox block holding each word it needs
(``w[k*N + i]``: word ``j`` is lane ``j % 4`` of ``philox4x32((b_lo, b_hi, run_lo, run_hi),
key)`` for block ``b = j // 4``), so threads share nothing.  The key and run counter come
from the state array (four int64 words, each in ``[0, 2**32)``: otherwise ``status[0] = 1``
and nothing is written), and thread 0 writes the advanced state ``[k0, k1, run + 1]``.
Floating-point steps are rounded one by one (``__fmul_rn``...: no fused multiply-add), as
the reference does; on the host (tests) plain operators do the same.

* ``uniform`` (float32: ``u24(w[i])``; float64: ``u53(w[i], w[N + i])``):
  ``low + (high - low) * u``;
* ``binomial``: trial ``t < n[i]`` succeeds when ``w[t*N + i] * 2**-32 < p[i]`` in float64;
  ``n_max`` trials are looked at.

Parameters of ``philox_source(what, dtype)``: ``N, s1, s2, n_max`` (``s1``/``s2``: 0 when a
parameter is one value for all samples, else 1), ``out``, the two parameter arrays (``low,
high`` or ``n, p``), ``state``, ``new_state``, ``status``.
"""
from symbolic.random import PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1

from .codegen import _finish
from .scalar import Helpers, ctype

_HELPERS = f"""static __host__ __device__ __forceinline__ unsigned sym_mulhi(unsigned a, unsigned b)
{{
#ifdef __CUDA_ARCH__
  return __umulhi(a, b);
#else
  return (unsigned)(((unsigned long long)a * b) >> 32);
#endif
}}

// word j of the run of (key, counter high words run_lo, run_hi)
static __host__ __device__ __forceinline__ unsigned sym_philox_word(unsigned long long j,
    unsigned k0, unsigned k1, unsigned run_lo, unsigned run_hi)
{{
  const unsigned long long block = j >> 2;
  unsigned c0 = (unsigned)block, c1 = (unsigned)(block >> 32), c2 = run_lo, c3 = run_hi;
  for (int r = 0; r < {PHILOX_ROUNDS}; r++) {{
    const unsigned rk0 = k0 + (unsigned)r * {PHILOX_W0}u, rk1 = k1 + (unsigned)r * {PHILOX_W1}u;
    const unsigned lo0 = {PHILOX_M0}u * c0, hi0 = sym_mulhi({PHILOX_M0}u, c0);
    const unsigned lo1 = {PHILOX_M1}u * c2, hi1 = sym_mulhi({PHILOX_M1}u, c2);
    c0 = hi1 ^ c1 ^ rk0; c1 = lo1; c2 = hi0 ^ c3 ^ rk1; c3 = lo0;
  }}
  const unsigned lane = (unsigned)(j & 3);
  return lane == 0 ? c0 : lane == 1 ? c1 : lane == 2 ? c2 : c3;
}}

#ifdef __CUDA_ARCH__
#define SYM_MUL_F32(a, b) __fmul_rn(a, b)
#define SYM_ADD_F32(a, b) __fadd_rn(a, b)
#define SYM_SUB_F32(a, b) __fsub_rn(a, b)
#define SYM_MUL_F64(a, b) __dmul_rn(a, b)
#define SYM_ADD_F64(a, b) __dadd_rn(a, b)
#define SYM_SUB_F64(a, b) __dsub_rn(a, b)
#else
#define SYM_MUL_F32(a, b) ((a) * (b))
#define SYM_ADD_F32(a, b) ((a) + (b))
#define SYM_SUB_F32(a, b) ((a) - (b))
#define SYM_MUL_F64(a, b) ((a) * (b))
#define SYM_ADD_F64(a, b) ((a) + (b))
#define SYM_SUB_F64(a, b) ((a) - (b))
#endif
"""


def philox_source(what, dtype=None):
    if what == "uniform" and dtype not in ("float32", "float64") or what not in ("uniform", "binomial"):
        raise NotImplementedError(f"cuda backend: Philox {what} of {dtype}")
    h = Helpers()
    h.need("sym_philox", lambda: _HELPERS)
    if what == "uniform":
        t, tag = ctype(dtype), "F32" if dtype == "float32" else "F64"
        params = [("out", f"{t}*"), ("low", f"const {t}*"), ("high", f"const {t}*")]
        if dtype == "float32":
            u = ["    const float u = (float)(sym_philox_word(i, k0, k1, lo, hi) >> 8) * 0x1p-24f;"]
        else:
            u = ["    const double ua = (double)(sym_philox_word(i, k0, k1, lo, hi) >> 5);",
                 "    const double ub = (double)(sym_philox_word(N + i, k0, k1, lo, hi) >> 6);",
                 "    const double u = (ua * 0x1p26 + ub) * 0x1p-53;"]
        body = u + [f"    const {t} l = low[i * s1], d = SYM_SUB_{tag}(high[i * s2], l);",
                    f"    out[i] = SYM_ADD_{tag}(l, SYM_MUL_{tag}(d, u));"]
    else:
        params = [("out", "long long*"), ("n", "const long long*"), ("p", "const double*")]
        body = ["    const long long trials = n[i * s1];",
                "    const double pi = p[i * s2];",
                "    long long count = 0;",
                "    for (long long t = 0; t < n_max; t++)",
                "      count += t < trials && "
                "(double)sym_philox_word(t * N + i, k0, k1, lo, hi) * 0x1p-32 < pi;",
                "    out[i] = count;"]
    params = ([(s, "const long long") for s in ("N", "s1", "s2", "n_max")] + params
              + [("state", "const long long*"), ("new_state", "long long*"), ("status", "long long*")])
    lines = ["  for (int k = 0; k < 4; k++)",
             "    if (state[k] < 0 || state[k] > 0xFFFFFFFFLL) {",
             "      if (blockIdx.x == 0 && threadIdx.x == 0) status[0] = 1;",
             "      return;",
             "    }",
             "  const unsigned k0 = (unsigned)state[0], k1 = (unsigned)state[1];",
             "  const unsigned lo = (unsigned)state[2], hi = (unsigned)state[3];",
             "  if (blockIdx.x == 0 && threadIdx.x == 0) {",
             "    const unsigned long long next = ((unsigned long long)hi << 32 | lo) + 1;",
             "    new_state[0] = k0; new_state[1] = k1;",
             "    new_state[2] = (long long)(next & 0xFFFFFFFFULL); new_state[3] = (long long)(next >> 32);",
             "  }",
             "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < N;",
             "       i += (long long)gridDim.x * blockDim.x) {"] + body + ["  }", ""]
    return _finish(f"philox_{what}", h, "\n".join(lines), params)

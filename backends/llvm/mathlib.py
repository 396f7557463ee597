"""Vectorizable float32/float64 math in LLVM IR, and the small IR builder it is written with.

LLVM on this machine has no vector math library: ``llvm.exp.f32`` on a vector becomes one
scalar libm call per lane.  So the transcendental functions the nets use are written here
in IR, straight-line (selects, no branches), on scalars, as ``internal`` ``alwaysinline``
functions: once inlined into a kernel loop, the loop vectorizer widens them.

Methods (own code; coefficients are Chebyshev interpolants fitted with mpmath by the
script in this module's ``_fit_notes``):

* exp: n = rint(x/ln2), r = x - n*ln2 with a Cody-Waite split of ln2 (n*LN2_HI exact),
  exp(r) = 1 + r + r^2 P(r), scaled by 2^n as two exact powers of two so that results
  near overflow round once to inf and subnormal results round once.  x is clamped first
  (overflow -> inf, underflow -> 0), NaN is passed through.
* log / log1p: x = 2^e m with m in [sqrt(1/2), sqrt 2), f = m - 1, s = f/(2+f),
  log(1+f) = f - (f^2/2 - s (f^2/2 + s^2 Q(s^2))); log1p adds the rounding error of 1+x
  (two-sum) divided by 1+x.  log2/log10/pow in float64 use a double-double log.
* expm1: the exp reduction, expm1(r) = r + r^2 P(r), then 2 (h expm1(r) + (h - 1/2)) with
  h = 2^(n-1), exact for n = 0 and accurate for every n.
* tanh = -t/(t+2) with t = expm1(-2|x|), sign restored; sigmoid and softplus use the
  stable formulas of the NumPy reference (exp(-|x|), log1p).
* erf (float64; float32 goes through it): |x| < 1: x A(x^2); 1 <= |x| < 6:
  1 - exp(-x^2) G(|x|) with G = erfc(x) exp(x^2) on two intervals (coefficients picked per
  lane by select); |x| >= 6: +-1.
* pow: exp(y log|x|) in double-double for float64, plain float64 for float32; the C99/NumPy
  special cases (y == 0, x == 1, x == +-0, +-inf, negative x with integer y (odd y keeps
  the sign), negative finite x with non-integer y -> NaN, |x| == 1 with infinite y).
* sqrt, floor, ceil, round-half-even, fabs: LLVM intrinsics (they vectorize).
* sin, cos, tan: ``llvm.sin/cos/tan`` intrinsics, which become scalar libm calls per
  element (correct, not vectorized; to be replaced by IR polynomials later).

Measured accuracy (tests/test_llvm_elemwise.py, max ulp distance on random inputs over wide
ranges plus edge cases): float64 within 1 ulp of NumPy (tanh, softplus 2), pow included;
float32 within 1 ulp of the float64 result rounded (tanh, sigmoid 2), 1-3 ulp from NumPy's
float32 code, which is itself 2-3 ulp off.
"""
import math
import struct
from fractions import Fraction

import numpy as np

# ----------------------------------------------------------------------------------------
# A tiny IR builder: values carry their LLVM type; Python operators emit instructions.
# ----------------------------------------------------------------------------------------

FLOAT_TYPES = ("float", "double")
INT_BITS = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64}


def fconst(ty, value):
    """An LLVM literal for a float constant of type ``ty`` (hex: exact)."""
    value = float(np.float32(value)) if ty == "float" else float(value)
    if value != value:
        return "0x7FF8000000000000"
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", value))[0]


def iconst(ty, value):
    if ty == "i1":
        return "true" if value else "false"
    bits = INT_BITS[ty]
    value = int(value) & ((1 << bits) - 1)
    if value >= 1 << (bits - 1):
        value -= 1 << bits
    return str(value)


class Val:
    """An SSA value (or literal) of LLVM type ``ty`` inside builder ``b``."""

    __slots__ = ("b", "name", "ty")

    def __init__(self, b, name, ty):
        self.b, self.name, self.ty = b, name, ty

    def __str__(self):
        return self.name

    @property
    def is_float(self):
        return self.ty in FLOAT_TYPES

    def _bin(self, other, fop, iop, swap=False):
        other = self.b.coerce(other, self.ty)
        a, c = (other, self) if swap else (self, other)
        return self.b.binop(fop if self.is_float else iop, a, c)

    def __add__(self, o): return self._bin(o, "fadd", "add")
    def __radd__(self, o): return self._bin(o, "fadd", "add", True)
    def __sub__(self, o): return self._bin(o, "fsub", "sub")
    def __rsub__(self, o): return self._bin(o, "fsub", "sub", True)
    def __mul__(self, o): return self._bin(o, "fmul", "mul")
    def __rmul__(self, o): return self._bin(o, "fmul", "mul", True)
    def __truediv__(self, o): return self._bin(o, "fdiv", "sdiv")
    def __rtruediv__(self, o): return self._bin(o, "fdiv", "sdiv", True)
    def __and__(self, o): return self._bin(o, None, "and")
    def __or__(self, o): return self._bin(o, None, "or")
    def __xor__(self, o): return self._bin(o, None, "xor")

    def __neg__(self):
        if self.is_float:
            return self.b.emit(self.ty, f"fneg {self.ty} {self}")
        return self.b.binop("sub", self.b.coerce(0, self.ty), self)


class Builder:
    """Collects the instructions of one function body, plus the declarations it needs."""

    def __init__(self, module, prefix="t"):
        self.module = module
        self.lines = []
        self.count = 0
        self.prefix = prefix

    # -- plumbing
    def fresh(self, hint=None):
        self.count += 1
        return f"%{hint or self.prefix}{self.count}"

    def emit(self, ty, text, hint=None):
        name = self.fresh(hint)
        self.lines.append(f"  {name} = {text}")
        return Val(self, name, ty)

    def line(self, text):
        self.lines.append(text if text.endswith(":") else "  " + text)

    def label(self, name):
        self.lines.append(f"{name}:")

    def arg(self, name, ty):
        return Val(self, name, ty)

    def const(self, ty, value):
        if ty in FLOAT_TYPES:
            return Val(self, fconst(ty, value), ty)
        return Val(self, iconst(ty, value), ty)

    def coerce(self, v, ty):
        if isinstance(v, Val):
            if v.ty != ty:
                raise TypeError(f"IR type mismatch: {v.ty} vs {ty}")
            return v
        return self.const(ty, v)

    # -- instructions
    def binop(self, op, a, c, flags=""):
        if op is None:
            raise TypeError("bitwise op on floats")
        fl = f" {flags}" if flags else ""
        return self.emit(a.ty, f"{op}{fl} {a.ty} {a}, {c}")

    def op(self, op, a, c, flags=""):
        a = a if isinstance(a, Val) else self.coerce(a, c.ty)
        c = self.coerce(c, a.ty)
        return self.binop(op, a, c, flags)

    def fcmp(self, pred, a, c):
        c = self.coerce(c, a.ty)
        return self.emit("i1", f"fcmp {pred} {a.ty} {a}, {c}")

    def icmp(self, pred, a, c):
        c = self.coerce(c, a.ty)
        return self.emit("i1", f"icmp {pred} {a.ty} {a}, {c}")

    def select(self, cond, a, c, ty=None):
        if ty is None:
            ty = a.ty if isinstance(a, Val) else c.ty
        a, c = self.coerce(a, ty), self.coerce(c, ty)
        return self.emit(ty, f"select i1 {cond}, {ty} {a}, {ty} {c}")

    def conv(self, op, v, ty):
        if v.ty == ty and op in ("bitcast", "sext", "zext", "trunc", "fpext", "fptrunc"):
            return v
        return self.emit(ty, f"{op} {v.ty} {v} to {ty}")

    def call(self, ret, fname, args):
        argtext = ", ".join(f"{a.ty} {a}" for a in args)
        if ret == "void":
            self.line(f"call void @{fname}({argtext})")
            return None
        return self.emit(ret, f"call {ret} @{fname}({argtext})")

    def intr(self, name, *args, ret=None):
        """Call ``llvm.<name>.<suffix>`` overloaded on the first argument's type."""
        ty = args[0].ty
        suffix = {"float": "f32", "double": "f64"}.get(ty, ty)
        fname = f"llvm.{name}.{suffix}"
        ret = ret or ty
        self.module.declare(f"declare {ret} @{fname}({', '.join(a.ty for a in args)})")
        return self.call(ret, fname, list(args))

    def fma(self, a, c, d):
        ty = a.ty
        return self.intr("fma", a, self.coerce(c, ty), self.coerce(d, ty))

    def fmuladd(self, a, c, d):
        ty = a.ty
        return self.intr("fmuladd", a, self.coerce(c, ty), self.coerce(d, ty))

    def horner(self, t, coefs):
        acc = self.const(t.ty, coefs[-1])
        for c in reversed(coefs[:-1]):
            acc = self.fmuladd(acc, t, c)
        return acc

    def fabs(self, v):
        return self.intr("fabs", v)

    def isnan(self, v):
        return self.fcmp("uno", v, v)

    def load(self, ty, ptr, meta=""):
        return self.emit(ty, f"load {ty}, ptr {ptr}{meta}")

    def store(self, v, ptr, meta=""):
        self.line(f"store {v.ty} {v}, ptr {ptr}{meta}")

    def gep(self, elem_ty, ptr, idx, inbounds=True):
        ib = "inbounds " if inbounds else ""
        return self.emit("ptr", f"getelementptr {ib}{elem_ty}, ptr {ptr}, {idx.ty} {idx}")


class Module:
    """An IR module under construction: declarations, helper functions, kernels."""

    def __init__(self):
        self.decls = []
        self._decl_set = set()
        self.functions = {}       # name -> text (in definition order)
        self.math = MathLib(self)

    def declare(self, line):
        if line not in self._decl_set:
            self._decl_set.add(line)
            self.decls.append(line)

    def add_function(self, name, text):
        self.functions[name] = text

    def text(self):
        return "\n".join(self.decls) + "\n\n" + "\n\n".join(self.functions.values()) + "\n"


# ----------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------

_LN2 = Fraction("0.693147180559945309417232121458176568075500134360255254120680009493393621"
                "969694715605863326996418687542001481020570685733685520235758130557032670751635")
_LN10 = Fraction("2.302585092994045684017991454684364207601101488628772976033327900967572609"
                 "677352480235997205089598298341967784042286")


def _split(x, bits):
    """x as hi + lo where hi has ``bits`` significant bits (so n*hi is exact for small n)."""
    e = math.frexp(float(x))[1]
    scale = Fraction(2) ** (bits - e)
    hi = Fraction(round(x * scale)) / scale
    return float(hi), float(x - hi)


def _dd(x):
    hi = float(x)
    return hi, float(x - Fraction(hi))


class _Traits:
    def __init__(self, ty):
        self.ty = ty
        if ty == "float":
            self.ity, self.mant, self.bias, self.bits = "i32", 23, 127, 32
            self.ln2_hi, self.ln2_lo = _split(_LN2, 15)
            self.exp_hi, self.exp_lo = 89.0, -104.0       # clamps for exp's argument
            self.expm1_lo = -30.0
            self.tiny = 2.0 ** -25                        # expm1/log1p(x) = x below this
            self.min_normal = 2.0 ** -126
            self.exp_p = EXP_P_F32
            self.log_q = LOG_Q_F32
            self.sqrt_half_bits = 0x3F3504F3
        else:
            self.ity, self.mant, self.bias, self.bits = "i64", 52, 1023, 64
            self.ln2_hi, self.ln2_lo = _split(_LN2, 42)
            self.exp_hi, self.exp_lo = 710.0, -746.0
            self.expm1_lo = -50.0
            self.tiny = 2.0 ** -54
            self.min_normal = 2.0 ** -1022
            self.exp_p = EXP_P_F64
            self.log_q = LOG_Q_F64
            self.sqrt_half_bits = 0x3FE6A09E667F3BCD
        self.log2e = float(1 / _LN2)


# Chebyshev interpolants (see _fit_notes): exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2 + 2e-3;
# log(1+f) = f - (f^2/2 - s (f^2/2 + z Q(z))), s = f/(2+f), z = s^2 <= 0.0297.
EXP_P_F32 = [0.5, 0.1666666716337204, 0.041666459292173386, 0.00833331048488617,
             0.0013934159651398659, 0.0001989155716728419]
EXP_P_F64 = [0.5, 0.1666666666666667, 0.04166666666666667, 0.008333333333325803,
             0.001388888888888351, 0.0001984126987597895, 2.480158732637491e-05,
             2.7557253939287672e-06, 2.755727259985714e-07, 2.5105821598328188e-08,
             2.0915118711997293e-09]
LOG_Q_F32 = [0.6666666865348816, 0.40000125765800476, 0.28550398349761963, 0.23341943323612213]
LOG_Q_F64 = [0.6666666666666666, 0.4000000000000094, 0.2857142857076445, 0.2222222240054776,
             0.181817947008978, 0.15386290534658992, 0.13267418596474884, 0.1310072138350349]
# erf(a)/a as a polynomial in a^2 on [0, 1]
ERF_A = [1.1283791670955126, -0.3761263890318375, 0.11283791670954879, -0.026866170645076792,
         0.0052239776248180145, -0.000854832698083379, 0.0001205533111164271,
         -1.4925595266831182e-05, 1.6461000484121368e-06, -1.6350312701054695e-07,
         1.4659775274047436e-08, -1.1372848856791674e-09, 5.957176147748911e-11]
# erfc(a) exp(a^2) as polynomials in (a - center) on [1, 2.5] and [2.5, 6]
ERF_B_CENTER = 1.75
ERF_B = [0.2849722347374364, -0.1309763455144852, 0.05576363008708727, -0.022259995241388362,
         0.008404319207328856, -0.0030209746514238555, 0.001039204522444659,
         -0.00034353335349296085, 0.00010950528847308555, -3.375535503824955e-05,
         1.008668330422897e-05, -2.9279393321127984e-06, 8.271322438938638e-07,
         -2.2775806071408745e-07, 6.12200008154652e-08, -1.6093894739662893e-08,
         4.13677133340987e-09, -1.0264209729757184e-09, 2.5363128835740696e-10,
         -7.34142732168271e-11, 1.736514530669462e-11]
ERF_C_CENTER = 4.25
ERF_C = [0.12934527478598792, -0.02894433141461515, 0.00633186627387272, -0.0013559331671084004,
         0.0002845751568408635, -5.859550018309326e-05, 1.1848093639556559e-05,
         -2.354600732992064e-06, 4.6026025166658087e-07, -8.855419080428345e-08,
         1.678081076702827e-08, -3.133963701701198e-09, 5.770740790835665e-10,
         -1.0470163027180388e-10, 1.8773546140668366e-11, -3.376584731089241e-12,
         5.898207284121059e-13, -8.810983397355014e-14, 1.515301158500189e-14,
         -4.565162222997025e-15, 7.554705838870362e-16]

_INVLN2 = _dd(1 / _LN2)
_LOG_Q0_LO = float(Fraction(2, 3) - Fraction(LOG_Q_F64[0]))   # c0 fitted as the double 2/3
_INVLN10 = _dd(1 / _LN10)

_fit_notes = """
import mpmath as mp
mp.mp.dps = 50
def cheb_fit(g, lo, hi, deg):   # interpolate at Chebyshev nodes, return monomial coefficients
    nodes = [(lo+hi)/2 + (hi-lo)/2*mp.cos(mp.pi*(k+0.5)/(deg+1)) for k in range(deg+1)]
    A = mp.matrix([[x**j for j in range(deg+1)] for x in nodes])
    return list(mp.lu_solve(A, mp.matrix([g(x) for x in nodes])))
# EXP_P: g(r) = (exp(r)-1-r)/r^2 on +-(ln2/2 + 2e-3), degree 5 (f32) / 10 (f64)
# LOG_Q: g(z) = (2 atanh(sqrt z) - 2 sqrt z)/z^1.5 on [0, 1.01*((sqrt2-1)/(sqrt2+1))^2], 3 / 7
# ERF_A: g(z) = erf(sqrt z)/sqrt z on [0, 1], degree 12
# ERF_B/C: g(t) = erfc(t+c) exp((t+c)^2) on [1, 2.5] / [2.5, 6] shifted by c, degree 20
"""


# ----------------------------------------------------------------------------------------
# The functions
# ----------------------------------------------------------------------------------------

class MathLib:
    """Defines math helper functions in a module on first use; ``call(b, name, args)``
    emits a call to ``__sym_<name>_<f32|f64>`` (inlined away by the optimizer)."""

    SUPPORTED = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "erf", "pow",
                 "log2", "log10")

    def __init__(self, module):
        self.module = module

    def fname(self, name, ty):
        return f"__sym_{name}_{'f32' if ty == 'float' else 'f64'}"

    def call(self, b, name, *args):
        ty = args[0].ty
        fname = self.fname(name, ty)
        if fname not in self.module.functions:
            self.module.functions[fname] = None      # reserve (recursion-safe, keeps order)
            fb = Builder(self.module, "m")
            params = [fb.arg(f"%a{i}", ty) for i in range(len(args))]
            result = getattr(self, "_" + name)(fb, ty, *params)
            plist = ", ".join(f"{ty} {p}" for p in params)
            body = "\n".join(fb.lines)
            text = (f"define internal {ty} @{fname}({plist}) alwaysinline nounwind {{\n"
                    f"entry:\n{body}\n  ret {ty} {result}\n}}")
            # definitions must come before use only textually-irrelevant in LLVM; keep order
            del self.module.functions[fname]
            self.module.functions[fname] = text
        return b.call(ty, fname, list(args))

    # -- shared pieces ---------------------------------------------------------------
    @staticmethod
    def _pow2(b, T, n):
        """2.0**n for an integer n in the normal exponent range (exact)."""
        e = b.op("add", n, T.bias)
        return b.conv("bitcast", b.op("shl", e, T.mant), T.ty)

    def _clamp(self, b, x, lo, hi):
        x = b.select(b.fcmp("ogt", x, hi), hi, x)
        x = b.select(b.fcmp("olt", x, lo), lo, x)
        return b.select(b.isnan(x), 0.0, x)          # NaN handled by the caller

    def _exp_core(self, b, T, x, x_lo=None):
        """exp(x (+ x_lo)) for x already clamped to [exp_lo, exp_hi] (not NaN)."""
        n = b.intr("roundeven", x * T.log2e)
        r = (x - n * T.ln2_hi) - n * T.ln2_lo
        if x_lo is not None:
            r = r + x_lo
        p = b.fma(r * r, b.horner(r, T.exp_p), r) + 1.0
        ni = b.conv("fptosi", n, T.ity)
        n1 = b.op("ashr", ni, 1)
        n2 = ni - n1
        return (p * self._pow2(b, T, n1)) * self._pow2(b, T, n2)

    def _log_parts(self, b, T, x):
        """For positive (finite, maybe subnormal) x: (fe, f, s, hfsq, R) with
        log x = fe*ln2 + f - (hfsq - s*(hfsq + R))."""
        sub = b.fcmp("olt", x, T.min_normal)
        k = 64 if T.ty == "double" else 32
        xs = b.select(sub, x * 2.0 ** k, x)
        ix = b.conv("bitcast", xs, T.ity)
        ix2 = ix - T.sqrt_half_bits
        e = b.op("ashr", ix2, T.mant)
        e = e - b.select(sub, b.const(T.ity, k), b.const(T.ity, 0))
        mbits = (ix2 & ((1 << T.mant) - 1)) + T.sqrt_half_bits
        m = b.conv("bitcast", mbits, T.ty)
        f = m - 1.0
        s = f / (f + 2.0)
        z = s * s
        R = z * b.horner(z, T.log_q)
        hfsq = (f * f) * 0.5
        fe = b.conv("sitofp", e, T.ty)
        return fe, f, s, hfsq, R

    def _log_specials(self, b, T, x, res):
        res = b.select(b.fcmp("oeq", x, math.inf), math.inf, res)
        res = b.select(b.fcmp("oeq", x, 0.0), -math.inf, res)
        res = b.select(b.fcmp("olt", x, 0.0), math.nan, res)
        return b.select(b.isnan(x), x, res)

    # -- exp family -------------------------------------------------------------------
    def _exp(self, b, ty, x):
        T = _Traits(ty)
        res = self._exp_core(b, T, self._clamp(b, x, T.exp_lo, T.exp_hi))
        return b.select(b.isnan(x), x, res)

    def _expm1(self, b, ty, x):
        T = _Traits(ty)
        xc = self._clamp(b, x, T.expm1_lo, T.exp_hi)
        n = b.intr("roundeven", xc * T.log2e)
        r = (xc - n * T.ln2_hi) - n * T.ln2_lo
        em = b.fma(r * r, b.horner(r, T.exp_p), r)
        ni = b.conv("fptosi", n, T.ity)
        h = self._pow2(b, T, ni - 1)
        res = b.fma(h, em, h - 0.5) * 2.0
        res = b.select(b.fcmp("olt", b.fabs(x), T.tiny), x, res)
        return b.select(b.isnan(x), x, res)

    def _tanh(self, b, ty, x):
        a = b.fabs(x)
        t = self.call(b, "expm1", a * -2.0)
        th = (-t) / (t + 2.0)
        return b.intr("copysign", th, x)

    def _sigmoid(self, b, ty, x):
        e = self.call(b, "exp", -b.fabs(x))
        d = e + 1.0
        return b.select(b.fcmp("oge", x, 0.0), 1.0 / d, e / d)

    def _softplus(self, b, ty, x):
        e = self.call(b, "exp", -b.fabs(x))
        l1 = self.call(b, "log1p", e)
        pos = b.select(b.fcmp("ogt", x, 0.0), x, 0.0)
        pos = b.select(b.isnan(x), x, pos)
        return pos + l1

    # -- log family -------------------------------------------------------------------
    def _log(self, b, ty, x):
        T = _Traits(ty)
        fe, f, s, hfsq, R = self._log_parts(b, T, x)
        res = fe * T.ln2_hi + (f - (hfsq - (s * (hfsq + R) + fe * T.ln2_lo)))
        return self._log_specials(b, T, x, res)

    def _log1p(self, b, ty, x):
        T = _Traits(ty)
        u = x + 1.0
        small = b.fcmp("olt", b.fabs(x), 1.0)
        d = b.select(small, (1.0 - u) + x, (x - u) + 1.0)   # x + 1 == u + d exactly
        uc = b.select(b.fcmp("ogt", u, 0.0), u, 1.0)
        fe, f, s, hfsq, R = self._log_parts(b, T, uc)
        c = d / uc
        res = fe * T.ln2_hi + (f - (hfsq - (s * (hfsq + R) + (fe * T.ln2_lo + c))))
        res = b.select(b.fcmp("oeq", x, math.inf), math.inf, res)
        res = b.select(b.fcmp("oeq", x, -1.0), -math.inf, res)
        res = b.select(b.fcmp("olt", x, -1.0), math.nan, res)
        res = b.select(b.fcmp("olt", b.fabs(x), T.tiny), x, res)
        return b.select(b.isnan(x), x, res)

    def _log_dd(self, b, T, x):
        """log x as an unevaluated sum hi + lo (float64, positive finite x), ~2^-58 rel."""
        fe, f, s, hfsq, R = self._log_parts(b, T, x)
        fsq = f * f
        hfsq_lo = b.fma(f, f, -fsq) * 0.5              # f^2/2 == hfsq + hfsq_lo exactly
        # s = f/(2+f) with its rounding error: 2+f == d + d_lo, f/(d+d_lo) ~ s + s_lo
        d = f + 2.0
        d_lo = f - (d - 2.0)
        s_lo = (b.fma(-s, d, f) - s * d_lo) / d
        # R = z*Q(z) = z*c0 + z^2 Q1(z) with z = s^2 and c0 ~ 2/3 carried in double-double
        z = s * s
        z_lo = b.fma(s, s, -z) + (s * s_lo) * 2.0
        c0_hi, c0_lo = T.log_q[0], _LOG_Q0_LO
        r1 = z * c0_hi
        r1_lo = b.fma(z, c0_hi, -r1) + (z * c0_lo + z_lo * c0_hi)
        r2 = z * (z * b.horner(z, T.log_q[1:]))
        R = r1 + r2
        R_lo = ((r1 - R) + r2) + r1_lo
        # W = hfsq + R as W_hi + W_lo; T = s*W as t_hi + t_lo
        w_hi = hfsq + R
        w_lo = ((hfsq - w_hi) + R) + (hfsq_lo + R_lo)
        t_hi = s * w_hi
        t_lo = b.fma(s, w_hi, -t_hi) + (s * w_lo + s_lo * w_hi)
        # log(1+f) = (f - hfsq) - hfsq_lo + T
        a1 = f - hfsq
        err1 = (f - a1) - hfsq
        l_hi = a1 + t_hi
        l_err = t_hi - (l_hi - a1)
        tail = l_err + ((err1 - hfsq_lo) + t_lo)
        l_hi2 = l_hi + tail
        l_lo = tail - (l_hi2 - l_hi)
        l_hi = l_hi2
        e_hi = fe * T.ln2_hi
        S = e_hi + l_hi
        bb = S - e_hi
        err = (e_hi - (S - bb)) + (l_hi - bb)
        lo = err + (l_lo + fe * T.ln2_lo)
        hi = S + lo
        return hi, lo - (hi - S)

    def _log_scaled(self, b, ty, x, c):
        """log(x) * c for the constant c given as a double-double (log2, log10)."""
        if ty == "float":
            xd = b.conv("fpext", x, "double")
            return b.conv("fptrunc", self.call(b, "log", xd) * c[0], "float")
        T = _Traits(ty)
        xc = b.select(b.fcmp("ogt", x, 0.0), x, 1.0)
        xc = b.select(b.fcmp("oeq", xc, math.inf), 1.0, xc)
        hi, lo = self._log_dd(b, T, xc)
        p = hi * c[0]
        perr = b.fma(hi, c[0], -p)
        res = p + (perr + (hi * c[1] + lo * c[0]))
        return self._log_specials(b, T, x, res)

    def _log2(self, b, ty, x):
        return self._log_scaled(b, ty, x, _INVLN2)

    def _log10(self, b, ty, x):
        return self._log_scaled(b, ty, x, _INVLN10)

    # -- erf --------------------------------------------------------------------------
    def _erf(self, b, ty, x):
        if ty == "float":
            xd = b.conv("fpext", x, "double")
            return b.conv("fptrunc", self.call(b, "erf", xd), "float")
        a = b.fabs(x)
        z = a * a
        small = a * b.horner(z, ERF_A)
        ac = b.select(b.fcmp("ogt", a, 6.0), 6.0, a)
        ac = b.select(b.fcmp("olt", ac, 1.0), 1.0, ac)
        ac = b.select(b.isnan(ac), 1.0, ac)
        in_b = b.fcmp("olt", ac, 2.5)
        t = ac - b.select(in_b, ERF_B_CENTER, ERF_C_CENTER, ty)
        acc = b.select(in_b, ERF_B[-1], ERF_C[-1], ty)
        for cb, cc in zip(reversed(ERF_B[:-1]), reversed(ERF_C[:-1])):
            acc = b.fmuladd(acc, t, b.select(in_b, cb, cc, ty))
        zz = ac * ac
        zlo = b.fma(ac, ac, -zz)
        T = _Traits(ty)
        ex = self._exp_core(b, T, -zz)
        ex = b.fma(-ex, zlo, ex)
        big = 1.0 - ex * acc
        res = b.select(b.fcmp("olt", a, 1.0), small, big)
        res = b.select(b.fcmp("oge", a, 6.0), 1.0, res)
        res = b.intr("copysign", res, x)
        return b.select(b.isnan(x), x, res)

    # -- pow --------------------------------------------------------------------------
    def _pow(self, b, ty, x, y):
        T = _Traits(ty)
        ax = b.fabs(x)
        axc = b.select(b.fcmp("ogt", ax, 0.0), ax, 1.0)
        axc = b.select(b.fcmp("oeq", axc, math.inf), 1.0, axc)
        if ty == "float":
            D = _Traits("double")
            xd, yd = b.conv("fpext", axc, "double"), b.conv("fpext", y, "double")
            lg = self.call(b, "log", xd)
            p = yd * lg
            pc = self._clamp(b, p, D.exp_lo, D.exp_hi)
            mag = b.conv("fptrunc", self._exp_core(b, D, pc), "float")
        else:
            hi, lo = self._log_dd(b, T, axc)
            p = y * hi
            p_lo = b.fma(y, hi, -p) + y * lo
            pc = self._clamp(b, p, T.exp_lo, T.exp_hi)
            inside = b.fcmp("oeq", pc, p)
            p_lo = b.select(inside, p_lo, 0.0)
            p_lo = b.select(b.isnan(p_lo), 0.0, p_lo)
            mag = self._exp_core(b, T, pc, p_lo)
        # |x| in (0, inf): mag = |x|^y, except where y*log|x| is NaN (y NaN) or inf*0
        y_inf = b.fcmp("oeq", b.fabs(y), math.inf)
        # |x| == 0 or inf: 0 or inf by the sign of y (and of log|x|)
        x_zero = b.fcmp("oeq", ax, 0.0)
        x_inf = b.fcmp("oeq", ax, math.inf)
        ypos = b.fcmp("ogt", y, 0.0)
        zero_or_inf = b.select(x_zero ^ ypos, math.inf, 0.0, ty)
        mag = b.select(x_zero | x_inf, zero_or_inf, mag)
        # infinite y with finite nonzero |x|: |x| < 1 -> 0 or inf, |x| > 1 -> inf or 0
        lt1 = b.fcmp("olt", ax, 1.0)
        mag = b.select(y_inf & b.fcmp("one", ax, 1.0), b.select(lt1 ^ ypos, math.inf, 0.0, ty), mag)
        # sign and domain for negative x (C99 pow, as NumPy)
        fy = b.intr("floor", y)
        half = y * 0.5
        y_odd = b.fcmp("oeq", fy, y) & b.fcmp("one", b.intr("floor", half), half)
        sign_neg = b.fcmp("olt", b.intr("copysign", b.const(ty, 1.0), x), 0.0)
        res = b.select(sign_neg & y_odd, -mag, mag)
        bad = b.fcmp("olt", x, 0.0) & b.fcmp("one", x, -math.inf) & b.fcmp("une", fy, y)
        res = b.select(bad, math.nan, res)
        res = b.select(b.isnan(x), x, res)
        res = b.select(b.isnan(y), y, res)
        one = b.fcmp("oeq", x, 1.0) | b.fcmp("oeq", y, 0.0) | (y_inf & b.fcmp("oeq", ax, 1.0))
        return b.select(one, 1.0, res)

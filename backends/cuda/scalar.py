"""Scalar operations and dtype conversions as CUDA C, with NumPy's semantics.

The CUDA twin of ``backends/llvm/scalar.py``, with the same rules (so that the GPU and the CPU
backends agree with the NumPy reference and with each other): integer ops wrap (computed in
unsigned types, since signed overflow is undefined in C++); ``//`` and ``%`` follow Python's
sign rules and integer division or modulo by zero give 0; float ``//`` and ``%`` use NumPy's
divmod algorithm; float -> int casts truncate, and values out of range (or NaN) give what
NumPy gives on x86 (the minimum int32/int64, then truncated to narrower types; a plain C cast
would saturate on the GPU); float -> bool is ``x != 0`` (NaN is True); maximum/minimum
propagate NaN; integer ``pow`` with a negative exponent gives 1 for base 1, +-1 for base -1,
else 0; sigmoid and softplus use the reference's stable formulas; float32 math uses the
``f`` functions (``expf``...), so it stays in single precision as NumPy's does.

Every op on one compute dtype is a small ``static __host__ __device__`` helper function
(``sym_<op>_<dtype tag>``), emitted once per source into a ``Helpers`` collection in order of
first use (so the text is deterministic).  Kernels call helpers on registers; being host
functions too, the same helpers can be compiled into a host program and checked against NumPy
on edge values without a GPU (tests/test_cuda_codegen.py does).  No headers are included:
NVRTC (what CuPy compiles with) provides ``expf``, ``isnan``... as built-ins.
"""
import numpy as np

#          C type, kind (b bool, i signed, u unsigned, f float), bits, name tag, unsigned twin
DTYPES = {
    "bool": ("bool", "b", 1, "b", None),
    "int8": ("signed char", "i", 8, "i8", "unsigned int"),
    "int16": ("short", "i", 16, "i16", "unsigned int"),
    "int32": ("int", "i", 32, "i32", "unsigned int"),
    "int64": ("long long", "i", 64, "i64", "unsigned long long"),
    "uint8": ("unsigned char", "u", 8, "u8", "unsigned int"),
    "float32": ("float", "f", 32, "f32", None),
    "float64": ("double", "f", 64, "f64", None),
}

QUALIFIERS = "static __host__ __device__ __forceinline__"

_CMP = {"eq": "==", "neq": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_FLOAT_FN = {"exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p", "log2": "log2",
             "log10": "log10", "tanh": "tanh", "erf": "erf", "sqrt": "sqrt", "sin": "sin",
             "cos": "cos", "tan": "tan", "floor": "floor", "ceil": "ceil", "round": "rint"}
# ops NumPy computes on booleans as small integers (then casts back to bool), as the LLVM
# backend does
_BOOL_ARITH = {"add", "sub", "mul", "int_div", "mod", "pow", "maximum", "minimum", "clip", "abs",
               "sign", "sqr", "relu", "floor", "ceil", "round", "identity", "neg", "true_div"}
SUPPORTED_OPS = frozenset(set(_CMP) | set(_FLOAT_FN) | _BOOL_ARITH
                          | {"sigmoid", "softplus", "and", "or", "xor", "invert", "isnan",
                             "isinf", "switch"})


def ctype(dt):
    return DTYPES[dt][0]


def kind_of(dt):
    return DTYPES[dt][1]


def tag(dt):
    return DTYPES[dt][3]


class Helpers:
    """The helper functions one source needs, each emitted once, in order of first use."""

    def __init__(self):
        self._code = {}

    def need(self, name, make):
        """``name``, after making sure its definition (``make()``, called once) is emitted."""
        if name not in self._code:
            self._code[name] = None        # reserve the slot: dependencies go before it
            code = make()
            del self._code[name]
            self._code[name] = code
        return name

    def text(self):
        return "\n".join(self._code.values())


def _int_min(dt):
    bits = DTYPES[dt][2]
    return {8: "(-127 - 1)", 16: "(-32767 - 1)", 32: "(-2147483647 - 1)",
            64: "(-9223372036854775807LL - 1)"}[bits]


def _lit(dt, v):
    """A float literal of dtype ``dt`` (v a small int or float)."""
    s = repr(float(v))
    return s + "f" if dt == "float32" else s


# ----------------------------------------------------------------------------------------
# conversions
# ----------------------------------------------------------------------------------------
def _f2i_helper(h, src, wide):
    """float -> int32/int64 like x86's cvtt: out of range or NaN gives the minimum."""
    dst = "int64" if wide else "int32"
    name = f"sym_cvt_{tag(src)}_{tag(dst)}"
    lim = _lit(src, 2.0 ** (63 if wide else 31))

    def make():
        return (f"{QUALIFIERS} {ctype(dst)} {name}({ctype(src)} x) {{\n"
                f"  return (x >= -{lim} && x < {lim}) ? ({ctype(dst)})x : {_int_min(dst)};\n}}\n")
    return h.need(name, make)


def cast_expr(h, expr, src, dst):
    """C expression converting ``expr`` of dtype ``src`` to ``dst`` like ``ndarray.astype``."""
    if src == dst:
        return expr
    if dst == "bool":
        return f"({expr} != {_lit(src, 0) if kind_of(src) == 'f' else '0'})"
    if kind_of(src) == "f" and kind_of(dst) in "iu":
        wide = DTYPES[dst][2] == 64
        fn = _f2i_helper(h, src, wide)
        return f"{fn}({expr})" if dst in ("int32", "int64") else f"(({ctype(dst)}){fn}({expr}))"
    return f"(({ctype(dst)})({expr}))"


# ----------------------------------------------------------------------------------------
# scalar ops
# ----------------------------------------------------------------------------------------
def _compute_dtype(name, arg_dts, out_dt):
    if name in _CMP:
        return np.result_type(*[np.dtype(d) for d in arg_dts]).name
    if name in ("isnan", "isinf"):
        return arg_dts[0]
    return out_dt


def op_expr(h, name, args, arg_dts, out_dt):
    """C expression for scalar op ``name`` on expressions ``args`` (dtypes ``arg_dts``),
    giving a value of ``out_dt``; needed helpers are added to ``h``."""
    if name == "cast":
        return cast_expr(h, args[0], arg_dts[0], out_dt)
    if name not in SUPPORTED_OPS:
        raise NotImplementedError(f"cuda backend: scalar op {name!r} is not supported")
    if name == "switch":
        c = cast_expr(h, args[0], arg_dts[0], "bool")
        x = cast_expr(h, args[1], arg_dts[1], out_dt)
        y = cast_expr(h, args[2], arg_dts[2], out_dt)
        return f"({c} ? {x} : {y})"
    ct = _compute_dtype(name, arg_dts, out_dt)
    if ct == "bool" and name in _BOOL_ARITH:
        vals = [cast_expr(h, a, d, "int8") for a, d in zip(args, arg_dts)]
        r = f"{typed_helper(h, name, 'int8')}({', '.join(vals)})"
        return cast_expr(h, cast_expr(h, r, "int8", "bool"), "bool", out_dt)
    vals = [cast_expr(h, a, d, ct) for a, d in zip(args, arg_dts)]
    r = f"{typed_helper(h, name, ct)}({', '.join(vals)})"
    rdt = "bool" if name in _CMP or name in ("isnan", "isinf") else ct
    return cast_expr(h, r, rdt, out_dt)


_NIN = {"clip": 3, **{n: 2 for n in ("add", "sub", "mul", "true_div", "int_div", "mod", "pow",
                                     "maximum", "minimum", "and", "or", "xor", *_CMP)}}


def typed_helper(h, name, dt):
    """The name of the helper computing ``name`` on arguments and result of dtype ``dt``
    (bool for comparisons and isnan/isinf)."""
    fn = f"sym_{name}_{tag(dt)}"
    if fn in h._code:
        return fn
    body = _body(h, name, dt)           # may add helpers it calls (before this one)
    if body is None:
        raise NotImplementedError(f"cuda backend: scalar op {name!r} on {dt}")
    t = ctype(dt)
    nin = _NIN.get(name, 1)
    params = ", ".join(f"{t} {p}" for p in "abc"[:nin])
    rt = "bool" if name in _CMP or name in ("isnan", "isinf") else t
    if "\n" not in body:
        body = f"  return {body};\n"
    return h.need(fn, lambda: f"{QUALIFIERS} {rt} {fn}({params}) {{\n{body}}}\n")


def _body(h, name, dt):
    """The body (an expression, or statements ending in a newline) of a helper, or None."""
    kind = kind_of(dt)
    if name in _CMP:
        return f"a {_CMP[name]} b"
    if name == "identity":
        return "a"
    if kind == "b":
        return {"and": "a && b", "or": "a || b", "xor": "a != b", "invert": "!a",
                "isnan": "false", "isinf": "false"}.get(name)
    if kind == "f":
        return _float_body(h, name, dt)
    return _int_body(h, name, dt)


def _float_body(h, name, dt):
    t, s = ctype(dt), ("f" if dt == "float32" else "")
    zero, one = _lit(dt, 0), _lit(dt, 1)
    simple = {"add": "a + b", "sub": "a - b", "mul": "a * b", "true_div": "a / b",
              "sqr": "a * a", "neg": "-a", "pow": f"pow{s}(a, b)", "abs": f"fabs{s}(a)",
              "isnan": "isnan(a)", "isinf": "isinf(a)",
              "maximum": "isnan(a) ? a : (a > b ? a : b)",
              "minimum": "isnan(a) ? a : (a < b ? a : b)",
              "sign": f"isnan(a) ? a : (a > {zero} ? {one} : (a < {zero} ? -{one} : {zero}))"}
    if name in simple:
        return simple[name]
    if name in _FLOAT_FN:
        return f"{_FLOAT_FN[name]}{s}(a)"
    if name in ("clip", "relu", "softplus"):
        mx = typed_helper(h, "maximum", dt)
        if name == "relu":
            return f"{mx}(a, {zero})"
        if name == "softplus":
            return f"{mx}(a, {zero}) + log1p{s}(exp{s}(-fabs{s}(a)))"
        return f"{typed_helper(h, 'minimum', dt)}({mx}(a, b), c)"
    if name == "sigmoid":
        return (f"  const {t} e = exp{s}(-fabs{s}(a));\n"
                f"  return a >= {zero} ? {one} / ({one} + e) : e / ({one} + e);\n")
    if name == "int_div":
        # NumPy's npy_divmod; b == 0 gives a / b (inf or NaN), as NumPy does
        return (f"  const {t} z = {zero}, m = fmod{s}(a, b), q = a / b;\n"
                f"  if (b == z) return q;\n"
                f"  const {t} d = (a - m) / b;\n"
                f"  const {t} d2 = (m != z && ((b < z) != (m < z))) ? d - {one} : d;\n"
                f"  {t} fl = floor{s}(d2);\n"
                f"  if (d2 - fl > {_lit(dt, 0.5)}) fl += {one};\n"
                f"  return d2 != z ? fl : copysign{s}(z, q);\n")
    if name == "mod":
        # the remainder takes the divisor's sign; b == 0 gives fmod's NaN
        return (f"  const {t} z = {zero}, m = fmod{s}(a, b);\n"
                f"  if (b == z) return m;\n"
                f"  if (m == z) return copysign{s}(z, b);\n"
                f"  return ((b < z) != (m < z)) ? m + b : m;\n")
    return None


def _int_body(h, name, dt):
    t, u = ctype(dt), DTYPES[dt][4]
    signed = kind_of(dt) == "i"
    wrap = {"add": "+", "sub": "-", "mul": "*"}
    if name in wrap:
        return f"({t})(({u})a {wrap[name]} ({u})b)"
    simple = {"sqr": f"({t})(({u})a * ({u})a)", "neg": f"({t})(({u})0 - ({u})a)",
              "maximum": "a > b ? a : b", "minimum": "a < b ? a : b",
              "and": f"({t})(a & b)", "or": f"({t})(a | b)", "xor": f"({t})(a ^ b)",
              "invert": f"({t})~a", "floor": "a", "ceil": "a", "round": "a",
              "isnan": "false", "isinf": "false"}
    if name in simple:
        return simple[name]
    if name == "clip":
        mx, mn = typed_helper(h, "maximum", dt), typed_helper(h, "minimum", dt)
        return f"{mn}({mx}(a, b), c)"
    if name in ("relu", "abs", "sign"):
        if not signed:
            return "a" if name != "sign" else f"({t})(a > 0)"
        return {"relu": f"a > 0 ? a : ({t})0", "abs": f"a < 0 ? ({t})(({u})0 - ({u})a) : a",
                "sign": f"({t})((a > 0) - (a < 0))"}[name]
    if name in ("int_div", "mod"):
        lines = ["  if (b == 0) return 0;\n"]
        if not signed:
            return lines[0] + f"  return a {'/' if name == 'int_div' else '%'} b;\n"
        # INT_MIN / -1 overflows (traps): the wrapped quotient is INT_MIN, the remainder 0
        wrapped_neg = f"({t})(({u})0 - ({u})a)"
        lines.append(f"  if (b == -1) return {wrapped_neg if name == 'int_div' else '0'};\n")
        lines.append(f"  {t} q = ({t})(a / b), r = ({t})(a % b);\n")
        lines.append("  if (r != 0 && ((r < 0) != (b < 0))) { q = q - 1; r = r + b; }\n")
        lines.append(f"  return {'q' if name == 'int_div' else 'r'};\n")
        return "".join(lines)
    if name == "pow":
        neg = ("  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);\n"
               if signed else "")
        return (neg + f"  {u} r = 1, base = ({u})a, e = ({u})b;\n"
                "  while (e) { if (e & 1) r *= base; base *= base; e >>= 1; }\n"
                f"  return ({t})r;\n")
    return None

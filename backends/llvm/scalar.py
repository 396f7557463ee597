"""Scalar operations and dtype conversions in LLVM IR, with NumPy's semantics.

``emit_op`` emits one scalar op of a fused program on values already loaded; the kernels in
elemwise_ir.py wrap loops around such programs.  NumPy semantics: integer ops wrap; ``//``
and ``%`` follow Python's sign rules, and integer division or modulo by zero give 0 (NumPy
warns and gives 0); float ``//`` and ``%`` use NumPy's divmod algorithm; float -> int casts
truncate, and values out of range (or NaN) give what NumPy gives on x86 (the minimum
int32/int64, then truncated to narrower types); float -> bool is ``x != 0`` (NaN is True).
Integer ``pow`` with a negative exponent (an error in NumPy) gives 1 for base 1, +-1 for base
-1, else 0.
"""
import math

import numpy as np


#            memory type, register type, kind (b bool, i signed, u unsigned, f float), bits
DTYPES = {
    "bool": ("i8", "i1", "b", 1),
    "int8": ("i8", "i8", "i", 8),
    "int16": ("i16", "i16", "i", 16),
    "int32": ("i32", "i32", "i", 32),
    "int64": ("i64", "i64", "i", 64),
    "uint8": ("i8", "i8", "u", 8),
    "float32": ("float", "float", "f", 32),
    "float64": ("double", "double", "f", 64),
}


def mem_type(dt):
    return DTYPES[dt][0]


def reg_type(dt):
    return DTYPES[dt][1]


def kind_of(dt):
    return DTYPES[dt][2]


def _result_type(*dts):
    return np.result_type(*[np.dtype(d) for d in dts]).name


def load_value(b, dt, ptr, meta=""):
    v = b.load(mem_type(dt), ptr, meta)
    if dt == "bool":
        v = b.icmp("ne", v, 0)
    return v


def store_value(b, v, dt, ptr, meta=""):
    if dt == "bool":
        v = b.conv("zext", v, "i8")
    b.store(v, ptr, meta)


def cast(b, v, src, dst):
    """Convert value ``v`` of dtype ``src`` to ``dst`` like ``ndarray.astype`` (on x86)."""
    if src == dst:
        return v
    ks, kd = kind_of(src), kind_of(dst)
    rd = reg_type(dst)
    if dst == "bool":
        return b.fcmp("une", v, 0.0) if ks == "f" else b.icmp("ne", v, 0)
    if ks == "b":
        return b.conv("uitofp" if kd == "f" else "zext", v, rd)
    if ks in "iu" and kd in "iu":
        bs, bd = DTYPES[src][3], DTYPES[dst][3]
        if bs == bd:
            return v
        if bs > bd:
            return b.conv("trunc", v, rd)
        return b.conv("sext" if ks == "i" else "zext", v, rd)
    if ks in "iu" and kd == "f":
        return b.conv("sitofp" if ks == "i" else "uitofp", v, rd)
    if ks == "f" and kd == "f":
        return b.conv("fpext" if DTYPES[src][3] < DTYPES[dst][3] else "fptrunc", v, rd)
    # float -> int: cvtt semantics: out of range or NaN -> INT_MIN of 32 (or 64) bits
    w = 64 if DTYPES[dst][3] == 64 else 32
    wt = f"i{w}"
    lim = 2.0 ** (w - 1)
    inr = b.fcmp("oge", v, -lim) & b.fcmp("olt", v, lim)
    safe = b.select(inr, v, 0.0)
    r = b.select(inr, b.conv("fptosi", safe, wt), b.const(wt, -(1 << (w - 1))))
    return b.conv("trunc", r, rd) if DTYPES[dst][3] < w else r


# ----------------------------------------------------------------------------------------
# scalar ops
# ----------------------------------------------------------------------------------------
_CMP = {"eq": ("oeq", "eq", "eq"), "neq": ("une", "ne", "ne"), "lt": ("olt", "slt", "ult"),
        "le": ("ole", "sle", "ule"), "gt": ("ogt", "sgt", "ugt"), "ge": ("oge", "sge", "uge")}
_MATH = {"exp", "expm1", "log", "log1p", "log2", "log10", "tanh", "sigmoid", "softplus", "erf"}
_INTRIN = {"sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan", "floor": "floor",
           "ceil": "ceil", "round": "roundeven"}
_BOOL_ARITH = {"add", "sub", "mul", "int_div", "mod", "pow", "maximum", "minimum", "clip", "abs",
               "sign", "sqr", "relu", "floor", "ceil", "round", "identity", "neg", "true_div"}
SUPPORTED_OPS = (set(_CMP) | _MATH | set(_INTRIN) | _BOOL_ARITH
                 | {"and", "or", "xor", "invert", "isnan", "isinf", "switch"})


def _fmax(b, x, y):
    """np.maximum: NaN if either is NaN, else ``x if x > y else y``."""
    return b.select(b.isnan(x), x, b.select(b.fcmp("ogt", x, y), x, y))


def _fmin(b, x, y):
    return b.select(b.isnan(x), x, b.select(b.fcmp("olt", x, y), x, y))


def _imax(b, x, y, kind):
    return b.select(b.icmp("sgt" if kind == "i" else "ugt", x, y), x, y)


def _imin(b, x, y, kind):
    return b.select(b.icmp("slt" if kind == "i" else "ult", x, y), x, y)


def _float_divmod(b, x, y):
    """NumPy's npy_divmod for floats: (floor_divide, remainder)."""
    ty = x.ty
    mod = b.binop("frem", x, y)
    q = x / y
    div = (x - mod) / y
    adj = b.fcmp("une", mod, 0.0) & (b.fcmp("olt", y, 0.0) ^ b.fcmp("olt", mod, 0.0))
    mod2 = b.select(adj, mod + y, mod)
    div2 = b.select(adj, div - 1.0, div)
    mod3 = b.select(b.fcmp("une", mod, 0.0), mod2, b.intr("copysign", b.const(ty, 0.0), y))
    fl = b.intr("floor", div2)
    fl = b.select(b.fcmp("ogt", div2 - fl, 0.5), fl + 1.0, fl)
    fl = b.select(b.fcmp("une", div2, 0.0), fl, b.intr("copysign", b.const(ty, 0.0), q))
    yz = b.fcmp("oeq", y, 0.0)
    return b.select(yz, q, fl), b.select(yz, mod, mod3)


def _int_divmod(b, x, y, kind, bits):
    """Python-style floor division and modulo; 0 for division by zero."""
    ty = x.ty
    zero = b.icmp("eq", y, 0)
    if kind == "u":
        ys = b.select(zero, b.const(ty, 1), y)
        q = b.binop("udiv", x, ys)
        r = b.binop("urem", x, ys)
        return b.select(zero, b.const(ty, 0), q), b.select(zero, b.const(ty, 0), r)
    # INT_MIN / -1 overflows (traps on x86): divide by 1 instead, which gives the
    # wrapped quotient INT_MIN and remainder 0, as NumPy does.
    ovf = b.icmp("eq", x, -(1 << (bits - 1))) & b.icmp("eq", y, -1)
    ys = b.select(zero | ovf, b.const(ty, 1), y)
    q = b.binop("sdiv", x, ys)
    r = b.binop("srem", x, ys)
    fix = b.icmp("ne", r, 0) & b.icmp("slt", r ^ ys, 0)
    q = b.select(fix, q - 1, q)
    r = b.select(fix, r + ys, r)
    return b.select(zero, b.const(ty, 0), q), b.select(zero, b.const(ty, 0), r)


def _ipow_function(module, ty, kind):
    name = f"__sym_ipow_{ty}_{kind}"
    if name in module.functions:
        return name
    neg_part = ""
    if kind == "i":
        neg_part = f"""
  %neg = icmp slt {ty} %b, 0
  br i1 %neg, label %negexp, label %head
negexp:
  %is1 = icmp eq {ty} %a, 1
  %ism1 = icmp eq {ty} %a, -1
  %odd = and {ty} %b, 1
  %oddb = icmp ne {ty} %odd, 0
  %m1 = select i1 %oddb, {ty} -1, {ty} 1
  %r0 = select i1 %ism1, {ty} %m1, {ty} 0
  %r1 = select i1 %is1, {ty} 1, {ty} %r0
  ret {ty} %r1"""
    else:
        neg_part = "\n  br label %head"
    module.functions[name] = f"""define internal {ty} @{name}({ty} %a, {ty} %b) alwaysinline nounwind {{
entry:{neg_part}
head:
  %r = phi {ty} [1, %entry], [%r2, %body]
  %base = phi {ty} [%a, %entry], [%base2, %body]
  %e = phi {ty} [%b, %entry], [%e2, %body]
  %done = icmp eq {ty} %e, 0
  br i1 %done, label %exit, label %body
body:
  %bit = and {ty} %e, 1
  %isodd = icmp ne {ty} %bit, 0
  %rm = mul {ty} %r, %base
  %r2 = select i1 %isodd, {ty} %rm, {ty} %r
  %base2 = mul {ty} %base, %base
  %e2 = lshr {ty} %e, 1
  br label %head
exit:
  ret {ty} %r
}}"""
    return name


def _compute_dtype(name, arg_dts, out_dt):
    if name in _CMP:
        return _result_type(*arg_dts)
    if name in ("isnan", "isinf"):
        return arg_dts[0]
    return out_dt


def emit_op(b, name, args, arg_dts, out_dt):
    """Emit scalar op ``name`` on values ``args`` (dtypes ``arg_dts``); result in ``out_dt``."""
    if name == "cast":
        return cast(b, args[0], arg_dts[0], out_dt)
    if name not in SUPPORTED_OPS:
        raise NotImplementedError(f"llvm backend: scalar op {name!r} is not supported")
    if name == "switch":
        c = cast(b, args[0], arg_dts[0], "bool")
        x = cast(b, args[1], arg_dts[1], out_dt)
        y = cast(b, args[2], arg_dts[2], out_dt)
        return b.select(c, x, y)
    ct = _compute_dtype(name, arg_dts, out_dt)
    if ct == "bool" and name in _BOOL_ARITH:
        # NumPy computes these on booleans as small integers, then casts to bool
        vals = [cast(b, a, d, "int8") for a, d in zip(args, arg_dts)]
        r = _emit_typed(b, name, vals, "int8")
        return cast(b, r, "int8", "bool")
    vals = [cast(b, a, d, ct) for a, d in zip(args, arg_dts)]
    r = _emit_typed(b, name, vals, ct)
    rdt = "bool" if name in _CMP or name in ("isnan", "isinf") else ct
    return cast(b, r, rdt, out_dt)


def _emit_typed(b, name, v, dt):
    kind = kind_of(dt)
    x = v[0]
    y = v[1] if len(v) > 1 else None
    if name in _CMP:
        fp, sp, up = _CMP[name]
        if kind == "f":
            return b.fcmp(fp, x, y)
        return b.icmp(sp if kind == "i" else up, x, y)
    if name == "isnan":
        return b.isnan(x) if kind == "f" else b.const("i1", 0)
    if name == "isinf":
        return b.fcmp("oeq", b.fabs(x), math.inf) if kind == "f" else b.const("i1", 0)
    if name in ("and", "or", "xor"):
        return {"and": x.__and__, "or": x.__or__, "xor": x.__xor__}[name](y)
    if name == "invert":
        return x ^ (1 if kind == "b" else -1)
    if name == "identity":
        return x
    if name in ("add", "sub", "mul"):
        return {"add": x.__add__, "sub": x.__sub__, "mul": x.__mul__}[name](y)
    if name == "sqr":
        return x * x
    if name == "neg":
        return -x
    if kind == "f":
        if name == "true_div":
            return x / y
        if name in ("int_div", "mod"):
            return _float_divmod(b, x, y)[0 if name == "int_div" else 1]
        if name == "pow":
            return b.module.math.call(b, "pow", x, y)
        if name == "maximum":
            return _fmax(b, x, y)
        if name == "minimum":
            return _fmin(b, x, y)
        if name == "clip":
            return _fmin(b, _fmax(b, x, y), v[2])
        if name == "relu":
            return _fmax(b, x, b.const(x.ty, 0.0))
        if name == "abs":
            return b.fabs(x)
        if name == "sign":
            r = b.select(b.fcmp("olt", x, 0.0), -1.0, 0.0, x.ty)
            r = b.select(b.fcmp("ogt", x, 0.0), 1.0, r)
            return b.select(b.isnan(x), x, r)
        if name in _MATH:
            return b.module.math.call(b, name, x)
        if name in _INTRIN:
            return b.intr(_INTRIN[name], x)
    else:
        bits = DTYPES[dt][3]
        if name in ("int_div", "mod"):
            return _int_divmod(b, x, y, kind, bits)[0 if name == "int_div" else 1]
        if name == "pow":
            fn = _ipow_function(b.module, x.ty, kind)
            return b.call(x.ty, fn, [x, y])
        if name == "maximum":
            return _imax(b, x, y, kind)
        if name == "minimum":
            return _imin(b, x, y, kind)
        if name == "clip":
            return _imin(b, _imax(b, x, y, kind), v[2], kind)
        if name == "relu":
            return _imax(b, x, b.const(x.ty, 0), kind) if kind == "i" else x
        if name == "abs":
            return b.select(b.icmp("slt", x, 0), -x, x) if kind == "i" else x
        if name == "sign":
            pos = b.conv("zext", b.icmp("sgt" if kind == "i" else "ugt", x, 0), x.ty)
            if kind == "u":
                return pos
            return pos - b.conv("zext", b.icmp("slt", x, 0), x.ty)
        if name in ("floor", "ceil", "round"):
            return x
    raise NotImplementedError(f"llvm backend: {name} on {dt}")


def step_name(op):
    return op if isinstance(op, str) else op.name


def emit_program(b, steps, n_inputs, input_dtypes, inputs):
    """Emit the straight-line program; returns (values, dtypes) of all registers."""
    vals, dts = list(inputs), list(input_dtypes)
    for op, args, dt in steps:
        vals.append(emit_op(b, step_name(op), [vals[a] for a in args], [dts[a] for a in args], dt))
        dts.append(dt)
    return vals, dts



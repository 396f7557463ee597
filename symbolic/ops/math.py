"""The elementwise math functions users call (``add``, ``exp``, ``sigmoid``...).

Each entry defines its NumPy meaning and its gradient next to each other.
"""
import math as _math

import numpy as np

from .elemwise import Elemwise, ScalarOp, _promote, cast
from ..types import FLOAT_DTYPES
from ..variable import as_tensor_variable


def _zeros(x):
    from .shape import zeros_like
    return zeros_like(x)


def _sigmoid_np(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus_np(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


_erf_vec = np.vectorize(_math.erf, otypes=["float64"])


def _erf_np(x):
    return _erf_vec(x) if np.size(x) else np.zeros(np.shape(x))


def _relu_np(x):
    # np.maximum propagates NaN, as NumPy users expect of relu(nan).
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def _true_div_dtype(dtypes):
    # NumPy's true_divide: floats keep their dtype, integers and booleans give float64.
    return dtypes[0] if dtypes[0] in FLOAT_DTYPES else "float64"


def _no_bool_dtype(name):
    def rule(dtypes):
        if dtypes[0] == "bool":
            raise TypeError(f"{name} is not defined for booleans (as in NumPy); use invert, "
                            f"logical_not or xor")
        return dtypes[0]
    return rule


def _bitwise_dtype(name):
    def rule(dtypes):
        if dtypes[0] in FLOAT_DTYPES:
            raise TypeError(f"{name} takes integers or booleans, got {dtypes[0]}")
        return dtypes[0]
    return rule


def _op(name, nin, impl, out="same", grad=None, promote=True):
    return Elemwise(ScalarOp(name, nin, impl, out, grad, promote))


# --- gradients (written with the public functions below; resolved when called)
def _g_sub(i, o, g): return [g, neg(g)]
def _g_mul(i, o, g): return [mul(g, i[1]), mul(g, i[0])]
def _g_div(i, o, g): return [true_div(g, i[1]), neg(mul(g, true_div(o, i[1])))]
def _g_mod(i, o, g): return [g, neg(mul(g, floor(true_div(i[0], i[1]))))]
def _g_pow(i, o, g):
    x, y = i
    return [mul(g, mul(y, pow(x, sub(y, 1)))), mul(g, mul(o, log(x)))]
def _g_maximum(i, o, g): return [mul(g, cast(eq(o, i[0]), g.dtype)), mul(g, cast(eq(o, i[1]), g.dtype))]
def _g_clip(i, o, g):
    x, lo, hi = i
    inside = and_(ge(x, lo), le(x, hi))
    return [switch(inside, g, 0), switch(lt(x, lo), g, 0), switch(gt(x, hi), g, 0)]


add = _op("add", 2, np.add, grad=lambda i, o, g: [g, g])
sub = _op("sub", 2, np.subtract, _no_bool_dtype("sub"), grad=_g_sub)
mul = _op("mul", 2, np.multiply, grad=_g_mul)
true_div = _op("true_div", 2, np.true_divide, out=_true_div_dtype, grad=_g_div)
int_div = _op("int_div", 2, np.floor_divide, grad=lambda i, o, g: [_zeros(i[0]), _zeros(i[1])])
mod = _op("mod", 2, np.mod, grad=_g_mod)
pow = _op("pow", 2, np.power, grad=_g_pow)
maximum = _op("maximum", 2, np.maximum, grad=_g_maximum)
minimum = _op("minimum", 2, np.minimum, grad=_g_maximum)
clip_op = _op("clip", 3, np.clip, grad=_g_clip)

neg = _op("neg", 1, np.negative, _no_bool_dtype("neg"), grad=lambda i, o, g: [neg(g)])
abs = _op("abs", 1, np.abs, grad=lambda i, o, g: [mul(g, sign(i[0]))])
sign = _op("sign", 1, np.sign, grad=lambda i, o, g: [_zeros(i[0])])
sqr = _op("sqr", 1, np.square, grad=lambda i, o, g: [mul(g, mul(2, i[0]))])
sqrt = _op("sqrt", 1, np.sqrt, "float", lambda i, o, g: [true_div(g, mul(2, o))])
exp = _op("exp", 1, np.exp, "float", lambda i, o, g: [mul(g, o)])
expm1 = _op("expm1", 1, np.expm1, "float", lambda i, o, g: [mul(g, add(o, 1))])
log = _op("log", 1, np.log, "float", lambda i, o, g: [true_div(g, i[0])])
log1p = _op("log1p", 1, np.log1p, "float", lambda i, o, g: [true_div(g, add(i[0], 1))])
log2 = _op("log2", 1, np.log2, "float", lambda i, o, g: [true_div(g, mul(i[0], _math.log(2)))])
log10 = _op("log10", 1, np.log10, "float", lambda i, o, g: [true_div(g, mul(i[0], _math.log(10)))])
sin = _op("sin", 1, np.sin, "float", lambda i, o, g: [mul(g, cos(i[0]))])
cos = _op("cos", 1, np.cos, "float", lambda i, o, g: [neg(mul(g, sin(i[0])))])
tan = _op("tan", 1, np.tan, "float", lambda i, o, g: [mul(g, add(1, sqr(o)))])
tanh = _op("tanh", 1, np.tanh, "float", lambda i, o, g: [mul(g, sub(1, sqr(o)))])
sigmoid = _op("sigmoid", 1, _sigmoid_np, "float", lambda i, o, g: [mul(g, mul(o, sub(1, o)))])
softplus = _op("softplus", 1, _softplus_np, "float", lambda i, o, g: [mul(g, sigmoid(i[0]))])
relu_op = _op("relu", 1, _relu_np, grad=lambda i, o, g: [switch(gt(i[0], 0), g, 0)])
erf = _op("erf", 1, _erf_np, "float",
          lambda i, o, g: [mul(g, mul(2 / _math.sqrt(_math.pi), exp(neg(sqr(i[0])))))])
floor = _op("floor", 1, np.floor, grad=lambda i, o, g: [_zeros(i[0])])
ceil = _op("ceil", 1, np.ceil, grad=lambda i, o, g: [_zeros(i[0])])
round = _op("round", 1, np.round, grad=lambda i, o, g: [_zeros(i[0])])
identity = _op("identity", 1, np.copy, grad=lambda i, o, g: [g])

eq = _op("eq", 2, np.equal, "bool")
neq = _op("neq", 2, np.not_equal, "bool")
lt = _op("lt", 2, np.less, "bool")
le = _op("le", 2, np.less_equal, "bool")
gt = _op("gt", 2, np.greater, "bool")
ge = _op("ge", 2, np.greater_equal, "bool")
and_ = _op("and", 2, np.bitwise_and, _bitwise_dtype("and"))
or_ = _op("or", 2, np.bitwise_or, _bitwise_dtype("or"))
xor = _op("xor", 2, np.bitwise_xor, _bitwise_dtype("xor"))
invert = _op("invert", 1, np.invert, _bitwise_dtype("invert"))
isnan = _op("isnan", 1, np.isnan, "bool")
isinf = _op("isinf", 1, np.isinf, "bool")

_switch = _op("switch", 3, np.where, out=lambda dts: dts[1], promote=False,
              grad=lambda i, o, g: [None, switch(i[0], g, 0), switch(i[0], 0, g)])


def switch(cond, if_true, if_false):
    """Elementwise ``cond ? if_true : if_false`` (NumPy's ``where``)."""
    cond = as_tensor_variable(cond)
    if cond.dtype != "bool":
        cond = neq(cond, 0)
    a, b = _promote([as_tensor_variable(if_true), as_tensor_variable(if_false)], "switch")
    return _switch(cond, a, b)


where = switch


def clip(x, lo, hi):
    return clip_op(x, lo, hi)


def relu(x, alpha=0):
    """``max(0, x)`` (NaN stays NaN); with ``alpha``, the leaky ``x if x > 0 else alpha * x``."""
    if alpha == 0:
        return relu_op(x)
    x = as_tensor_variable(x)
    return switch(gt(x, 0), x, mul(alpha, x))


def abs_(x):
    return abs(x)


def inv(x):
    return true_div(1, x)


def true_divide(x, y):
    return true_div(x, y)


def floor_div(x, y):
    return int_div(x, y)


def logical_not(x):
    return invert(cast(x, "bool"))


def logical_and(x, y):
    return and_(cast(x, "bool"), cast(y, "bool"))


def logical_or(x, y):
    return or_(cast(x, "bool"), cast(y, "bool"))


__all__ = [
    "add", "sub", "mul", "true_div", "int_div", "mod", "pow", "maximum", "minimum", "clip", "neg",
    "abs", "abs_", "sign", "sqr", "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "sin",
    "cos", "tan", "tanh", "sigmoid", "softplus", "relu", "erf", "floor", "ceil", "round",
    "identity", "eq", "neq", "lt", "le", "gt", "ge", "and_", "or_", "xor", "invert", "isnan",
    "isinf", "switch", "where", "inv", "true_divide", "floor_div", "logical_not", "logical_and",
    "logical_or",
]

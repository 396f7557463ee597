"""Specialize SGD-style updates into GEMM: ``C - s * dot(A, B)`` -> ``Gemm(C, -s, A, B, 1)``."""
import numpy as np

from ..graph import Constant, constant
from ..ops import math as M
from ..ops.blas import Gemm, gemm
from ..ops.elemwise import Elemwise, cast
from ..ops.linalg import Dot
from ..ops.shape import DimShuffle
from .basic import is_constant_scalar
from .core import register
from .stabilize import _owner_op


def _as_scalar(v):
    """``v`` as a 0-d variable if it is one broadcast (``DimShuffle{x,x}(s)``), else None."""
    if v.ndim == 0:
        return v
    if isinstance(v, Constant) and v.data.size == 1:
        return constant(v.data.reshape(()))
    ds = _owner_op(v, DimShuffle)
    if ds is not None and all(d == "x" for d in ds.op.new_order) and ds.inputs[0].ndim == 0:
        return ds.inputs[0]
    return None


def _scaled_dot(v):
    """``(s, (A, B, t), rest)`` when ``v`` is ``s * t * dot(A, B) + s * rest``: a plain or
    scaled ``dot``, ``s * (dot + rest)``, or a scaled ``Gemm(rest, t, A, B, 1)``."""
    found = _dot_like(v)
    if found is not None:
        return (1,) + found
    mul = _owner_op(v, M.mul)
    if mul is None:
        return None
    for s, x in (mul.inputs, mul.inputs[::-1]):
        scalar = _as_scalar(s)
        if scalar is None:
            continue
        found = _dot_like(x)
        if found is not None:
            return (scalar,) + found
        add = _owner_op(x, M.add)
        if add is not None:
            for d, rest in (add.inputs, add.inputs[::-1]):
                dot = _owner_op(d, Dot)
                if dot is not None and d.ndim == 2 and d.type == x.type:
                    return scalar, (dot.inputs[0], dot.inputs[1], 1), rest
    return None


def _dot_like(v):
    """``((A, B, t), rest)`` for ``dot(A, B)`` or ``Gemm(rest, t, A, B, 1)``, else None."""
    if v.ndim != 2:
        return None
    dot = _owner_op(v, Dot)
    if dot is not None:
        return (dot.inputs[0], dot.inputs[1], 1), None
    g = _owner_op(v, Gemm)
    if g is not None and is_constant_scalar(g.inputs[4], 1):
        c, t, a, b, _ = g.inputs
        return (a, b, t), c


@register(Elemwise, phase="specialize")
def local_gemm_update(node):
    """``C - s * dot(A, B)`` (also ``C + s * dot``, and ``C - s * (dot + R)`` as
    ``Gemm(C - s * R, -s, A, B, 1)``) -> one GEMM, which may then run in place."""
    if node.op not in (M.sub, M.add):
        return None
    c, x = node.inputs
    out = node.outputs[0]
    if c.ndim != 2 or c.dtype != out.dtype:
        return None
    found = _scaled_dot(x)
    if found is None:
        return None
    scale, (a, b, t), rest = found
    if a.dtype != c.dtype or b.dtype != c.dtype:
        return None
    alpha = _times(scale, t, c.dtype)
    if node.op == M.sub:
        alpha = M.neg(alpha)
    if rest is not None:
        c = node.op(c, rest if scale == 1 else M.mul(scale, rest))
        if c.dtype != out.dtype:
            return None
    rows, cols = a.type.shape[0], b.type.shape[1]
    if any(s is not None and t is not None and s != t for s, t in zip(c.type.shape, (rows, cols))):
        return None   # C broadcasts against the product: not a GEMM
    result = gemm(c, alpha, a, b, constant(np.array(1, dtype=c.dtype)))
    return [result] if result.type == out.type else None


def _times(s, t, dtype):
    """``s * t`` for scalars that may be the Python int 1, as a ``dtype`` scalar variable."""
    parts = [p for p in (s, t) if not (isinstance(p, int) and p == 1) and not is_constant_scalar(p, 1)
             if not isinstance(p, int)]
    if not parts:
        return constant(np.array(1, dtype=dtype))
    out = parts[0] if len(parts) == 1 else M.mul(parts[0], parts[1])
    return cast(out, dtype)

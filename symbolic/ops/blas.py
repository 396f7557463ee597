"""GEMM: ``beta * C + alpha * dot(A, B)`` as one op.

The specializer rewrites SGD's ``w - lr * dot(a.T, d)`` into it, and the
in-place plan may let it write straight into ``w``'s buffer (BLAS's
``sgemm`` with ``beta = 1``).  Here ``perform`` is the NumPy meaning, always
into a new array; the NumPy backend has the in-place lowering.
"""
import numpy as np

from ..graph import Apply, Op
from ..types import FLOAT_DTYPES, TensorType
from ..variable import as_tensor_variable
from .elemwise import cast
from . import math as M


class Gemm(Op):
    def make_node(self, c, alpha, a, b, beta):
        c = as_tensor_variable(c)
        if c.ndim != 2 or c.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Gemm: C must be a float matrix, got {c.type}")
        a, b, alpha, beta = (cast(v, c.dtype) for v in (a, b, alpha, beta))
        if a.ndim != 2 or b.ndim != 2 or alpha.ndim != 0 or beta.ndim != 0:
            raise TypeError(f"Gemm: expected matrices A, B and scalars alpha, beta; got "
                            f"{a.type}, {b.type}, {alpha.type}, {beta.type}")
        for what, (x, y) in (("A @ B", (a.type.shape[1], b.type.shape[0])),
                             ("C rows", (c.type.shape[0], a.type.shape[0])),
                             ("C columns", (c.type.shape[1], b.type.shape[1]))):
            if x is not None and y is not None and x != y:
                raise ValueError(f"Gemm: {what} do not match: {x} != {y}")
        shape = tuple(s if s is not None else t for s, t in zip(c.type.shape, (a.type.shape[0], b.type.shape[1])))
        return Apply(self, [c, alpha, a, b, beta], [TensorType(c.dtype, shape)])

    def perform(self, node, inputs):
        c, alpha, a, b, beta = inputs
        return [np.asarray(beta * c + alpha * np.dot(a, b), dtype=c.dtype)]

    def grad(self, inputs, output_grads):
        from .linalg import dot
        from .reduce import sum as _sum
        from .shape import transpose
        c, alpha, a, b, beta = inputs
        g = output_grads[0]
        return [M.mul(g, beta), _sum(M.mul(g, dot(a, b))), M.mul(alpha, dot(g, transpose(b))),
                M.mul(alpha, dot(transpose(a), g)), _sum(M.mul(g, c))]


gemm = Gemm()

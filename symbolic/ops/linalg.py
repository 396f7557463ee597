"""Products: dot, matmul, outer, tensordot."""
import numpy as np

from ..graph import Apply, Op
from ..types import TensorType, upcast
from ..variable import as_tensor_variable
from .elemwise import broadcast_static_shapes, cast, unbroadcast
from . import math as M
from .shape import dimshuffle, make_vector, reshape, shape, transpose


def _check_inner(a, b, da, db, what):
    ka, kb = a.type.shape[da], b.type.shape[db]
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(f"{what}: shapes {a.type.shape} and {b.type.shape} are not aligned "
                         f"({ka} != {kb})")


def _promote_pair(a, b):
    dtype = upcast(a.dtype, b.dtype)
    return cast(a, dtype), cast(b, dtype)


class Dot(Op):
    """``np.dot`` for vectors and matrices (the GEMM/GEMV the backends call BLAS for)."""

    def make_node(self, a, b):
        a, b = _promote_pair(as_tensor_variable(a), as_tensor_variable(b))
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise TypeError(f"Dot takes vectors and matrices, got {a.ndim}-d and {b.ndim}-d")
        _check_inner(a, b, -1, 0, "dot")
        shp = a.type.shape[:-1] + b.type.shape[1:]
        return Apply(self, [a, b], [TensorType(a.dtype, shp)])

    def perform(self, node, inputs):
        a, b = inputs
        return [np.asarray(np.dot(a, b), dtype=node.outputs[0].dtype)]

    def grad(self, inputs, output_grads):
        a, b = inputs
        g = output_grads[0]
        if a.ndim == 1 and b.ndim == 1:
            return [M.mul(g, b), M.mul(g, a)]
        if a.ndim == 2 and b.ndim == 1:
            return [outer(g, b), dot(transpose(a), g)]
        if a.ndim == 1 and b.ndim == 2:
            return [dot(b, g), outer(a, g)]
        return [dot(g, transpose(b)), dot(transpose(a), g)]


class MatMul(Op):
    """``np.matmul`` on tensors of at least 2 dims, batch dims broadcast."""

    def make_node(self, a, b):
        a, b = _promote_pair(as_tensor_variable(a), as_tensor_variable(b))
        if a.ndim < 2 or b.ndim < 2:
            raise TypeError("MatMul takes tensors of at least 2 dims; use matmul() for vectors")
        _check_inner(a, b, -1, -2, "matmul")
        n = max(a.ndim, b.ndim)
        batch_a = (1,) * (n - a.ndim) + a.type.shape[:-2]
        batch_b = (1,) * (n - b.ndim) + b.type.shape[:-2]
        batch = broadcast_static_shapes([batch_a, batch_b], "matmul") if n > 2 else ()
        return Apply(self, [a, b], [TensorType(a.dtype, batch + (a.type.shape[-2], b.type.shape[-1]))])

    def perform(self, node, inputs):
        return [np.asarray(np.matmul(*inputs), dtype=node.outputs[0].dtype)]

    def grad(self, inputs, output_grads):
        a, b = inputs
        g = output_grads[0]
        return [unbroadcast(matmul(g, _swap_last(b)), a), unbroadcast(matmul(_swap_last(a), g), b)]


def _swap_last(x):
    order = list(range(x.ndim))
    order[-1], order[-2] = order[-2], order[-1]
    return dimshuffle(x, order)


_dot = Dot()
_matmul = MatMul()


def dot(a, b):
    """NumPy's ``dot``: products of scalars, vectors, matrices and (by tensordot) tensors."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return M.mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return _dot(a, b)
    return tensordot(a, b, [[a.ndim - 1], [max(b.ndim - 2, 0)]])


def matmul(a, b):
    """NumPy's ``matmul`` (``a @ b``): 1-d operands are promoted and the extra axis removed."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: scalar operands are not allowed, use '*' instead")
    if a.ndim <= 2 and b.ndim <= 2:
        return _dot(a, b)
    a2 = dimshuffle(a, ["x", 0]) if a.ndim == 1 else a
    b2 = dimshuffle(b, [0, "x"]) if b.ndim == 1 else b
    out = _matmul(a2, b2)
    if a.ndim == 1:
        out = dimshuffle(out, [i for i in range(out.ndim) if i != out.ndim - 2])
    if b.ndim == 1:
        out = dimshuffle(out, list(range(out.ndim - 1)))
    return out


def outer(x, y):
    """Outer product of two vectors (flattened first, like NumPy)."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    if x.ndim != 1:
        x = reshape(x, [-1])
    if y.ndim != 1:
        y = reshape(y, [-1])
    return _dot(dimshuffle(x, [0, "x"]), dimshuffle(y, ["x", 0]))


def tensordot(a, b, axes=2):
    """NumPy's ``tensordot``: sum over the given axes of ``a`` and ``b``."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: axes {axes_a} and {axes_b} differ in length")
    axes_a = [x % a.ndim for x in axes_a]
    axes_b = [x % b.ndim for x in axes_b]
    for da, db in zip(axes_a, axes_b):
        _check_inner(a, b, da, db, "tensordot")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    sa, sb = shape(a), shape(b)
    a2 = reshape(transpose(a, free_a + axes_a), make_vector(_prod(sa, free_a), _prod(sa, axes_a)))
    b2 = reshape(transpose(b, axes_b + free_b), make_vector(_prod(sb, axes_b), _prod(sb, free_b)))
    out = _dot(a2, b2)
    dims = [sa[i] for i in free_a] + [sb[i] for i in free_b]
    return reshape(out, make_vector(*dims) if dims else [], ndim=len(dims))


def _prod(s, axes):
    """The product of the entries ``axes`` of the shape vector ``s`` (1 for none)."""
    out = 1
    for i in axes:
        out = M.mul(out, s[i])
    return out


def batched_dot(a, b):
    """Theano's ``batched_dot``: ``out[i] = tensordot(a[i], b[i], [[a.ndim - 2], [0]])``.

    Each pair of slices along the leading (batch) axis is multiplied: matrices as
    matrices, and a 2-d operand is a batch of vectors (so two give row-wise dots).
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim < 2 or b.ndim < 2:
        raise TypeError(f"batched_dot takes tensors of at least 2 dims, got {a.ndim}-d and "
                        f"{b.ndim}-d")
    if a.ndim == 3 and b.ndim == 3:
        return _matmul(a, b)
    sa, sb = shape(a), shape(b)
    a3 = reshape(a, make_vector(sa[0], _prod(sa, range(1, a.ndim - 1)), sa[a.ndim - 1]))
    b3 = reshape(b, make_vector(sb[0], sb[1], _prod(sb, range(2, b.ndim))))
    out = _matmul(a3, b3)
    dims = [sa[0]] + [sa[i] for i in range(1, a.ndim - 1)] + [sb[i] for i in range(2, b.ndim)]
    return reshape(out, make_vector(*dims))


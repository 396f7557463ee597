"""Tensor variables: graph values that behave like NumPy arrays.

Arithmetic, comparisons, indexing and the usual methods (``sum``, ``T``,
``reshape``...) build graph nodes.  Python scalars mixed with tensors are
"weak": they take the tensor's dtype, and a Python float becomes floatX, so a
float32 model stays float32 through its literals.
"""
import numbers

import numpy as np

from .config import config
from .graph import Constant, Variable, constant
from .types import TensorType


class TensorVariable(Variable):
    """A symbolic tensor."""

    # Make NumPy defer to our reflected operators (ndarray + var -> var.__radd__).
    __array_priority__ = 1000
    __array_ufunc__ = None

    ndim = property(lambda self: self.type.ndim)
    dtype = property(lambda self: self.type.dtype)
    broadcastable = property(lambda self: self.type.broadcastable)
    weak = False

    @property
    def shape(self):
        return _ops.shape(self)

    @property
    def size(self):
        return _ops.prod(_ops.shape(self))

    @property
    def T(self):
        return _ops.transpose(self)

    def __len__(self):
        raise TypeError("len() of a symbolic tensor is not known; use x.shape[0]")

    def __bool__(self):
        raise TypeError("a symbolic tensor has no truth value; use switch/where or eq/and/or")

    def __iter__(self):
        if self.type.ndim and self.type.shape[0] is not None:
            return iter([self[i] for i in range(self.type.shape[0])])
        raise TypeError("cannot iterate over a tensor whose first dimension is not known statically")

    # arithmetic
    __add__ = lambda s, o: _ops.add(s, o)
    __radd__ = lambda s, o: _ops.add(o, s)
    __sub__ = lambda s, o: _ops.sub(s, o)
    __rsub__ = lambda s, o: _ops.sub(o, s)
    __mul__ = lambda s, o: _ops.mul(s, o)
    __rmul__ = lambda s, o: _ops.mul(o, s)
    __truediv__ = lambda s, o: _ops.true_div(s, o)
    __rtruediv__ = lambda s, o: _ops.true_div(o, s)
    __floordiv__ = lambda s, o: _ops.int_div(s, o)
    __rfloordiv__ = lambda s, o: _ops.int_div(o, s)
    __mod__ = lambda s, o: _ops.mod(s, o)
    __rmod__ = lambda s, o: _ops.mod(o, s)
    __pow__ = lambda s, o: _ops.pow(s, o)
    __rpow__ = lambda s, o: _ops.pow(o, s)
    __matmul__ = lambda s, o: _ops.matmul(s, o)
    __rmatmul__ = lambda s, o: _ops.matmul(o, s)
    __neg__ = lambda s: _ops.neg(s)
    __pos__ = lambda s: s
    __abs__ = lambda s: _ops.abs(s)
    __invert__ = lambda s: _ops.invert(s)
    __and__ = lambda s, o: _ops.and_(s, o)
    __rand__ = lambda s, o: _ops.and_(o, s)
    __or__ = lambda s, o: _ops.or_(s, o)
    __ror__ = lambda s, o: _ops.or_(o, s)
    __xor__ = lambda s, o: _ops.xor(s, o)
    __rxor__ = lambda s, o: _ops.xor(o, s)
    # comparisons (== and != stay identity-based so variables can be dict keys, as in Theano)
    __lt__ = lambda s, o: _ops.lt(s, o)
    __le__ = lambda s, o: _ops.le(s, o)
    __gt__ = lambda s, o: _ops.gt(s, o)
    __ge__ = lambda s, o: _ops.ge(s, o)
    __hash__ = Variable.__hash__

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # methods
    def sum(self, axis=None, keepdims=False, dtype=None):
        return _ops.sum(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def prod(self, axis=None, keepdims=False):
        return _ops.prod(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _ops.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _ops.argmin(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _ops.any(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return _ops.all(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return _ops.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return _ops.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def norm(self, L=2, axis=None, keepdims=False):
        if L == 1:
            return _ops.sum(_ops.abs(self), axis=axis, keepdims=keepdims)
        if L == 2:
            return _ops.sqrt(_ops.sum(_ops.sqr(self), axis=axis, keepdims=keepdims))
        raise ValueError(f"norm: L={L!r} is not supported; expected 1 or 2")

    def reshape(self, *shape, ndim=None):
        if len(shape) == 1 and not isinstance(shape[0], (numbers.Integral, Variable)):
            shape = shape[0]
        return _ops.reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        return _ops.flatten(self, ndim)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = pattern[0]
        return _ops.dimshuffle(self, pattern)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = axes[0]
        return _ops.transpose(self, axes or None)

    def astype(self, dtype):
        return _ops.cast(self, dtype)

    def dot(self, other):
        return _ops.dot(self, other)

    def clip(self, lo, hi):
        return _ops.clip(self, lo, hi)

    def nonzero_values(self):
        return self.flatten()[_ops.neq(self.flatten(), 0)]

    def copy(self, name=None):
        out = _ops.identity(self)
        out.name = name
        return out

    def eval(self, inputs=None):
        """Compile (cached per input set) and run this variable's graph."""
        from .function import function
        inputs = dict(inputs or {})
        key = tuple(id(k) for k in inputs)
        cache = self.__dict__.setdefault("_eval_cache", {})
        if key not in cache:
            cache[key] = function(list(inputs), self, on_unused_input="ignore")
        return cache[key](*inputs.values())


class TensorConstant(Constant, TensorVariable):
    """A tensor whose value is fixed in the graph."""

    def __init__(self, type, data, name=None, weak=False):
        Constant.__init__(self, type, data, name=name)
        self.weak = weak
        self.exact = None

    def clone(self):
        return self


def as_tensor_variable(x, name=None, ndim=None, dtype=None):
    """Turn ``x`` (variable, array, Python number or list) into a TensorVariable."""
    if isinstance(x, TensorVariable):
        out = x
    elif isinstance(x, Variable):
        raise TypeError(f"cannot use {x!r} of type {x.type} as a tensor")
    elif isinstance(x, (bool, np.bool_)) and not isinstance(x, np.ndarray):
        out = _weak(np.array(bool(x)))
    elif isinstance(x, numbers.Integral) and not isinstance(x, np.integer):
        out = _weak(np.array(x, dtype="int64"))
    elif isinstance(x, numbers.Real) and not isinstance(x, (np.floating, np.integer)):
        out = _weak(np.array(x, dtype=config.floatX), exact=x)
    elif isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flatten_items(x)):
        out = _ops.stack([as_tensor_variable(e) for e in x])
    else:
        if isinstance(x, (list, tuple)):
            arr = np.asarray(x)
            if arr.dtype.kind == "f":
                arr = arr.astype(config.floatX)
            x = arr
        out = constant(x, dtype=dtype)
    if name is not None and out is not x and out.name is None:
        out.name = name
    if ndim is not None and out.ndim != ndim:
        raise TypeError(f"expected a {ndim}-d tensor, got {out!r} with {out.ndim} dimensions")
    if dtype is not None and out.dtype != dtype:
        out = _ops.cast(out, dtype)
    return out


def _flatten_items(x):
    for e in x:
        if isinstance(e, (list, tuple)):
            yield from _flatten_items(e)
        else:
            yield e


def _weak(arr, exact=None):
    """A Python scalar as a weak constant; ``exact`` keeps a float's full value so that a
    float64 graph does not see it rounded to floatX first."""
    arr.setflags(write=False)
    out = TensorConstant(TensorType(arr.dtype.name, ()), arr, weak=True)
    out.exact = exact
    return out


from . import ops as _ops  # noqa: E402  (ops use the classes above)

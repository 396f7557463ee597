"""Variable constructors in Theano's naming (``matrix('x')``, ``ivector('y')``...)."""
from .config import config
from .types import TensorType, check_dtype

_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64"}
_SHAPES = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
           "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4, "tensor5": (None,) * 5}


def tensor(dtype=None, shape=None, name=None, broadcastable=None):
    """A symbolic tensor of ``dtype`` (floatX by default) and static ``shape``."""
    if isinstance(dtype, str) and shape is None and broadcastable is None and name is None \
            and dtype not in ("floatX",) and not _is_dtype(dtype):
        raise TypeError(f"tensor(): {dtype!r} is not a dtype; call tensor(dtype, shape, name)")
    dtype = check_dtype(dtype or config.floatX)
    if shape is None and broadcastable is None:
        raise TypeError("tensor(): give a static shape, e.g. tensor('float32', (None, 3))")
    return TensorType(dtype, shape, broadcastable)(name)


def _is_dtype(s):
    try:
        check_dtype(s)
        return True
    except TypeError:
        return False


def _maker(kind, dtype):
    shape = _SHAPES[kind]

    def make(name=None, dtype=dtype, shape=shape):
        return TensorType(check_dtype(dtype or config.floatX), shape)(name)
    make.__name__ = kind
    make.__doc__ = f"A symbolic {kind} ({dtype or 'floatX'}, static shape {shape})."
    return make


scalar, vector, matrix, row, col, tensor3, tensor4, tensor5 = (
    _maker(k, None) for k in ("scalar", "vector", "matrix", "row", "col", "tensor3", "tensor4", "tensor5"))

_namespace = globals()
for _p, _dt in _PREFIX.items():
    for _k in _SHAPES:
        _namespace[_p + _k] = _maker(_k, _dt)

__all__ = ["tensor"] + list(_SHAPES) + [p + k for p in _PREFIX for k in _SHAPES]

"""Tensor types: a dtype plus a static shape.

A static shape entry is ``None`` (unknown until run time) or an int.  An entry
of 1 makes that dimension broadcastable, as in Theano's broadcastable pattern.
Types check and convert the values users pass to compiled functions, so that a
wrong dtype or shape is caught with a message naming the input.
"""
import numpy as np

from .config import config

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")
FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
DISCRETE_DTYPES = INT_DTYPES + ("bool",)


def check_dtype(dtype, what="dtype"):
    """Normalise a dtype spec to one of DTYPES, or raise naming what was given."""
    if dtype == "floatX":
        return config.floatX
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"{what} {dtype!r} is not a dtype; expected one of {', '.join(DTYPES)}") from None
    if name not in DTYPES:
        raise TypeError(f"{what} {name!r} is not supported; expected one of {', '.join(DTYPES)}")
    return name


def upcast(*dtypes):
    """NumPy's promotion of array dtypes, restricted to the supported set."""
    name = np.result_type(*[np.dtype(d) for d in dtypes]).name
    if name == "float16":
        return "float32"
    if name not in DTYPES:
        raise TypeError(f"promoting {', '.join(dtypes)} gives {name}, which is not supported")
    return name


def float_dtype_for(dtype):
    """The float dtype a math function of a ``dtype`` input returns (Theano's rule)."""
    if dtype in FLOAT_DTYPES:
        return dtype
    if dtype in ("bool", "int8", "uint8", "int16"):
        return "float32"
    return "float64"


class TensorType:
    """The type of a tensor variable: dtype and static shape."""

    def __init__(self, dtype, shape=None, broadcastable=None):
        self.dtype = check_dtype(dtype)
        if broadcastable is not None:
            if shape is not None:
                raise TypeError("give shape or broadcastable, not both")
            shape = tuple(1 if b else None for b in broadcastable)
        if shape is None:
            raise TypeError("TensorType needs a shape (a tuple of None or ints)")
        shape = tuple(shape)
        for s in shape:
            if s is not None and (not isinstance(s, (int, np.integer)) or s < 0):
                raise TypeError(f"static shape entries must be None or non-negative ints, got {shape}")
        self.shape = tuple(None if s is None else int(s) for s in shape)

    ndim = property(lambda self: len(self.shape))
    broadcastable = property(lambda self: tuple(s == 1 for s in self.shape))

    def __eq__(self, other):
        return type(other) is type(self) and other.dtype == self.dtype and other.shape == self.shape

    def __hash__(self):
        return hash((TensorType, self.dtype, self.shape))

    def __repr__(self):
        dims = ", ".join("?" if s is None else str(s) for s in self.shape)
        return f"TensorType({self.dtype}, ({dims}{',' if self.ndim == 1 else ''}))"

    def __call__(self, name=None):
        from .variable import TensorVariable
        return TensorVariable(self, name=name)

    def clone(self, dtype=None, shape=None):
        return TensorType(dtype or self.dtype, self.shape if shape is None else shape)

    def accepts(self, other):
        """True when every value of type ``other`` is a valid value of this type."""
        return (other.dtype == self.dtype and other.ndim == self.ndim and
                all(s is None or s == o for s, o in zip(self.shape, other.shape)))

    def compatible_shape(self, shape):
        return len(shape) == self.ndim and all(s is None or s == d for s, d in zip(self.shape, shape))

    def filter(self, value, name="input", allow_downcast=None):
        """Convert a user value to an array of this type, or raise a clear error.

        Values are cast only when no information is lost, as Theano did:
        ``allow_downcast=None`` also lets Python floats and lists become
        float32, ``True`` allows any cast, ``False`` only safe ones.
        """
        from_python = not isinstance(value, (np.ndarray, np.generic))
        arr = np.asarray(value)
        if arr.dtype is not _NP_DTYPES.get(self.dtype) and arr.dtype != self.dtype:
            arr = self._cast(arr, name, allow_downcast, from_python)
        if arr.ndim != self.ndim:
            raise TypeError(f"{name}: expected a {self.ndim}-d array of {self.dtype} (type {self}), "
                            f"got a {arr.ndim}-d array of shape {arr.shape}")
        if not self.compatible_shape(arr.shape):
            raise ValueError(f"{name}: expected shape {_shape_str(self.shape)}, got {arr.shape}")
        return arr

    def _cast(self, arr, name, allow_downcast, from_python):
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected {self.dtype} data, got an array of {arr.dtype}")
        if allow_downcast or np.can_cast(arr.dtype, self.dtype, casting="safe"):
            return arr.astype(self.dtype)
        if from_python and allow_downcast is None:
            cast = arr.astype(self.dtype)
            if arr.dtype.kind == "f" and self.dtype in FLOAT_DTYPES:
                return cast
            with np.errstate(invalid="ignore", over="ignore"):
                if np.array_equal(cast.astype(arr.dtype), arr):
                    return cast
        raise TypeError(f"{name}: expected {self.dtype}, got {arr.dtype}; casting would lose "
                        f"information (cast it yourself or pass allow_input_downcast=True)")


_NP_DTYPES = {name: np.dtype(name) for name in ("bool", "int8", "int16", "int32", "int64", "uint8",
                                                "uint16", "uint32", "uint64", "float16", "float32",
                                                "float64", "complex64", "complex128")}


def _shape_str(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def tensor_type_of_value(value, dtype=None):
    """The type of a constant or shared value: exact dtype, fully known shape."""
    arr = np.asarray(value)
    return TensorType(dtype or check_dtype(arr.dtype, "value dtype"), arr.shape)

"""Shared variables: named state that lives across calls of compiled functions.

The value sits in a ``Container`` that every function using the variable
reads and (through ``updates``) writes.  The container holds the value in the
form of the current device (a NumPy array on the CPU; a device backend may
store its own array type), and converts at the edges: ``get_value`` always
returns a NumPy array.
"""
import numbers

import numpy as np

from .config import config
from .types import TensorType, check_dtype
from .variable import TensorVariable


class Container:
    """Holds one shared value; ``device`` knows how to move values to and from it."""

    def __init__(self, value, device):
        self.device = device
        self.value = value
        # False while the value is an array the caller lent (set_value(..., borrow=True)):
        # it is then never overwritten in place.
        self.owned = True


class SharedVariable(TensorVariable):
    """A symbolic variable with a persistent value (weights, data sets, RNG state)."""

    def __init__(self, type, value, name=None, borrow=False, strict=False, allow_downcast=None):
        super().__init__(type, name=name)
        from backends import current_device
        device = current_device()
        arr = self._filter(value, strict, allow_downcast)
        if not borrow:
            arr = arr.copy()
        self.container = Container(device.to_device(arr), device)
        self.default_update = None
        self._strict, self._allow_downcast = strict, allow_downcast

    def _filter(self, value, strict, allow_downcast):
        if hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray):
            value = value.get()
        if strict:
            arr = np.asarray(value)
            if arr.dtype.name != self.type.dtype or arr.ndim != self.type.ndim:
                raise TypeError(f"shared variable {self.name or ''}: strict=True expects "
                                f"{self.type}, got {arr.dtype} with {arr.ndim} dims")
            return arr
        return self.type.filter(value, name=f"shared variable {self.name or '(unnamed)'}",
                                allow_downcast=allow_downcast)

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value as a NumPy array (a copy unless ``borrow``)."""
        value = self.container.value
        if return_internal_type:
            return value if borrow else value.copy()
        arr = self.container.device.to_host(value)
        return arr.copy() if arr is value and not borrow else arr

    def set_value(self, value, borrow=False):
        """Replace the value; it must fit the variable's dtype and number of dims."""
        device = self.container.device
        if device.is_device_array(value):
            if str(value.dtype) != self.type.dtype or value.ndim != self.type.ndim:
                raise TypeError(f"set_value on {self.name or 'shared variable'}: expected "
                                f"{self.type}, got a {value.ndim}-d {value.dtype} device array")
            self.container.value = value if borrow else value.copy()
            self.container.owned = not borrow
            return
        arr = self._filter(value, self._strict, self._allow_downcast)
        overwrite = getattr(device, "overwrite", None)
        if overwrite is not None and self.container.owned:
            self.container.value = overwrite(self.container.value, arr)
            return
        if not borrow and arr is value:
            arr = arr.copy()
        self.container.value = device.to_device(arr)
        self.container.owned = True

    value = property(get_value, set_value)

    def clone(self):
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_eval_cache", None)
        state["container"] = None
        state["_host_value"] = self.get_value()
        return state

    def __setstate__(self, state):
        value = state.pop("_host_value")
        self.__dict__.update(state)
        from backends import current_device
        device = current_device()
        self.container = Container(device.to_device(value), device)

    def __repr__(self):
        return self.name or f"<shared {self.type}>"


def shared(value, name=None, borrow=False, strict=False, allow_downcast=None, shape=None, dtype=None):
    """A shared variable initialised with ``value``.

    The static shape is unknown in every dimension (``set_value`` may change
    it) unless ``shape`` is given.  A Python float becomes floatX.
    """
    if isinstance(value, SharedVariable):
        raise TypeError("shared(): the value is already a shared variable")
    if hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray):
        arr_dtype, ndim = str(value.dtype), value.ndim
    else:
        if isinstance(value, numbers.Real) and not isinstance(value, (np.generic, bool, numbers.Integral)):
            value = np.asarray(value, dtype=config.floatX)
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"shared(): cannot hold a value of type {type(value).__name__}")
        arr_dtype, ndim = arr.dtype.name, arr.ndim
    type_ = TensorType(check_dtype(dtype or arr_dtype, "shared value dtype"),
                       shape if shape is not None else (None,) * ndim)
    return SharedVariable(type_, value, name=name, borrow=borrow, strict=strict,
                          allow_downcast=allow_downcast)

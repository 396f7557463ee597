"""Backends: turn an optimized function graph into something that runs.

Every backend meets one contract: ``compile(fgraph)`` returns a callable
taking the values of ``fgraph.inputs`` (user inputs then shared values, in
the device's array type) and returning the values of ``fgraph.outputs``.
A backend lowers each op by dispatch on the op's type, from its own table;
ops never know about backends.

Devices say where shared values live and how arrays cross to and from the
host.  The backend is chosen from ``config.linker`` ('auto' picks the best
one for ``config.device``: ``llvm`` on the CPU).
"""
import numpy as np

from symbolic.config import config


class HostDevice:
    """Values are NumPy arrays in main memory."""

    name = "cpu"

    def to_device(self, arr):
        return np.asarray(arr)

    def to_host(self, value):
        return value

    def is_device_array(self, value):
        return False


_HOST = HostDevice()
_HOST_BACKENDS = ("numpy", "llvm")
_BACKEND_FACTORIES = {}
_BACKEND_CACHE = {}


def register_backend(name, factory):
    """Make a backend available under ``name`` (``factory()`` builds it on first use)."""
    _BACKEND_FACTORIES[name] = factory


def available_backends():
    """Names of the registered backends."""
    return sorted(_BACKEND_FACTORIES)


def current_device():
    """The device that new shared variables are stored on, from ``config.device``."""
    if config.device == "cpu":
        return _HOST
    from .cuda.runtime import device_named
    return device_named(config.device)


def get_backend(name=None):
    """The backend called ``name``, or the one ``config`` selects."""
    name = name or config.linker
    if name == "auto":
        name = _auto_backend()
    if config.device != "cpu" and name in _HOST_BACKENDS:
        raise ValueError(f"linker={name!r} runs on the CPU, but config.device={config.device!r}: "
                         f"use linker='cuda' (or 'auto') with a GPU device, or device='cpu'")
    if name not in _BACKEND_FACTORIES:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(sorted(_BACKEND_FACTORIES))}")
    if name not in _BACKEND_CACHE:
        _BACKEND_CACHE[name] = _BACKEND_FACTORIES[name]()
    return _BACKEND_CACHE[name]


def _auto_backend():
    """The native backend of the device; on the CPU, the reference one where the native
    one cannot load (no llvmlite, or a Python/NumPy build whose object layout it does not
    know), with a warning saying why."""
    if config.device != "cpu":
        return "cuda"
    try:
        import backends.llvm.backend  # noqa: F401
    except ImportError as e:
        import warnings
        warnings.warn(f"linker=auto: the llvm backend cannot load ({e}); using the numpy "
                      f"reference backend", RuntimeWarning, stacklevel=3)
        return "numpy"
    return "llvm"


def _numpy_backend():
    from .numpy import NumpyBackend
    return NumpyBackend()


def _llvm_backend():
    from .llvm.backend import LLVMBackend
    return LLVMBackend()


def _cuda_backend():
    from .cuda.backend import CudaBackend
    return CudaBackend()


register_backend("numpy", _numpy_backend)
register_backend("llvm", _llvm_backend)
register_backend("cuda", _cuda_backend)

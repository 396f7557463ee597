"""The CUDA runtime: CuPy (imported only when a CUDA device is selected), the device, and
compiled kernels.

Everything the backend asks of CuPy goes through the module ``cupy()`` returns, and only
a small part of CuPy's API is used: ``ndarray`` (shape, strides, views, ``set``, ``copy``,
``astype``, assignment into slices), ``asarray``/``asnumpy``/``empty``/``zeros``/
``matmul``/``broadcast_to``/``ascontiguousarray``, ``RawModule(code=...,
options=...).get_function(name)`` and the kernel call ``kernel(grid, block, args)``,
``get_default_memory_pool().malloc``, and in ``cuda``: ``runtime.getDeviceCount``,
``Device(i).use()``/``synchronize()``, ``Stream`` (``begin_capture``/``end_capture``,
``synchronize``), ``using_allocator``.  Tests swap in an emulator with the same surface
(``use_module``) that runs the generated kernels on the host, so the backend's launch logic
is checked on machines without a GPU.

Selection fails at once, with what is missing and how to get it: no silent fallback to the
CPU (a user who asked for a GPU and gets a CPU waits hours without knowing why).
"""
import numpy as np

__all__ = ["CudaUnavailable", "cupy", "use_module", "CudaDevice", "device_named", "kernel",
           "launch", "grid_for", "BLOCK", "MAX_BLOCKS"]

BLOCK = 256            # threads per block of the grid-stride kernels
MAX_BLOCKS = 4096      # grid-stride kernels never need more blocks than this to fill a GPU

_module = None
_devices = {}
_kernels = {}          # (GPU index, kernel name) -> compiled kernel
_current = 0           # the GPU made current last


class CudaUnavailable(RuntimeError):
    """``device=cuda`` was asked for but cannot be given (no CuPy, no GPU, no such GPU)."""


def cupy():
    """The CuPy module (or the emulator installed by ``use_module``), imported on first use."""
    global _module
    if _module is None:
        try:
            import cupy as cp
        except ImportError as e:
            raise CudaUnavailable(
                f"device=cuda needs CuPy, which is not installed ({e}). Install the GPU extra: "
                f"pip install 'symbolic-nets[cuda]' (CuPy for CUDA 13; for a CUDA 12 driver, "
                f"pip install cupy-cuda12x), or use device=cpu") from None
        _module = cp
    return _module


def use_module(module):
    """Make ``module`` the CuPy the backend uses (tests: the host emulator); returns the
    previous one (None: not imported yet).  Kernels and devices of the old one are dropped."""
    global _module
    old, _module = _module, module
    _devices.clear()
    _kernels.clear()
    return old


class CudaDevice:
    """Shared values are CuPy arrays in the memory of GPU ``index``."""

    def __init__(self, index):
        cp = cupy()
        try:
            count = cp.cuda.runtime.getDeviceCount()
        except Exception as e:             # CUDARuntimeError: no driver, no GPU
            raise CudaUnavailable(f"device=cuda{index}: CuPy finds no usable GPU ({e}); "
                                  f"use device=cpu") from None
        if not 0 <= index < count:
            have = ", ".join(f"cuda{i}" for i in range(count)) or "none"
            raise CudaUnavailable(f"device=cuda{index}: this machine has {count} GPU(s) "
                                  f"({have})")
        self.index = index
        self.activate()
        self.name = f"cuda{index}"
        self.ndarray = cp.ndarray

    def activate(self):
        """Make this GPU the current one (kernels are loaded per GPU)."""
        global _current
        cupy().cuda.Device(self.index).use()
        _current = self.index

    def to_device(self, value):
        cp = cupy()
        if isinstance(value, cp.ndarray):
            return value
        return cp.asarray(np.asarray(value))

    def overwrite(self, old, value):
        """``value`` copied into the device array ``old`` when it fits (so the shared
        variable keeps its address and the CUDA graphs reading it stay valid), else into a
        new one."""
        value = np.asarray(value)
        if (isinstance(old, self.ndarray) and old.shape == value.shape and old.base is None
                and old.dtype == value.dtype and old.flags.c_contiguous):
            old.set(value if value.flags.c_contiguous else value.copy(order="C"))
            return old
        return self.to_device(value)

    def to_host(self, value):
        if isinstance(value, self.ndarray):
            return cupy().asnumpy(value)
        return value

    def is_device_array(self, value):
        return isinstance(value, self.ndarray)

    def __repr__(self):
        return f"CudaDevice({self.index})"


def device_named(name):
    """The device for ``config.device`` = ``cuda`` (GPU 0) or ``cudaN``."""
    index = int(name[4:] or 0)
    if index not in _devices:
        _devices[index] = CudaDevice(index)
    elif index != _current:
        _devices[index].activate()
    return _devices[index]


def kernel(source):
    """The compiled kernel of a ``codegen.KernelSource``, compiled once per process (CuPy
    keeps the binary on disk by the text, which is deterministic)."""
    key = (_current, source.name)
    try:
        return _kernels[key]
    except KeyError:
        pass
    # no fused multiply-adds: results round as the reference's (and the LLVM backend's) do
    module = cupy().RawModule(code=source.source, options=("--fmad=false",))
    fn = _kernels[key] = module.get_function(source.name)
    compiled_sources[source.name] = source
    return fn


# every kernel source compiled in this process, by name (tests compile them all with nvcc)
compiled_sources = {}


def grid_for(n, block=BLOCK):
    """Blocks for a grid-stride loop over ``n`` items (at least one)."""
    return max(1, min(MAX_BLOCKS, -(-int(n) // block)))


def launch(source, n, args, block=BLOCK, blocks=None):
    """Run the kernel of ``source`` over ``n`` items (grid-stride) with ``args`` (device
    arrays and NumPy scalars of the parameters' C types)."""
    kernel(source)((blocks or grid_for(n, block),), (block,), tuple(args))


_captured_statuses = None
_capturing = False


class CaptureUnsafe(RuntimeError):
    """An operation a CUDA graph cannot hold was asked for while one is being captured."""


def set_capturing(on):
    """Whether a CUDA graph is being captured now (``graphs.py`` says)."""
    global _capturing
    _capturing = bool(on)


def host_to_device(value):
    """A new device copy of a host array.  Refused while a graph is captured: CuPy would
    record a copy out of a staging buffer it reuses, and replays would read garbage."""
    if _capturing:
        raise CaptureUnsafe("a copy from the host while a CUDA graph is being captured")
    return cupy().asarray(value)


def status_is_set(status):
    """Whether a kernel's status word says the data was bad.  While a call is captured
    into a graph the word cannot be read (no synchronization inside a capture): it is
    collected for reading after each replay, and the capture goes on."""
    if _captured_statuses is not None:
        _captured_statuses.append(status)
        return False
    return bool(cupy().asnumpy(status)[0])


def collect_statuses(on):
    """Start (``on``) or stop collecting status words; returns the ones collected."""
    global _captured_statuses
    got, _captured_statuses = _captured_statuses, ([] if on else None)
    return got or []


def i64(v):
    """A kernel argument of C type ``long long``."""
    return np.int64(v)

"""A stand-in for CuPy that runs the CUDA backend on the host, for machines without a GPU.

It offers exactly the part of CuPy's API the backend uses (``backends/cuda/runtime.py``
lists it) and is strict where CuPy is: a device array is not a NumPy array (``np.asarray``
on one raises, as CuPy does), has no arithmetic operators the backend might lean on, and a
kernel argument must be a device array or a NumPy scalar of the parameter's C type.  Kernels
are the generated CUDA C compiled by ``g++`` as host code: blocks run one after another; a
kernel that synchronizes (``__syncthreads``) runs each block's threads as real threads meeting
at a barrier, so shared-memory reductions are exercised as written.

    import cuda_emulator
    with cuda_emulator.installed() as emu:      # backends.cuda.runtime now uses it
        ...
        emu.launches                            # kernel names, in launch order

Streams capture as CUDA's do: while one captures, device operations are recorded, not
run (they run when the graph is launched), and copies to or from the host, pool
allocations and synchronizations raise, so a capture that would be invalid on a GPU fails
here too.  Allocations follow ``cupy.cuda.using_allocator``.

Compiled kernels are cached by the hash of their text in ``$SYMBOLIC_CUDA_EMULATOR_CACHE``
(default: a directory in the system temp dir), so repeated runs compile nothing.
"""
import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types

import numpy as np

GXX = shutil.which("g++")

_C_TYPES = {  # C type -> (NumPy dtype, ctypes type)
    "bool": ("bool", ctypes.c_bool), "signed char": ("int8", ctypes.c_int8),
    "short": ("int16", ctypes.c_int16), "int": ("int32", ctypes.c_int32),
    "long long": ("int64", ctypes.c_int64), "unsigned char": ("uint8", ctypes.c_uint8),
    "unsigned int": ("uint32", ctypes.c_uint32),
    "unsigned long long": ("uint64", ctypes.c_uint64),
    "float": ("float32", ctypes.c_float), "double": ("float64", ctypes.c_double),
}

_HEAD = r"""#include <cmath>
#include <cstring>
#include <thread>
#include <vector>
#include <barrier>
using std::isnan; using std::isinf;
#define __host__
#define __device__
#define __forceinline__ inline
#define __global__
#define __shared__ static
struct EmuDim { unsigned x, y, z; };
static thread_local EmuDim threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0};
static EmuDim blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static std::barrier<>* emu_barrier = nullptr;
static void __syncthreads() { if (emu_barrier) emu_barrier->arrive_and_wait(); }
static float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static double __longlong_as_double(long long i) { double f; memcpy(&f, &i, 8); return f; }
static long long __double_as_longlong(double f) { long long i; memcpy(&i, &f, 8); return i; }
template <class F> static void emu_run(unsigned grid, unsigned block, bool sync, F f) {
  gridDim = {grid, 1, 1}; blockDim = {block, 1, 1};
  if (!sync) {
    for (unsigned b = 0; b < grid; b++)
      for (unsigned t = 0; t < block; t++) { blockIdx = {b, 0, 0}; threadIdx = {t, 0, 0}; f(); }
    return;
  }
  std::barrier<> bar(block);
  emu_barrier = &bar;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < block; t++)
    threads.emplace_back([&, t] {
      threadIdx = {t, 0, 0};
      for (unsigned b = 0; b < grid; b++) { blockIdx = {b, 0, 0}; f(); bar.arrive_and_wait(); }
    });
  for (auto& th : threads) th.join();
  emu_barrier = nullptr;
}
"""

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')


class CUDARuntimeError(RuntimeError):
    pass


class _State:
    """What CUDA would know: whether a stream is capturing (the operations recorded so far)
    and the allocator ``cupy.cuda.using_allocator`` installed."""

    capture = None
    allocator = None


_STATE = _State()


def _run(op):
    """A device operation: done now, or recorded (not done) while a stream captures, as
    CUDA does: captured work runs only when the graph is launched."""
    if _STATE.capture is not None:
        _STATE.capture.append(op)
    else:
        op()


def _no_capture(what):
    if _STATE.capture is not None:
        raise CUDARuntimeError(f"cudaErrorStreamCaptureUnsupported: {what} while a stream "
                               f"is capturing")


def _alloc(shape, dtype):
    """Fresh device memory: from the installed allocator, else from the pool (which, as
    CuPy's, may call cudaMalloc: not allowed while capturing)."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if _STATE.allocator is None:
        _no_capture("cudaMalloc (CuPy's memory pool)")
        return np.empty(shape, dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    mp = _STATE.allocator(max(nbytes, 1))
    return np.ndarray(shape, dtype, buffer=mp.mem.buffer, offset=mp._offset)


class _Memory:
    def __init__(self, nbytes):
        self.buffer = np.empty(int(nbytes), dtype=np.uint8)
        self.ptr = self.buffer.__array_interface__["data"][0]
        self.size = int(nbytes)


class MemoryPointer:
    """As CuPy's: ``mem``, ``ptr`` and ``device_id``, and ``pointer + nbytes``; the offset
    into ``mem`` is not public."""

    def __init__(self, mem, offset):
        if not 0 <= offset <= mem.size:
            raise ValueError("emulated CuPy: offset outside the allocation")
        self.mem, self._offset, self.ptr, self.device_id = mem, int(offset), \
            mem.ptr + int(offset), 0

    def __add__(self, nbytes):
        return MemoryPointer(self.mem, self._offset + int(nbytes))


class _Pointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr


def _unwrap(x):
    if isinstance(x, EmulatedArray):
        return x._a
    if isinstance(x, tuple):
        return tuple(_unwrap(i) for i in x)
    if isinstance(x, np.ndarray):
        raise TypeError("emulated CuPy: a NumPy array where a device array is needed "
                        "(CuPy would copy it implicitly or refuse)")
    return x


def _copied(compute, like):
    """A new device array holding ``compute()`` (evaluated when the operation runs)."""
    out = _alloc(like.shape, like.dtype)
    _run(lambda: np.copyto(out, compute(), casting="unsafe"))
    return EmulatedArray(out)


class EmulatedArray:
    """A device array: a NumPy array behind CuPy's interface, without NumPy's."""

    __array_priority__ = 1000

    def __init__(self, a, base=None):
        self._a, self._base = a, base

    # what CuPy arrays have ----------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    base = property(lambda self: self._base)
    data = property(lambda self: _Pointer(self._a.__array_interface__["data"][0]))
    T = property(lambda self: self.transpose())

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self.data.ptr, False), "strides": self.strides}

    def _view_or_copy(self, compute):
        """``compute(a)`` as a view when it is one; a copy made by a device operation
        (recorded while capturing) when NumPy had to copy."""
        r = compute(self._a)
        if isinstance(r, np.ndarray) and np.may_share_memory(r, self._a):
            return EmulatedArray(r, self._base if self._base is not None else self)
        a = self._a
        return _copied(lambda: compute(a), np.asarray(r))

    def transpose(self, *axes):
        return self._view_or_copy(lambda a: a.transpose(*axes))

    def reshape(self, *shape):
        return self._view_or_copy(lambda a: a.reshape(*shape))

    def __getitem__(self, index):
        index = _unwrap(index if isinstance(index, tuple) else (index,))
        if Ellipsis not in index:
            index = index + (Ellipsis,)      # CuPy gives 0-d arrays, never scalars
        return self._view_or_copy(lambda a: a[index])

    def __setitem__(self, index, value):
        value, index, a = _unwrap(value), _unwrap(index), self._a
        _run(lambda: a.__setitem__(index, value))

    def view(self, dtype):
        return self._view_or_copy(lambda a: a.view(dtype))

    def copy(self):
        a = self._a
        return _copied(lambda: a, a)

    def astype(self, dtype):
        a = self._a
        return _copied(lambda: a, np.empty(a.shape, dtype))

    def fill(self, value):
        a = self._a
        _run(lambda: a.fill(value))

    def get(self):
        _no_capture("a copy to the host")
        return self._a.copy()

    def set(self, arr):
        _no_capture("a copy from the host")
        arr = np.asarray(arr)
        if not self._a.flags.c_contiguous:
            raise ValueError("emulated CuPy: set() needs a C-contiguous array")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(f"emulated CuPy: set() of a {arr.dtype}{arr.shape} array into a "
                             f"{self.dtype}{self.shape} one")
        np.copyto(self._a, arr)

    def __len__(self):
        return len(self._a)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __repr__(self):
        return f"emulated_device_array({self._a!r})"


def _as_device(x):
    if not isinstance(x, EmulatedArray):
        raise TypeError(f"emulated CuPy: expected a device array, got {type(x).__name__}")
    return x._a


class _Graph:
    def __init__(self, ops, emulator):
        self.ops, self.emulator = ops, emulator

    def launch(self, stream=None):
        _no_capture("launching a graph")
        self.emulator.graph_launches += 1
        for op in self.ops:
            op()


class _Stream:
    """A stream: work runs in issue order (the emulator is synchronous); it can capture."""

    def __init__(self, emulator, null=False, non_blocking=False):
        self.emulator, self.null = emulator, null

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def begin_capture(self, mode=None):
        if self.null:
            raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported: the null stream cannot "
                                   "capture")
        if _STATE.capture is not None:
            raise CUDARuntimeError("cudaErrorIllegalState: a capture is already under way")
        _STATE.capture = []

    def is_capturing(self):
        return _STATE.capture is not None

    def end_capture(self):
        if _STATE.capture is None:
            raise CUDARuntimeError("cudaErrorIllegalState: the stream is not capturing")
        ops, _STATE.capture = _STATE.capture, None
        return _Graph(ops, self.emulator)

    def synchronize(self):
        _no_capture("synchronizing")


@contextlib.contextmanager
def _using_allocator(allocator=None):
    old, _STATE.allocator = _STATE.allocator, allocator
    try:
        yield
    finally:
        _STATE.allocator = old


class _Kernel:
    def __init__(self, emulator, name, params, library, sync):
        self.emulator, self.name, self.params, self.sync = emulator, name, params, sync
        self.fn = getattr(library, f"emu_launch_{name}")
        self.fn.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_uint]
        self.fn.restype = None

    def __call__(self, grid, block, args, shared_mem=0):
        grid, block = tuple(grid), tuple(block)
        if grid[1:] not in ((), (1,), (1, 1)) or block[1:] not in ((), (1,), (1, 1)):
            raise ValueError(f"{self.name}: the emulator runs 1-d grids and blocks only")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(self.params)} parameters, {len(args)} arguments")
        keep, slots = [], (ctypes.c_void_p * len(args))()
        for k, ((ctype, pointer, pname), a) in enumerate(zip(self.params, args)):
            dtype, c = _C_TYPES[ctype]
            if pointer:
                arr = _as_device(a)
                if arr.dtype != np.dtype(dtype):
                    raise TypeError(f"{self.name}: parameter {pname} points to {ctype}, "
                                    f"got a {arr.dtype} array")
                v = ctypes.c_void_p(a.data.ptr)
            else:
                if not isinstance(a, np.generic) or a.dtype != np.dtype(dtype):
                    raise TypeError(f"{self.name}: parameter {pname} is a {ctype}, got "
                                    f"{a!r} ({type(a).__name__})")
                v = c(a.item())
            keep.append(v)
            slots[k] = ctypes.cast(ctypes.pointer(v), ctypes.c_void_p)
        self.emulator.launches.append(self.name)
        fn, g, b = self.fn, int(grid[0]), int(block[0])
        _run(lambda: (keep, fn(slots, g, b)))


class _RawModule:
    def __init__(self, emulator, code, options=()):
        self.emulator, self.code = emulator, code
        self.kernels = {m.group(1): m.group(2) for m in _KERNEL.finditer(code)}
        self.library = None

    def get_function(self, name):
        if name not in self.kernels:
            raise KeyError(f"no kernel {name} in the module")
        if self.library is None:
            self.library = self.emulator.compile(self.code, self.kernels)
        params = [_param(p) for p in self.kernels[name].split(",") if p.strip()]
        return _Kernel(self.emulator, name, params, self.library, "__syncthreads" in self.code)


def _param(text):
    m = re.fullmatch(r"\s*(.*?)\s*(\w+)\s*", text)
    ctype, name = m.group(1), m.group(2)
    pointer = ctype.endswith("*")
    base = ctype.rstrip("*").replace("const", "").strip()
    base = " ".join(base.split())
    if base not in _C_TYPES:
        raise TypeError(f"emulated CuPy: parameter type {ctype!r} is not known")
    return base, pointer, name


def _wrapper(name, params_text, sync):
    params = [p for p in params_text.split(",") if p.strip()]
    casts = []
    for k, p in enumerate(params):
        m = re.fullmatch(r"\s*(.*?)\s*(\w+)\s*", p)
        casts.append(f"*({m.group(1)}*)a[{k}]")
    return (f'extern "C" void emu_launch_{name}(void** a, unsigned grid, unsigned block) {{\n'
            f'  emu_run(grid, block, {"true" if sync else "false"}, '
            f'[&] {{ {name}({", ".join(casts)}); }});\n}}\n')


class Emulator(types.SimpleNamespace):
    """The module object standing in for ``cupy``."""

    def __init__(self, devices=1, cache_dir=None):
        runtime = types.SimpleNamespace(getDeviceCount=self._device_count,
                                        getDeviceProperties=self._properties,
                                        CUDARuntimeError=CUDARuntimeError)
        cuda = types.SimpleNamespace(
            runtime=runtime, Device=self._device, MemoryPointer=MemoryPointer,
            alloc=lambda nbytes: MemoryPointer(_Memory(nbytes), 0),
            Stream=lambda null=False, non_blocking=False: _Stream(self, null, non_blocking),
            using_allocator=_using_allocator)
        pool = types.SimpleNamespace(malloc=self._pool_malloc)
        super().__init__(ndarray=EmulatedArray, cuda=cuda, get_default_memory_pool=lambda: pool,
                         __version__="emulated")
        self.devices, self.current, self.launches = devices, None, []
        self.graph_launches = 0
        self.cache_dir = cache_dir or os.environ.get("SYMBOLIC_CUDA_EMULATOR_CACHE") or \
            os.path.join(tempfile.gettempdir(), f"symbolic-cuda-emulator-{os.getuid()}")
        os.makedirs(self.cache_dir, exist_ok=True)
        self.compiled = 0

    # devices ------------------------------------------------------------------------
    def _device_count(self):
        if self.devices is None:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return self.devices

    def _pool_malloc(self, nbytes):
        _no_capture("cudaMalloc (CuPy's memory pool)")
        return MemoryPointer(_Memory(nbytes), 0)

    def _device(self, index=None):
        emu = self

        class Device:
            def use(self):
                emu.current = index

            def synchronize(self):
                _no_capture("synchronizing")
        return Device()

    def _properties(self, index):
        return {"name": b"emulated GPU (host threads)", "multiProcessorCount": 1}

    # arrays -------------------------------------------------------------------------
    def asarray(self, x, dtype=None):
        if isinstance(x, EmulatedArray):
            return x if dtype is None or x.dtype == dtype else x.astype(dtype)
        _no_capture("a copy from the host")
        host = np.array(x, dtype=dtype, order="C", copy=True)
        out = _alloc(host.shape, host.dtype)
        np.copyto(out, host)
        return EmulatedArray(out)

    def asnumpy(self, x):
        return x.get() if isinstance(x, EmulatedArray) else np.asarray(x)

    def empty(self, shape, dtype="float64"):
        return EmulatedArray(_alloc(shape, dtype))

    def zeros(self, shape, dtype="float64"):
        out = EmulatedArray(_alloc(shape, dtype))
        out.fill(0)
        return out

    def ascontiguousarray(self, x):
        a = _as_device(x)
        return x if a.flags.c_contiguous else _copied(lambda: a, a)

    def broadcast_to(self, x, shape):
        return x._view_or_copy(lambda a: np.broadcast_to(a, shape))

    def matmul(self, a, b):
        a, b = _as_device(a), _as_device(b)
        if a.ndim not in (1, 2) or b.ndim not in (1, 2) or a.shape[-1] != b.shape[0]:
            raise ValueError(f"emulated CuPy: matmul of {a.shape} and {b.shape}")
        shape = a.shape[:-1] + b.shape[1:]
        out = _alloc(shape, np.result_type(a, b))
        def product():
            with np.errstate(all="ignore"):          # a GPU does not warn about NaN
                np.copyto(out, np.matmul(a, b))
        _run(product)
        return EmulatedArray(out)

    def RawModule(self, code, options=()):
        return _RawModule(self, code, options)

    # kernels ------------------------------------------------------------------------
    def compile(self, code, kernels):
        if GXX is None:
            raise RuntimeError("the CUDA emulator needs g++")
        sync = "__syncthreads" in code
        text = _HEAD + code.replace('extern "C" __global__', 'static') + "".join(
            _wrapper(name, params, sync) for name, params in kernels.items())
        key = hashlib.sha256(text.encode()).hexdigest()[:24]
        lib = os.path.join(self.cache_dir, f"k{key}.so")
        if not os.path.exists(lib):
            src = os.path.join(self.cache_dir, f"k{key}.{os.getpid()}.cpp")
            with open(src, "w") as f:
                f.write(text)
            tmp = lib + f".{os.getpid()}.tmp"
            p = subprocess.run([GXX, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread",
                                "-o", tmp, src], capture_output=True, text=True)
            os.unlink(src)
            if p.returncode != 0:
                raise RuntimeError(f"emulated CuPy: the kernel does not compile:\n"
                                   f"{p.stderr[:4000]}")
            os.replace(tmp, lib)
            self.compiled += 1
        return ctypes.CDLL(lib)


@contextlib.contextmanager
def installed(devices=1):
    """The emulator as the backend's CuPy for the duration; the old module after."""
    from backends.cuda import runtime
    emu = Emulator(devices)
    old = runtime.use_module(emu)
    try:
        yield emu
    finally:
        runtime.use_module(old)

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

    def _view(self, r):
        if isinstance(r, np.ndarray) and np.may_share_memory(r, self._a):
            return EmulatedArray(r, self._base if self._base is not None else self)
        return EmulatedArray(np.array(r))

    def transpose(self, *axes):
        return self._view(self._a.transpose(*axes))

    def reshape(self, *shape):
        return self._view(self._a.reshape(*shape))

    def __getitem__(self, index):
        index = _unwrap(index if isinstance(index, tuple) else (index,))
        if Ellipsis not in index:
            index = index + (Ellipsis,)      # CuPy gives 0-d arrays, never scalars
        return self._view(self._a[index])

    def __setitem__(self, index, value):
        value = _unwrap(value)
        self._a[_unwrap(index)] = value

    def copy(self):
        return EmulatedArray(self._a.copy())

    def astype(self, dtype):
        return EmulatedArray(self._a.astype(dtype))

    def fill(self, value):
        self._a.fill(value)

    def get(self):
        return self._a.copy()

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
        self.fn(slots, int(grid[0]), int(block[0]))


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
                                        CUDARuntimeError=CUDARuntimeError)
        cuda = types.SimpleNamespace(runtime=runtime, Device=self._device)
        super().__init__(ndarray=EmulatedArray, cuda=cuda)
        self.devices, self.current, self.launches = devices, None, []
        self.cache_dir = cache_dir or os.environ.get("SYMBOLIC_CUDA_EMULATOR_CACHE") or \
            os.path.join(tempfile.gettempdir(), f"symbolic-cuda-emulator-{os.getuid()}")
        os.makedirs(self.cache_dir, exist_ok=True)
        self.compiled = 0

    # devices ------------------------------------------------------------------------
    def _device_count(self):
        if self.devices is None:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return self.devices

    def _device(self, index):
        emu = self

        class Device:
            def use(self):
                emu.current = index
        return Device()

    # arrays -------------------------------------------------------------------------
    def asarray(self, x, dtype=None):
        if isinstance(x, EmulatedArray):
            return x if dtype is None or x.dtype == dtype else x.astype(dtype)
        return EmulatedArray(np.array(x, dtype=dtype, order="C", copy=True))

    def asnumpy(self, x):
        return x.get() if isinstance(x, EmulatedArray) else np.asarray(x)

    def empty(self, shape, dtype="float64"):
        return EmulatedArray(np.empty(shape, dtype=dtype))

    def zeros(self, shape, dtype="float64"):
        return EmulatedArray(np.zeros(shape, dtype=dtype))

    def ascontiguousarray(self, x):
        a = _as_device(x)
        return x if a.flags.c_contiguous else EmulatedArray(np.ascontiguousarray(a))

    def broadcast_to(self, x, shape):
        return x._view(np.broadcast_to(_as_device(x), shape))

    def matmul(self, a, b):
        return EmulatedArray(np.matmul(_as_device(a), _as_device(b)))

    def concatenate(self, arrays, axis=0):
        return EmulatedArray(np.concatenate([_as_device(a) for a in arrays], axis=axis))

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

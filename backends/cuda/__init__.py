"""The CUDA backend (issue #6), built on CuPy: so far only its GPU-independent first layer.

What is here generates CUDA C source text, deterministically, for the same fused programs the
LLVM backend compiles (``FusedElemwise`` steps and ``FusedReduce`` = program + reduction):

* ``scalar.py``: CUDA types, dtype conversions and every scalar op with NumPy's semantics, as
  small ``__host__ __device__`` helper functions (host-callable so their semantics can be
  checked against NumPy without a GPU);
* ``codegen.py``: the kernels around those programs: contiguous and strided elementwise
  kernels, block and thread reductions, named by a hash of their text.

No module here imports CuPy.  The runtime side (RawModule compilation, launching, caching
kernel objects, device-resident shared variables, backend registration) comes with the session
that has a GPU to test it; the sources are deterministic so that CuPy's disk cache, which keys
on the source text, hits across processes.
"""

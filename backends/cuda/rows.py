"""CUDA C for the row kernels: softmax, log-softmax, the fused softmax cross-entropy and its
gradient, over C-contiguous ``(rows, n)`` arrays.

The twins of ``backends/llvm/rows.py``, with the same order of operations (so both native
backends agree with the reference to the last-place accuracy of exp and log): the row
maximum propagates NaN; softmax divides the exponentials by their sum; log-softmax and the
cross-entropy shift by the maximum only when it is finite.  One block per row (grid-stride
over rows), its threads striding over the columns, the maximum and the sum reduced in
shared memory; launch with a power-of-two block of at most ``ROW_BLOCK`` threads.

The cross-entropy kernels take one label per row (any of ``LABEL_DTYPES``) and set
``status[0] = 1`` for a row whose label is outside ``[0, n)``, writing nothing for it; the
runtime then discards the outputs and runs the reference, which gives the error (as the
LLVM backend does with its status word).

``row_source(kind, dtype, label_dtype=None)`` returns a ``codegen.KernelSource``.
Parameters, in order: ``rows``, ``n``, then for ``softmax``/``log_softmax`` ``x``, ``out``;
for ``xent`` ``z``, ``y``, ``out`` (one value per row), ``status``; for ``xent_grad``
``d_stride`` (0: one ``d`` for all rows, 1: one per row), ``d``, ``z``, ``y``, ``out``,
``status``.
"""
from .codegen import _finish
from .scalar import Helpers, ctype, op_expr

ROW_BLOCK = 256
KINDS = ("softmax", "log_softmax", "xent", "xent_grad")
LABEL_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
_FLOATS = ("float32", "float64")


def _block_reduce(h, op, dt):
    """A helper combining one value per thread of the block with ``op`` (every thread gets
    the result); ``red`` is the block's shared scratch."""
    t = ctype(dt)
    name = f"sym_block_{op}_{dt}"
    combine = op_expr(h, op, ["red[threadIdx.x]", "red[threadIdx.x + s]"], [dt, dt], dt)

    def make():
        return (f"static __device__ __forceinline__ {t} {name}({t}* red, {t} v)\n{{\n"
                f"  red[threadIdx.x] = v;\n  __syncthreads();\n"
                f"  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {{\n"
                f"    if (threadIdx.x < s) red[threadIdx.x] = {combine};\n"
                f"    __syncthreads();\n  }}\n"
                f"  const {t} r = red[0];\n  __syncthreads();\n  return r;\n}}\n")
    h.need(name, make)
    return name


def row_source(kind, dtype, label_dtype=None):
    if kind not in KINDS:
        raise NotImplementedError(f"cuda backend: row kernel {kind!r}")
    if dtype not in _FLOATS:
        raise NotImplementedError(f"cuda backend: row kernels of {dtype}")
    xent = kind.startswith("xent")
    if xent and label_dtype not in LABEL_DTYPES:
        raise NotImplementedError(f"cuda backend: labels of {label_dtype}")
    h, t = Helpers(), ctype(dtype)
    red_max, red_sum = _block_reduce(h, "maximum", dtype), _block_reduce(h, "add", dtype)

    def f(name, *args):
        return op_expr(h, name, list(args), [dtype] * len(args), dtype)

    params = [("rows", "const long long"), ("n", "const long long")]
    if kind == "xent_grad":
        params += [("d_stride", "const long long"), ("d", f"const {t}*")]
    src = "z" if xent else "x"
    params.append((src, f"const {t}*"))
    if xent:
        params.append(("y", f"const {ctype(label_dtype)}*"))
    params.append(("out", f"{t}*"))
    if xent:
        params.append(("status", "long long*"))
    inf = "__int_as_float(0x7f800000)" if dtype == "float32" else \
        "__longlong_as_double(0x7ff0000000000000ULL)"
    cols = "for (long long j = threadIdx.x; j < n; j += blockDim.x)"
    lines = [f"  __shared__ {t} red[{ROW_BLOCK}];",
             "  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {",
             f"    const {t}* row = {src} + r * n;"]
    if xent:
        lines += ["    const long long label = (long long)y[r];",
                  "    if (label < 0 || label >= n) {",
                  "      if (threadIdx.x == 0) status[0] = 1;",
                  "      continue;",
                  "    }"]
    lines += [f"    {t} m = -{inf};",
              f"    {cols} m = {f('maximum', 'm', 'row[j]')};",
              f"    m = {red_max}(red, m);"]
    if kind != "softmax":
        lines.append("    if (isinf(m) || isnan(m)) m = 0;  // not finite: no shift")
    out_row = "" if kind == "xent" else "out + r * n"
    lines.append(f"    {t} s = 0;")
    if kind == "softmax":
        lines += [f"    {t}* o = {out_row};",
                  f"    {cols} {{ const {t} e = {f('exp', f('sub', 'row[j]', 'm'))}; o[j] = e; s += e; }}",
                  f"    s = {red_sum}(red, s);",
                  f"    {cols} o[j] = {f('true_div', 'o[j]', 's')};"]
    else:
        lines += [f"    {cols} s += {f('exp', f('sub', 'row[j]', 'm'))};",
                  f"    s = {red_sum}(red, s);",
                  f"    const {t} ls = {f('log', 's')};"]
    if kind == "log_softmax":
        lines += [f"    {t}* o = {out_row};",
                  f"    {cols} o[j] = {f('sub', f('sub', 'row[j]', 'm'), 'ls')};"]
    elif kind == "xent":
        lines.append(f"    if (threadIdx.x == 0) out[r] = -{f('sub', f('sub', 'row[label]', 'm'), 'ls')};")
    elif kind == "xent_grad":
        lines += [f"    {t}* o = {out_row};",
                  f"    const {t} dr = d[r * d_stride];",
                  f"    {cols} o[j] = {f('mul', f('exp', f('sub', f('sub', 'row[j]', 'm'), 'ls')), 'dr')};",
                  "    __syncthreads();",
                  f"    if (threadIdx.x == 0) o[label] = {f('sub', 'o[label]', 'dr')};"]
    lines += ["    __syncthreads();  // red is written again for the next row", "  }", ""]
    tag = {"softmax": "sm", "log_softmax": "lsm", "xent": "xe", "xent_grad": "xeg"}[kind]
    return _finish(tag, h, "\n".join(lines), params)

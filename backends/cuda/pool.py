"""CUDA C for 2-d pooling (``Pool`` and ``PoolGrad``, every mode) over ``(N, H, W)``
C-contiguous arrays (the leading axes flattened, as in ``backends/llvm/pool.py``).

Window size, stride, padding, mode and dtype are compile-time constants; sizes are kernel
arguments.  Each window is clipped to the image (padding cells and the missing cells of
``ignore_border=False`` windows are skipped); averages divide by the window's count with
or without padding, as the mode says; max propagates NaN.

* forward: one thread per output cell (grid-stride), parameters ``N, H, W, OH, OW, x, out``;
* gradient: one thread per *input* cell gathering from the windows that contain it, in the
  order the LLVM kernel (and the reference) scatters them, so the sums round the same way
  and no two threads write one cell.  The max gradient goes to every cell equal to its
  window's maximum.  Parameters ``N, H, W, OH, OW``, then ``x, pooled, gz, gx`` for max,
  ``gz, gx`` otherwise.

``pool_source(kind, mode, ws, stride, pad, dtype)`` returns a ``codegen.KernelSource``.
"""
from .codegen import _finish
from .scalar import Helpers, ctype, op_expr

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def pool_source(kind, mode, ws, stride, pad, dtype):
    if kind not in ("forward", "grad") or mode not in MODES:
        raise NotImplementedError(f"cuda backend: pooling {kind} {mode}")
    if dtype not in ("float32", "float64"):
        raise NotImplementedError(f"cuda backend: pooling of {dtype}")
    (wr, wc), (sr, sc), (pr, pc) = (tuple(int(v) for v in t) for t in (ws, stride, pad))
    h, t = Helpers(), ctype(dtype)
    sizes = [(s, "const long long") for s in ("N", "H", "W", "OH", "OW")]
    inf = "__int_as_float(0x7f800000)" if dtype == "float32" else \
        "__longlong_as_double(0x7ff0000000000000ULL)"
    average = mode.startswith("average")
    # the reference's divisor: cells of the window inside the padded canvas (with padding)
    # or inside the image (without), at least 1
    if average:
        h.need("sym_span", lambda: (
            "static __device__ __forceinline__ long long sym_span(long long s, long long ws, "
            "long long pad, long long size, int with_padding)\n{\n"
            "  long long end = s + ws < size + 2 * pad ? s + ws : size + 2 * pad;\n"
            "  if (!with_padding) { if (s < pad) s = pad; if (end > size + pad) end = size + pad; }\n"
            "  return end > s ? end - s : 0;\n}\n"))
    count = (f"    const long long cnt_r = sym_span(i * {sr}, {wr}, {pr}, H, {int(mode == 'average_inc_pad')});\n"
             f"    const long long cnt_c = sym_span(j * {sc}, {wc}, {pc}, W, {int(mode == 'average_inc_pad')});\n"
             f"    const {t} cnt = ({t})(cnt_r * cnt_c > 1 ? cnt_r * cnt_c : 1);\n")
    if kind == "forward":
        params = sizes + [("x", f"const {t}*"), ("out", f"{t}*")]
        combine = op_expr(h, "maximum" if mode == "max" else "add", ["acc", "x[base + u * W + v]"],
                          [dtype, dtype], dtype)
        lines = [
            "  for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < N * OH * OW;",
            "       p += (long long)gridDim.x * blockDim.x) {",
            "    const long long j = p % OW, i = (p / OW) % OH, n = p / (OW * OH);",
            f"    const long long r0 = i * {sr} - {pr}, c0 = j * {sc} - {pc};",
            f"    const long long u0 = r0 < 0 ? -r0 : 0, u1 = H - r0 < {wr} ? H - r0 : {wr};",
            f"    const long long v0 = c0 < 0 ? -c0 : 0, v1 = W - c0 < {wc} ? W - c0 : {wc};",
            "    const long long base = (n * H + r0) * W + c0;",
            f"    {t} acc = {'-' + inf if mode == 'max' else '0'};",
            "    for (long long u = u0; u < u1; u++)",
            f"      for (long long v = v0; v < v1; v++) acc = {combine};",
        ]
        if average:
            lines.append(count.rstrip("\n"))
            lines.append(f"    acc = {op_expr(h, 'true_div', ['acc', 'cnt'], [dtype, dtype], dtype)};")
        lines += ["    out[p] = acc;", "  }", ""]
        return _finish("pool", h, "\n".join(lines), params)

    params = sizes + ([("x", f"const {t}*"), ("pooled", f"const {t}*")] if mode == "max" else [])
    params += [("gz", f"const {t}*"), ("gx", f"{t}*")]
    add = op_expr(h, "add", ["acc", "g"], [dtype, dtype], dtype)
    lines = [
        "  for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < N * H * W;",
        "       p += (long long)gridDim.x * blockDim.x) {",
        "    const long long c = p % W, r = (p / W) % H, n = p / (W * H);",
        # windows i with i*sr - pr <= r < i*sr - pr + wr, 0 <= i < OH (the same for j)
        f"    const long long ri = r + {pr} - {wr} + 1, ci = c + {pc} - {wc} + 1;",
        f"    const long long i0 = ri > 0 ? (ri + {sr - 1}) / {sr} : 0;",
        f"    const long long j0 = ci > 0 ? (ci + {sc - 1}) / {sc} : 0;",
        f"    const long long i1 = (r + {pr}) / {sr} + 1 < OH ? (r + {pr}) / {sr} + 1 : OH;",
        f"    const long long j1 = (c + {pc}) / {sc} + 1 < OW ? (c + {pc}) / {sc} + 1 : OW;",
        f"    {t} acc = 0;",
        "    for (long long i = i0; i < i1; i++)",
        "      for (long long j = j0; j < j1; j++) {",
        "        const long long q = (n * OH + i) * OW + j;",
    ]
    if mode == "max":
        lines += [f"        if (x[p] == pooled[q]) {{ const {t} g = gz[q]; acc = {add}; }}"]
    else:
        if average:
            lines += ["  " + ln for ln in count.rstrip("\n").split("\n")]
            lines.append(f"        const {t} g = {op_expr(h, 'true_div', ['gz[q]', 'cnt'], [dtype, dtype], dtype)};")
        else:
            lines.append(f"        const {t} g = gz[q];")
        lines.append(f"        acc = {add};")
    lines += ["      }", "    gx[p] = acc;", "  }", ""]
    return _finish("poolg", h, "\n".join(lines), params)

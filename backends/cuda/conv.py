"""CUDA C for the column kernels of a convolution by GEMM: im2col and col2im.

On the GPU a convolution is ``im2col`` + a cuBLAS GEMM (+ ``col2im`` for the input
gradient), as on the CPU (``backends/llvm/conv.py``), with the same column layout: for a
chunk of ``nb`` images starting at image ``first``, the column matrix is ``K x nb*P``
(``K = C*KH*KW`` rows ``(c, u, v)``, ``P = OH*OW`` columns per image, images side by side),
and row ``(c, u, v)``, column ``(image, i, j)`` holds the input pixel
``(c, i*sr + uu - pr, j*sc + vv - pc)`` (zero outside the image), where ``uu, vv`` are
``u, v`` or, for a true convolution (``flip``), ``KH-1-u, KW-1-v``: the filters are never
flipped or copied.

* ``im2col``: one thread per column-matrix element;
* ``col2im``: one thread per pixel of the chunk's images, gathering the column entries that
  read it in the order the LLVM kernel scatters them (``(u, v)`` ascending), so the sums
  round the same way and no atomics are needed; it writes (does not add to) ``dx``.

Strides, padding and the flip are compile-time constants; sizes are kernel arguments:
``C, H, W, OH, OW, KH, KW, nb, first``, then ``x, col`` or ``col, dx``.
"""
from .codegen import _finish
from .scalar import Helpers, ctype


def column_source(kind, stride, pad, flip, dtype):
    if kind not in ("im2col", "col2im") or dtype not in ("float32", "float64"):
        raise NotImplementedError(f"cuda backend: {kind} of {dtype}")
    (sr, sc), (pr, pc) = (tuple(int(v) for v in t) for t in (stride, pad))
    t = ctype(dtype)
    sizes = [(s, "const long long") for s in ("C", "H", "W", "OH", "OW", "KH", "KW", "nb", "first")]
    uu = "KH - 1 - u" if flip else "u"
    vv = "KW - 1 - v" if flip else "v"
    if kind == "im2col":
        params = sizes + [("x", f"const {t}*"), ("col", f"{t}*")]
        lines = [
            "  const long long P = OH * OW, ld = nb * P;",
            "  for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x; q < C * KH * KW * ld;",
            "       q += (long long)gridDim.x * blockDim.x) {",
            "    const long long row = q / ld, column = q % ld;",
            "    const long long v = row % KW, u = (row / KW) % KH, c = row / (KW * KH);",
            "    const long long j = column % OW, i = (column / OW) % OH, image = first + column / P;",
            f"    const long long r = i * {sr} + ({uu}) - {pr}, s = j * {sc} + ({vv}) - {pc};",
            "    col[q] = r >= 0 && r < H && s >= 0 && s < W ? x[((image * C + c) * H + r) * W + s] : 0;",
            "  }", ""]
        return _finish("im2col", Helpers(), "\n".join(lines), params)
    params = sizes + [("col", f"const {t}*"), ("dx", f"{t}*")]
    lines = [
        "  const long long P = OH * OW, ld = nb * P;",
        "  for (long long q = (long long)blockIdx.x * blockDim.x + threadIdx.x; q < nb * C * H * W;",
        "       q += (long long)gridDim.x * blockDim.x) {",
        "    const long long s = q % W, r = (q / W) % H, c = (q / (W * H)) % C, k = q / (W * H * C);",
        f"    {t} acc = 0;",
        "    for (long long u = 0; u < KH; u++) {",
        f"      const long long ri = r + {pr} - ({uu});",
        f"      if (ri < 0 || ri % {sr} != 0 || ri / {sr} >= OH) continue;",
        "      for (long long v = 0; v < KW; v++) {",
        f"        const long long sj = s + {pc} - ({vv});",
        f"        if (sj < 0 || sj % {sc} != 0 || sj / {sc} >= OW) continue;",
        f"        acc += col[((c * KH + u) * KW + v) * ld + k * P + (ri / {sr}) * OW + sj / {sc}];",
        "      }",
        "    }",
        "    dx[((first + k) * C + c) * H * W + r * W + s] = acc;",
        "  }", ""]
    return _finish("col2im", Helpers(), "\n".join(lines), params)

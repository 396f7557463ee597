"""Direct convolution kernels for few input channels (network3's first layer: 1 channel,
5 x 5 taps, 20 filters on 28 x 28 images): the forward pass and the weight gradient.

With C x KH x KW that small, im2col writes each input value 25 times over to feed a GEMM
whose sums are only 25 long; the kernel here reads the image where it lies instead.  For
each output row it keeps a block of filters x the whole row (up to 4 vectors) in
registers and, tap by tap, multiplies one shifted input row (vector loads at column
offset v) by each filter's weight for that tap.  The weight gradient keeps, per image,
channel and tap row u, a block of filters x the KW taps of that row as vector sums over
the output rows (the gradient row times the input row shifted by v), added into dW
across lanes at the end.  Taps and the row's vector count are
compile-time constants (the tap loops unroll); batch, channels, filters and image sizes
are run-time arguments.  Only stride 1 without padding ("valid"); other geometries use
im2col (conv.py).
"""
from .loops import KernelSource, Slot, for_range, if_then, memzero
from .pool import PairRows
from .small_gemm import Vectors

MAX_K = 64                   # channels x taps
MAX_VECTORS = 4              # vectors per output row
ACCUMULATORS = 10            # filters per block x vectors per row


def applies(kind, geo, channels, out_w, dtype):
    """Whether a direct kernel takes a convolution of this kind, geometry and sizes."""
    width = 8 if dtype == "float32" else 4
    return kind in ("forward", "grad_weights") and (geo.sr, geo.sc, geo.pr, geo.pc) == (1, 1, 0, 0) \
        and channels * geo.kh * geo.kw <= MAX_K and 0 < out_w <= MAX_VECTORS * width \
        and geo.kw <= ACCUMULATORS


def source(kind, geo, dtype, out_w, size_names):
    """The kernel, with conv.py's signature (arrays (x, w, out, col, tmp) or (x, gz, dw, col,
    tmp); sizes; gemm), of which it uses the first three arrays and the sizes B, C, H, W, F,
    OH."""
    names = {"forward": ("x", "w", "out", "col", "tmp"), "grad_weights": ("x", "gz", "dw", "col", "tmp"),
             "grad_weights_pooled": ("x", "conv", "pooled", "gpool", "dw", "gz")}[kind]
    k = KernelSource(names, size_names, extra=[("gemm", "ptr")])
    v = Vectors(k.b, dtype)
    nv = -(-out_w // v.width)
    rows = _RowVectors(k.b, v, nv, out_w - (nv - 1) * v.width)
    if kind == "forward":
        _forward(k, geo, v, rows, out_w)
    else:
        _grad_weights(k, geo, v, rows, out_w, pooled=kind == "grad_weights_pooled", dtype=dtype)
    return k


class _RowVectors:
    """Loads and stores of the ``nv`` vectors of a row of ``out_w`` values: the last one masked
    when ``tail`` (its lanes in use) is short of a whole vector."""

    def __init__(self, b, v, nv, tail):
        self.b, self.v, self.nv = b, v, nv
        W = v.width
        self.mask = None
        if tail < W:
            v.declare_masked_load()
            b.module.declare(f"declare void @llvm.masked.store.{v.suffix}.p0({v.vt}, ptr, i32, <{W} x i1>)")
            self.mask = "<" + ", ".join(f"i1 {int(q < tail)}" for q in range(W)) + ">"

    def _masked(self, q):
        return self.mask is not None and q == self.nv - 1

    def load(self, row, q):
        b, v = self.b, self.v
        ptr = v.at(row, b.const("i64", v.width * q))
        if self._masked(q):
            return v.masked_load(ptr, self.mask)
        return v.load(ptr)

    def store(self, value, row, q):
        b, v = self.b, self.v
        ptr = v.at(row, b.const("i64", v.width * q))
        if self._masked(q):
            b.line(f"call void @llvm.masked.store.{v.suffix}.p0({v.vt} {value}, ptr {ptr}, i32 {v.align}, "
                   f"<{v.width} x i1> {self.mask})")
        else:
            v.store(value, ptr)


def _tap(b, geo, u, t):
    """The filter tap (i64) that multiplies input offset (u, t), u an i64 value: flipped for
    a true convolution."""
    if geo.flip:
        return b.op("add", b.op("mul", b.op("sub", geo.kh - 1, u), geo.kw), geo.kw - 1 - t)
    return b.op("add", b.op("mul", u, geo.kw), t)


def _filter_blocks(b, F, fb, block):
    """``block(f0, count)`` over the F filters: blocks of ``fb``, then the rest (one of the
    fb - 1 compiled sizes)."""
    full = b.op("sdiv", F, fb)
    for_range(b, 0, full, lambda g: block(b.op("mul", g, fb), fb), "fb")
    done = b.op("mul", full, fb)
    for rest in range(1, fb):
        if_then(b, b.icmp("eq", b.op("sub", F, done), rest), lambda rest=rest: block(done, rest))


def _forward(k, geo, v, rows, out_w):
    b, a, arr = k.b, k.args, k.arrays
    ty, nv = v.ty, rows.nv
    fb = max(1, ACCUMULATORS // nv)
    C, H, Wd, F, OH = a["C"], a["H"], a["W"], a["F"], a["OH"]
    taps = geo.kh * geo.kw
    plane = b.op("mul", H, Wd)

    def block(n, f0, count):
        def row(y):
            acc = [[Slot(b, v.vt, v.zero) for _ in range(nv)] for _ in range(count)]

            def channel(c):
                image = v.at(arr["x"], b.op("add", b.op("mul", b.op("add", b.op("mul", n, C), c), plane),
                                            b.op("mul", y, Wd)))
                weights = [v.at(arr["w"], b.op("mul", b.op("add", b.op("mul", b.op("add", f0, f), C), c), taps))
                           for f in range(count)]
                def tap_row(u):                  # a loop: the taps of a row unrolled
                    for t in range(geo.kw):
                        src = v.at(image, b.op("add", b.op("mul", Wd, u), t))
                        xs = [rows.load(src, q) for q in range(nv)]
                        tap = _tap(b, geo, u, t)
                        for f in range(count):
                            wv = v.splat(b.load(ty, v.at(weights[f], tap)))
                            for q in range(nv):
                                acc[f][q].set(v.fma(wv, xs[q], acc[f][q].get()))
                for_range(b, 0, geo.kh, tap_row, "u")
            for_range(b, 0, C, channel, "c")
            for f in range(count):
                out_row = v.at(arr["out"], b.op("add", b.op("mul", b.op("add", b.op("mul", n, F),
                                                                     b.op("add", f0, f)), b.op("mul", OH, out_w)),
                                                b.op("mul", y, out_w)))
                for q in range(nv):
                    rows.store(acc[f][q].get(), out_row, q)
        for_range(b, 0, OH, row, "y")

    for_range(b, 0, a["B"], lambda n: _filter_blocks(b, F, fb, lambda f0, count: block(n, f0, count)), "n")


def _grad_weights(k, geo, v, rows, out_w, pooled, dtype):
    """dW; with ``pooled``, gz is the gradient of a 2x2 max pooling of the convolution's
    output (``conv``, ``pooled``, ``gpool``), made per image into the buffer ``gz`` first."""
    b, a, arr = k.b, k.args, k.arrays
    ty, nv = v.ty, rows.nv
    C, H, Wd, F, OH = a["C"], a["H"], a["W"], a["F"], a["OH"]
    taps = geo.kh * geo.kw
    fb = max(1, ACCUMULATORS // geo.kw)
    memzero(b, arr["dw"], b.op("mul", b.op("mul", F, C), taps), v.align)
    out_plane = b.op("mul", OH, out_w)

    def block(n, c, f0, count):
        image = v.at(arr["x"], b.op("mul", b.op("add", b.op("mul", n, C), c), b.op("mul", H, Wd)))
        first = b.op("add", f0, 0) if pooled else b.op("add", b.op("mul", n, F), f0)
        planes = [v.at(arr["gz"], b.op("mul", b.op("add", first, f), out_plane)) for f in range(count)]

        def tap_row(u):
            acc = [[Slot(b, v.vt, v.zero) for _ in range(geo.kw)] for _ in range(count)]

            def row(y):
                src = v.at(image, b.op("mul", b.op("add", y, u), Wd))
                for q in range(nv):
                    gs = [rows.load(v.at(p, b.op("mul", y, out_w)), q) for p in planes]
                    for t in range(geo.kw):
                        xv = rows.load(v.at(src, b.const("i64", t)), q)
                        for f in range(count):
                            acc[f][t].set(v.fma(gs[f], xv, acc[f][t].get()))
            for_range(b, 0, OH, row, "y")
            for f in range(count):
                for t in range(geo.kw):
                    ptr = v.at(arr["dw"], b.op("add", b.op("mul", b.op("add", b.op("mul", b.op("add", f0, f), C), c), taps),
                                               _tap(b, geo, u, t)))
                    b.store(b.binop("fadd", b.load(ty, ptr), v.lane_sum(acc[f][t].get())), ptr)
        for_range(b, 0, geo.kh, tap_row, "u")

    def image(n):
        if pooled:
            pool_gradient(n)
        for_range(b, 0, C, lambda c: _filter_blocks(b, F, fb, lambda f0, count: block(n, c, f0, count)), "c")

    def pool_gradient(n):
        pairs, half = PairRows(b, dtype), out_w // 2

        def pooled_row(r):                       # r = (f, i) of image n
            image_row = b.op("add", b.op("mul", n, b.op("mul", F, b.op("sdiv", OH, 2))), r)
            top = b.op("mul", b.op("mul", r, 2), out_w)
            pairs.grad_row(v.at(arr["conv"], b.op("add", b.op("mul", n, b.op("mul", F, out_plane)), top)),
                           b.const("i64", out_w), v.at(arr["pooled"], b.op("mul", image_row, half)),
                           v.at(arr["gpool"], b.op("mul", image_row, half)), v.at(arr["gz"], top),
                           b.const("i64", half))
        for_range(b, 0, b.op("mul", F, b.op("sdiv", OH, 2)), pooled_row, "pr")
    for_range(b, 0, a["B"], image, "n")

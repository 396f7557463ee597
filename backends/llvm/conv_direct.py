"""A direct convolution kernel for few input channels (network3's first layer: 1 channel,
5 x 5 taps, 20 filters on 28 x 28 images).

With C x KH x KW that small, im2col writes each input value 25 times over to feed a GEMM
whose sums are only 25 long; the kernel here reads the image where it lies instead.  For
each output row it keeps a block of filters x the whole row (up to 4 vectors) in
registers and, tap by tap, multiplies one shifted input row (vector loads at column
offset v) by each filter's weight for that tap.  Taps and the row's vector count are
compile-time constants (the tap loops unroll); batch, channels, filters and image sizes
are run-time arguments.  Only stride 1 without padding ("valid"); other geometries use
im2col (conv.py).
"""
from .loops import KernelSource, Slot, for_range, if_then
from .small_gemm import Vectors

MAX_K = 64                   # channels x taps
MAX_VECTORS = 4              # vectors per output row
ACCUMULATORS = 10            # filters per block x vectors per row


def applies(geo, channels, out_w, dtype):
    """Whether the direct kernel takes a forward convolution of this geometry and sizes."""
    width = 8 if dtype == "float32" else 4
    return (geo.sr, geo.sc, geo.pr, geo.pc) == (1, 1, 0, 0) and channels * geo.kh * geo.kw <= MAX_K \
        and 0 < out_w <= MAX_VECTORS * width


def source(geo, dtype, out_w, size_names):
    """The kernel, with conv.py's signature (arrays x, w, out, col, tmp; sizes; gemm), of
    which it uses x, w, out and the sizes B, C, H, W, F, OH."""
    k = KernelSource(("x", "w", "out", "col", "tmp"), size_names, extra=[("gemm", "ptr")])
    b, a, arr = k.b, k.args, k.arrays
    v = Vectors(b, dtype)
    ty, W = v.ty, v.width
    nv = -(-out_w // W)
    tail = out_w - (nv - 1) * W              # lanes used by the row's last vector
    fb = max(1, ACCUMULATORS // nv)
    mask = None
    if tail < W:
        b.module.declare(f"declare {v.vt} @llvm.masked.load.{v.suffix}.p0(ptr, i32, <{W} x i1>, {v.vt})")
        b.module.declare(f"declare void @llvm.masked.store.{v.suffix}.p0({v.vt}, ptr, i32, <{W} x i1>)")
        mask = "<" + ", ".join(f"i1 {int(q < tail)}" for q in range(W)) + ">"
    C, H, Wd, F, OH = a["C"], a["H"], a["W"], a["F"], a["OH"]
    taps = geo.kh * geo.kw
    plane = b.op("mul", H, Wd)

    def load(ptr, q):
        if mask is not None and q == nv - 1:
            return b.emit(v.vt, f"call {v.vt} @llvm.masked.load.{v.suffix}.p0(ptr {ptr}, i32 {v.align}, "
                                f"<{W} x i1> {mask}, {v.vt} zeroinitializer)")
        return v.load(ptr)

    def store(value, ptr, q):
        if mask is not None and q == nv - 1:
            b.line(f"call void @llvm.masked.store.{v.suffix}.p0({v.vt} {value}, ptr {ptr}, i32 {v.align}, "
                   f"<{W} x i1> {mask})")
        else:
            v.store(value, ptr)

    def block(n, f0, count):
        def row(y):
            acc = [[Slot(b, v.vt, v.zero) for _ in range(nv)] for _ in range(count)]

            def channel(c):
                image = v.at(arr["x"], b.op("add", b.op("mul", b.op("add", b.op("mul", n, C), c), plane),
                                            b.op("mul", y, Wd)))
                weights = [v.at(arr["w"], b.op("mul", b.op("add", b.op("mul", b.op("add", f0, f), C), c), taps))
                           for f in range(count)]
                for u in range(geo.kh):
                    for t in range(geo.kw):
                        src = v.at(image, b.op("add", b.op("mul", Wd, u), t))
                        xs = [load(v.at(src, b.const("i64", W * q)), q) for q in range(nv)]
                        tap = (geo.kh - 1 - u) * geo.kw + (geo.kw - 1 - t) if geo.flip else u * geo.kw + t
                        for f in range(count):
                            wv = v.splat(b.load(ty, v.at(weights[f], b.const("i64", tap))))
                            for q in range(nv):
                                acc[f][q].set(v.fma(wv, xs[q], acc[f][q].get()))
            for_range(b, 0, C, channel, "c")
            for f in range(count):
                out_row = v.at(arr["out"], b.op("add", b.op("mul", b.op("add", b.op("mul", n, F),
                                                                     b.op("add", f0, f)), b.op("mul", OH, out_w)),
                                                b.op("mul", y, out_w)))
                for q in range(nv):
                    store(acc[f][q].get(), v.at(out_row, b.const("i64", W * q)), q)
        for_range(b, 0, OH, row, "y")

    def image(n):
        full = b.op("sdiv", F, fb)
        for_range(b, 0, full, lambda g: block(n, b.op("mul", g, fb), fb), "fb")
        done = b.op("mul", full, fb)
        for rest in range(1, fb):
            if_then(b, b.icmp("eq", b.op("sub", F, done), rest), lambda rest=rest: block(n, done, rest))
    for_range(b, 0, a["B"], image, "n")
    return k

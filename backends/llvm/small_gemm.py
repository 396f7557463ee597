"""GEMM kernels of our own for products with one small dimension (at most ``SMALL``).

Training at mini-batch 10 multiplies 10 rows of activations by large weight matrices:
``x @ W`` forward and ``d @ W.T`` backward.  OpenBLAS packs the large operand into its own layout on every call, which for so few rows
costs as much as the arithmetic (10 x 1000 by 1000 x 1000: 440-530 us in OpenBLAS, 270-330
us here, on one core of the 2-core EPYC).  These kernels read the large matrix where it lies, once, keeping the small
dimension's partial results in vector registers:

* ``rows``: ``m <= SMALL``, B row-major.  For each tile of 2 vectors of columns, blocks of
  up to 5 rows of C accumulate ``A[i, p] * B[p, tile]`` over p (10 accumulators).
* ``dots``: ``m <= SMALL``, B transposed (``d @ W.T``): every ``C[i, j]`` is a dot product of
  two contiguous rows; 2 rows of W by up to 5 rows of A at a time, summed across lanes at
  the end.

The rank-10 weight update ``W += -eta * x.T @ d`` stays with OpenBLAS: its operands are
small to pack, and a kernel of the same design (two rows of W at a time) was no faster.

Register use (13 vectors) fits the 16 of AVX2.  The small dimension is a compile-time
constant (one kernel per value, unrolled); the others, the transposes and leading
dimensions are arguments, the same as the BLAS-calling kernel's (gemm.py), so either can
run a planned call.  ``beta == 0`` never reads C (BLAS's rule: C may hold NaN then).
Sums run in another order than OpenBLAS's, with fused multiply-adds, as BLAS results differ
between builds anyway.
"""
from .loops import Slot, entry_alloca, for_range, if_then, smin

SMALL = 16
ROW_BLOCK = 5               # rows of the small dimension per register block
PANEL_BYTES = 4096          # columns of B per panel of the rows kernel (its scratch: 16 x 4 KB)
CHUNK = 8                   # rows of B per pass over a panel
_VECTOR_BYTES = 32
_IR = {"float32": "float", "float64": "double"}
_NO_TRANS, _TRANS = 111, 112


def kind_for(ta, tb, m, n, k):
    """Which kernel (``rows``, ``dots``) takes this BLAS call, or None (OpenBLAS).
    The large dimensions must be large enough for the vector loops to matter."""
    if m <= SMALL and n >= 32 and k >= 16 and tb == _NO_TRANS:
        return "rows"
    if m <= SMALL and n >= 16 and k >= 32 and tb == _TRANS and ta == _NO_TRANS:
        return "dots"
    return None


def blocks(count, size=ROW_BLOCK):
    """``count`` split into ceil(count / size) nearly equal (start, length) blocks."""
    parts = -(-count // size)
    base, extra = divmod(count, parts)
    out, start = [], 0
    for q in range(parts):
        length = base + (q < extra)
        out.append((start, length))
        start += length
    return out


class Vectors:
    """32-byte vectors of one element type on a kernel's builder (also conv_direct.py's)."""

    def __init__(self, b, dtype):
        self.b = b
        self.ty = _IR[dtype]
        self.width = _VECTOR_BYTES // (4 if dtype == "float32" else 8)
        self.vt = f"<{self.width} x {self.ty}>"
        self.suffix = f"v{self.width}{'f32' if dtype == 'float32' else 'f64'}"
        self.align = 4 if dtype == "float32" else 8
        self.zero = b.arg("zeroinitializer", self.vt)
        b.module.declare(f"declare {self.vt} @llvm.fma.{self.suffix}({self.vt}, {self.vt}, {self.vt})")
        b.module.declare(f"declare {self.ty} @llvm.vector.reduce.fadd.{self.suffix}({self.ty}, {self.vt})")

    def at(self, base, index):
        return self.b.gep(self.ty, base, index)

    def load(self, ptr):
        return self.b.emit(self.vt, f"load {self.vt}, ptr {ptr}, align {self.align}")

    def store(self, v, ptr):
        self.b.line(f"store {self.vt} {v}, ptr {ptr}, align {self.align}")

    def splat(self, x):
        b = self.b
        one = b.emit(f"<1 x {self.ty}>", f"insertelement <1 x {self.ty}> poison, {self.ty} {x}, i64 0")
        return b.emit(self.vt, f"shufflevector <1 x {self.ty}> {one}, <1 x {self.ty}> poison, "
                               f"<{self.width} x i32> zeroinitializer")

    def fma(self, x, y, z):
        return self.b.emit(self.vt, f"call {self.vt} @llvm.fma.{self.suffix}({self.vt} {x}, "
                                    f"{self.vt} {y}, {self.vt} {z})")

    def splat_int(self, x):
        """An i64 splat as wide as the float vectors (for lane masks)."""
        b, w = self.b, self.width
        one = b.emit("<1 x i64>", f"insertelement <1 x i64> poison, i64 {x}, i64 0")
        return b.emit(f"<{w} x i64>", f"shufflevector <1 x i64> {one}, <1 x i64> poison, "
                                      f"<{w} x i32> zeroinitializer")

    def declare_masked_load(self):
        self.b.module.declare(f"declare {self.vt} @llvm.masked.load.{self.suffix}.p0(ptr, i32, "
                              f"<{self.width} x i1>, {self.vt})")

    def masked_load(self, ptr, mask):
        """The lanes of ``mask`` loaded (the others zero, their memory untouched)."""
        return self.b.emit(self.vt, f"call {self.vt} @llvm.masked.load.{self.suffix}.p0(ptr {ptr}, "
                                    f"i32 {self.align}, <{self.width} x i1> {mask}, {self.vt} zeroinitializer)")

    def fmul(self, x, y):
        return self.b.emit(self.vt, f"fmul {self.vt} {x}, {y}")

    def lane_sum(self, v):
        zero = self.b.const(self.ty, 0.0)
        return self.b.emit(self.ty, f"call reassoc {self.ty} @llvm.vector.reduce.fadd.{self.suffix}("
                                    f"{self.ty} {zero}, {self.vt} {v})")


def emit(k, dtype, kind, small, alpha, beta):
    """The loops of kernel ``kind`` for ``m == small`` into KernelSource ``k`` (arrays a, b, c
    and the BLAS call's size arguments), with ``alpha`` and ``beta`` loaded as scalars."""
    emit_product(k.b, dtype, kind, small, k.arrays, k.args, alpha, beta)


def emit_product(b, dtype, kind, small, arr, a, alpha, beta, chunk=CHUNK):
    """The same loops inside any kernel: ``arr`` maps a, b, c to pointers, ``a`` maps ta, tb,
    m, n, k, lda, ldb, ldc to i64 values (or Python ints).  ``chunk=None``: the rows kernel
    sums all of k in registers (for a B already in cache, such as a convolution's columns)."""
    a = {name: b.coerce(value, "i64") for name, value in a.items()
         if name in ("ta", "tb", "m", "n", "k", "lda", "ldb", "ldc")}
    v = Vectors(b, dtype)
    ty = v.ty
    is_ta = b.icmp("eq", a["ta"], _TRANS)
    # A[i, p] = a[i * sa_i + p * sa_p]
    sa_i = b.select(is_ta, b.const("i64", 1), a["lda"])
    sa_p = b.select(is_ta, a["lda"], b.const("i64", 1))
    beta_zero = b.fcmp("oeq", beta, 0.0)
    alpha_v, beta_v = v.splat(alpha), v.splat(beta)

    def a_elem(i, p):
        return b.load(ty, v.at(arr["a"], b.op("add", b.op("mul", i, sa_i), b.op("mul", p, sa_p))))

    def c_at(i, j):
        return v.at(arr["c"], b.op("add", b.op("mul", i, a["ldc"]), j))

    def put(i, j, value, vector):
        ptr = c_at(i, j)
        if vector:
            old = v.load(ptr)
            new = b.select(beta_zero, v.fmul(value, alpha_v),
                           v.fma(value, alpha_v, v.fmul(old, beta_v)), ty=v.vt)
            v.store(new, ptr)
        else:
            scaled = b.binop("fmul", value, alpha)
            with_c = b.binop("fadd", scaled, b.binop("fmul", b.load(ty, ptr), beta))
            b.store(b.select(beta_zero, scaled, with_c), ptr)

    if kind == "rows":
        _rows(b, v, a, arr, small, a_elem, put, chunk)
    else:
        _dots(b, v, a, arr, small, put)


def _rows(b, v, a, arr, m, a_elem, put, chunk_rows):
    """C[:m, :] = A @ B with B row-major, by panels of PANEL_BYTES of B's rows.

    Reading B down a column strip (one cache line per row, a new page every row) defeats the
    hardware prefetchers, which stop at page boundaries: in a training step, where W was
    just written, that ran slower than OpenBLAS.  So the panel's partial sums live in a
    stack scratch and B is read ``CHUNK`` rows at a time, each row from left to right:
    tiles of 2 vectors, 1 vector, then one masked vector for the last columns.  A last
    pass writes ``alpha * sum + beta * C`` into C.  ``chunk_rows=None``: one pass over all
    of B's rows."""
    W = v.width
    n, kk, ldb = a["n"], a["k"], a["ldb"]
    panel = PANEL_BYTES // (v.align)
    pitch = panel + W
    scratch = entry_alloca(b, v.ty, m * pitch)
    v.declare_masked_load()
    lanes = b.arg("<" + ", ".join(f"i64 {q}" for q in range(W)) + ">", f"<{W} x i64>")

    def s_at(r, j):
        r = b.const("i64", r) if isinstance(r, int) else r
        return v.at(scratch, b.op("add", b.op("mul", r, pitch), j))

    def do_panel(t):
        j0 = b.op("mul", t, panel)
        width = smin(b, b.op("sub", n, j0), panel)

        def chunk(c):
            if chunk_rows is None:
                p0, p1, first = b.const("i64", 0), kk, b.const("i1", 1)
            else:
                p0 = b.op("mul", c, chunk_rows)
                p1 = smin(b, b.op("add", p0, chunk_rows), kk)
                first = b.icmp("eq", c, 0)

            def tile(jt, nvec, row_blocks, mask=None):
                for r0, rows in row_blocks:
                    acc = [[Slot(b, v.vt, b.select(first, v.zero, v.load(s_at(r0 + r, b.op("add", jt, W * q))),
                                                   ty=v.vt)) for q in range(nvec)] for r in range(rows)]

                    def step(p):
                        row = v.at(arr["b"], b.op("add", b.op("mul", p, ldb), b.op("add", j0, jt)))
                        if mask is None:
                            bv = [v.load(v.at(row, b.const("i64", W * q))) for q in range(nvec)]
                        else:
                            bv = [v.masked_load(row, mask)]
                        for r in range(rows):
                            x = v.splat(a_elem(b.const("i64", r0 + r), p))
                            for q in range(nvec):
                                acc[r][q].set(v.fma(x, bv[q], acc[r][q].get()))
                    for_range(b, p0, p1, step, "p")
                    for r in range(rows):
                        for q in range(nvec):
                            v.store(acc[r][q].get(), s_at(r0 + r, b.op("add", jt, W * q)))

            wide = b.op("sdiv", width, 2 * W)
            for_range(b, 0, wide, lambda t: tile(b.op("mul", t, 2 * W), 2, blocks(m)), "jt")
            done = b.op("mul", wide, 2 * W)
            if_then(b, b.icmp("sle", b.op("add", done, W), width),
                    lambda: tile(done, 1, blocks(m, 2 * ROW_BLOCK)))
            rest = b.op("add", done, b.op("mul", b.op("sdiv", b.op("sub", width, done), W), W))
            left = b.op("sub", width, rest)

            def masked():
                mask = b.emit(f"<{W} x i1>", f"icmp slt <{W} x i64> {lanes}, {v.splat_int(left)}")
                tile(rest, 1, blocks(m, 2 * ROW_BLOCK), mask)
            if_then(b, b.icmp("sgt", left, 0), masked)
        if chunk_rows is None:
            chunk(None)
        else:
            for_range(b, 0, b.op("sdiv", b.op("add", kk, chunk_rows - 1), chunk_rows), chunk, "pc")
        for_range(b, 0, m, lambda r: for_range(
            b, 0, width, lambda j: put(r, b.op("add", j0, j), b.load(v.ty, s_at(r, j)), False), "jw"), "rw")
    for_range(b, 0, b.op("sdiv", b.op("add", n, panel - 1), panel), do_panel, "jp")


def _dots(b, v, a, arr, m, put):
    """C[:m, :] = A @ Bt.T with A and Bt row-major: C[i, j] = A[i, :] . Bt[j, :]; the last
    ``k % W`` products of each sum as one masked vector step."""
    W = v.width
    n, kk, lda, ldb = a["n"], a["k"], a["lda"], a["ldb"]
    kv = b.op("mul", b.op("sdiv", kk, W), W)
    v.declare_masked_load()
    lanes = b.arg("<" + ", ".join(f"i64 {q}" for q in range(W)) + ">", f"<{W} x i64>")
    last = b.emit(f"<{W} x i1>", f"icmp slt <{W} x i64> {lanes}, {v.splat_int(b.op('sub', kk, kv))}")

    def pair(j0, cols):
        for r0, rows in blocks(m):
            acc = [[Slot(b, v.vt, v.zero) for _ in range(rows)] for _ in range(cols)]

            def step(p, mask=None):
                load = v.load if mask is None else (lambda ptr: v.masked_load(ptr, mask))
                wv = [load(v.at(arr["b"], b.op("add", b.op("mul", b.op("add", j0, q), ldb), p)))
                      for q in range(cols)]
                for r in range(rows):
                    x = load(v.at(arr["a"], b.op("add", b.op("mul", b.const("i64", r0 + r), lda), p)))
                    for q in range(cols):
                        acc[q][r].set(v.fma(x, wv[q], acc[q][r].get()))
            for_range(b, 0, b.op("sdiv", kk, W), lambda t: step(b.op("mul", t, W)), "pv")
            if_then(b, b.icmp("slt", kv, kk), lambda: step(kv, last))
            for q in range(cols):
                for r in range(rows):
                    put(b.const("i64", r0 + r), b.op("add", j0, q), v.lane_sum(acc[q][r].get()), False)

    pairs = b.op("sdiv", n, 2)
    for_range(b, 0, pairs, lambda t: pair(b.op("mul", t, 2), 2), "jp")
    if_then(b, b.icmp("ne", b.op("mul", pairs, 2), n), lambda: pair(b.op("sub", n, 1), 1))

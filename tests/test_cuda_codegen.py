"""The CUDA source generator (backends/cuda), without a GPU.

Text-level tests (determinism, naming, unsupported ops), then every generated kernel compiled
with ``nvcc`` (many kernels per .cu file, each in its own namespace, to keep nvcc calls few),
then the scalar helpers compiled as host code and run on edge values (NaN, inf, division by
zero, negative modulo, overflow) against the NumPy reference ``impl`` of each op, and whole
elementwise and thread-reduction kernels compiled with g++ as one emulated thread (checking the
index and stride arithmetic) against the reference ops.  The compiler tests skip when ``nvcc``
(or ``g++``) is not on PATH.
"""
import itertools
import os
import shutil
import subprocess

import numpy as np
import pytest

import symbolic as S
from backends.cuda import codegen, scalar as cs
from backends.cuda.codegen import elementwise_source, reduction_source, sources_for_node
from symbolic.ops.elemwise import scalar_op_named
from symbolic.ops.fused import FusedElemwise, FusedReduce
from symbolic.ops.reduce import Reduce

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
DTS = list(cs.DTYPES)
FLOATS = ("float32", "float64")


def op_cases():
    """(name, argument dtypes, out dtype) for every supported op on every dtype it accepts
    (as the op's own dtype rule says), plus float ops on integer arguments (cast inside)."""
    out = []
    for name in sorted(cs.SUPPORTED_OPS - {"switch"}):
        sop = scalar_op_named(name)
        for dt in DTS:
            try:
                odt = sop.out_dtype([dt] * sop.nin)
            except TypeError:
                continue
            out.append((name, (dt,) * sop.nin, odt))
    for dt in DTS:
        out.append(("switch", ("bool", dt, dt), dt))
    return out


def one_op(name, arg_dts, out_dt):
    return [(name, tuple(range(len(arg_dts))), out_dt)], len(arg_dts), list(arg_dts)


# ----------------------------------------------------------------------------------------
# text
# ----------------------------------------------------------------------------------------
PROG = ([("mul", (0, 1), "float32"), ("add", (2, 0), "float32"),
         ("maximum", (3, 1), "float32")], 2, ["float32", "float32"], [4])


def test_supports_every_op_the_llvm_backend_supports():
    from backends.llvm.scalar import SUPPORTED_OPS
    assert SUPPORTED_OPS <= cs.SUPPORTED_OPS


def test_same_program_same_text_and_name():
    a = elementwise_source(*PROG)
    b = elementwise_source(*PROG)
    assert a == b and a.name in a.source and a.name.startswith("sym_ew_")
    steps = [(scalar_op_named(n), args, dt) for n, args, dt in PROG[0]]  # ops, not names
    assert elementwise_source(steps, *PROG[1:]) == a
    r1 = reduction_source(*PROG[:3], 4, "sum", "float32")
    assert r1 == reduction_source(*PROG[:3], 4, "sum", "float32")


def test_different_programs_different_names():
    names = {elementwise_source(*PROG).name,
             elementwise_source(*PROG, scalar_mask=1).name,
             elementwise_source(*PROG, layout="strided", ndim=2).name,
             elementwise_source(*PROG, layout="strided", ndim=3).name,
             elementwise_source(PROG[0], 2, ["float32", "float32"], [4, 3]).name,
             elementwise_source([("mul", (0, 1), "float64")], 2, ["float64"] * 2, [2]).name,
             reduction_source(*PROG[:3], 4, "sum", "float32").name,
             reduction_source(*PROG[:3], 4, "max", "float32").name,
             reduction_source(*PROG[:3], 4, "max", "float32", variant="thread").name,
             reduction_source(*PROG[:3], 4, "max", "float32", keep_ndim=2).name}
    assert len(names) == 10


def test_unsupported_ops_raise():
    with pytest.raises(NotImplementedError, match="'frobnicate'"):
        elementwise_source([("frobnicate", (0,), "float32")], 1, ["float32"], [1])
    with pytest.raises(NotImplementedError, match="xor.*float32"):
        elementwise_source([("xor", (0, 0), "float32")], 1, ["float32"], [1])
    with pytest.raises(NotImplementedError, match="complex64"):
        elementwise_source([("exp", (0,), "complex64")], 1, ["complex64"], [1])
    with pytest.raises(NotImplementedError, match="median"):
        reduction_source([], 1, ["float32"], 0, "median", "float32")
    with pytest.raises(ValueError):
        elementwise_source(*PROG, layout="strided", ndim=codegen.MAX_NDIM + 1)


def test_text_shape():
    k = elementwise_source(*PROG, scalar_mask=2)
    assert 'extern "C" __global__ void ' + k.name in k.source
    assert "in1[0]" in k.source and "in0[i]" in k.source          # the scalar input
    assert "#include" not in k.source                             # NVRTC needs no headers
    assert [p[0] for p in k.params] == ["n", "in0", "in1", "out0"]
    r = reduction_source([("cast", (0,), "float32")], 1, ["int32"], 1, "sum", "float32")
    assert "double acc" in r.source and f"sdata[{codegen.REDUCE_BLOCK}]" in r.source
    f32 = elementwise_source([("exp", (0,), "float32")], 1, ["float32"], [1]).source
    assert "expf(" in f32
    f64 = elementwise_source([("exp", (0,), "float64")], 1, ["float64"], [1]).source
    assert "exp(" in f64 and "expf(" not in f64


# ----------------------------------------------------------------------------------------
# nvcc
# ----------------------------------------------------------------------------------------
def nvcc_ptx(tmp_path, kernels, stem="kernels"):
    """Compile all ``kernels`` in one .cu file; checks that each kernel is in the PTX."""
    unique = list({k.name: k for k in kernels}.values())
    text = "".join(f"namespace k{i} {{\n{k.source}}}\n" for i, k in enumerate(unique))
    cu, ptx = tmp_path / f"{stem}.cu", tmp_path / f"{stem}.ptx"
    cu.write_text(text)
    p = subprocess.run([NVCC, "-arch=sm_90", "--ptx", str(cu), "-o", str(ptx)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[:5000]
    assert "warning" not in p.stderr, p.stderr[:5000]
    out = ptx.read_text()
    missing = [k.name for k in unique if f".entry {k.name}(" not in out]
    assert not missing, missing[:5]
    return len(unique)


@needs_nvcc
def test_nvcc_every_op_and_cast(tmp_path):
    ks = [elementwise_source(*one_op(*c), [len(c[1])]) for c in op_cases()]
    for src in DTS:
        # one kernel per source dtype storing the casts to every dtype (8 outputs)
        steps = [("cast", (0,), dst) for dst in DTS]
        ks.append(elementwise_source(steps, 1, [src], list(range(1, 1 + len(DTS)))))
    assert nvcc_ptx(tmp_path, ks) > 300


@needs_nvcc
def test_nvcc_layouts_and_multi_output(tmp_path):
    prog = ([("mul", (0, 1), "float32"), ("cast", (2,), "float64"), ("sigmoid", (3,), "float64"),
             ("gt", (4, 0), "bool"), ("switch", (5, 2, 1), "float32"),
             ("int_div", (6, 1), "float32")], 2, ["float32", "float32"], [3, 4, 5, 7])
    ks = [elementwise_source(*prog, scalar_mask=m) for m in range(4)]
    ks += [elementwise_source(*prog, layout="strided", ndim=d)
           for d in range(1, codegen.MAX_NDIM + 1)]
    mixed = ([("add", (0, 1), "int64"), ("mod", (2, 1), "int64"), ("and", (0, 3), "int64")],
             2, ["int64", "int64"], [2, 3, 4])
    ks += [elementwise_source(*mixed), elementwise_source(*mixed, layout="strided", ndim=3)]
    nvcc_ptx(tmp_path, ks)


@needs_nvcc
def test_nvcc_reductions(tmp_path):
    ks = []
    for dt in ("float32", "float64", "int32", "bool"):
        for kind in codegen.REDUCE_KINDS:
            out = Reduce(kind, (0,)).make_node(S.tensor(dt, (None,))).outputs[0].dtype
            for variant, keep, red in [("block", 0, 1), ("block", 1, 1), ("block", 2, 3),
                                       ("thread", 1, 1), ("thread", 3, 2)]:
                ks.append(reduction_source([], 1, [dt], 0, kind, out, keep, red, variant))
            # a fused producer: sqr(x) + y, reduced
            steps = [("sqr", (0,), dt if dt != "bool" else "bool"), ("add", (2, 1), dt)]
            ks.append(reduction_source(steps, 2, [dt, dt], 3, kind, out, 1, 2))
    nvcc_ptx(tmp_path, ks)


def graph_nodes():
    """FusedElemwise/FusedReduce/Reduce nodes of a few real compiled functions."""
    x, y = S.matrix("x"), S.matrix("y")
    b, v = S.vector("b"), S.vector("v")
    fns = [
        S.function([x, y], S.maximum(0, x * y + 1)),
        S.function([x, y, b], [S.sigmoid(S.dot(x, y) + b).sum(axis=1), ((x - y) ** 2).mean()]),
        S.function([x, b], [S.softmax(x + b), S.log_softmax(x * 2)]),
        S.function([x, v], [S.softplus(x).max(axis=0), (x > 0).any(axis=1),
                            (x // 3 + x % 2).min(), S.switch(x > v, x, v) ** 2]),
        S.function([x, y], S.tanh(x) * S.exp(y) / (1 + abs(x)) - S.erf(y).prod(axis=1)),
    ]
    nodes = [n for f in fns for n in f.fgraph.toposort()
             if isinstance(n.op, (FusedElemwise, FusedReduce, Reduce))]
    return nodes


def test_same_graph_built_twice_same_sources():
    a = [sources_for_node(n) for n in graph_nodes()]
    b = [sources_for_node(n) for n in graph_nodes()]
    assert a == b and len({k.name for k in a}) > 5


@needs_nvcc
def test_nvcc_kernels_of_real_graphs(tmp_path):
    nodes = graph_nodes()
    kinds = {type(n.op).__name__ for n in nodes}
    assert {"FusedElemwise", "FusedReduce"} <= kinds
    ks = []
    for n in nodes:
        ks.append(sources_for_node(n))
        if isinstance(n.op, FusedElemwise):
            ks.append(sources_for_node(n, layout="strided", ndim=2))
        else:
            ks.append(sources_for_node(n, variant="thread"))
    nvcc_ptx(tmp_path, ks)


# ----------------------------------------------------------------------------------------
# the scalar helpers as host code, against NumPy
# ----------------------------------------------------------------------------------------
def edge_values(dt):
    if dt == "bool":
        return np.array([False, True])
    if dt in FLOATS:
        return np.array([0.0, -0.0, 1, -1, 0.5, -0.5, 2.5, -2.5, 3, -7, 1e30, -1e30, 3e9,
                         np.inf, -np.inf, np.nan], dtype=dt)
    info = np.iinfo(dt)
    vals = [0, 1, 2, 3, 7, -1, -2, -7, info.min, info.max, info.min + 1]
    return np.array(sorted({v for v in vals if info.min <= v <= info.max}), dtype=dt)


def arg_tuples(arg_dts):
    vals = [edge_values(d) for d in arg_dts]
    if len(arg_dts) == 3:
        vals = [v[:: max(1, len(v) // 5)] for v in vals]
    return [np.array(t, dtype=d) for t, d in zip(zip(*itertools.product(*vals)), arg_dts)]


def c_value(v, dt):
    if dt in FLOATS:
        bits = int(np.array(v, dtype=dt).view("u4" if dt == "float32" else "u8"))
        return f"from_bits_{dt}({bits}ULL)"
    return f"({cs.ctype(dt)})({int(v)}LL)" if dt != "bool" else ("true" if v else "false")


HARNESS_HEAD = """#include <cstdio>
#include <cstring>
static float from_bits_float32(unsigned long long b) { unsigned u = (unsigned)b; float f; memcpy(&f, &u, 4); return f; }
static double from_bits_float64(unsigned long long b) { double f; memcpy(&f, &b, 8); return f; }
static void pr(float x) { unsigned u; memcpy(&u, &x, 4); printf("%u\\n", u); }
static void pr(double x) { unsigned long long u; memcpy(&u, &x, 8); printf("%llu\\n", u); }
static void pr(bool x) { printf("%d\\n", (int)x); }
static void pr(long long x) { printf("%lld\\n", x); }
static void pr(int x) { printf("%d\\n", x); }
static void pr(short x) { printf("%d\\n", (int)x); }
static void pr(signed char x) { printf("%d\\n", (int)x); }
static void pr(unsigned char x) { printf("%u\\n", (unsigned)x); }
"""


def run_host(tmp_path, cases):
    """Compile and run the expressions of ``cases`` [(name, arg_dts, out_dt, args)] on the
    host; returns the result arrays."""
    h = cs.Helpers()
    bodies = []
    for i, (name, arg_dts, out_dt, args) in enumerate(cases):
        names = [chr(ord("a") + k) for k in range(len(arg_dts))]
        expr = cs.op_expr(h, name, [f"{n}[i]" for n in names], list(arg_dts), out_dt)
        lines = [f"static void case{i}() {{"]
        for n, d, a in zip(names, arg_dts, args):
            lines.append(f"  const {cs.ctype(d)} {n}[] = {{{', '.join(c_value(v, d) for v in a)}}};")
        lines.append(f"  for (int i = 0; i < {len(args[0])}; i++) pr(({cs.ctype(out_dt)}){expr});")
        bodies.append("\n".join(lines) + "\n}\n")
    main = "int main() {\n" + "".join(f"  case{i}();\n" for i in range(len(cases))) + "}\n"
    cu = tmp_path / "host.cu"
    cu.write_text(HARNESS_HEAD + h.text() + "\n" + "".join(bodies) + main)
    exe = tmp_path / "host"
    p = subprocess.run([NVCC, "-O0", str(cu), "-o", str(exe)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[:5000]
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    results, pos = [], 0
    for name, arg_dts, out_dt, args in cases:
        n = len(args[0])
        raw = out[pos:pos + n]
        pos += n
        if out_dt in FLOATS:
            u = np.array([int(t) for t in raw], dtype="u4" if out_dt == "float32" else "u8")
            results.append(u.view(out_dt))
        else:
            results.append(np.array([int(t) for t in raw]).astype(out_dt))
    assert pos == len(out)
    return results


_INEXACT = {"exp", "expm1", "log", "log1p", "log2", "log10", "tanh", "erf", "sin", "cos", "tan",
            "sigmoid", "softplus", "pow"}


def reference(name, arg_dts, out_dt, args):
    with np.errstate(all="ignore"):
        if name == "cast":
            return args[0].astype(out_dt)
        if name == "pow" and arg_dts[0] not in FLOATS:
            return _int_pow_reference(*args, out_dt)
        sop = scalar_op_named(name)
        if sop._out_dtype == "float":        # Elemwise casts integer arguments first
            args = [a.astype(out_dt) for a in args]
        return np.asarray(sop.impl(*args)).astype(out_dt)


def _int_pow_reference(a, b, out_dt):
    """NumPy raises for negative integer exponents; the backends give 1, +-1 or 0."""
    with np.errstate(all="ignore"):
        pos = np.power(a, np.where(b < 0, 0, b)).astype(out_dt)
    if a.dtype == bool:
        return pos
    neg = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 1, -1, 1), 0)).astype(out_dt)
    return np.where(b < 0, neg, pos).astype(out_dt)


@needs_nvcc
def test_host_semantics_match_numpy(tmp_path):
    cases = [(n, a, o, arg_tuples(a)) for n, a, o in op_cases()]
    cases += [("cast", (s,), d, arg_tuples((s,))) for s in DTS for d in DTS if s != d]
    results = run_host(tmp_path, cases)
    bad = []
    for (name, arg_dts, out_dt, args), got in zip(cases, results):
        try:
            want = reference(name, arg_dts, out_dt, args)
        except TypeError:                   # NumPy has no such loop (sign of a bool...)
            continue
        if out_dt in FLOATS:
            tol = (4e-6 if out_dt == "float32" else 1e-13) if name in _INEXACT else 0
            with np.errstate(all="ignore"):
                close = np.abs(got - want) <= tol * np.abs(want)
            ok = (np.isnan(got) == np.isnan(want)) & ((got == want) | np.isnan(want) | close)
        else:
            ok = got == want
        if not ok.all():
            k = int(np.argmin(ok))
            bad.append(f"{name}{arg_dts}->{out_dt} at {[a[k] for a in args]}: "
                       f"got {got[k]!r}, NumPy {want[k]!r} ({int((~ok).sum())} differ)")
    assert not bad, "\n".join(bad[:40])


# ----------------------------------------------------------------------------------------
# whole kernels run on the host (one emulated thread), against the NumPy reference
# ----------------------------------------------------------------------------------------
EMULATION_HEAD = """#include <cmath>
#include <cstdio>
#include <cstring>
using std::isnan; using std::isinf;
#define __host__
#define __device__
#define __forceinline__ inline
#define __global__
#define __shared__ static
struct Dim { unsigned x, y, z; };
static const Dim blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static const Dim blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static void __syncthreads() {}
static float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static double __longlong_as_double(unsigned long long i) { double f; memcpy(&f, &i, 8); return f; }
"""

GXX = shutil.which("g++")


def run_emulated(tmp_path, kernel, values, outputs):
    """Run ``kernel`` on the host as one thread of a one-block grid (the grid-stride loops
    then cover everything; block reductions need real threads and are not run here).
    ``values``: per parameter name an int, or an array whose first element the pointer
    points at (a NumPy view: its base buffer is embedded whole); ``outputs``: the output
    parameter names, whose buffers (in ``values``) are printed back."""
    decls, call = [], []
    for name, ctype_ in kernel.params:
        v = values[name]
        if not isinstance(v, np.ndarray):
            call.append(f"{int(v)}LL")
            continue
        dt = v.dtype.name
        base = v.base if v.base is not None else v
        base = np.ascontiguousarray(base).reshape(-1)
        off = (v.__array_interface__["data"][0] - base.__array_interface__["data"][0]) \
            // v.itemsize
        init = ", ".join(c_value(x, dt) for x in base)
        decls.append(f"  static {cs.ctype(dt)} buf_{name}[] = {{{init}}};")
        call.append(f"buf_{name} + {off}")
    prints = [f"  for (int i = 0; i < {_buf_size(values[o])}; i++) pr(buf_{o}[i]);"
              for o in outputs]
    src = (EMULATION_HEAD + HARNESS_HEAD.replace("#include <cstdio>\n#include <cstring>\n", "")
           + kernel.source.replace('extern "C" ', "")
           + "int main() {\n" + "\n".join(decls) + f"\n  {kernel.name}({', '.join(call)});\n"
           + "\n".join(prints) + "\n}\n")
    cpp, exe = tmp_path / f"{kernel.name}.cpp", tmp_path / kernel.name
    cpp.write_text(src)
    p = subprocess.run([GXX, "-O0", "-x", "c++", str(cpp), "-o", str(exe)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[:5000]
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    res, pos = [], 0
    for o in outputs:
        v = values[o]
        n = _buf_size(v)
        raw, pos = out[pos:pos + n], pos + n
        if v.dtype.kind == "f":
            u = np.array([int(t) for t in raw], dtype="u4" if v.dtype == np.float32 else "u8")
            res.append(u.view(v.dtype))
        else:
            res.append(np.array([int(t) for t in raw]).astype(v.dtype))
    return res


def _buf_size(v):
    return v.base.size if v.base is not None else v.size


def _ops(steps):
    return [(n if n == "cast" else scalar_op_named(n), a, d) for n, a, d in steps]


def _estrides(a, shape):
    """Element strides of ``a`` broadcast to ``shape`` (0 on broadcast axes)."""
    lead = len(shape) - a.ndim
    return [0] * lead + [0 if n == 1 else s // a.itemsize for n, s in zip(a.shape, a.strides)]


needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not on PATH")

EMU_PROG = ([("mul", (0, 1), "float32"), ("int_div", (2, 1), "float32"),
             ("isnan", (3,), "bool"), ("cast", (3,), "int16")], 2, ["float32", "float32"],
            [3, 4, 5])


@needs_gxx
def test_emulated_elementwise_kernels(tmp_path):
    rng = np.random.default_rng(0)
    steps, n_in, in_dts, outs = EMU_PROG
    ref = FusedElemwise(_ops(steps), outs)
    base = rng.normal(size=(4, 6, 10)).astype("float32") * 40
    base.reshape(-1)[::7] = np.nan
    x = base[:, ::2, ::-2]                                     # strided, negative strides
    y = np.array([[[-3.0], [0.0], [2.5]]], dtype="float32")    # broadcast over two axes
    shape = x.shape
    with np.errstate(all="ignore"):
        want = ref.perform(None, [x, y])
    k = elementwise_source(*EMU_PROG, layout="strided", ndim=3)
    vals = {"n": x.size, **{f"s{d}": shape[d] for d in range(3)}, "in0": x, "in1": y}
    for i, a in enumerate([x, y]):
        vals.update({f"in{i}_t{d}": s for d, s in enumerate(_estrides(a, shape))})
    for j, w in enumerate(want):
        o = np.zeros(shape, dtype=w.dtype)
        vals[f"out{j}"] = o
        vals.update({f"out{j}_t{d}": s for d, s in enumerate(_estrides(o, shape))})
    got = run_emulated(tmp_path, k, vals, [f"out{j}" for j in range(3)])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.reshape(shape), w)
    # contiguous, the second input a one-element scalar
    xc, yc = np.ascontiguousarray(x), np.array([-2.5], dtype="float32")
    with np.errstate(all="ignore"):
        want = ref.perform(None, [xc, yc.reshape(1, 1, 1)])
    k = elementwise_source(*EMU_PROG, scalar_mask=2)
    vals = {"n": xc.size, "in0": xc, "in1": yc,
            **{f"out{j}": np.zeros(shape, w.dtype) for j, w in enumerate(want)}}
    got = run_emulated(tmp_path, k, vals, [f"out{j}" for j in range(3)])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.reshape(shape), w)


@needs_gxx
@pytest.mark.parametrize("kind", codegen.REDUCE_KINDS)
def test_emulated_thread_reductions(tmp_path, kind):
    """sqr(x) - y reduced over axes (0, 2) of a 4x3x5 float32 (with a NaN in one column)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 5)).astype("float32")
    x[2, 1, 3] = np.nan
    y = rng.normal(size=(1, 3, 1)).astype("float32")
    steps = [("sqr", (0,), "float32"), ("sub", (2, 1), "float32")]
    red = Reduce(kind, (0, 2))
    out_dt = red.make_node(S.tensor("float32", (None, None, None))).outputs[0].dtype
    ref = FusedReduce(FusedElemwise(_ops(steps), [3]), red)
    want = ref.perform(red.make_node(S.tensor("float32", (None,) * 3)), [x, y])[0]
    k = reduction_source(steps, 2, ["float32", "float32"], 3, kind, out_dt, keep_ndim=1,
                         red_ndim=2, variant="thread")
    vals = {"n_out": 3, "n_red": 20, "k0": 3, "r0": 4, "r1": 5, "in0": x, "in1": y,
            "out": np.zeros(3, dtype=out_dt)}
    for i, a in enumerate([x, y]):
        st = _estrides(a, x.shape)
        vals.update({f"in{i}_k0": st[1], f"in{i}_r0": st[0], f"in{i}_r1": st[2]})
    got, = run_emulated(tmp_path, k, vals, ["out"])
    np.testing.assert_allclose(got, want, rtol=1e-6)

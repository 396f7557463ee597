"""Structured control flow for hand-built kernels (convolution, pooling, row kernels).

The elementwise generator (elemwise.py) builds its loops itself because it specializes
them heavily; the kernels of whole ops are loop nests over a few arrays, written here with
``for_range`` and ``if_then`` on the IR builder of mathlib.py.  Scalars that change inside
loops live in ``alloca`` slots (``Slot``), which LLVM's SROA turns back into registers, so
no kernel needs hand-written phi nodes except the loop counters themselves.

A kernel is exported as ``void name(ptr arrays, i64 args...)``: ``arrays`` is a Python
tuple of ndarrays whose data pointers the kernel reads itself (see elemwise.py: getting a
pointer in Python costs 2-3 us per array).  The body is an internal function taking each
array as a ``noalias`` pointer, so the loop vectorizer knows that outputs and inputs do not
overlap; callers must guarantee that.
"""
import ctypes
import hashlib
import threading

from . import jit
from .objects import ARRAY_DATA, TUPLE_ITEMS
from .mathlib import Builder, Module, Val

PARALLEL_LOOP_MD = ("!0 = distinct !{}\n!1 = distinct !{!1, !2}\n"
                    "!2 = !{!\"llvm.loop.parallel_accesses\", !0}\n")


def for_range(b, lo, hi, body, tag="L"):
    """Emit ``for i in range(lo, hi): body(i)`` (i64; nothing runs when hi <= lo)."""
    tag = b.fresh(tag)[1:]
    lo, hi = b.coerce(lo, "i64"), b.coerce(hi, "i64")
    b.line(f"br label %{tag}_pre")
    b.label(f"{tag}_pre")
    b.line(f"br i1 {b.icmp('slt', lo, hi)}, label %{tag}_body, label %{tag}_exit")
    b.label(f"{tag}_body")
    i = Val(b, f"%{tag}_i", "i64")
    b.line(f"%{tag}_i = phi i64 [{lo}, %{tag}_pre], [%{tag}_next, %{tag}_latch]")
    body(i)
    b.line(f"br label %{tag}_latch")
    b.label(f"{tag}_latch")
    b.line(f"%{tag}_next = add nsw i64 %{tag}_i, 1")
    b.line(f"br i1 {b.icmp('slt', Val(b, f'%{tag}_next', 'i64'), hi)}, "
           f"label %{tag}_body, label %{tag}_exit")
    b.label(f"{tag}_exit")


def if_then(b, cond, body, tag="IF"):
    """Emit ``if cond: body()``."""
    tag = b.fresh(tag)[1:]
    b.line(f"br i1 {cond}, label %{tag}_then, label %{tag}_end")
    b.label(f"{tag}_then")
    body()
    b.line(f"br label %{tag}_end")
    b.label(f"{tag}_end")


def smin(b, x, y):
    return b.select(b.icmp("slt", x, y), x, y)


def smax(b, x, y):
    return b.select(b.icmp("sgt", x, y), x, y)


class Slot:
    """A mutable scalar (an alloca that SROA promotes to a register)."""

    def __init__(self, b, ty, init):
        self.b, self.ty = b, ty
        self.ptr = Val(b, b.fresh("slot"), "ptr")
        b.lines.insert(1, f"  {self.ptr} = alloca {ty}")   # in the entry block: promotable
        self.set(init)

    def get(self):
        return self.b.load(self.ty, self.ptr)

    def set(self, v):
        self.b.store(self.b.coerce(v, self.ty), self.ptr)


def entry_alloca(b, ty, count, align=32):
    """A stack array of ``count`` (a constant) ``ty`` values, allocated once in the entry
    block (an alloca inside a loop would grow the stack every iteration)."""
    ptr = Val(b, b.fresh("stack"), "ptr")
    b.lines.insert(1, f"  {ptr} = alloca {ty}, i64 {count}, align {align}")
    return ptr


def memzero(b, ptr, n_elements, elem_bytes):
    """Zero ``n_elements`` contiguous elements at ``ptr``."""
    b.module.declare("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
    b.line(f"call void @llvm.memset.p0.i64(ptr {ptr}, i8 0, i64 {n_elements * elem_bytes}, i1 false)")


def memcopy(b, dst, src, n_bytes):
    """Copy ``n_bytes`` from ``src`` to ``dst`` (which do not overlap)."""
    b.module.declare("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")
    b.line(f"call void @llvm.memcpy.p0.p0.i64(ptr {dst}, ptr {src}, i64 {n_bytes}, i1 false)")


class KernelSource:
    """One exported kernel: ``void NAME(ptr arrays, i64 <scalars>...)``.

    ``array_names`` name the tuple's arrays, ``scalar_names`` the i64 arguments; ``extra``
    are further (name, LLVM type) arguments (a BLAS function pointer, say).  Build the body
    with ``self.b`` using ``self.arrays[name]`` and ``self.args[name]``, then ``finish()``.
    """

    def __init__(self, array_names, scalar_names=(), extra=()):
        self.module = Module()
        self.b = Builder(self.module)
        self.array_names, self.scalar_names, self.extra = list(array_names), list(scalar_names), list(extra)
        b = self.b
        b.label("entry")
        self.arrays = {n: Val(b, f"%a_{n}", "ptr") for n in self.array_names}
        self.args = {n: Val(b, f"%s_{n}", "i64") for n in self.scalar_names}
        self.args.update({n: Val(b, f"%s_{n}", ty) for n, ty in self.extra})

    def finish(self):
        """(IR text, exported name)."""
        self.b.line("ret void")
        params = ([f"ptr noalias %a_{n}" for n in self.array_names]
                  + [f"i64 %s_{n}" for n in self.scalar_names]
                  + [f"{ty} %s_{n}" for n, ty in self.extra])
        self.module.add_function("__body", "define internal void @__body(" + ", ".join(params)
                                 + ") alwaysinline nounwind {\n" + "\n".join(self.b.lines) + "\n}")
        w = Builder(self.module, prefix="w")
        w.label("entry")
        ptrs = []
        for k in range(len(self.array_names)):
            obj = w.load("ptr", w.gep("i8", Val(w, "%arrays", "ptr"), w.const("i64", TUPLE_ITEMS + 8 * k)))
            ptrs.append(w.load("ptr", w.gep("i8", obj, w.const("i64", ARRAY_DATA))))
        args = ptrs + [Val(w, f"%s_{n}", "i64") for n in self.scalar_names] \
            + [Val(w, f"%s_{n}", ty) for n, ty in self.extra]
        w.call("void", "__body", args)
        w.line("ret void")
        outer = ["ptr %arrays"] + [f"i64 %s_{n}" for n in self.scalar_names] \
            + [f"{ty} %s_{n}" for n, ty in self.extra]
        self.module.add_function("__KERNEL__", "define void @__KERNEL__(" + ", ".join(outer)
                                 + ") nounwind {\n" + "\n".join(w.lines) + "\n}")
        text = self.module.text()
        name = "k_" + hashlib.sha256(text.encode()).hexdigest()[:20]
        return text.replace("@__KERNEL__", "@" + name), name


_lock = threading.Lock()
_compiled = {}


def compile_kernel(key, make_source, n_scalars, extra_ctypes=(), unroll=True):
    """The ctypes function for a kernel (built by ``make_source() -> KernelSource`` on first
    need, then cached in memory by ``key`` and on disk by jit.py).  ``unroll=False`` for
    kernels blocked by hand (LLVM's unrolling of them costs compile time for nothing)."""
    ftype = ctypes.CFUNCTYPE(None, ctypes.py_object, *([ctypes.c_int64] * n_scalars), *extra_ctypes)

    def make():
        ir, name = make_source().finish()
        fn = ftype(jit.compile_ir(ir, [name], unroll=unroll)[name])
        fn.ir = ir
        return fn
    return jit.cached_function(_compiled, _lock, key, make)

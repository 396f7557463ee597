"""The native driver: one call from Python runs a whole compiled function.

A *plan* (plan.py) turns a function's schedule, for one signature of its inputs (shapes,
strides, dtypes), into a table of *records*, each a call of a compiled kernel with its
arguments fixed: the array objects it reads are persistent *proxies* (ndarray objects
owned by the plan), so the arguments never change from call to call.  What does change,
the data pointers of the function's inputs and of its fresh outputs, is written into the
proxies by the driver itself before it runs the records.  The driver is a handful of
fixed functions, compiled once per process (and cached on disk like every kernel):

* ``sym_drive(plan, inputs, outputs)``: checks every input object against the signature
  the plan was made for (ndarray type, ndim, shape, strides, dtype, byte order, aligned and
  writeable flags), points the input proxies at the inputs' data and the output proxies at
  the fresh output arrays, then runs the records.  Returns 0, ``BIND_MISMATCH`` when an
  input does not fit (Python then finds or makes the plan for it), or ``FIRST_RECORD + r``
  when record ``r`` reports a failure (a label out of range, an index out of bounds: the
  caller then runs the function through the Python schedule, which gives the reference's
  result or error).
* ``sym_run(records)``: the records alone (the segments after a step that runs in Python).
* ``sym_set_view`` / ``sym_dyn_view``: records that point a view proxy into another
  proxy's data, at a fixed offset or at one computed from index values (``x[i*n:(i+1)*n]``,
  with NumPy's negative-index and clamping rules, failing when the result would not have
  the planned shape).
* ``sym_check_reset``: a record that fails when a kernel left a nonzero status word.

A record is ``[adapter, kernel, n, arg_1 ... arg_n]`` in 64-bit words, the table ending
with a zero adapter.  Kernels have several C signatures (elemwise.py, loops.py); an
*adapter* is a tiny function per signature, generated here, that loads the n words as
that signature's argument types and calls the kernel: ``i32 adapter(ptr kernel, ptr args)``.
"""
import ctypes
import hashlib
import struct
import threading

import numpy as np

from . import jit
from .objects import (ARRAY_DATA, ARRAY_DESCR, ARRAY_DIMS, ARRAY_FLAGS, ARRAY_ND, ARRAY_STRIDES,
                      DESCR_BYTEORDER, DESCR_TYPE_NUM, OB_TYPE, TUPLE_ITEMS)

BIND_MISMATCH = 1
FIRST_RECORD = 2
NPY_ALIGNED, NPY_WRITEABLE = 0x100, 0x400
FLAG_MASK = NPY_ALIGNED | NPY_WRITEABLE

_FIXED_IR = f"""
define internal i1 @same_words(ptr %x, ptr %y, i64 %n) nounwind {{
entry:
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %body]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %yes
body:
  %pa = getelementptr inbounds i64, ptr %x, i64 %i
  %pb = getelementptr inbounds i64, ptr %y, i64 %i
  %a = load i64, ptr %pa
  %b = load i64, ptr %pb
  %i1 = add i64 %i, 1
  %eq = icmp eq i64 %a, %b
  br i1 %eq, label %head, label %no
yes:
  ret i1 true
no:
  ret i1 false
}}

; entry: proxy, ndim, type_num, byteorder, flags & FLAG_MASK, dims[ndim], strides[ndim]
define internal i1 @bind_one(ptr %e, ptr %obj) nounwind {{
entry:
  %proxy = load ptr, ptr %e
  %ndp = getelementptr inbounds i8, ptr %e, i64 8
  %nd = load i64, ptr %ndp
  %tnp = getelementptr inbounds i8, ptr %e, i64 16
  %tn = load i64, ptr %tnp
  %bop = getelementptr inbounds i8, ptr %e, i64 24
  %bo = load i64, ptr %bop
  %flp = getelementptr inbounds i8, ptr %e, i64 32
  %fl = load i64, ptr %flp
  %ondp = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_ND}
  %ond32 = load i32, ptr %ondp
  %ond = sext i32 %ond32 to i64
  %c1 = icmp eq i64 %ond, %nd
  %descrp = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_DESCR}
  %descr = load ptr, ptr %descrp
  %otnp = getelementptr inbounds i8, ptr %descr, i64 {DESCR_TYPE_NUM}
  %otn32 = load i32, ptr %otnp
  %otn = sext i32 %otn32 to i64
  %c2 = icmp eq i64 %otn, %tn
  %obop = getelementptr inbounds i8, ptr %descr, i64 {DESCR_BYTEORDER}
  %obo8 = load i8, ptr %obop
  %obo = zext i8 %obo8 to i64
  %c3 = icmp eq i64 %obo, %bo
  %oflp = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_FLAGS}
  %ofl32 = load i32, ptr %oflp
  %ofl = and i32 %ofl32, {FLAG_MASK}
  %ofl64 = zext i32 %ofl to i64
  %c4 = icmp eq i64 %ofl64, %fl
  %c12 = and i1 %c1, %c2
  %c34 = and i1 %c3, %c4
  %c = and i1 %c12, %c34
  br i1 %c, label %dims, label %no
dims:
  %odimsp = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_DIMS}
  %odims = load ptr, ptr %odimsp
  %ostrp = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_STRIDES}
  %ostr = load ptr, ptr %ostrp
  %edims = getelementptr inbounds i8, ptr %e, i64 40
  %estr = getelementptr inbounds i64, ptr %edims, i64 %nd
  %okd = call i1 @same_words(ptr %odims, ptr %edims, i64 %nd)
  %oks = call i1 @same_words(ptr %ostr, ptr %estr, i64 %nd)
  %ok = and i1 %okd, %oks
  br i1 %ok, label %set, label %no
set:
  %datap = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_DATA}
  %data = load ptr, ptr %datap
  %pdatap = getelementptr inbounds i8, ptr %proxy, i64 {ARRAY_DATA}
  store ptr %data, ptr %pdatap
  ret i1 true
no:
  ret i1 false
}}

; plan: [bind table, fresh table, records]; bind: [n, ndarray type, entries...];
; fresh: [n, proxies...]
define i64 @sym_drive(ptr %plan, ptr %ins, ptr %outs) nounwind {{
entry:
  %bind = load ptr, ptr %plan
  %n = load i64, ptr %bind
  %typp = getelementptr inbounds i8, ptr %bind, i64 8
  %typ = load ptr, ptr %typp
  %first = getelementptr inbounds i8, ptr %bind, i64 16
  br label %bhead
bhead:
  %k = phi i64 [0, %entry], [%k1, %bnext]
  %e = phi ptr [%first, %entry], [%e1, %bnext]
  %more = icmp slt i64 %k, %n
  br i1 %more, label %bbody, label %fresh
bbody:
  %koff = mul i64 %k, 8
  %kslot = add i64 %koff, {TUPLE_ITEMS}
  %objp = getelementptr inbounds i8, ptr %ins, i64 %kslot
  %obj = load ptr, ptr %objp
  %otypp = getelementptr inbounds i8, ptr %obj, i64 {OB_TYPE}
  %otyp = load ptr, ptr %otypp
  %istype = icmp eq ptr %otyp, %typ
  br i1 %istype, label %bcheck, label %bfail
bcheck:
  %ok = call i1 @bind_one(ptr %e, ptr %obj)
  br i1 %ok, label %bnext, label %bfail
bnext:
  %ndp = getelementptr inbounds i8, ptr %e, i64 8
  %nd = load i64, ptr %ndp
  %w2 = shl i64 %nd, 1
  %w = add i64 %w2, 5
  %bytes = shl i64 %w, 3
  %e1 = getelementptr inbounds i8, ptr %e, i64 %bytes
  %k1 = add i64 %k, 1
  br label %bhead
bfail:
  ret i64 {BIND_MISMATCH}
fresh:
  %ftp = getelementptr inbounds i8, ptr %plan, i64 8
  %ft = load ptr, ptr %ftp
  %fn = load i64, ptr %ft
  br label %fhead
fhead:
  %j = phi i64 [0, %fresh], [%j1, %fbody]
  %fmore = icmp slt i64 %j, %fn
  br i1 %fmore, label %fbody, label %run
fbody:
  %j1 = add i64 %j, 1
  %pp = getelementptr inbounds i64, ptr %ft, i64 %j1
  %proxy = load ptr, ptr %pp
  %joff = mul i64 %j, 8
  %jslot = add i64 %joff, {TUPLE_ITEMS}
  %outp = getelementptr inbounds i8, ptr %outs, i64 %jslot
  %out = load ptr, ptr %outp
  %odp = getelementptr inbounds i8, ptr %out, i64 {ARRAY_DATA}
  %od = load ptr, ptr %odp
  %pdp = getelementptr inbounds i8, ptr %proxy, i64 {ARRAY_DATA}
  store ptr %od, ptr %pdp
  br label %fhead
run:
  %rtp = getelementptr inbounds i8, ptr %plan, i64 16
  %recs = load ptr, ptr %rtp
  %rc = call i64 @sym_run(ptr %recs)
  ret i64 %rc
}}

define i64 @sym_run(ptr %recs) nounwind {{
entry:
  br label %head
head:
  %cur = phi ptr [%recs, %entry], [%next, %ok]
  %r = phi i64 [0, %entry], [%r1, %ok]
  %ad = load ptr, ptr %cur
  %done = icmp eq ptr %ad, null
  br i1 %done, label %fin, label %call
call:
  %fnp = getelementptr inbounds i8, ptr %cur, i64 8
  %fn = load ptr, ptr %fnp
  %nap = getelementptr inbounds i8, ptr %cur, i64 16
  %na = load i64, ptr %nap
  %args = getelementptr inbounds i8, ptr %cur, i64 24
  %rc = call i32 %ad(ptr %fn, ptr %args)
  %bad = icmp ne i32 %rc, 0
  br i1 %bad, label %fail, label %ok
ok:
  %w = add i64 %na, 3
  %bytes = shl i64 %w, 3
  %next = getelementptr inbounds i8, ptr %cur, i64 %bytes
  %r1 = add i64 %r, 1
  br label %head
fail:
  %code = add i64 %r, {FIRST_RECORD}
  ret i64 %code
fin:
  ret i64 0
}}

; args: dst proxy, src proxy, byte offset
define i32 @sym_set_view(ptr %fn, ptr %args) nounwind {{
entry:
  %dst = load ptr, ptr %args
  %sp = getelementptr inbounds i8, ptr %args, i64 8
  %src = load ptr, ptr %sp
  %op = getelementptr inbounds i8, ptr %args, i64 16
  %off = load i64, ptr %op
  %sdp = getelementptr inbounds i8, ptr %src, i64 {ARRAY_DATA}
  %sd = load ptr, ptr %sdp
  %nd = getelementptr i8, ptr %sd, i64 %off
  %ddp = getelementptr inbounds i8, ptr %dst, i64 {ARRAY_DATA}
  store ptr %nd, ptr %ddp
  ret i32 0
}}

define internal i64 @index_value(ptr %obj) nounwind {{
entry:
  %dp = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_DATA}
  %d = load ptr, ptr %dp
  %v = load i64, ptr %d
  ret i64 %v
}}

; a slice bound with Python's rules for a positive step: negative counts from the end,
; then clamped to [0, dim]; a null object is the default
define internal i64 @slice_bound(ptr %obj, i64 %default, i64 %dim) nounwind {{
entry:
  %has = icmp ne ptr %obj, null
  br i1 %has, label %given, label %absent
absent:
  ret i64 %default
given:
  %v = call i64 @index_value(ptr %obj)
  %neg = icmp slt i64 %v, 0
  %v2 = add i64 %v, %dim
  %x = select i1 %neg, i64 %v2, i64 %v
  %lt0 = icmp slt i64 %x, 0
  %x1 = select i1 %lt0, i64 0, i64 %x
  %gt = icmp sgt i64 %x1, %dim
  %x2 = select i1 %gt, i64 %dim, i64 %x1
  ret i64 %x2
}}

; args: dst proxy, src proxy, byte offset, n items, then per item six words:
; kind (0: integer index, 1: slice of step 1), start or index (int64 0-d proxy or 0),
; stop (proxy or 0), dimension length, byte stride, planned length (slices)
define i32 @sym_dyn_view(ptr %fn, ptr %args) nounwind {{
entry:
  %dst = load ptr, ptr %args
  %sp = getelementptr inbounds i8, ptr %args, i64 8
  %src = load ptr, ptr %sp
  %bp = getelementptr inbounds i8, ptr %args, i64 16
  %base = load i64, ptr %bp
  %np = getelementptr inbounds i8, ptr %args, i64 24
  %n = load i64, ptr %np
  %items = getelementptr inbounds i8, ptr %args, i64 32
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %next]
  %off = phi i64 [%base, %entry], [%off1, %next]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %done
body:
  %ib = mul i64 %i, 48
  %it = getelementptr inbounds i8, ptr %items, i64 %ib
  %kind = load i64, ptr %it
  %ap = getelementptr inbounds i8, ptr %it, i64 8
  %a = load ptr, ptr %ap
  %bbp = getelementptr inbounds i8, ptr %it, i64 16
  %b = load ptr, ptr %bbp
  %dimp = getelementptr inbounds i8, ptr %it, i64 24
  %dim = load i64, ptr %dimp
  %stp = getelementptr inbounds i8, ptr %it, i64 32
  %stride = load i64, ptr %stp
  %exp = getelementptr inbounds i8, ptr %it, i64 40
  %expect = load i64, ptr %exp
  %isint = icmp eq i64 %kind, 0
  br i1 %isint, label %int, label %slice
int:
  %iv = call i64 @index_value(ptr %a)
  %ineg = icmp slt i64 %iv, 0
  %iv2 = add i64 %iv, %dim
  %ix = select i1 %ineg, i64 %iv2, i64 %iv
  %lo = icmp slt i64 %ix, 0
  %hi = icmp sge i64 %ix, %dim
  %oob = or i1 %lo, %hi
  br i1 %oob, label %fail, label %intok
intok:
  %d1 = mul i64 %ix, %stride
  %offi = add i64 %off, %d1
  br label %next
slice:
  %start = call i64 @slice_bound(ptr %a, i64 0, i64 %dim)
  %stop = call i64 @slice_bound(ptr %b, i64 %dim, i64 %dim)
  %len0 = sub i64 %stop, %start
  %lneg = icmp slt i64 %len0, 0
  %len = select i1 %lneg, i64 0, i64 %len0
  %okl = icmp eq i64 %len, %expect
  br i1 %okl, label %sliceok, label %fail
sliceok:
  %d2 = mul i64 %start, %stride
  %offs = add i64 %off, %d2
  br label %next
next:
  %off1 = phi i64 [%offi, %intok], [%offs, %sliceok]
  %i1 = add i64 %i, 1
  br label %head
done:
  %sdp = getelementptr inbounds i8, ptr %src, i64 {ARRAY_DATA}
  %sd = load ptr, ptr %sdp
  %nd = getelementptr i8, ptr %sd, i64 %off
  %ddp = getelementptr inbounds i8, ptr %dst, i64 {ARRAY_DATA}
  store ptr %nd, ptr %ddp
  ret i32 0
fail:
  ret i32 1
}}

; args: address of an int64 status word; fails when it is nonzero, and clears it
define i32 @sym_check_reset(ptr %fn, ptr %args) nounwind {{
entry:
  %p = load ptr, ptr %args
  %v = load i64, ptr %p
  store i64 0, ptr %p
  %bad = icmp ne i64 %v, 0
  %r = zext i1 %bad to i32
  ret i32 %r
}}
"""

_FIXED_NAMES = ("sym_drive", "sym_run", "sym_set_view", "sym_dyn_view", "sym_check_reset")
_DRIVE_T = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.py_object, ctypes.py_object)
_RUN_T = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)
_RECORD_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)

_lock = threading.Lock()
_fixed = None
_adapters = {}


class _Fixed:
    def __init__(self):
        addrs = jit.compile_ir(_FIXED_IR, list(_FIXED_NAMES))
        self.drive = _DRIVE_T(addrs["sym_drive"])
        self.run = _RUN_T(addrs["sym_run"])
        self.set_view = addrs["sym_set_view"]
        self.dyn_view = addrs["sym_dyn_view"]
        self.check_reset = addrs["sym_check_reset"]


def fixed():
    """The driver's fixed functions (compiled on first use)."""
    global _fixed
    if _fixed is None:
        with _lock:
            if _fixed is None:
                _fixed = _Fixed()
    return _fixed


# ctypes argument type -> (LLVM type, how a Python value becomes its 64-bit word)
def _word_of_int(v):
    return int(v or 0)


def _word_of_double(v):
    return struct.unpack("<q", struct.pack("<d", float(v)))[0]


def _word_of_float(v):
    return struct.unpack("<i", struct.pack("<f", float(v)))[0]


_ARG_TYPES = {
    ctypes.c_void_p: ("ptr", _word_of_int),
    ctypes.py_object: ("ptr", id),
    ctypes.c_int64: ("i64", _word_of_int),
    ctypes.c_int32: ("i32", _word_of_int),
    ctypes.c_double: ("double", _word_of_double),
    ctypes.c_float: ("float", _word_of_float),
}
_RET_TYPES = {None: "void", ctypes.c_int32: "i32"}


def signature_of(cfunc):
    """(LLVM return type, LLVM argument types, word converters) of a ctypes function."""
    if cfunc.restype not in _RET_TYPES:
        raise TypeError(f"driver: kernel return type {cfunc.restype} is not supported")
    types, convert = [], []
    for t in cfunc.argtypes:
        if t not in _ARG_TYPES:
            raise TypeError(f"driver: kernel argument type {t} is not supported")
        types.append(_ARG_TYPES[t][0])
        convert.append(_ARG_TYPES[t][1])
    return _RET_TYPES[cfunc.restype], tuple(types), tuple(convert)


def _adapter_ir(ret, types):
    lines = ["entry:"]
    args = []
    for k, ty in enumerate(types):
        lines.append(f"  %p{k} = getelementptr inbounds i8, ptr %args, i64 {8 * k}")
        lines.append(f"  %a{k} = load {ty}, ptr %p{k}")
        args.append(f"{ty} %a{k}")
    call = f"call {ret} %fn({', '.join(args)})"
    if ret == "void":
        lines += [f"  {call}", "  ret i32 0"]
    else:
        lines += [f"  %r = {call}", "  ret i32 %r"]
    body = "\n".join(lines)
    text = f"define i32 @__ADAPTER__(ptr %fn, ptr %args) nounwind {{\n{body}\n}}\n"
    name = "adapt_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return text.replace("@__ADAPTER__", "@" + name), name


def adapter(ret, types):
    """The address of the adapter for kernels of this signature."""
    key = (ret, types)
    addr = _adapters.get(key)
    if addr is None:
        with _lock:
            addr = _adapters.get(key)
            if addr is None:
                ir, name = _adapter_ir(ret, types)
                addr = _adapters[key] = jit.compile_ir(ir, [name])[name]
    return addr


class Records:
    """A growing table of records, with the Python objects its words point at kept alive."""

    def __init__(self):
        self.entries = []
        self.keep = []
        self._table = None

    @property
    def count(self):
        return len(self.entries)

    def add(self, adapter_address, kernel, words, keep=()):
        self.keep.extend(keep)
        self.entries.append((adapter_address, kernel, [int(w) for w in words], tuple(keep)))

    def add_call(self, cfunc, args):
        """A record calling ctypes function ``cfunc`` with ``args`` (Python values)."""
        ret, types, convert = signature_of(cfunc)
        if len(args) != len(types):
            raise TypeError(f"driver: {len(args)} arguments for a kernel taking {len(types)}")
        words = [c(a) for c, a in zip(convert, args)]
        keep = [a for a, t in zip(args, cfunc.argtypes) if t is ctypes.py_object]
        self.add(adapter(ret, types), cfunc, words, keep=keep + [cfunc])

    def table(self):
        """The finished table (an int64 array ending in a zero adapter)."""
        if self._table is None:
            words = []
            for adapter_address, kernel, args, _ in self.entries:
                if not isinstance(kernel, int):
                    self.keep.append(kernel)
                    kernel = ctypes.cast(kernel, ctypes.c_void_p).value
                words += [adapter_address, kernel, len(args)] + args
            self._table = np.array(words + [0, 0, 0], dtype=np.int64)
        return self._table


def run_record(adapter_address, words):
    """Run one record of the driver's own functions from Python (planning)."""
    buf = np.array(words or [0], dtype=np.int64)
    return _RECORD_T(adapter_address)(0, buf.ctypes.data)


class PlanFailure(Exception):
    """The schedule cannot be planned for this signature (it then runs in Python)."""


def bind_table(proxies, arrays):
    """The bind table checking ``arrays``' layouts and pointing ``proxies`` at their data."""
    words = [len(arrays), id(np.ndarray)]
    for p, a in zip(proxies, arrays):
        words += [id(p), a.ndim, a.dtype.num, ord(a.dtype.byteorder), a.flags.num & FLAG_MASK]
        words += list(a.shape) + list(a.strides)
    return np.array(words, dtype=np.int64)


def layout_key(a):
    """What the bind table checks of one input, as a Python key (None for a non-ndarray)."""
    if a.__class__ is not np.ndarray:
        return None
    return (a.shape, a.strides, a.dtype.num, a.dtype.byteorder, a.flags.num & FLAG_MASK)


def fresh_table(proxies):
    return np.array([len(proxies)] + [id(p) for p in proxies], dtype=np.int64)


def plan_block(bind, fresh, records):
    """The three table addresses ``sym_drive`` takes, as an array (keep the tables alive)."""
    return np.array([bind.ctypes.data, fresh.ctypes.data, records.ctypes.data], dtype=np.int64)


def set_data(proxy, address):
    """Point a proxy at ``address`` (from Python: planning only)."""
    ctypes.c_void_p.from_address(id(proxy) + ARRAY_DATA).value = address

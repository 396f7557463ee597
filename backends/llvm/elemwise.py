"""Elementwise and reduction kernels: compiled, cached and called (the runtime side).

Entry points::

    k = compile_fused(steps, n_inputs, input_dtypes, outputs, ndim=None)
    k(out_arrays, in_arrays)            # fills the outputs (C-contiguous, broadcast shape)

    r = compile_fused_reduce(steps, n_inputs, input_dtypes, output, kind, axes, out_dtype,
                             ndim=None)
    r(out_array, in_arrays)             # out has the input shape without ``axes``

    describe(node_or_op)                # -> keyword arguments for the two functions above,
                                        #    from an Elemwise/Cast/FusedElemwise/Reduce/
                                        #    FusedReduce op (or an Apply node of one)
    kernel_for_node(node)               # compile_fused or compile_fused_reduce from a node

``steps`` are FusedElemwise steps: ``(scalar_op or "cast", argument registers, out dtype)``
(a scalar op may also be given by its name).  Registers ``0..n_inputs-1`` are the inputs.

Calls go through ctypes (which releases the GIL), with the arrays passed as tuples whose
objects the kernels read (objects.py).  The IR comes from elemwise_ir.py, the scalar ops
from scalar.py; this module picks and caches kernels and prepares their arguments.
"""
import ctypes
import threading

import numpy as np

from . import jit, threads
from .elemwise_ir import acc_dtype_for, column_reduce_ir, elem_ir_flat, elem_ir_strided, reduce_ir
from .scalar import DTYPES, SUPPORTED_OPS, step_name

_lock = threading.RLock()
_kernels = {}
_PYOBJ = ctypes.py_object
_FLAT_T = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, _PYOBJ, _PYOBJ)
_NDARRAY_TYPE = id(np.ndarray)
_STRIDED_T = ctypes.CFUNCTYPE(None, ctypes.c_int64, _PYOBJ, _PYOBJ, _PYOBJ)
_REDUCE_T = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, _PYOBJ, _PYOBJ, _PYOBJ)

_NP_DTYPES = {d: np.dtype(d) for d in DTYPES}
COLUMN_MIN_WIDTH = 16


def _build(key, make_ir, ftype, unroll=True, speed_level=None):
    def make():
        ir, name = make_ir()
        fn = ftype(jit.compile_ir(ir, [name], unroll=unroll,
                                  speed_level=jit.SPEED_LEVEL if speed_level is None else speed_level)[name])
        fn._ir = ir
        return fn
    return jit.cached_function(_kernels, _lock, key, make)


def _norm_steps(steps):
    return tuple((step_name(op), tuple(int(a) for a in args), np.dtype(dt).name)
                 for op, args, dt in steps)


def _element_strides(a, shape):
    """Element strides of ``a`` broadcast to ``shape`` (0 where broadcast), or None."""
    nd = len(shape)
    lead = nd - a.ndim
    isz = a.itemsize
    out = [0] * nd
    for d in range(a.ndim):
        n = a.shape[d]
        if n == 1:
            continue
        if n != shape[lead + d]:
            raise ValueError(f"llvm kernel: input shape {a.shape} does not broadcast to {shape}")
        s = a.strides[d]
        if s % isz:
            return None
        out[lead + d] = s // isz
    return out


def _collapse(shape, strides_list):
    """Drop size-1 dims and merge dims that are contiguous for every array."""
    dims = [d for d in range(len(shape)) if shape[d] != 1]
    new_shape, new_strides = [], [[] for _ in strides_list]
    for d in dims:
        if new_shape and all(st[-1] == s[d] * shape[d] for st, s in zip(new_strides, strides_list)):
            new_shape[-1] *= shape[d]
            for st, s in zip(new_strides, strides_list):
                st[-1] = s[d]
            continue
        new_shape.append(shape[d])
        for st, s in zip(new_strides, strides_list):
            st.append(s[d])
    return new_shape, new_strides


def _layout_key(arrays):
    """The arrays' layout, or None unless all are ndarrays (the kernels read ndarray objects:
    a NumPy scalar with the same shape and strides must not reuse an array's plan)."""
    for a in arrays:
        if a.__class__ is not np.ndarray:
            return None
    return tuple([(a.shape, a.strides, a.dtype) for a in arrays])


def _cls(s):
    return s if s in (0, 1) else 2


def _reject(*args):
    return 1


class FusedKernel:
    """A compiled elementwise program; call as ``kernel(out_arrays, in_arrays)``."""

    def __init__(self, steps, n_inputs, input_dtypes, outputs):
        self.steps = _norm_steps(steps)
        self.n_inputs = n_inputs
        self.input_dtypes = tuple(np.dtype(d).name for d in input_dtypes)
        self.outputs = tuple(int(r) for r in outputs)
        if len(self.input_dtypes) != n_inputs:
            raise ValueError("compile_fused: need one dtype per input")
        all_dts = list(self.input_dtypes) + [s[2] for s in self.steps]
        self.output_dtypes = tuple(all_dts[r] for r in self.outputs)
        for name, _, _ in self.steps:
            if name != "cast" and name not in SUPPORTED_OPS:
                raise NotImplementedError(f"llvm backend: scalar op {name!r} is not supported")
        self._in_np = [_NP_DTYPES[d] for d in self.input_dtypes]
        self._out_np = [_NP_DTYPES[d] for d in self.output_dtypes]
        self._key = (self.steps, self.input_dtypes, self.outputs)
        self._flat = {}
        self._strided = {}       # array layouts -> (kernel, rank, meta) of strided calls
        self._last = _reject

    def flat_kernel(self, scalar_mask=0):
        fn = self._flat.get(scalar_mask)
        if fn is None:
            # every input one element (scalar arithmetic: a cost, an index): nothing to
            # vectorize or optimize that matters; network3's cost kernel took 72 ms to
            # compile at O2, 66 ms at O1, 11 ms at O0
            scalars_only = scalar_mask == (1 << self.n_inputs) - 1
            fn = _build(self._key + ("flat", scalar_mask),
                        lambda: elem_ir_flat(self.steps, self.n_inputs, self.input_dtypes,
                                              self.outputs, scalar_mask), _FLAT_T, unroll=False,
                        speed_level=0 if scalars_only else jit.SPEED_LEVEL)
            self._flat[scalar_mask] = fn
        return fn

    def strided_kernel(self, classes, ndim=None):
        rank = ndim if ndim in (2, 3) else None
        return _build(self._key + ("strided", tuple(classes), rank),
                      lambda: elem_ir_strided(self.steps, self.n_inputs, self.input_dtypes,
                                               self.outputs, classes, rank), _STRIDED_T, unroll=False)

    def ir(self, variant="flat", scalar_mask=0, classes=None):
        if variant == "flat":
            return elem_ir_flat(self.steps, self.n_inputs, self.input_dtypes, self.outputs,
                                 scalar_mask)[0]
        return elem_ir_strided(self.steps, self.n_inputs, self.input_dtypes, self.outputs,
                                classes)[0]

    def __call__(self, outs, ins):
        if outs.__class__ is tuple and ins.__class__ is tuple:
            if outs[0].size >= threads.PARALLEL_MIN_ELEMENTS and threads.count() > 1:
                return self._general(outs, ins)       # large: split over the threads
            if self._last(_NDARRAY_TYPE, outs, ins) == 0:
                return
            if self._strided:
                plan = self._strided.get(_layout_key(outs + ins))
                if plan is not None and all(o.flags.writeable for o in outs):
                    fn, nd, meta = plan
                    fn(nd, meta, outs, ins)
                    return
            for mask, fn in self._flat.items():
                if fn(_NDARRAY_TYPE, outs, ins) == 0:
                    self._last = fn
                    return
        self._general(outs, ins)

    def _general(self, outs, ins):
        outs = tuple(outs)
        route, ins = self._route(outs, ins, given=ins)
        if route[0] == "flat":
            fn, mask = route[1], route[2]
            if np.prod(outs[0].shape) >= threads.PARALLEL_MIN_ELEMENTS and threads.count() > 1:
                return self._parallel_flat(fn, outs, ins, mask)
            if fn(_NDARRAY_TYPE, outs, tuple(ins)) == 0:
                self._last = fn
                return
            route = self._strided_route(outs, ins, given=None)
        if route[0] == "strided":
            _, fn, nd, meta = route
            fn(nd, meta, outs, tuple(ins))

    def native_call(self, outs, ins):
        """The kernel call for these arrays, as ``(ctypes function, arguments)``; ``()`` when
        there is nothing to compute, None when the inputs would need converting or copying
        first (for the native driver: its arrays are fixed, so the call is too)."""
        outs, ins = tuple(outs), tuple(ins)
        if any(a.__class__ is not np.ndarray or a.dtype != dt for a, dt in zip(ins, self._in_np)):
            return None
        route, converted = self._route(outs, ins, given=ins)
        if any(a is not b for a, b in zip(converted, ins)):
            return None
        if route[0] == "empty":
            return ()
        if route[0] == "flat":
            return route[1], (_NDARRAY_TYPE, outs, ins)
        _, fn, nd, meta = route
        return fn, (nd, meta, outs, ins)

    def _route(self, outs, ins, given):
        """(how to call, the inputs as the kernel reads them): ``("empty",)``,
        ``("flat", kernel, scalar mask)`` or ``("strided", kernel, ndim, meta)``."""
        if len(ins) != self.n_inputs or len(outs) != len(self.outputs):
            raise ValueError(f"llvm kernel: expected {self.n_inputs} inputs and "
                             f"{len(self.outputs)} outputs")
        shape = outs[0].shape
        for o, dt in zip(outs, self._out_np):
            if not isinstance(o, np.ndarray) or o.dtype != dt or o.shape != shape \
                    or not o.flags.writeable:
                raise ValueError(f"llvm kernel: outputs must be writeable {dt} arrays of "
                                 f"shape {shape}")
        ins = [np.asarray(a) for a in ins]
        ins = [a if a.dtype == dt else a.astype(dt) for a, dt in zip(ins, self._in_np)]
        for a in ins:
            if a.ndim > len(shape):
                raise ValueError(f"llvm kernel: input shape {a.shape} does not broadcast to "
                                 f"{shape}")
        if 0 in shape:
            return ("empty",), ins
        layout = self._layout(outs, ins)
        cshape, cstrides, classes = layout
        if len(cshape) == 1 and all(c != 2 for c in classes) \
                and all(c == 1 or cshape[0] == 1 for c in classes[:len(outs)]):
            mask = 0
            for k, c in enumerate(classes[len(outs):]):
                if c == 0:
                    mask |= 1 << k
            if all(o.flags.c_contiguous for o in outs) and all(
                    (a.size == 1) if (mask >> k & 1) else
                    (a.shape == shape and a.flags.c_contiguous) for k, a in enumerate(ins)):
                return ("flat", self.flat_kernel(mask), mask), ins
        return self._strided_route(outs, ins, given, layout), ins

    def _layout(self, outs, ins):
        """(collapsed shape, element strides per array, stride class per array); inputs
        whose strides are not whole elements are replaced by contiguous copies in ``ins``."""
        shape = outs[0].shape
        strides = []
        for k, a in enumerate(list(outs) + ins):
            st = _element_strides(a, shape)
            if st is None:
                if k < len(outs):
                    raise ValueError("llvm kernel: output strides are not whole elements")
                a = ins[k - len(outs)] = np.ascontiguousarray(a)
                st = _element_strides(a, shape)
            strides.append(st)
        cshape, cstrides = _collapse(list(shape), strides)
        if not cshape:
            cshape, cstrides = [1], [[0] for _ in cstrides]
        return cshape, cstrides, tuple(_cls(st[-1]) for st in cstrides)

    def _strided_route(self, outs, ins, given, layout=None):
        cshape, cstrides, classes = layout or self._layout(outs, ins)
        if len(cshape) > 32:
            raise ValueError("llvm kernel: more than 32 dimensions")
        meta = (np.array(cshape + [s for st in cstrides for s in st], dtype=np.int64),)
        fn = self.strided_kernel(classes, len(cshape))
        if given is not None and all(a is b for a, b in zip(ins, given)) and len(self._strided) < 64:
            # the arrays were used as given: their layout alone decides the call next time
            self._strided[_layout_key(outs + tuple(ins))] = (fn, len(cshape), meta)
        return ("strided", fn, len(cshape), meta)

    def _parallel_flat(self, fn, outs, ins, mask):
        """The flat kernel on equal slices of the (contiguous) arrays, one per thread; inputs
        of one element (``mask``) are passed whole."""
        flat_outs = [o.reshape(-1) for o in outs]
        flat_ins = [a if mask >> k & 1 else a.reshape(-1) for k, a in enumerate(ins)]

        def part(lo, hi):
            return fn(_NDARRAY_TYPE, tuple(o[lo:hi] for o in flat_outs),
                      tuple(a if mask >> k & 1 else a[lo:hi] for k, a in enumerate(flat_ins)))
        if any(threads.run_split(part, flat_outs[0].size)):
            raise RuntimeError("llvm kernel: a slice did not fit the flat kernel")


class ReduceKernel:
    """A compiled reduction of an elementwise program; call as ``kernel(out, in_arrays)``."""

    def __init__(self, steps, n_inputs, input_dtypes, output, kind, axes, out_dtype, ndim=None):
        if kind not in ("sum", "prod", "max", "min", "any", "all"):
            raise NotImplementedError(f"llvm backend: reduction {kind!r}")
        self.steps = _norm_steps(steps)
        self.n_inputs = n_inputs
        self.input_dtypes = tuple(np.dtype(d).name for d in input_dtypes)
        self.output = int(output)
        self.kind = kind
        self.axes = None if axes is None else tuple(sorted(int(a) for a in axes))
        self.out_dtype = np.dtype(out_dtype).name
        self.ndim = ndim
        self._in_np = [_NP_DTYPES[d] for d in self.input_dtypes]
        self._out_np = _NP_DTYPES[self.out_dtype]
        self._key = (self.steps, self.input_dtypes, self.output, kind, self.out_dtype)
        self._plans = {}

    def kernel(self, classes):
        return _build(self._key + ("reduce", tuple(classes)),
                      lambda: reduce_ir(self.steps, self.n_inputs, self.input_dtypes,
                                         self.output, self.kind, self.out_dtype, classes),
                      _REDUCE_T)

    def column_kernel(self, classes):
        return _build(self._key + ("reduce-columns", tuple(classes)),
                      lambda: column_reduce_ir(self.steps, self.n_inputs, self.input_dtypes,
                                                self.output, self.kind, self.out_dtype, classes),
                      _REDUCE_T)

    def __call__(self, out, ins, split=True):
        """``split=False``: on this thread whatever the size."""
        key = tuple([(a.shape, a.strides, a.dtype) if a.__class__ is np.ndarray else None for a in ins])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(ins) + (self.splits(ins),)     # (the size decided once per layout)
            if None not in key and len(self._plans) < 64:
                self._plans[key] = plan
        kshape, call, _, large = plan
        if not isinstance(out, np.ndarray) or out.dtype != self._out_np or out.shape != kshape \
                or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError(f"llvm reduce: out must be a writeable C-contiguous "
                             f"{self.out_dtype} array of shape {kshape}")
        if not (split and large and threads.count() > 1 and self._split(out, ins)):
            call(out, ins)

    def splits(self, ins):
        """Whether a call on these inputs is split over the threads (when there are several):
        those reading at least ``threads.PARALLEL_MIN_REDUCED`` elements."""
        shape = np.broadcast_shapes(*[np.shape(a) for a in ins]) if ins else ()
        return 0 not in shape and int(np.prod(shape)) >= threads.PARALLEL_MIN_REDUCED

    def _split(self, out, ins):
        """The reduction on ``config.threads`` threads, or False when no axis has a slice for
        each of them.  Slices of the first kept axis each write their rows of ``out``; when
        that axis is too short (a reduction over every axis, say), slices of the longest
        reduced axis each reduce into a partial in the accumulator's dtype (float64 for
        float32 sums), and the partials are combined here."""
        ins = [np.asarray(a) for a in ins]
        nd = max(a.ndim for a in ins)
        shape = np.broadcast_shapes(*[a.shape for a in ins])
        axes = range(nd) if self.axes is None else {a % nd for a in self.axes}
        kept = [d for d in range(nd) if d not in axes]
        parts = threads.count()

        def cut(d, lo, hi):
            out_ins = []
            for a in ins:
                k = d - (nd - a.ndim)
                if k >= 0 and a.shape[k] != 1:
                    a = a[(slice(None),) * k + (slice(lo, hi),)]
                out_ins.append(a)
            return tuple(out_ins)
        if kept and shape[kept[0]] >= parts:
            d = kept[0]
            # slices on whole cache lines of the output where there are rows enough
            align = max(1, 16 // max(int(np.prod(out.shape[1:])), 1))
            if shape[d] < 4 * align * parts:
                align = 1
            threads.run_split(lambda lo, hi: self(out[lo:hi], cut(d, lo, hi), split=False), shape[d],
                              align=align)
            return True
        d = max(axes, key=lambda a: shape[a], default=None)
        if d is None or shape[d] < parts:
            return False
        acc = acc_dtype_for(self.kind, None, self.out_dtype)
        partial = compile_fused_reduce(self.steps, self.n_inputs, self.input_dtypes, self.output,
                                       self.kind, self.axes, acc)

        def part(lo, hi):
            p = np.empty(out.shape, acc)
            partial(p, cut(d, lo, hi), split=False)
            return p
        partials = threads.run_split(part, shape[d], align=1)
        combine = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum,
                   "any": np.logical_or, "all": np.logical_and}[self.kind]
        if acc == "bool":                   # a bool sum or product is an or / and (NumPy's)
            combine = np.logical_or if self.kind == "sum" else np.logical_and if self.kind == "prod" else combine
        with np.errstate(all="ignore"):     # the kernel's own overflow to inf warns of nothing
            out[...] = combine.reduce(partials, axis=0).astype(self._out_np, copy=False)
        return True

    def native_call(self, out, ins):
        """The kernel call for these arrays as ``(ctypes function, arguments)``, ``()`` when
        there is nothing to compute, or None when the call needs Python (conversions,
        copies, identity fills, errors): see ``FusedKernel.native_call``."""
        ins = tuple(ins)
        if any(a.__class__ is not np.ndarray for a in ins):
            return None
        kshape, _, native = self._plan(ins)
        if out.shape != kshape or out.dtype != self._out_np or not out.flags.c_contiguous:
            return None
        if 0 in kshape:
            return ()
        if native is None:
            return None
        fn, nk, nr, meta = native
        return fn, (nk, nr, meta, (out,), ins)

    def _plan(self, ins):
        """(kept shape, ``call(out, ins)``, native) for inputs of these shapes, strides and
        dtypes; ``native`` is (kernel, kept ndim, reduced ndim, meta) when the kernel reads
        the inputs as given, else None."""
        # anything but an ndarray of the input's dtype (a NumPy scalar too) is converted
        # before the kernel reads it
        converted = any(a.__class__ is not np.ndarray or a.dtype != dt for a, dt in zip(ins, self._in_np))
        ins = [np.asarray(a) for a in ins]
        ins = [a if a.dtype == dt else a.astype(dt) for a, dt in zip(ins, self._in_np)]
        nd = max(a.ndim for a in ins) if ins else 0
        shape = tuple(np.broadcast_shapes(*[a.shape for a in ins]))
        axes = tuple(range(nd)) if self.axes is None else tuple(a % nd if nd else 0
                                                                for a in self.axes)
        kept = [d for d in range(nd) if d not in axes]
        red = [d for d in range(nd) if d in axes]
        kshape = tuple(shape[d] for d in kept)
        if 0 in kshape:
            return kshape, lambda out, ins: None, None
        if any(shape[d] == 0 for d in red):
            if self.kind in ("max", "min"):
                def fail(out, ins):
                    raise ValueError(f"{self.kind}: zero-size reduction over axes {axes} of shape "
                                     f"{shape} has no identity")
                return kshape, fail, None
            fill = {"sum": 0, "prod": 1, "any": False, "all": True}[self.kind]

            def identity(out, ins):
                out[...] = fill
            return kshape, identity, None
        strides, copied = [], False
        for k, a in enumerate(ins):
            st = _element_strides(a, shape)
            if st is None:
                a = ins[k] = np.ascontiguousarray(a)
                st = _element_strides(a, shape)
                copied = True
            strides.append(st)
        kshape_c, kstr = _collapse([shape[d] for d in kept], [[s[d] for d in kept] for s in strides])
        rshape_c, rstr = _collapse([shape[d] for d in red], [[s[d] for d in red] for s in strides])
        if not rshape_c:
            rshape_c, rstr = [1], [[0] for _ in strides]
        if len(kshape_c) + len(rshape_c) > 32:
            raise ValueError("llvm reduce: more than 32 dimensions")
        full = [ks + rs for ks, rs in zip(kstr, rstr)]
        meta = (np.array(kshape_c + rshape_c + [s for st in full for s in st], dtype=np.int64),)
        # the contiguous dimension is a kept one (a column sum): whole rows at a time, unless
        # the rows are too short to pay for a pass each (100000 x 3: 0.69 ms, walking each
        # column 0.34 ms; 256 x 10 the same either way)
        columns = bool(kshape_c) and kshape_c[-1] >= COLUMN_MIN_WIDTH \
            and all(st[-1] in (0, 1) for st in kstr) and any(st[-1] == 1 for st in kstr)
        if columns:
            fn = self.column_kernel(tuple(st[-1] for st in kstr))
        else:
            fn = self.kernel(tuple(_cls(st[-1]) for st in rstr))
        nk, nr = len(kshape_c), len(rshape_c)
        if converted or copied:
            # the kernel reads what the strides describe: the same conversions every call
            def call(out, ins):
                ins = [np.asarray(a) for a in ins]
                ins = [a if a.dtype == dt else a.astype(dt) for a, dt in zip(ins, self._in_np)]
                if copied:
                    ins = [a if _element_strides(a, shape) is not None else np.ascontiguousarray(a)
                           for a in ins]
                fn(nk, nr, meta, (out,), tuple(ins))
            return kshape, call, None

        def call(out, ins):
            fn(nk, nr, meta, (out,), ins if ins.__class__ is tuple else tuple(ins))
        return kshape, call, (fn, nk, nr, meta)


def compile_fused(steps, n_inputs, input_dtypes, outputs, ndim=None):
    """A callable ``kernel(out_arrays, in_arrays)`` running the FusedElemwise program
    (``steps``, ``outputs`` registers) over the broadcast iteration space.  ``ndim`` is
    accepted for the caller's convenience; kernels work for any rank (up to 32)."""
    key = ("fused", _norm_steps(steps), n_inputs,
           tuple(np.dtype(d).name for d in input_dtypes), tuple(outputs))
    with _lock:
        k = _kernels.get(key)
        if k is None:
            k = _kernels[key] = FusedKernel(steps, n_inputs, input_dtypes, outputs)
        return k


def compile_fused_reduce(steps, n_inputs, input_dtypes, output, kind, axes, out_dtype,
                         ndim=None):
    """A callable ``kernel(out, in_arrays)``: ``kind`` (sum, prod, max, min, any, all) over
    ``axes`` (None: all) of register ``output`` of the program, written to ``out`` (the
    broadcast input shape without ``axes``, dtype ``out_dtype``).  float32 sums and products
    accumulate in float64; max/min propagate NaN like NumPy."""
    key = ("reduce", _norm_steps(steps), n_inputs, tuple(np.dtype(d).name for d in input_dtypes),
           int(output), kind, None if axes is None else tuple(axes), np.dtype(out_dtype).name)
    with _lock:
        k = _kernels.get(key)
        if k is None:
            k = _kernels[key] = ReduceKernel(steps, n_inputs, input_dtypes, output, kind, axes,
                                             out_dtype, ndim)
        return k


def describe(op_or_node):
    """Keyword arguments for ``compile_fused`` / ``compile_fused_reduce`` from an
    ``Elemwise``, ``Cast``, ``FusedElemwise``, ``Reduce`` or ``FusedReduce`` op.  A node
    (``Apply``) is needed for the input dtypes; with an op alone, pass them yourself.
    Returns ``("elemwise" | "reduce", kwargs)``."""
    from symbolic.ops.elemwise import Cast, Elemwise
    from symbolic.ops.fused import FusedElemwise, FusedReduce
    from symbolic.ops.reduce import Reduce
    node = op_or_node if hasattr(op_or_node, "op") and hasattr(op_or_node, "inputs") else None
    op = node.op if node is not None else op_or_node
    if node is None:
        raise TypeError("describe needs an Apply node (for the input dtypes)")
    in_dts = [i.dtype for i in node.inputs]
    ndim = node.outputs[0].ndim
    n = len(in_dts)
    if isinstance(op, Elemwise):
        steps = [(op.scalar_op.name, tuple(range(n)), node.outputs[0].dtype)]
        return "elemwise", dict(steps=steps, n_inputs=n, input_dtypes=in_dts, outputs=[n],
                                ndim=ndim)
    if isinstance(op, Cast):
        return "elemwise", dict(steps=[("cast", (0,), op.dtype)], n_inputs=1,
                                input_dtypes=in_dts, outputs=[1], ndim=ndim)
    if isinstance(op, FusedElemwise):
        return "elemwise", dict(steps=list(op.steps), n_inputs=n, input_dtypes=in_dts,
                                outputs=list(op.outputs), ndim=ndim)
    if isinstance(op, (Reduce, FusedReduce)):
        if isinstance(op, FusedReduce):
            steps, output, red = list(op.elemwise.steps), op.elemwise.outputs[0], op.reduce
        else:
            steps, output, red = [], 0, op
        return "reduce", dict(steps=steps, n_inputs=n, input_dtypes=in_dts, output=output,
                              kind=red.kind, axes=red.axes, out_dtype=node.outputs[0].dtype,
                              ndim=node.inputs[0].ndim)
    raise NotImplementedError(f"llvm backend: no kernel for {op}")


def kernel_for_node(node):
    """The compiled kernel for an elementwise or reduction node (see ``describe``)."""
    what, kw = describe(node)
    return compile_fused(**kw) if what == "elemwise" else compile_fused_reduce(**kw)


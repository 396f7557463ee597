"""Plans: a function's schedule made, for one signature of its inputs, into native records.

The planner runs the schedule once on the call's real inputs, node by node, and decides
for each node how the plan computes it (driver.py runs the result):

* **static**: a node whose inputs are all static (constants, or values that depend only
  on the input *layouts*, like ``Shape``) is computed once, now, and its value kept;
* **native**: a node whose op has a planner (``PLANNERS``; the kernels' modules register
  them) becomes records calling its kernels on the plan's proxies;
* **view**: a reshape, dimshuffle or slice with static indices becomes a record pointing
  a proxy into its input at a fixed offset (slices with variable bounds have a planner);
* **Python**: anything else runs its backend thunk between two native segments, its
  result copied into the plan's buffer for it (checked against the planned shape).

A planner may also *defer* its node (``Planner.defer``): its records are not made yet,
so that the node's sole consumer, when its planner knows how (op types in
``CLAIMS_PENDING``), can compute the value inside its own kernel instead (``claim``); any
other consumer, or a claiming planner that declines, first makes the deferred records
(``materialize``).  The 2x2 max-pool gradient feeding a first-layer weight gradient is
the case: the gradient is never written out whole.

Every value gets a ``Value``: an ndarray the records read, and a kind saying where its
data lives (``STATIC``, ``OWNED`` by the plan, an ``INPUT``'s data, a ``FRESH`` output
array allocated per call, or a ``VIEW`` into another value).  Outputs are fresh arrays
written directly by the node computing them where possible, otherwise copied at the end
of the regular steps; updates that write into a shared variable's storage (the deferred
GEMMs of the in-place plan) stay last, so that every check that can fail has run before
shared state changes, as in ``backends.numpy.Program``.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import driver
from .driver import PlanFailure, Records

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:                       # NumPy < 2
    byte_bounds = np.byte_bounds

STATIC, OWNED, INPUT, FRESH, VIEW = "static", "owned", "input", "fresh", "view"

PLANNERS = {}
CLAIMS_PENDING = set()      # op types whose planners may claim deferred inputs themselves


def register_planner(op_type):
    """Decorator: ``fn(planner, node, values) -> output Values, or None`` plans ``op_type``."""
    def deco(fn):
        PLANNERS[op_type] = fn
        return fn
    return deco


class Value:
    """A value of the schedule as the plan holds it."""

    __slots__ = ("array", "kind", "fixed")

    def __init__(self, array, kind, fixed):
        self.array, self.kind = array, kind
        self.fixed = fixed                  # the data pointer never changes between calls

    def __repr__(self):
        return f"Value({self.kind}, {self.array.shape}, {self.array.dtype})"


def proxy(shape, strides, dtype):
    """A private ndarray object of this layout whose data pointer the plan sets."""
    return as_strided(np.zeros(1, dtype), shape=shape, strides=strides)


def _contiguous_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _view_ops():
    from symbolic.ops.shape import DimShuffle, Reshape, Split
    from symbolic.ops.subtensor import Subtensor
    return (DimShuffle, Reshape, Split, Subtensor)


def _layout_only_ops():
    from symbolic.ops.shape import Shape
    return (Shape,)


def _arrays_of(step):
    """The arrays a record (``Records`` entry) or a Python step reads or writes."""
    if isinstance(step, PythonStep):
        return step.ins + step.outs
    found = []
    for obj in step[3]:
        if isinstance(obj, np.ndarray):
            found.append(obj)
        elif isinstance(obj, tuple):
            found.extend(a for a in obj if isinstance(a, np.ndarray))
    return found


class Plan:
    """What one input signature runs; see ``backends.llvm.program``."""

    def __init__(self, bind, fresh, segments, fresh_specs, results, keep, memory, parallel):
        self.bind, self.fresh = bind, fresh
        self.segments = segments
        self.tables = [s.table() if isinstance(s, Records) else None for s in segments]
        self.block = driver.plan_block(bind, fresh, self.tables[0])
        self.address = self.block.ctypes.data
        self.rest = [(t.ctypes.data, None) if t is not None else (None, s)
                     for t, s in zip(self.tables[1:], segments[1:])]
        self.fresh_specs = fresh_specs
        self.results = results
        self.keep = keep
        self.native_steps = sum(s.count for s in segments if isinstance(s, Records))
        self.python_steps = [s for s in segments if not isinstance(s, Records)]
        self.failures = 0
        self.memory = memory          # buffers placed by liveness (Planner._place_buffers)
        self.parallel = parallel      # splits kernels over our threads (program.py)

    def describe(self):
        """A line about the plan (tests and debugging)."""
        return (f"{self.native_steps} native records, {len(self.python_steps)} Python steps"
                + (" (" + ", ".join(str(s.node.op) for s in self.python_steps) + ")"
                   if self.python_steps else ""))


class PythonStep:
    """A node that runs its backend thunk between native segments."""

    def __init__(self, node, thunk, ins, outs):
        self.node, self.thunk = node, thunk
        self.ins = [v.array for v in ins]
        self.outs = [v.array for v in outs]

    def run(self):
        """False when the results do not fit the plan (the call then runs in Python)."""
        results = self.thunk(*self.ins)
        for r, o in zip(results, self.outs):
            r = np.asarray(r)
            if r.shape != o.shape or r.dtype != o.dtype:
                return False
            np.copyto(o, r)
        return True


class CallStep(PythonStep):
    """A Python call that writes the planned outputs itself."""

    def run(self):
        self.thunk(tuple(self.outs), tuple(self.ins))
        return True


class Planner:
    """Builds the ``Plan`` of ``program`` (a ``backends.numpy.Program``) for ``values``."""

    def __init__(self, program, fgraph, lowering):
        self.program, self.fgraph, self.lowering = program, fgraph, lowering
        self.inplace_plan = getattr(fgraph, "inplace_plan", None) or {}

    # ---------------------------------------------------------------- building
    def build(self, values):
        prog = self.program
        self.slots = [None] * prog.n_slots
        self.keep = []
        self.input_of = {}
        proxies = []
        for k, v in enumerate(values):
            if v.__class__ is not np.ndarray:
                raise PlanFailure(f"input {k} is a {type(v).__name__}, not an ndarray")
            p = proxy(v.shape, v.strides, v.dtype)
            driver.set_data(p, v.ctypes.data)
            val = Value(p, INPUT, False)
            self.slots[k] = val
            self.input_of[id(val)] = k
            proxies.append(p)
        for slot, data in prog.constants:
            self.slots[slot] = Value(np.asarray(data), STATIC, True)
        self.claims = {}
        for j, s in enumerate(prog.output_slots):
            self.claims.setdefault(s, j)
        self.fresh, self.fresh_for, self._temps = [], {}, []
        self.owned, self.fixed_views = [], []
        self.parallel = False
        self.pending = {}                 # id(Value) -> (info, make its records)
        self._clients = None
        self.segments = [Records()]
        self.queue = []
        self.executing, self.deferred = True, False
        self.results = [None] * len(prog.output_slots)
        deferred_slots = {s for _, _, outs, _ in prog.deferred_steps for s in outs}

        for step in prog.regular_steps:
            self._step(step)
        self.materialize(list(v for v, _, _ in self.pending.values()))
        self._resolve_outputs(lambda s: s not in deferred_slots)
        if prog.deferred_steps:
            self.executing, self.deferred = False, True
            self.deferred_in_place = all(
                t.can_run_in_place(*[self.slots[i].array for i in ins])
                for t, ins, _, _ in prog.deferred_steps)
            for step in prog.deferred_steps:
                self._step(step)
            self._resolve_outputs(lambda s: s in deferred_slots)
        if len(self.segments) > 1 and isinstance(self.segments[-1], Records) \
                and not self.segments[-1].count:
            self.segments.pop()
        self._check_updates()
        self._place_buffers()
        bind = driver.bind_table(proxies, values)
        fresh = driver.fresh_table([p for p, _, _ in self.fresh])
        specs = [(shape, dtype) for _, shape, dtype in self.fresh]
        return Plan(bind, fresh, self.segments, specs, self.results,
                    [self.slots, self.keep, proxies, [p for p, _, _ in self.fresh]],
                    self.memory, self.parallel)

    def _place_buffers(self):
        """Give the plan's own buffers their memory: in the order the steps first use them,
        each takes a free block no smaller than it from those whose last use has passed, or a
        new block (the in-place plan's reuse of dead buffers, extended to every buffer)."""
        base_of = {id(p): p for p in self.owned}
        for view, src, _ in self.fixed_views:
            if id(src) in base_of:
                base_of[id(view)] = base_of[id(src)]
        first, last = {}, {}
        position = 0
        for segment in self.segments:
            steps = segment.entries if isinstance(segment, Records) else [segment]
            for step in steps:
                for a in _arrays_of(step):
                    p = base_of.get(id(a))
                    if p is not None:
                        first.setdefault(id(p), position)
                        last[id(p)] = position
                position += 1
        blocks = []                            # uint8 arrays
        free, busy = [], []                    # block numbers; (last use, block number)
        for p in sorted((p for p in self.owned if id(p) in first), key=lambda p: first[id(p)]):
            start = first[id(p)]
            free += [k for end, k in busy if end < start]
            busy = [(end, k) for end, k in busy if end >= start]
            need = max(p.nbytes, 1)
            fits = [k for k in free if blocks[k].nbytes >= need + 63]
            if fits:
                k = min(fits, key=lambda k: blocks[k].nbytes)
                free.remove(k)
            else:
                k = len(blocks)
                blocks.append(np.empty(need + 63, np.uint8))     # room to align to 64 bytes
            busy.append((last[id(p)], k))
            address = blocks[k].ctypes.data
            driver.set_data(p, address + (-address) % 64)
        for view, src, offset in self.fixed_views:
            driver.set_data(view, src.__array_interface__["data"][0] + offset)
        self.keep.append(blocks)
        self.memory = {"buffers": len(first), "blocks": len(blocks),
                       "bytes": sum(b.nbytes for b in blocks)}

    def _check_updates(self):
        """Updates must fit their shared variables' static shapes (``Function`` checks every
        call of the Python schedule; here the planned shapes are those of every call)."""
        for j, i in getattr(self.fgraph, "updates", {}).items():
            shape = self.slots[self.program.output_slots[j]].array.shape
            if not self.fgraph.inputs[i].type.compatible_shape(shape):
                raise PlanFailure(f"an update of shape {shape} does not fit its shared variable")

    def _step(self, step):
        _, ins, outs, node = step
        self.node, self.out_slots = node, outs
        values = [self.slots[i] for i in ins]
        results = self._plan_node(node, values)
        if len(results) != len(outs):
            raise PlanFailure(f"{node.op}: planned {len(results)} outputs, not {len(outs)}")
        for s, v in zip(outs, results):
            self.slots[s] = v

    def _plan_node(self, node, values):
        if not self.deferred and (all(v.kind == STATIC for v in values)
                                  or isinstance(node.op, _layout_only_ops())):
            return self._static(node, values)
        if type(node.op) not in CLAIMS_PENDING:
            self.materialize(values)
        for cls in type(node.op).__mro__:
            if cls in PLANNERS:
                n_fresh, n_records = len(self.fresh), self._record_count()
                out = PLANNERS[cls](self, node, values)
                if out is not None:
                    return out
                if self._record_count() != n_records:
                    raise PlanFailure(f"the planner of {node.op} declined after adding records")
                for p, _, _ in self.fresh[n_fresh:]:
                    self.fresh_for.pop(id(p), None)
                    self.keep.append(p)              # so that its id is not reused
                del self.fresh[n_fresh:]
                break
        self.materialize(values)
        if self.deferred:
            raise PlanFailure(f"{node.op} updates shared storage and has no native plan")
        if isinstance(node.op, _view_ops()) and all(v.kind == STATIC for v in values[1:]):
            out = self._fixed_view(node, values)
            if out is not None:
                return out
        return self._python_step(node, values)

    def _record_count(self):
        return len(self.segments), self.segments[-1].count if isinstance(self.segments[-1], Records) else 0

    def _resolve_outputs(self, which):
        """Each output is a fresh array, or the storage of the shared variable it updates
        (a deferred in-place GEMM): whoever gets it owns it, so ``Function`` has nothing
        to copy or check."""
        updates = getattr(self.fgraph, "updates", {})
        for j, s in enumerate(self.program.output_slots):
            if self.results[j] is not None or not which(s):
                continue
            v = self.slots[s]
            if v.kind == FRESH and self.fresh_for.get(id(v.array)) == (s, j):
                self.results[j] = (True, self._fresh_index(v))
            elif v.kind == INPUT and updates.get(j) == self.input_of[id(v)] \
                    and self.claims[s] == j:
                self.results[j] = (False, self.input_of[id(v)])
            elif self.deferred:
                raise PlanFailure("an update of shared storage is not a fresh array")
            else:
                out = self._new_fresh(v.array.shape, v.array.dtype)
                self.copy(out, v)
                self.results[j] = (True, self._fresh_index(out))

    # ---------------------------------------------------------------- deferred nodes
    def sole_consumer(self, variable):
        """(node, input position) of the only reader of ``variable``, or None (several
        readers, or a function output)."""
        if self._clients is None:
            self._clients = self.fgraph.clients()
        if any(variable is o for o in self.fgraph.outputs):
            return None
        readers = self._clients.get(id(variable), [])
        return readers[0] if len(readers) == 1 else None

    def defer(self, value, info, make_records):
        """Leave ``value``'s records to ``make_records()``, unless its consumer claims it."""
        self.pending[id(value)] = (value, info, make_records)

    def deferred_info(self, value):
        """The ``info`` of a deferred value (left deferred), or None."""
        entry = self.pending.get(id(value))
        return None if entry is None else entry[1]

    def claim(self, value):
        """The ``info`` of a deferred value, which the caller now computes itself; None when
        the value is not deferred."""
        entry = self.pending.pop(id(value), None)
        return None if entry is None else entry[1]

    def materialize(self, values):
        """Make the records of the deferred values among ``values`` (before reading them)."""
        for v in values:
            entry = self.pending.pop(id(v), None)
            if entry is not None:
                node, outs = self.node, self.out_slots
                entry[2]()
                self.node, self.out_slots = node, outs

    # ---------------------------------------------------------------- kinds of steps
    def _static(self, node, values):
        thunk = self.lowering(node, None)
        results = thunk(*[v.array for v in values])
        return [Value(np.array(r, dtype=o.dtype), STATIC, True) for r, o in zip(results, node.outputs)]

    def _fixed_view(self, node, values):
        """A view op with static parameters: views of input 0 at fixed offsets."""
        src = values[0]
        results = self.lowering(node, None)(*[v.array for v in values])
        lo, hi = byte_bounds(src.array)
        for r in results:
            if r is src.array:
                continue
            if r.__class__ is not np.ndarray or r.dtype != src.array.dtype:
                return None
            rlo, rhi = byte_bounds(r)
            if r.size and not (lo <= rlo and rhi <= hi):
                return None                  # a copy: run it in Python
        base = src.array.__array_interface__["data"][0]
        return [src if r is src.array else
                self.view(src, r.shape, r.strides, r.__array_interface__["data"][0] - base)
                for r in results]

    def _python_step(self, node, values):
        self.flush()
        thunk = self.lowering(node, None)
        results = [np.asarray(r) for r in thunk(*[v.array for v in values])]
        outs = [self.output(k, r.shape, r.dtype) for k, r in enumerate(results)]
        for r, o in zip(results, outs):
            np.copyto(o.array, r)
        self.segments.append(PythonStep(node, thunk, values, outs))
        self.segments.append(Records())
        return outs

    def python_call(self, fn, outs, ins, splits=False):
        """``fn(out arrays, in arrays)`` run from Python between native segments; ``splits``:
        it splits a kernel over our thread pool (the plan then runs OpenBLAS single-threaded,
        see program.py)."""
        self.parallel = self.parallel or splits
        step = CallStep(self.node, fn, ins, outs)
        if self.executing:                 # (not the deferred steps: they write shared storage)
            self.flush()
            step.run()
        self.segments.append(step)
        self.segments.append(Records())

    # ---------------------------------------------------------------- for planners
    def output(self, k, shape, dtype):
        """The buffer for output ``k`` of the node being planned (C-contiguous): the fresh
        output array itself when the value is a function output, else the plan's own."""
        slot = self.out_slots[k]
        j = self.claims.get(slot)
        shape = tuple(int(n) for n in shape)
        if j is not None and self.results[j] is None:
            v = self._new_fresh(shape, dtype)
            self.fresh_for[id(v.array)] = (slot, j)
            return v
        return self._owned(shape, dtype)

    def _owned(self, shape, dtype):
        """A buffer of the plan's own: a proxy whose memory ``_place_buffers`` assigns once
        the plan is complete (several values whose lifetimes do not overlap share memory);
        until then it points at memory of its own, for the records run while planning."""
        temp = np.empty(shape, dtype)
        self._temps.append(temp)
        p = proxy(temp.shape, temp.strides, temp.dtype)
        driver.set_data(p, temp.ctypes.data)
        self.owned.append(p)
        return Value(p, OWNED, True)

    def _new_fresh(self, shape, dtype):
        dtype = np.dtype(dtype)
        temp = np.empty(shape, dtype)          # where it points while planning
        self._temps.append(temp)
        p = proxy(shape, temp.strides, dtype)
        driver.set_data(p, temp.ctypes.data)
        self.fresh.append((p, shape, dtype))
        return Value(p, FRESH, False)

    def _fresh_index(self, v):
        for k, (p, _, _) in enumerate(self.fresh):
            if p is v.array:
                return k
        raise PlanFailure("a fresh output lost its place")

    def scratch(self, shape, dtype):
        """A buffer of the plan's own whose contents last from call to call (a constant
        written while planning, a status word): never shared."""
        a = np.empty(shape, dtype)
        self.keep.append(a)
        return a

    def work_buffer(self, shape, dtype):
        """A buffer that one record writes and reads (columns of a convolution): it may
        share memory with other values and work buffers."""
        return self._owned(shape, dtype).array

    def output_scratch(self, shape, dtype):
        """An intermediate as a ``Value`` (for the plan's helpers: ``reshape``, ``copy``...)."""
        return self._owned(shape, dtype)

    def inplace_input(self, values):
        """The input the node may overwrite (the in-place plan's choice, where the plan's
        buffers allow it), or None."""
        k = self.inplace_plan.get(id(self.node))
        if k is None:
            return None
        if self.deferred:
            return k if self.deferred_in_place else None
        target = values[k]
        if target.kind != OWNED or self.claims.get(self.out_slots[0]) is not None:
            return None
        return k

    def call(self, cfunc, *args):
        """A record calling a compiled kernel (``cfunc``: a ctypes function)."""
        self.segments[-1].add_call(cfunc, args)
        if self.executing:
            self.queue.append((cfunc, args))

    def record(self, adapter_address, words, keep=()):
        """A record of one of the driver's own functions (``driver.fixed()``)."""
        self.segments[-1].add(adapter_address, 0, words, keep=keep)
        if self.executing:
            self.queue.append((None, (adapter_address, words)))

    def flush(self):
        """Run the records planned so far, for a step that reads their values now.

        Records run while planning only when something needs their results (an index
        that a slice reads, a step in Python): planning otherwise looks at layouts only,
        and the first call runs them all anyway.  The deferred steps, which write shared
        storage, never run here."""
        queue, self.queue = self.queue, []
        for cfunc, args in queue:
            rc = cfunc(*args) if cfunc is not None else driver.run_record(*args)
            if rc:
                raise PlanFailure(f"a native step failed while planning (status {rc})")

    def check_status(self, status):
        """A record failing the call when the int64 word ``status`` (the plan's) is nonzero."""
        self.record(driver.fixed().check_reset, [status.ctypes.data], keep=[status])

    def view(self, src, shape, strides, offset=0):
        """A view of ``src`` with this layout at a byte offset."""
        p = proxy(tuple(shape), tuple(strides), src.array.dtype)
        driver.set_data(p, src.array.__array_interface__["data"][0] + offset)
        if src.fixed:
            self.keep.append(src.array)
            self.fixed_views.append((p, src.array, offset))
            return Value(p, VIEW, True)
        self.record(driver.fixed().set_view, [id(p), id(src.array), offset], keep=[p, src.array])
        return Value(p, VIEW, False)

    def reshape(self, src, shape):
        """``src`` (C-contiguous) with another shape."""
        shape = tuple(int(n) for n in shape)
        return self.view(src, shape, _contiguous_strides(shape, src.array.itemsize))

    def contiguous(self, v):
        """``v`` itself when C-contiguous, else a copy the plan makes every call."""
        if v.array.flags.c_contiguous:
            return v
        out = self._owned(v.array.shape, v.array.dtype)
        self.copy(out, v)
        return out

    def copy(self, dst, src):
        """Records copying ``src`` into ``dst`` (broadcasting, same dtype)."""
        from .elemwise import compile_fused
        dt = dst.array.dtype
        kernel = compile_fused([("cast", (0,), dt)], 1, [src.array.dtype], [1])
        call = kernel.native_call((dst.array,), (src.array,))
        if call is None:
            raise PlanFailure(f"cannot copy a {src.array.dtype} {src.array.shape} value natively")
        if call:
            self.call(call[0], *call[1])


def make_plan(program, fgraph, lowering, values):
    """The ``Plan`` of ``program`` for the signature of ``values``."""
    return Planner(program, fgraph, lowering).build(values)

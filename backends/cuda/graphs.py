"""CUDA graphs: a call of a given layout captured once, then replayed as one launch.

At network3's mini-batch of 10 a training step is ~100 small kernels, and launching them one
by one from Python costs more than running them.  So (``config.cuda_graphs``, on by
default) the program's calls are sorted by layout: the shapes, dtypes and strides of every
value, and the address of every device value (a graph reads and writes fixed addresses).

1. The first call of a layout runs eagerly and is *recorded*: which steps ran on the GPU,
   which host values were copied to it, which host values the GPU steps read as arguments,
   how much memory the call allocated.  A call that copied GPU data back to the host in the
   middle (a node with no CUDA lowering fed by GPU data, a fallback to the reference) is
   never captured.
2. The second call *captures* the GPU steps into a graph (nothing runs during a capture),
   after a rehearsal on the capture stream that compiles and loads every kernel the capture
   will launch (loading a module inside a capture is not allowed everywhere):
   allocations come from one arena sized by the recording, so the graph's addresses stay
   its own; every host value copied to the GPU gets a staging buffer; a slice of a GPU
   array by indices that change from call to call (``data[i*n:(i+1)*n]``: the host values
   are tracked from the caller's inputs) becomes a copy kernel reading its start from a
   staging buffer.  A second graph copies the new values of the updated shared variables
   over the old ones, so the next replay reads them at the same addresses.
3. Every call of a captured layout then runs the host steps that depend on the inputs
   (index arithmetic), writes the staging buffers, launches the graph, reads the outputs and
   the status words of the kernels that check data (labels, random states), and only then,
   when all is well, launches the update graph.  A bad status, or indices that give another
   slice shape, make that call run eagerly, which gives the reference's result or error with
   nothing changed.

Anything that goes wrong in a recording or a capture makes the layout run eagerly for the
next ``GraphCache.RETRY_AFTER`` calls, then it is recorded again (twice at most; ``failures``
says why).  ``set_value`` gives a shared variable a new address, hence a new layout.
"""
import numpy as np

from symbolic.ops.shape import Shape

from . import runtime
from .program import safe_commits

MAX_LAYOUTS = 8        # layouts remembered per function (the least recently used go)
ALIGN = 512


class _Layout:
    """A device array's layout without the array (what a slice's offset is computed from
    at replay, when intermediate arrays are not at hand)."""

    def __init__(self, x):
        self.shape, self.strides, self.dtype, self.itemsize = x.shape, x.strides, x.dtype, \
            x.itemsize


class CaptureFailed(Exception):
    """This call cannot be replayed from a graph (the message says why)."""


def layout_key(values, ndarray):
    parts = []
    for v in values:
        if isinstance(v, ndarray):
            parts.append((v.data.ptr, v.shape, v.strides, v.dtype.str))
        else:
            a = np.asarray(v)
            parts.append((None, a.shape, a.dtype.str))
    return tuple(parts)


class _Measure:
    """The pool's allocator, counting what a call allocates (to size a capture's arena)."""

    def __init__(self, cp):
        self.pool, self.total = cp.get_default_memory_pool(), 0

    def malloc(self, size):
        self.total += -(-size // ALIGN) * ALIGN
        return self.pool.malloc(size)


class _Arena:
    """Bump allocation in one block that lives as long as the graph: what a capture
    allocates is the graph's alone, at addresses that stay valid for every replay."""

    def __init__(self, cp, nbytes):
        self.cp, self.nbytes, self.used = cp, max(int(nbytes), ALIGN), 0
        self.block = cp.get_default_memory_pool().malloc(self.nbytes)

    def malloc(self, size):
        size = -(-size // ALIGN) * ALIGN
        if self.used + size > self.nbytes:
            raise CaptureFailed(f"the capture allocated more than the recorded {self.nbytes} "
                                f"bytes")
        mp = self.block + self.used
        self.used += size
        return mp


class Recording:
    """What the first call of a layout did (see the module docstring, step 1)."""

    def __init__(self, program, values):
        self.program = program
        placement = program.placement
        cp = placement.cp
        self.staged, self.host_args, self.copied_back = {}, set(), set()
        measure = _Measure(cp)
        placement.watch = self
        try:
            with cp.cuda.using_allocator(measure.malloc):
                store = program.run_steps(values)
        finally:
            placement.watch = None
        self.outputs = program.finish(values, store)
        self.allocated = measure.total
        self.reason = self._analyse(values, store, placement.ndarray)

    # watch interface (program.Placement)
    def to_device(self, step, k, value):
        if step is not None:
            self.staged[(step, k)] = (value.shape, value.dtype)
        return None

    def to_host(self, step):
        if step is not None:
            self.copied_back.add(step)

    def host_arg(self, step, k):
        if step is not None:
            self.host_args.add((step, k))

    def _analyse(self, values, store, ndarray):
        """None if the call can be captured, else why not; sets the plan for a capture."""
        program = self.program
        if self.copied_back:
            return (f"GPU data went back to the host in the middle of the call (step "
                    f"{min(self.copied_back)}: {program.steps[min(self.copied_back)][3].op})")
        dynamic = {k for k, v in enumerate(values) if not isinstance(v, ndarray)}
        self.device_steps, self.dynamic_steps, self.gathers = [], [], set()
        for n, (thunk, ins, outs, node) in enumerate(program.steps):
            on_device = any(isinstance(store[o], ndarray) for o in outs)
            if on_device:
                self.device_steps.append(n)
                for k, i in enumerate(ins):
                    if (n, k) in self.host_args and i in dynamic:
                        if getattr(getattr(thunk, "device", None), "gather", None) is None:
                            return (f"step {n} ({node.op}) takes an argument that changes from "
                                    f"call to call on the host")
                        self.gathers.add(n)
            elif any(i in dynamic for i in ins) and not (
                    isinstance(node.op, Shape) and all(i < len(values) for i in ins)):
                # (the shape of an input is part of the layout; of a host intermediate, not)
                self.dynamic_steps.append(n)
                dynamic.update(outs)
        self.dynamic = dynamic
        for k, slot in enumerate(program.output_slots):
            r = store[slot]
            if k in program.updates and isinstance(values[program.updates[k]], ndarray):
                if not isinstance(r, ndarray):
                    return f"the update of input {program.updates[k]} is a host value"
        return None


class _Mailbox:
    """Small values packed into one device buffer, so that a replay moves them in one copy
    each way: ``view(shape, dtype)`` reserves a part (8-byte aligned) before the buffer is
    allocated with ``allocate()``; ``host`` is its host twin."""

    def __init__(self):
        self.parts, self.nbytes = [], 0

    def reserve(self, shape, dtype):
        dtype = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self.parts.append((self.nbytes, tuple(shape), dtype))
        self.nbytes += -(-max(n, 1) // 8) * 8
        return len(self.parts) - 1

    def allocate(self, cp):
        self.device = cp.empty((max(self.nbytes, 8),), dtype=np.uint8)
        self.host = np.zeros(max(self.nbytes, 8), dtype=np.uint8)
        self.device_views = [self._view(self.device, k) for k in range(len(self.parts))]
        self.host_views = [self._view(self.host, k) for k in range(len(self.parts))]

    def _view(self, buf, k):
        start, shape, dtype = self.parts[k]
        n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return buf[start:start + n].view(dtype).reshape(shape)


class GraphCall:
    """A captured layout (module docstring, steps 2 and 3).

    Per replay one copy goes to the GPU (the inbox: the staged host values and the slice
    starts) and one comes back (the outbox: the kernels' status words and the outputs)."""

    def __init__(self, program, recording, values):
        self.program, self.rec = program, recording
        placement = program.placement
        cp = self.cp = placement.cp
        self.ndarray = placement.ndarray
        self.arena = _Arena(cp, recording.allocated * 5 // 4 + (1 << 20))
        self.inbox = _Mailbox()
        staged = {key: self.inbox.reserve(shape, dtype)
                  for key, (shape, dtype) in recording.staged.items()}
        offsets = {n: self.inbox.reserve((1,), np.int64) for n in recording.gathers}
        self.inbox.allocate(cp)
        self.inbox.device.set(self.inbox.host)              # zeros until the first replay
        self.staging = {key: self.inbox.device_views[k] for key, k in staged.items()}
        self.staging_host = {key: self.inbox.host_views[k] for key, k in staged.items()}
        self.offsets = {n: self.inbox.device_views[k] for n, k in offsets.items()}
        self.offsets_host = {n: self.inbox.host_views[k] for n, k in offsets.items()}
        self.layouts, self.sliced = {}, {}
        self.stream = cp.cuda.Stream(non_blocking=True)
        self._capture(values)

    # ---------------------------------------------------------------- capture
    def to_device(self, step, k, value):
        buf = self.staging.get((step, k))
        if buf is None or buf.shape != value.shape or buf.dtype != value.dtype:
            raise CaptureFailed(f"step {step} copies an unrecorded value to the GPU")
        return buf

    def to_host(self, step):
        if step is not None:
            raise CaptureFailed(f"step {step} needs GPU data on the host")

    def host_arg(self, step, k):
        pass

    def _run_body(self, values, store, capturing):
        """The GPU steps (and the host steps between them), then the outbox copies.  In the
        rehearsal the slices' starts are written first, so that the copies read in bounds."""
        program, rec = self.program, self.rec
        placement = program.placement
        device_steps = set(rec.device_steps)
        for n, (thunk, ins, outs, node) in enumerate(program.steps):
            placement.step = n
            args = [store[i] for i in ins]
            if n in rec.gathers:
                x, idx = args[0], args[1:]
                self.sliced[n] = _Layout(x)
                self.layouts[n] = thunk.device.layout(x, idx)
                if not capturing:
                    self.offsets_host[n][0] = self.layouts[n][0]
                    self.inbox.device.set(self.inbox.host)
                results = [thunk.device.gather(x, idx, self.offsets[n])]
            else:
                results = thunk(*args)
            if (n in device_steps) != any(isinstance(r, self.ndarray) for r in results):
                raise CaptureFailed(f"step {n} ({node.op}) ran elsewhere than when recorded")
            for i, r in zip(outs, results):
                store[i] = r
        placement.step = None
        self.commits = safe_commits(self._update_pairs(values, store), lambda a: a.copy())
        self._fill_outbox(values, store, runtime.collect_statuses(True))

    def _capture(self, values):
        """A rehearsal on the capture stream (it compiles and loads every kernel, CuPy's
        copies included, and nothing it writes is kept), then the capture itself."""
        program, rec, cp = self.program, self.rec, self.cp
        placement = program.placement
        graph = None
        placement.watch = self
        runtime.collect_statuses(True)
        try:
            cp.cuda.Device().synchronize()      # the capture stream does not wait for others
            with self.stream:
                rehearsal = program.new_store(values)
                self._run_body(values, rehearsal, capturing=False)
                for old, new in self.commits:
                    cp.empty(old.shape, old.dtype)[...] = new
                self.stream.synchronize()
                store = program.new_store(values)
                with cp.cuda.using_allocator(self.arena.malloc):
                    self.stream.begin_capture()
                    runtime.set_capturing(True)
                    try:
                        self._run_body(values, store, capturing=True)
                    finally:
                        runtime.set_capturing(False)
                        graph = self.stream.end_capture()
        except CaptureFailed:
            raise
        except Exception as e:
            raise CaptureFailed(f"{type(e).__name__}: {e}") from e
        finally:
            placement.watch, placement.step = None, None
            runtime.collect_statuses(False)
        self.graph = graph
        self.static = {i: store[i] for i in range(len(store))
                       if i >= len(values) and i not in rec.dynamic
                       and not isinstance(store[i], self.ndarray)}
        for (step, k), host in self.staging_host.items():
            slot = program.steps[step][1][k]
            if slot not in rec.dynamic:
                host[...] = store[slot]
        self._capture_commit(values, store)

    def _fill_outbox(self, values, store, statuses):
        """(Inside the capture.)  The status words and the device outputs copied into one
        buffer read back per replay; where each output is after a replay."""
        program, cp = self.program, self.cp
        box = _Mailbox()
        wanted, self.outputs = [], []
        for s in statuses:
            wanted.append((box.reserve(s.shape, s.dtype), s))
        self.statuses = [k for k, _ in wanted]
        for k, slot in enumerate(program.output_slots):
            r = store[slot]
            target = program.updates.get(k)
            if target is not None and isinstance(values[target], self.ndarray):
                self.outputs.append(("update", target))
            elif isinstance(r, self.ndarray):
                part = box.reserve(r.shape, r.dtype)
                wanted.append((part, r))
                self.outputs.append(("device", part))
            else:
                self.outputs.append(("host", slot))
        box.allocate(cp)
        for part, arr in wanted:
            if arr.size:
                box.device_views[part][...] = arr
        self.outbox = box

    def _update_pairs(self, values, store):
        """(old value, new value) of each shared variable on the GPU that the call updates."""
        program, pairs = self.program, []
        for k, slot in enumerate(program.output_slots):
            target = program.updates.get(k)
            if target is None or not isinstance(values[target], self.ndarray):
                continue
            old, r = values[target], store[slot]
            if r is not old:
                if r.shape != old.shape or r.dtype != old.dtype:
                    raise CaptureFailed(f"the update of input {target} has another shape or "
                                        f"dtype")
                pairs.append((old, r))
        return pairs

    def _capture_commit(self, values, store):
        """The graph copying the new values of the shared variables over the old ones (the
        new values that overlap old ones were copied aside in the main graph)."""
        copies = self.commits
        self.commit = None
        if copies:
            with self.stream:
                self.stream.begin_capture()
                try:
                    for old, new in copies:
                        old[...] = new
                finally:
                    self.commit = self.stream.end_capture()

    # ---------------------------------------------------------------- replay
    def replay(self, values):
        """The outputs of this call, or None when it must run eagerly."""
        program, rec, cp = self.program, self.rec, self.cp
        moved = program.transfers
        store = program.new_store(values)
        for i, v in self.static.items():
            store[i] = v
        try:
            for n in rec.dynamic_steps:
                thunk, ins, outs, _ = program.steps[n]
                for i, r in zip(outs, thunk(*[store[i] for i in ins])):
                    store[i] = r
        except Exception:
            return None                     # the eager run raises it, with its context
        for n, host in self.offsets_host.items():
            thunk, ins, _, _ = program.steps[n]
            found = thunk.device.layout(self.sliced[n], [store[i] for i in ins[1:]])
            if found is None or found[1:] != self.layouts[n][1:]:
                return None
            host[0] = found[0]
        for (step, k), host in self.staging_host.items():
            slot = program.steps[step][1][k]
            if slot in rec.dynamic:
                value = np.asarray(store[slot])
                if value.shape != host.shape:
                    return None
                host[...] = value
        inbox, outbox = self.inbox, self.outbox
        if inbox.nbytes:
            inbox.device.set(inbox.host)
            moved.to_device += 1
            moved.bytes_to_device += inbox.nbytes
        self.graph.launch()
        got = cp.asnumpy(outbox.device)
        moved.to_host += 1
        moved.bytes_to_host += outbox.nbytes
        views = [got[start:start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize]
                 .view(dtype).reshape(shape) for start, shape, dtype in outbox.parts]
        if any(views[k].reshape(-1)[0] for k in self.statuses):
            return None
        outputs = []
        for kind, where in self.outputs:
            if kind == "update":
                outputs.append(values[where])
            elif kind == "device":
                outputs.append(views[where].copy())
            else:
                outputs.append(np.array(store[where]))     # a copy: static values are kept
        if self.commit is not None:
            self.commit.launch()
        return outputs


class _Eager:
    """A layout that runs eagerly, for ``calls_left`` more calls before it is recorded
    again (the reason may have been the data of one call: a bad label, say)."""

    def __init__(self, calls_left):
        self.calls_left = calls_left


class GraphCache:
    """A program's layouts: recorded, captured, or eager for a while."""

    RETRY_AFTER = 1000     # eager calls of a layout before it is recorded again
    RETRIES = 2            # ... at most this many times

    def __init__(self, program):
        self.program, self.entries = program, {}
        self.captures = self.replays = 0
        self.failures, self.retries = {}, {}

    def _fail(self, key, reason):
        self.failures[key] = reason
        tries = self.retries.get(key, 0)
        self.retries[key] = tries + 1
        self.entries[key] = _Eager(self.RETRY_AFTER if tries < self.RETRIES else -1)

    def call(self, values):
        program = self.program
        key = layout_key(values, program.placement.ndarray)
        entry = self.entries.get(key, self)
        if isinstance(entry, _Eager) and entry.calls_left == 0:
            entry = self                                    # time to try again
        if entry is self:                                   # a new layout: record it
            self.entries.pop(key, None)
            if len(self.entries) >= MAX_LAYOUTS:            # forget the least recently used
                del self.entries[next(iter(self.entries))]
            rec = Recording(program, values)
            if rec.reason is None:
                self.entries[key] = rec
            else:
                self._fail(key, rec.reason)
            return rec.outputs
        del self.entries[key]                               # most recently used: last
        self.entries[key] = entry
        if isinstance(entry, _Eager):
            entry.calls_left -= 1
            return None
        if isinstance(entry, Recording):
            try:
                entry = GraphCall(program, entry, values)
            except Exception as e:              # out of memory included: run eagerly
                self._fail(key, str(e) if isinstance(e, CaptureFailed)
                           else f"{type(e).__name__}: {e}")
                return None
            self.entries[key] = entry
            self.captures += 1
            self.failures.pop(key, None)
        outputs = entry.replay(values)
        if outputs is not None:
            self.replays += 1
        return outputs

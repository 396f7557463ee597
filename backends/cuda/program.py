"""The CUDA backend's program: each node on the GPU when it has a lowering and a value to
work on there, on the host otherwise.

Where a value lives is decided per call by where its inputs are, not fixed at compile time:
shared variables are on the GPU, the caller's inputs (a mini-batch index, a learning rate)
and the constants are on the host.  A node with a CUDA lowering runs on the GPU when one of
its inputs is there (or when it creates data, like ``Alloc`` and the random ops); the
inputs it needs on the host (shapes, indices) are brought there, the others to the GPU.  A
node with no lowering, or whose inputs are all on the host, runs its NumPy reference on the
host.  So index arithmetic stays on the host and ``data[i*n:(i+1)*n]`` is a view of a GPU
array sliced by host integers: a network3 step sends the index and receives the cost.

Outputs go back to the host (``Function`` returns NumPy arrays); updates stay where the
shared value was.  Every conversion is counted in ``transfers`` (tests check that a training
step moves no data set).  With ``config.cuda_graphs`` a call whose layout was seen before is
replayed from a CUDA graph (``graphs.py``); the eager path here is also what records what a
capture needs.
"""
import numpy as np

from backends.numpy import Program, runtime_error

from .runtime import cupy, host_to_device


class Transfers:
    """How many values (and bytes) were copied each way (the GPU tests watch these)."""

    def __init__(self):
        self.to_device = self.to_host = self.bytes_to_device = self.bytes_to_host = 0

    def __repr__(self):
        return (f"Transfers(to_device={self.to_device} ({self.bytes_to_device} bytes), "
                f"to_host={self.to_host} ({self.bytes_to_host} bytes))")


class Placement:
    """Moves values between host and GPU; constants are copied to the GPU once.

    ``step`` is the schedule position being run; ``watch`` (set while a call is recorded for
    a capture, or captured) sees every conversion: ``watch.to_device(step, k, value)`` may
    return the device array to use (a capture's staging buffer), ``watch.to_host(step)`` and
    ``watch.host_arg(step, k)`` note the others."""

    def __init__(self, constants):
        self.cp = cupy()
        self.ndarray = self.cp.ndarray
        self.constants = {id(data): data for _, data in constants}
        self.device_constants = {}
        self.transfers = Transfers()
        self.step, self.watch = None, None

    def on_device(self, value, k=None):
        if isinstance(value, self.ndarray):
            return value
        key = id(value)
        if key in self.constants:
            if key not in self.device_constants:
                self.device_constants[key] = host_to_device(np.asarray(value))
            return self.device_constants[key]
        value = np.asarray(value)
        if self.watch is not None:
            staged = self.watch.to_device(self.step, k, value)
            if staged is not None:
                return staged
        self.transfers.to_device += 1
        self.transfers.bytes_to_device += value.nbytes
        return host_to_device(value)

    def on_host(self, value):
        if isinstance(value, self.ndarray):
            if self.watch is not None:
                self.watch.to_host(self.step)
            self.transfers.to_host += 1
            self.transfers.bytes_to_host += value.nbytes
            return self.cp.asnumpy(value)
        return value

    def host_arg(self, value, k):
        if self.watch is not None:
            self.watch.host_arg(self.step, k)
        return self.on_host(value)


def host_thunk(node, placement):
    """The node's NumPy reference on the host, its inputs brought there first."""
    perform, on_host = node.op.perform, placement.on_host

    def run(*args):
        return perform(node, [on_host(a) for a in args])
    run.how = "host: numpy reference"
    run.on_device = False
    return run


def placed_thunk(node, device, placement):
    """``device`` (a lowering's thunk) where the node's inputs say so, else the host
    reference.  ``device.host_args``: the inputs it wants as host values; ``device.creates``:
    run on the GPU even when every input is on the host.  A device thunk returning None
    hands the call to the reference (a layout or dtype it does not cover)."""
    host = host_thunk(node, placement)
    wants_host = frozenset(getattr(device, "host_args", ()))
    creates = getattr(device, "creates", False)
    ndarray, on_device, host_arg = placement.ndarray, placement.on_device, placement.host_arg

    def run(*args):
        if not creates and not any(isinstance(a, ndarray) for a in args):
            return host(*args)
        moved = [host_arg(a, k) if k in wants_host else on_device(a, k)
                 for k, a in enumerate(args)]
        results = device(*moved)
        if results is None:
            if placement.watch is not None:
                placement.watch.to_host(placement.step)       # the reference takes over
            return host(*args)
        return results
    run.how = getattr(device, "how", "cuda")
    run.device = device
    return run


class CudaProgram(Program):
    """The schedule of placed thunks; outputs to the host, updates where their variable was."""

    def __init__(self, fgraph, lowerings, profile=None, graphs=False):
        self._lowerings = lowerings
        self._placement = Placement([])
        self.updates = dict(getattr(fgraph, "updates", {}))
        super().__init__(fgraph, profile, lowering=self._lower)
        self._placement.constants = {id(data): data for _, data in self.constants}
        self.graphs = None
        if graphs and profile is None:
            from .graphs import GraphCache
            self.graphs = GraphCache(self)

    @property
    def transfers(self):
        return self._placement.transfers

    @property
    def placement(self):
        return self._placement

    def _lower(self, node, inplace_plan=None):
        for cls in type(node.op).__mro__:
            if cls in self._lowerings:
                device = self._lowerings[cls](node)
                if device is not None:
                    return placed_thunk(node, device, self._placement)
                break
        return host_thunk(node, self._placement)

    def __call__(self, *values):
        if self.graphs is not None:
            outputs = self.graphs.call(values)
            if outputs is not None:
                return outputs
        return self.finish(values, self.run_steps(values))

    def new_store(self, values):
        store = list(values)
        store.extend(self._blank)
        for i, data in self.constants:
            store[i] = data
        return store

    def run_steps(self, values, steps=None):
        """Run ``steps`` (default: all) over a fresh store of ``values``; return the store."""
        store = self.new_store(values)
        placement = self._placement
        for n, (thunk, ins, outs, node) in enumerate(self.steps):
            if steps is not None and n not in steps:
                continue
            placement.step = n
            args = [store[i] for i in ins]
            try:
                results = thunk(*args)
            except Exception as e:
                raise runtime_error(e, node, args) from e
            for i, r in zip(outs, results):
                store[i] = r
        placement.step = None
        return store

    def finish(self, values, store):
        """The outputs of a run: on the host, updates where their variable lives.

        A new value of a shared variable on the GPU is copied over the old one when it has
        the same shape and dtype: shared values keep their addresses, so the CUDA graphs of
        every function reading them stay valid.  The outputs are taken first, and a new
        value that overlaps an old one (a swap, ``(w_prev, w)``) is copied aside before any
        old value is overwritten."""
        placement = self._placement
        outputs, pending = [], []
        for k, slot in enumerate(self.output_slots):
            r = store[slot]
            target = self.updates.get(k)
            if target is not None and isinstance(values[target], placement.ndarray):
                old, r = values[target], placement.on_device(r)
                if r is not old and r.shape == old.shape and r.dtype == old.dtype:
                    pending.append((k, old, r))
            else:
                r = placement.on_host(r)
            outputs.append(r)
        commits = safe_commits([(old, r) for _, old, r in pending], lambda a: a.copy())
        for (k, old, _), (_, new) in zip(pending, commits):
            old[...] = new
            outputs[k] = old
        return outputs


def extent(a):
    """The bytes ``[first, end)`` a device array touches."""
    lo = hi = a.data.ptr
    if a.size == 0:
        return lo, lo
    for n, st in zip(a.shape, a.strides):
        if st > 0:
            hi += (n - 1) * st
        else:
            lo += (n - 1) * st
    return lo, hi + a.itemsize


def safe_commits(pairs, copy):
    """``(old, new)`` pairs to copy new over old one after the other, each ``new`` that
    overlaps some ``old`` replaced by ``copy(new)``: every variable gets the value computed
    before any of them was overwritten."""
    olds = [extent(o) for o, _ in pairs]
    out = []
    for old, new in pairs:
        lo, hi = extent(new)
        if any(lo < ohi and olo < hi for olo, ohi in olds):
            new = copy(new)
        out.append((old, new))
    return out

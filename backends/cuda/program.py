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
step moves no data set).
"""
import numpy as np

from backends.numpy import Program, runtime_error

from .runtime import cupy


class Transfers:
    """How many values were copied each way (the GPU tests watch these)."""

    def __init__(self):
        self.to_device = self.to_host = self.bytes_to_device = self.bytes_to_host = 0

    def __repr__(self):
        return (f"Transfers(to_device={self.to_device} ({self.bytes_to_device} bytes), "
                f"to_host={self.to_host} ({self.bytes_to_host} bytes))")


class Placement:
    """Moves values between host and GPU; constants are copied to the GPU once."""

    def __init__(self, constants):
        self.cp = cupy()
        self.ndarray = self.cp.ndarray
        self.constants = {id(data): data for _, data in constants}
        self.device_constants = {}
        self.transfers = Transfers()

    def on_device(self, value):
        if isinstance(value, self.ndarray):
            return value
        key = id(value)
        if key in self.constants:
            if key not in self.device_constants:
                self.device_constants[key] = self.cp.asarray(np.asarray(value))
            return self.device_constants[key]
        value = np.asarray(value)
        self.transfers.to_device += 1
        self.transfers.bytes_to_device += value.nbytes
        return self.cp.asarray(value)

    def on_host(self, value):
        if isinstance(value, self.ndarray):
            self.transfers.to_host += 1
            self.transfers.bytes_to_host += value.nbytes
            return self.cp.asnumpy(value)
        return value


def host_thunk(node, placement):
    """The node's NumPy reference on the host, its inputs brought there first."""
    perform, on_host = node.op.perform, placement.on_host

    def run(*args):
        return perform(node, [on_host(a) for a in args])
    run.how = "host: numpy reference"
    return run


def placed_thunk(node, device, placement):
    """``device`` (a lowering's thunk) where the node's inputs say so, else the host
    reference.  ``device.host_args``: the inputs it wants as host values; ``device.creates``:
    run on the GPU even when every input is on the host.  A device thunk returning None
    hands the call to the reference (a layout or dtype it does not cover)."""
    host = host_thunk(node, placement)
    wants_host = frozenset(getattr(device, "host_args", ()))
    creates = getattr(device, "creates", False)
    ndarray, on_device, on_host = placement.ndarray, placement.on_device, placement.on_host

    def run(*args):
        if not creates and not any(isinstance(a, ndarray) for a in args):
            return host(*args)
        moved = [on_host(a) if k in wants_host else on_device(a) for k, a in enumerate(args)]
        results = device(*moved)
        return host(*args) if results is None else results
    run.how = getattr(device, "how", "cuda")
    return run


class CudaProgram(Program):
    """The schedule of placed thunks; outputs to the host, updates where their variable was."""

    def __init__(self, fgraph, lowerings, profile=None):
        self._lowerings = lowerings
        self._placement = Placement([])
        self.updates = dict(getattr(fgraph, "updates", {}))
        super().__init__(fgraph, profile, lowering=self._lower)
        self._placement.constants = {id(data): data for _, data in self.constants}

    @property
    def transfers(self):
        return self._placement.transfers

    def _lower(self, node, inplace_plan=None):
        for cls in type(node.op).__mro__:
            if cls in self._lowerings:
                device = self._lowerings[cls](node)
                if device is not None:
                    return placed_thunk(node, device, self._placement)
                break
        return host_thunk(node, self._placement)

    def __call__(self, *values):
        placement = self._placement
        store = list(values)
        store.extend(self._blank)
        for i, data in self.constants:
            store[i] = data
        for thunk, ins, outs, node in self.steps:
            args = [store[i] for i in ins]
            try:
                results = thunk(*args)
            except Exception as e:
                raise runtime_error(e, node, args) from e
            for i, r in zip(outs, results):
                store[i] = r
        outputs = []
        for k, slot in enumerate(self.output_slots):
            r = store[slot]
            if k in self.updates and isinstance(values[self.updates[k]], placement.ndarray):
                r = placement.on_device(r)
            else:
                r = placement.on_host(r)
            outputs.append(r)
        return outputs

"""Shape ops on the GPU: views where NumPy makes views, small kernels where it copies.

Their integer arguments (shapes, indices, slice bounds) are host values: slicing a GPU array
by host integers moves no data.  Where an argument is out of range or a layout is not
covered the thunk returns None and the node runs its reference on the host, which raises
the reference's error.
"""
import numpy as np

from symbolic.ops.subtensor import build_index

from . import codegen
from .lower_elemwise import elementwise_program, reduction_program
from .runtime import cupy, i64, launch
from .scalar import Helpers, ctype

__all__ = ["shape", "dimshuffle", "reshape", "subtensor", "inc_subtensor", "alloc", "join",
           "unbroadcast"]


def _host_args(run, positions, how, creates=False):
    run.host_args, run.how, run.creates = frozenset(positions), how, creates
    return run


def shape(node):
    return _host_args(lambda x: [np.array(x.shape, dtype="int64")], (), "cuda: shape (host)")


def dimshuffle(node):
    order, dropped = node.op.new_order, node.op.dropped
    kept = [d for d in order if d != "x"]

    def run(x):
        if any(x.shape[d] != 1 for d in dropped):
            return None
        y = x.transpose(kept + list(dropped))
        return [y.reshape([1 if d == "x" else x.shape[d] for d in order])]
    return _host_args(run, (), "cuda: dimshuffle (view)")


def reshape(node):
    def run(x, new_shape):
        try:
            return [x.reshape(tuple(int(s) for s in new_shape))]
        except ValueError:
            return None
    return _host_args(run, (1,), "cuda: reshape")


def _index_positions(spec):
    """Input positions (after x, or x and y) of the integer and the array entries."""
    ints, arrays, k = [], [], 0
    for entry in spec:
        if entry == "newaxis":
            continue
        n = 1 if entry in ("int", "array") else sum(bool(p) for p in entry[1:])
        (arrays if entry == "array" else ints).extend(range(k, k + n))
        k += n
    return ints, arrays


def _checked_index(shape, spec, idx):
    """The index tuple, or None when an integer entry is out of range (the reference
    raises NumPy's IndexError; CuPy would wrap or read out of bounds)."""
    index = build_index(spec, idx)
    axis = 0
    for entry in index:
        if entry is None:
            continue
        if isinstance(entry, int) and not -shape[axis] <= entry < shape[axis]:
            return None
        axis += 1
    return index


def subtensor(node):
    spec = node.op.idx_spec
    ints, arrays = _index_positions(spec)
    if arrays:
        return None               # advanced indexing: the reference (its bounds checks)
    dtype = node.outputs[0].dtype
    gathers = {}

    def run(x, *idx):
        index = _checked_index(x.shape, spec, idx)
        return None if index is None else [x[index]]

    def layout(x, idx):
        """(offset in elements, shape, strides) of ``x[index]``, from x's layout alone (a
        CUDA graph replay computes it for every call); None for an index out of range."""
        index = _checked_index(x.shape, spec, idx)
        return None if index is None else view_layout(x.shape, x.strides, x.itemsize, index)

    def gather(x, idx, offset):
        """The view as a copy read at the device offset ``offset[0]``: what a CUDA graph
        replays when the indices change from call to call (a view's address cannot)."""
        found = layout(x, idx)
        if found is None:
            return None
        _, shape, strides = found
        out = cupy().empty(shape, dtype=dtype)
        n = int(np.prod(shape, dtype=np.int64))
        if n:
            nd = len(shape)
            if nd not in gathers:
                gathers[nd] = _gather_source(nd, dtype)
            launch(gathers[nd], n, [i64(n), *map(i64, shape), x,
                                    *(i64(st // x.itemsize) for st in strides), offset, out])
        return out
    run.layout, run.gather = layout, gather
    return _host_args(run, [1 + k for k in ints], "cuda: subtensor (view)")


def view_layout(shape, strides, itemsize, index):
    """(offset in elements, shape, strides) of the view ``a[index]`` of an array of this
    layout, for a basic index (ints in range, slices, None), by NumPy's rules."""
    offset, out_shape, out_strides, axis = 0, [], [], 0
    for entry in index:
        if entry is None:
            out_shape.append(1)
            out_strides.append(0)
            continue
        n, st = shape[axis], strides[axis]
        if isinstance(entry, slice):
            start, stop, step = entry.indices(n)
            out_shape.append(len(range(start, stop, step)))
            out_strides.append(st * step)
            offset += start * st if out_shape[-1] else 0
        else:
            offset += (entry + n if entry < 0 else entry) * st
        axis += 1
    out_shape += shape[axis:]
    out_strides += strides[axis:]
    return offset // itemsize, tuple(out_shape), tuple(out_strides)


def _gather_source(ndim, dtype):
    """``out[i] = x[off[0] + sum_d c_d * t_d]`` over the C-order coordinates ``c`` of the
    shape ``s``: a strided copy whose start is read from device memory."""
    t = ctype(dtype)
    params = ([("n", "const long long")] + [(f"s{d}", "const long long") for d in range(ndim)]
              + [("x", f"const {t}*")] + [(f"t{d}", "const long long") for d in range(ndim)]
              + [("off", "const long long*"), ("out", f"{t}*")])
    lines = (["  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;",
              "       i += (long long)gridDim.x * blockDim.x) {"]
             + codegen._offsets("i", [f"s{d}" for d in range(ndim)],
                                [("o", [f"t{d}" for d in range(ndim)])], "    ")
             + ["    out[i] = x[off[0] + o];", "  }", ""])
    return codegen._finish("gather", Helpers(), "\n".join(lines), params)


def inc_subtensor(node):
    spec, set_only = node.op.idx_spec, node.op.set_instead_of_inc
    ints, arrays = _index_positions(spec)
    if arrays:
        return None
    dt = node.outputs[0].dtype
    add = elementwise_program(dict(steps=[("add", (0, 1), dt)], n_inputs=2,
                                   input_dtypes=[dt, dt], outputs=[2]), [dt])

    def run(x, y, *idx):
        index = _checked_index(x.shape, spec, idx)
        if index is None or y.dtype != x.dtype:
            return None
        out = x.copy()
        target = out[index]
        try:
            np.broadcast_shapes(y.shape, target.shape)
        except ValueError:
            return None
        if set_only:
            out[index] = y
        else:
            out[index] = add(target, y)[0]
        return [out]
    return _host_args(run, [2 + k for k in ints],
                      f"cuda: {'set' if set_only else 'inc'}_subtensor")


def alloc(node):
    dt = node.outputs[0].dtype
    src = node.inputs[0].dtype
    steps = [] if src == dt else [("cast", (0,), dt)]
    fill = elementwise_program(dict(steps=steps, n_inputs=1, input_dtypes=[src],
                                    outputs=[len(steps)]), [dt])

    def run(value, new_shape):
        full = tuple(int(s) for s in new_shape)
        try:
            if np.broadcast_shapes(value.shape, full) != full:
                return None
        except ValueError:
            return None
        return fill(cupy().broadcast_to(value, full))
    return _host_args(run, (1,), "cuda: alloc (fill kernel)", creates=True)


def join(node):
    """A new array, each part copied into its slice (``cupy.concatenate`` of many parts
    copies a pointer table from the host, which a CUDA graph cannot hold)."""
    axis = node.op.axis

    def run(*xs):
        if len({x.dtype for x in xs}) != 1 or len({x.ndim for x in xs}) != 1:
            return None
        a = axis % xs[0].ndim
        rest = [x.shape[:a] + x.shape[a + 1:] for x in xs]
        if len(set(rest)) != 1:
            return None
        shape = xs[0].shape[:a] + (sum(x.shape[a] for x in xs),) + xs[0].shape[a + 1:]
        out = cupy().empty(shape, dtype=xs[0].dtype)
        start = 0
        for x in xs:
            if x.size:
                out[(slice(None),) * a + (slice(start, start + x.shape[a]),)] = x
            start += x.shape[a]
        return [out]
    return _host_args(run, (), "cuda: join")


def unbroadcast(node):
    dt = node.outputs[0].dtype
    by_axes = {}

    def run(g, like):
        shape = like.shape
        if g.shape == shape:
            return [g]
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and g.shape[lead + i] != 1)
        if axes not in by_axes:
            by_axes[axes] = reduction_program(dict(steps=[], n_inputs=1, input_dtypes=[dt],
                                                   output=0, kind="sum", out_dtype=dt), axes)
        return [by_axes[axes](g)[0].reshape(shape)]
    return _host_args(run, (), "cuda: unbroadcast (sum kernel)")

"""Plans of the shape and indexing ops: they move pointers or broadcast, they do not compute.

* ``Unbroadcast`` of a gradient that was never broadcast is the gradient itself;
* ``Alloc`` is a broadcasting copy of its value into the plan's buffer;
* ``Subtensor`` with variable bounds (``x[i * n:(i + 1) * n]``, network3's mini-batch
  slice) is a view whose offset the driver computes from the index values every call,
  with NumPy's rules, failing the call when the result would not have the planned shape
  (``sym_dyn_view`` in driver.py).  Slices with static bounds are fixed views (plan.py).

Other cases (an Unbroadcast that sums, advanced indexing, slices with a step) run in
Python between native segments.
"""
import numpy as np

from symbolic.ops.elemwise import Unbroadcast
from symbolic.ops.shape import Alloc
from symbolic.ops.subtensor import Subtensor, build_index

from . import driver
from .plan import STATIC, VIEW, Value, proxy


def _plan_unbroadcast(planner, node, values):
    """The gradient itself when nothing was broadcast, else a native sum over the broadcast
    axes (``sum_to_shape``; float32 accumulates in float64, as every native sum does)."""
    from .elemwise import compile_fused_reduce
    g, like = values
    gshape, shape = g.array.shape, like.array.shape
    if gshape == shape:
        return [g]
    lead = len(gshape) - len(shape)
    if lead < 0:
        return None
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and gshape[lead + i] != 1)
    kept = tuple(n for d, n in enumerate(gshape) if d not in axes)
    if int(np.prod(kept)) != int(np.prod(shape)) or 0 in gshape:
        return None
    dtype = g.array.dtype
    kernel = compile_fused_reduce([], 1, [dtype], 0, "sum", axes, dtype)
    out = planner.output(0, shape, dtype)
    call = kernel.native_call(np.empty(kept, dtype), (g.array,))
    if not call:
        return None
    call = kernel.native_call(planner.reshape(out, kept).array, (g.array,))
    planner.call(call[0], *call[1])
    return [out]


def _plan_alloc(planner, node, values):
    value, shape = values
    if shape.kind != "static":
        return None
    shape = tuple(int(s) for s in shape.array)
    try:
        if np.broadcast_shapes(value.array.shape, shape) != shape:
            return None
    except ValueError:
        return None
    out = planner.output(0, shape, node.outputs[0].dtype)
    planner.copy(out, value)
    return [out]


def _plan_subtensor(planner, node, values):
    spec = node.op.idx_spec
    x, index = values[0], values[1:]
    if any(entry == "array" or isinstance(entry, tuple) and entry[3] for entry in spec):
        return None                        # advanced indexing, or a slice with a step
    if all(v.kind == STATIC for v in index):
        return None                        # a fixed view (plan.py)
    if any(v.array.ndim != 0 or v.array.dtype != np.int64 for v in index):
        return None
    planner.flush()                        # the index values, computed by earlier records
    picked = x.array[build_index(spec, [v.array for v in index])]
    items, it, dim = [], iter(index), 0
    for entry in spec:
        if entry == "newaxis":
            continue
        n, stride = x.array.shape[dim], x.array.strides[dim]
        if entry == "int":
            items.append((0, next(it), None, n, stride, 0))
        else:
            start = next(it) if entry[1] else None
            stop = next(it) if entry[2] else None
            bounds = slice(None if start is None else int(start.array),
                           None if stop is None else int(stop.array))
            items.append((1, start, stop, n, stride, len(range(*bounds.indices(n)))))
        dim += 1
    out = proxy(picked.shape, picked.strides, picked.dtype)
    driver.set_data(out, picked.__array_interface__["data"][0])
    words, keep = [id(out), id(x.array), 0, len(items)], [out, x.array]
    for kind, a, b, n, stride, length in items:
        words += [kind, 0 if a is None else id(a.array), 0 if b is None else id(b.array),
                  n, stride, length]
        keep += [v.array for v in (a, b) if v is not None]
    planner.record(driver.fixed().dyn_view, words, keep=keep)
    return [Value(out, VIEW, False)]


PLANNERS = {Unbroadcast: _plan_unbroadcast, Alloc: _plan_alloc, Subtensor: _plan_subtensor}

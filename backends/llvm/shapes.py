"""Plans of the shape and indexing ops: they move pointers or broadcast, they do not compute.

* ``Unbroadcast`` of a gradient that was never broadcast is the gradient itself;
* ``Alloc`` is a broadcasting copy of its value into the plan's buffer;
* ``Join`` (concatenate) copies each input into its slice of the output;
* ``IncSubtensor`` with basic, static indices copies ``x``, then sets or increments the
  indexed view of the copy with ``y`` (an elementwise kernel writing in place);
* ``Subtensor`` with variable bounds (``x[i * n:(i + 1) * n]``, network3's mini-batch
  slice) is a view whose offset the driver computes from the index values every call,
  with NumPy's rules, failing the call when the result would not have the planned shape
  (``sym_dyn_view`` in driver.py).  Slices with static bounds are fixed views (plan.py).

Other cases (advanced indexing, slices with a step, variable indices of IncSubtensor) run
in Python between native segments.
"""
import numpy as np

from symbolic.ops.elemwise import Unbroadcast
from symbolic.ops.shape import Alloc, Join
from symbolic.ops.subtensor import IncSubtensor, Subtensor, build_index

from . import driver
from .driver import PlanFailure
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


def _plan_join(planner, node, values):
    axis = node.op.axis % node.outputs[0].ndim
    dtype = np.dtype(node.outputs[0].dtype)
    shapes = [v.array.shape for v in values]
    if len({s[:axis] + s[axis + 1:] for s in shapes}) != 1 or any(v.array.dtype != dtype for v in values):
        return None                                    # NumPy's error, from Python
    first = shapes[0]
    out = planner.output(0, first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:], dtype)
    start = 0
    for v in values:
        part = planner.view(out, v.array.shape, out.array.strides, start * out.array.strides[axis])
        planner.copy(part, v)
        start += v.array.shape[axis]
    return [out]


def _plan_inc_subtensor(planner, node, values):
    """``x`` copied, then its indexed region set to ``y`` or incremented by it in place."""
    from .elemwise import compile_fused
    spec = node.op.idx_spec
    x, y, index = values[0], values[1], values[2:]
    if any(entry == "array" for entry in spec) or any(v.kind != STATIC for v in index):
        return None
    # the region's element offset and strides, read off a C-ordered int8 array of x's shape
    cells = np.empty(x.array.shape, np.int8)
    region = cells[build_index(spec, [v.array for v in index]) + (Ellipsis,)]
    try:
        if np.broadcast_shapes(y.array.shape, region.shape) != region.shape:
            return None
    except ValueError:
        return None
    out = planner.output(0, x.array.shape, x.array.dtype)
    planner.copy(out, x)
    strides = tuple(s * out.array.itemsize for s in region.strides)
    offset = (region.__array_interface__["data"][0] - cells.__array_interface__["data"][0]) \
        * out.array.itemsize
    part = planner.view(out, region.shape, strides, offset)
    if node.op.set_instead_of_inc:
        planner.copy(part, y)
        return [out]
    dt = x.array.dtype
    kernel = compile_fused([("add", (0, 1), dt)], 2, [dt, y.array.dtype], [2])
    call = kernel.native_call((part.array,), (part.array, y.array))
    if call is None:
        raise PlanFailure(f"{node.op}: the increment cannot run natively")
    if call:
        planner.call(call[0], *call[1])
    return [out]


PLANNERS = {Unbroadcast: _plan_unbroadcast, Alloc: _plan_alloc, Subtensor: _plan_subtensor,
            Join: _plan_join, IncSubtensor: _plan_inc_subtensor}

"""The LLVM backend's program: native lowerings where they exist, the reference elsewhere.

Nodes are lowered by dispatch on their op type through ``LOWERINGS``; a node
without a native lowering runs its NumPy reference inside the same schedule,
and the profile says so (``how`` of each thunk).
"""
import numpy as np

from backends.numpy import Program, lower as reference_lower
from symbolic.ops.blas import Gemm
from symbolic.ops.linalg import Dot

from . import threads
from .blas import blas
from .gemm import better_transposed, gemm_for, worth_splitting
from .plan import register_planner

LOWERINGS = {}


def register(op_type):
    """Decorator: ``fn(node, inplace_k) -> thunk or None`` lowers ``op_type`` natively
    (``inplace_k``: the input the in-place plan lets it overwrite, or None)."""
    def deco(fn):
        LOWERINGS[op_type] = fn
        return fn
    return deco


def lower(node, inplace_plan=None, labelled=True):
    """The node's native thunk, else its reference one (wrapped to say so in profiles
    when ``labelled``: the wrapper costs a call per node)."""
    k = (inplace_plan or {}).get(id(node))
    for cls in type(node.op).__mro__:
        if cls in LOWERINGS:
            thunk = LOWERINGS[cls](node, k)
            if thunk is not None:
                return thunk
    thunk = reference_lower(node, inplace_plan)
    if not labelled:
        return thunk
    run = lambda *args: thunk(*args)  # noqa: E731  (a wrapper to label without touching it)
    run.how = "numpy reference (no native lowering)"
    run.can_run_in_place = getattr(thunk, "can_run_in_place", None)
    return run


def _unlabelled(node, inplace_plan=None):
    return lower(node, inplace_plan, labelled=False)


class LLVMBackend:
    name = "llvm"

    def compile(self, fgraph, profile=None):
        """The schedule, run by one native call per call (``native_driver``) unless
        profiling, which times every node and so runs them one by one from Python."""
        from symbolic.config import config
        # OpenBLAS with more threads than free cores collapses on a busy machine: follow the
        # flag.  (Plans that split kernels over our own threads run it single-threaded
        # meanwhile: program.py.)
        blas().set_num_threads(config.threads)
        program = Program(fgraph, profile, lowering=lower if profile is not None else _unlabelled)
        if profile is not None:
            profile.notes.append("each node is timed from Python; without profile=True a call "
                                 "runs as one native call, without the per-node overhead")
        if profile is not None or not config.native_driver:
            return program
        from .program import NativeProgram
        return NativeProgram(program, fgraph, _unlabelled)


@register(Dot)
def _dot(node, inplace_k):
    """Matrix products through BLAS into a fresh C-contiguous array."""
    a, b = node.inputs
    if a.ndim != 2 or b.ndim != 2 or node.outputs[0].dtype not in ("float32", "float64"):
        return None
    dtype = np.dtype(node.outputs[0].dtype)
    gemm = gemm_for(dtype) or blas().gemm

    def run(a, b):
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} are not aligned")
        if better_transposed(a, b):
            out_t = gemm(1.0, b.T, a.T, 0.0, np.empty((b.shape[1], a.shape[0]), dtype=dtype))
            return [np.ascontiguousarray(out_t.T)]
        return [gemm(1.0, a, b, 0.0, np.empty((a.shape[0], b.shape[1]), dtype=dtype))]
    run.how = f"native: {blas().name} gemm"
    return run


@register(Gemm)
def _gemm(node, inplace_k):
    """``beta * C + alpha * A @ B`` by one BLAS call, into C's buffer when the plan allows."""
    dtype = np.dtype(node.outputs[0].dtype)
    gemm = gemm_for(dtype) or blas().gemm

    def can_run_in_place(c, alpha, a, b, beta):
        return (isinstance(c, np.ndarray) and c.flags.writeable and c.flags.c_contiguous
                and c.dtype == dtype and a.ndim == b.ndim == 2 and a.shape[1] == b.shape[0]
                and c.shape == (a.shape[0], b.shape[1]))

    reference = node.op.perform

    def run(c, alpha, a, b, beta):
        if inplace_k == 0 and can_run_in_place(c, alpha, a, b, beta):
            return [gemm(float(alpha), a, b, float(beta), c)]
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] \
                or np.broadcast_shapes(np.shape(c), (a.shape[0], b.shape[1])) != (a.shape[0], b.shape[1]):
            return reference(node, (c, alpha, a, b, beta))   # errors and C larger than A @ B
        out = np.empty((a.shape[0], b.shape[1]), dtype=dtype)
        out[...] = c
        return [gemm(float(alpha), a, b, float(beta), out)]
    run.how = f"native: {blas().name} gemm"
    run.can_run_in_place = can_run_in_place
    return run


def _register_kernels():
    from symbolic.ops.elemwise import Cast, Elemwise
    from symbolic.ops.fused import FusedElemwise, FusedReduce
    from symbolic.ops.reduce import Reduce
    for op_type in (Elemwise, Cast, FusedElemwise):
        register(op_type)(_elementwise)
    for op_type in (Reduce, FusedReduce):
        register(op_type)(_reduction)


def _register_shapes(node):
    """A function of the input shapes giving each output's shape (a fused group may export
    an intermediate of a smaller shape than its iteration space)."""
    from symbolic.ops.fused import FusedElemwise
    if not isinstance(node.op, FusedElemwise):
        return lambda shapes: [np.broadcast_shapes(*shapes)]
    steps, outputs = node.op.steps, node.op.outputs

    def shapes_of(shapes):
        regs = list(shapes)
        for _, args, _ in steps:
            regs.append(np.broadcast_shapes(*[regs[a] for a in args]))
        return [regs[r] for r in outputs]
    return shapes_of


def _elementwise(node, inplace_k):
    from .elemwise import kernel_for_node
    try:
        kernel = kernel_for_node(node)
    except NotImplementedError:
        return None
    out_dtypes = [np.dtype(o.dtype) for o in node.outputs]
    shapes_of = _register_shapes(node)
    reference = node.op.perform
    plans = _PlanCache()

    def plan(args):
        """The output shape, or None when an output is smaller than the iteration space."""
        shapes = [np.shape(a) for a in args]
        full = np.broadcast_shapes(*shapes)
        return full if all(s == full for s in shapes_of(shapes)) else None

    if len(out_dtypes) == 1 and inplace_k is None:
        dtype = out_dtypes[0]

        def run_one(*args):        # the common case, with the least Python per call
            full = plans.get(args, plan)
            if full is None:
                return reference(node, args)
            out = np.empty(full, dtype=dtype)
            for a in args:
                if a.__class__ is not np.ndarray:
                    args = tuple([np.asarray(a) for a in args])
                    break
            kernel((out,), args)
            return [out]
        run_one.how = "native: LLVM elementwise kernel"
        return run_one

    def run(*args):
        full = plans.get(args, plan)
        if full is None:
            return reference(node, args)
        outs = [np.empty(full, dtype=dt) for dt in out_dtypes]
        if inplace_k is not None:
            target = args[inplace_k]
            if (target.__class__ is np.ndarray and target.shape == full and target.dtype == out_dtypes[0]
                    and target.flags.c_contiguous and target.flags.writeable):
                outs[0] = target
        kernel(tuple(outs), args if all(a.__class__ is np.ndarray for a in args)
               else tuple(np.asarray(a) for a in args))
        return outs
    run.how = "native: LLVM elementwise kernel"
    return run


class _PlanCache:
    """Per-node results of shape work, by the input shapes (most functions see one)."""

    LIMIT = 64

    def __init__(self):
        self.plans = {}

    def get(self, args, make):
        key = tuple([a.shape if a.__class__ is np.ndarray else None for a in args])
        try:
            return self.plans[key]
        except KeyError:
            pass
        value = make(args)
        if None not in key and len(self.plans) < self.LIMIT:
            self.plans[key] = value
        return value


def _reduction(node, inplace_k):
    from .elemwise import kernel_for_node
    try:
        kernel = kernel_for_node(node)
    except NotImplementedError:
        return None
    red = getattr(node.op, "reduce", node.op)
    axes, kind = red.axes, red.kind
    dtype = np.dtype(node.outputs[0].dtype)
    reference = node.op.perform

    plans = _PlanCache()

    def plan(args):
        """The output shape, or None for the reference (NumPy's error for an empty max)."""
        full = np.broadcast_shapes(*[np.shape(a) for a in args])
        if kind in ("max", "min") and any(full[a] == 0 for a in axes):
            return None
        return tuple(s for i, s in enumerate(full) if i not in axes)

    def run(*args):
        out_shape = plans.get(args, plan)
        if out_shape is None:
            return reference(node, args)
        out = np.empty(out_shape, dtype=dtype)
        kernel(out, args)
        return [out]
    run.how = "native: LLVM reduction kernel"
    return run


_register_kernels()


def _register_op_kernels():
    from . import conv, pool, random, rows
    for module in (conv, pool, random, rows):
        for op_type, fn in module.LOWERINGS.items():
            register(op_type)(fn)


_register_op_kernels()


# ----------------------------------------------------------------------------------------
# plans (plan.py): the same kernels, called by the native driver with fixed arguments
# ----------------------------------------------------------------------------------------
def _plan_elementwise(planner, node, values):
    from .elemwise import kernel_for_node
    try:
        kernel = kernel_for_node(node)
    except NotImplementedError:
        return None
    arrays = tuple(v.array for v in values)
    shapes = [a.shape for a in arrays]
    full = np.broadcast_shapes(*shapes)
    if any(s != full for s in _register_shapes(node)(shapes)):
        return None
    k = planner.inplace_input(values)
    outs = []
    for i, o in enumerate(node.outputs):
        target = values[k].array if i == 0 and k is not None else None
        if target is not None and target.shape == full and target.dtype == o.dtype \
                and target.flags.c_contiguous:
            outs.append(values[k])
        else:
            outs.append(planner.output(i, full, o.dtype))
    out_arrays = tuple(v.array for v in outs)
    if int(np.prod(full)) >= threads.PARALLEL_MIN_ELEMENTS and threads.count() > 1:
        planner.python_call(kernel, outs, values, splits=True)
        return outs
    call = kernel.native_call(out_arrays, arrays)
    if call is None:
        return None
    if call:
        planner.call(call[0], *call[1])
    return outs


def _plan_reduction(planner, node, values):
    from .elemwise import kernel_for_node
    try:
        kernel = kernel_for_node(node)
    except NotImplementedError:
        return None
    red = getattr(node.op, "reduce", node.op)
    arrays = tuple(v.array for v in values)
    full = np.broadcast_shapes(*[a.shape for a in arrays])
    if red.kind in ("max", "min") and any(full[a] == 0 for a in red.axes):
        return None                    # NumPy's error, from the Python schedule
    shape = tuple(s for i, s in enumerate(full) if i not in red.axes)
    probe = np.empty(shape, node.outputs[0].dtype)
    if kernel.native_call(probe, arrays) is None:
        return None
    out = planner.output(0, shape, node.outputs[0].dtype)
    if threads.count() > 1 and kernel.splits(arrays):
        planner.python_call(lambda outs, ins: kernel(outs[0], ins), [out], values, splits=True)
        return [out]
    call = kernel.native_call(out.array, arrays)
    if call:
        planner.call(call[0], *call[1])
    return [out]


def _blas_operands(planner, a, b, gemm, dtype):
    """(a, b) as BLAS can read them (copied to contiguous buffers if need be), or None."""
    if a.array.ndim != 2 or b.array.ndim != 2 or a.array.shape[1] != b.array.shape[0]:
        return None
    probe = np.empty((a.array.shape[0], b.array.shape[1]), dtype)
    if gemm._layout_args(a.array, b.array, probe) is None:
        if 0 in probe.shape or a.array.shape[1] == 0 or a.array.dtype != dtype or b.array.dtype != dtype:
            return None
        a, b = planner.contiguous(a), planner.contiguous(b)
    return a, b


def _plan_dot(planner, node, values):
    dtype = np.dtype(node.outputs[0].dtype)
    gemm = gemm_for(dtype)
    if gemm is None:
        return None
    operands = _blas_operands(planner, *values, gemm, dtype)
    if operands is None:
        return None
    a, b = operands
    out = planner.output(0, (a.array.shape[0], b.array.shape[1]), dtype)
    if worth_splitting(a.array.shape[0], b.array.shape[1], a.array.shape[1]):
        # from Python: over our threads inside plans that split kernels, else OpenBLAS's
        planner.python_call(lambda outs, ins: gemm(1.0, *ins, 0.0, outs[0]), [out], [a, b])
        return [out]
    one, zero = planner.scratch((), dtype), planner.scratch((), dtype)
    one[...], zero[...] = 1, 0
    if better_transposed(a.array, b.array):
        out_t = planner.output_scratch((b.array.shape[1], a.array.shape[0]), dtype)
        fn, args = gemm.native_call(_transposed(planner, b).array, _transposed(planner, a).array,
                                    out_t.array, one, zero)
        planner.call(fn, *args)
        planner.copy(out, _transposed(planner, out_t))
        return [out]
    fn, args = gemm.native_call(a.array, b.array, out.array, one, zero)
    planner.call(fn, *args)
    return [out]


def _transposed(planner, v):
    return planner.view(v, v.array.shape[::-1], v.array.strides[::-1])


def _plan_gemm(planner, node, values):
    """``beta * C + alpha * A @ B``: into C when the in-place plan allows (a dead buffer, or
    a shared variable's storage for a deferred update), else into a new buffer."""
    dtype = np.dtype(node.outputs[0].dtype)
    gemm = gemm_for(dtype)
    c, alpha, a, b, beta = values
    if gemm is None or any(v.array.ndim != 0 or v.array.dtype.name not in ("float32", "float64")
                           for v in (alpha, beta)):
        return None
    operands = _blas_operands(planner, a, b, gemm, dtype)
    if operands is None:
        return None
    a, b = operands
    shape = (a.array.shape[0], b.array.shape[1])
    if np.broadcast_shapes(c.array.shape, shape) != shape:
        return None
    target = c.array
    if planner.inplace_input(values) == 0 and target.shape == shape and target.dtype == dtype \
            and target.flags.c_contiguous and target.flags.writeable:
        out = c
    else:
        out = planner.output(0, shape, dtype)
        planner.copy(out, c)
    if worth_splitting(*shape, a.array.shape[1]):
        planner.python_call(lambda outs, ins: gemm(float(ins[0]), ins[1], ins[2], float(ins[3]), outs[0]),
                            [out], [alpha, a, b, beta])
        return [out]
    fn, args = gemm.native_call(a.array, b.array, out.array, alpha.array, beta.array)
    planner.call(fn, *args)
    return [out]


def _register_planners():
    from symbolic.ops.elemwise import Cast, Elemwise
    from symbolic.ops.fused import FusedElemwise, FusedReduce
    from symbolic.ops.reduce import Reduce
    from . import conv, pool, random, rows, shapes
    for op_type in (Elemwise, Cast, FusedElemwise):
        register_planner(op_type)(_plan_elementwise)
    for op_type in (Reduce, FusedReduce):
        register_planner(op_type)(_plan_reduction)
    register_planner(Dot)(_plan_dot)
    register_planner(Gemm)(_plan_gemm)
    for module in (conv, pool, random, rows, shapes):
        for op_type, fn in module.PLANNERS.items():
            register_planner(op_type)(fn)


_register_planners()

"""The reference backend: every op runs its NumPy meaning, one node after another.

It is the definition the other backends are checked against, and the
fallback for ops they do not lower.  Lowerings are registered per op type in
``LOWERINGS``; an op without an entry runs its own ``perform``.
"""
import time

import numpy as np

from symbolic.graph import Constant, format_trace

LOWERINGS = {}


def register(op_type):
    """Decorator: ``fn(node) -> thunk`` lowers nodes of ``op_type`` for this backend."""
    def deco(fn):
        LOWERINGS[op_type] = fn
        return fn
    return deco


def _default_lowering(node):
    perform = node.op.perform
    return lambda *args: perform(node, args)


def lower(node, inplace_plan=None):
    """The thunk for ``node``; in place when the plan allows and the op supports it."""
    if inplace_plan and id(node) in inplace_plan:
        thunk = _inplace_thunk(node, inplace_plan[id(node)])
        if thunk is not None:
            return thunk
    for cls in type(node.op).__mro__:
        if cls in LOWERINGS:
            return LOWERINGS[cls](node)
    return _default_lowering(node)


def _inplace_thunk(node, k):
    from symbolic.ops.blas import Gemm
    if isinstance(node.op, Gemm):
        return _inplace_gemm(node)
    return _inplace_elemwise(node, k)


def _inplace_gemm(node):
    """``C *= beta; C += alpha * A @ B`` in C's dead buffer."""
    fallback = _default_lowering(node)

    def can_run_in_place(c, alpha, a, b, beta):
        return (isinstance(c, np.ndarray) and c.flags.writeable and a.ndim == b.ndim == 2
                and c.shape == (a.shape[0], b.shape[1]) and a.shape[1] == b.shape[0])

    def run(c, alpha, a, b, beta):
        if can_run_in_place(c, alpha, a, b, beta):
            if beta != 1:
                c *= beta
            c += alpha * np.dot(a, b)
            return [c]
        return fallback(c, alpha, a, b, beta)
    run.can_run_in_place = can_run_in_place
    return run


def _inplace_elemwise(node, k):
    """A NumPy ufunc writing into input ``k``'s dead buffer (checked again at run time)."""
    impl = getattr(node.op, "scalar_op", None) and node.op.scalar_op.impl
    dtype = np.dtype(node.outputs[0].dtype)
    if not isinstance(impl, np.ufunc) or any(i.dtype != dtype for i in node.inputs):
        return None
    fallback = _default_lowering(node)

    def run(*args):
        target = args[k]
        if (isinstance(target, np.ndarray) and target.flags.writeable and target.dtype == dtype
                and target.shape == np.broadcast_shapes(*(np.shape(a) for a in args))):
            return [impl(*args, out=target)]
        return fallback(*args)
    return run


class NumpyBackend:
    name = "numpy"

    def compile(self, fgraph, profile=None):
        return Program(fgraph, profile)


class Program:
    """A schedule of thunks over a flat list of value slots."""

    def __init__(self, fgraph, profile=None, lowering=None):
        """``lowering(node, inplace_plan) -> thunk`` picks each node's code (another
        backend passes its own and falls back to this module's ``lower``)."""
        lowering = lowering or lower
        slot = {}
        self.n_inputs = len(fgraph.inputs)
        for i, v in enumerate(fgraph.inputs):
            slot[id(v)] = i
        constants = []
        n = self.n_inputs

        def slot_of(v):
            nonlocal n
            if id(v) not in slot:
                if not isinstance(v, Constant):
                    raise ValueError(f"the graph needs {v!r}, which is neither an input nor computed")
                slot[id(v)] = n
                constants.append((n, v.data))
                n += 1
            return slot[id(v)]

        steps = []
        deferred = getattr(fgraph, "deferred", set())
        order = getattr(fgraph, "schedule", None) or fgraph.toposort()
        for node in order:
            ins = [slot_of(i) for i in node.inputs]
            outs = []
            for o in node.outputs:
                slot[id(o)] = n
                outs.append(n)
                n += 1
            thunk = lowering(node, getattr(fgraph, "inplace_plan", None))
            if profile is not None:
                thunk = _timed(thunk, str(node.op), profile)
            steps.append((thunk, ins, outs, node))
        self.output_slots = [slot_of(o) for o in fgraph.outputs]
        # Steps that overwrite shared storage come last; they run in place only if all can.
        self.first_deferred = len(steps) - sum(id(s[3]) in deferred for s in steps)
        self.regular_steps, self.deferred_steps = steps[:self.first_deferred], steps[self.first_deferred:]
        self.constants = constants
        self.n_slots = n
        self._blank = [None] * (n - self.n_inputs)
        self.steps = steps

    def __call__(self, *values):
        store = list(values)
        store.extend(self._blank)
        for i, data in self.constants:
            store[i] = data
        _run(self.regular_steps, store, False)
        if self.deferred_steps:
            in_place = all(t.can_run_in_place(*[store[i] for i in s_ins])
                           for t, s_ins, _, _ in self.deferred_steps)
            _run(self.deferred_steps, store, not in_place)
        return [store[i] for i in self.output_slots]


def _run(steps, store, reference):
    """Run ``steps`` over the value slots (each step's reference code if ``reference``)."""
    for thunk, ins, outs, node in steps:
        args = [store[i] for i in ins]
        try:
            results = (_default_lowering(node) if reference else thunk)(*args)
        except Exception as e:
            raise runtime_error(e, node, args) from e
        for i, r in zip(outs, results):
            store[i] = r


def _timed(thunk, label, profile):
    clock = time.perf_counter
    how = getattr(thunk, "how", "numpy reference")

    def run(*args):
        t0 = clock()
        out = thunk(*args)
        profile.record(label, clock() - t0, how)
        return out
    run.can_run_in_place = getattr(thunk, "can_run_in_place", None)
    return run


def runtime_error(err, node, args):
    """The same kind of error, saying which op failed and where the user built it."""
    shapes = ", ".join(str(getattr(a, "shape", "?")) for a in args)
    where = "\n  ".join(format_trace(t) for t in node.trace) if node.trace else "(unknown)"
    msg = (f"{err}\nApply node that caused the error: {node.op}\n"
           f"Input types: {', '.join(str(i.type) for i in node.inputs)}\n"
           f"Input shapes: {shapes}\n"
           f"Node created at:\n  {where}")
    try:
        new = type(err)(msg)
    except Exception:
        new = RuntimeError(msg)
    new.node = node
    return new

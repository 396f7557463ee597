"""A compiled function on the LLVM backend: one native call per function call.

``NativeProgram`` wraps the Python schedule (``backends.numpy.Program``, which stays the
way every call *can* run) with plans (plan.py), one per signature of the inputs.  A call:

1. allocates the fresh output arrays of the current plan;
2. calls ``sym_drive`` (driver.py), which checks the inputs against the plan's signature,
   points the plan's proxies at the inputs and outputs, and runs the native records; the
   steps that run in Python, if any, follow between native segments;
3. returns the outputs: fresh arrays, or an input's own storage where a deferred GEMM
   updated a shared variable in place.

When the inputs do not fit the current plan, Python looks up (or makes) the plan of
their signature; inputs that cannot be planned (not ndarrays, a schedule that fails
while planning) and any failure reported by a record (an index out of bounds, a label
out of range) run that call through the Python schedule, which gives the reference
meaning, or raises its error.  Nothing a plan writes is visible before the call
succeeds, except the deferred in-place updates, which run last.

Plans keep their buffers for the life of the function, so two threads calling one
function at once would share them: a call that finds the plan busy runs in Python.
"""
import threading

import numpy as np

from . import driver
from .blas import blas
from .driver import BIND_MISMATCH
from .plan import Plan, make_plan

MAX_PLANS = 8                    # signatures planned per function
MAX_PLAN_ATTEMPTS = 3            # failed planning attempts before a signature runs in Python
_GIVE_UP_AFTER = 64              # record failures after which a plan is dropped

_empty = np.empty


class NativeProgram:
    """Callable like ``Program``: ``program(*input_values) -> output values``."""

    def __init__(self, program, fgraph, lowering):
        self.program = program                      # the Python schedule (the fallback)
        self.fgraph, self.lowering = fgraph, lowering
        self.n_inputs = program.n_inputs
        self.plans = {}                             # signature -> Plan, or failure count
        self.current = None
        self._lock = threading.Lock()
        self._drive = driver.fixed().drive
        self._run = driver.fixed().run
        self.stats = {"native": 0, "python": 0, "planned": 0}
        self.last_plan_failure = None

    def __call__(self, *values):
        done = self.run_native(values)
        if done is None:
            self.stats["python"] += 1
            return self.program(*values)
        return done

    def run_native(self, values, may_plan=True):
        """The outputs of a call run natively, or None when it did not run (or stopped
        before changing anything) and must run in Python.  Every output is a fresh array,
        or, for an update, its shared variable's own storage written in place: the caller
        owns them all.  Without ``may_plan`` (values not yet filtered by their types) no
        new plan is made: a plan's signature is only trusted for values that match one
        made from filtered values."""
        if values.__class__ is not tuple:
            values = tuple(values)            # the driver reads the tuple's items directly
        if not self._lock.acquire(False):
            return None                   # another thread is running a plan of this function
        try:
            plan = self.current
            rc, outs = self._execute(plan, values) if plan is not None else (BIND_MISMATCH, None)
            if rc == BIND_MISMATCH:
                plan = self._plan_for(values, may_plan)
                if plan is None:
                    return None
                rc, outs = self._execute(plan, values)
            if rc != 0:
                plan.failures += 1
                if plan.failures > _GIVE_UP_AFTER:
                    self._forget(plan)
                return None
            self.stats["native"] += 1
            return [outs[k] if fresh else values[k] for fresh, k in plan.results]
        finally:
            self._lock.release()

    def _execute(self, plan, values):
        """(status, fresh outputs) of running ``plan``; a plan that splits kernels over our
        threads runs with OpenBLAS single-threaded (its threads and ours would oversubscribe
        the cores: a two-conv-layer step at mini-batch 256 ran 1.8x slower)."""
        outs = tuple([_empty(s, d) for s, d in plan.fresh_specs])
        if plan.parallel:
            with blas().single_threaded():
                rc = self._drive(plan.address, values, outs)
                return (self._run_rest(plan) if rc == 0 else rc), outs
        rc = self._drive(plan.address, values, outs)
        if rc == 0 and plan.rest:
            rc = self._run_rest(plan)
        return rc, outs

    def _run_rest(self, plan):
        for table, step in plan.rest:
            if table is not None:
                rc = self._run(table)
                if rc:
                    return rc
            else:
                try:
                    if not step.run():
                        return -1
                except Exception:
                    return -1            # the Python schedule raises it, with the node's story
        return 0

    def _plan_for(self, values, may_plan=True):
        """The plan for these inputs' signature (made now if need be), or None."""
        key = tuple([driver.layout_key(v) for v in values])
        if None in key:
            return None
        plan = self.plans.get(key)
        if not may_plan and not isinstance(plan, Plan):
            return None
        if plan is None or isinstance(plan, int):
            failures = plan or 0
            if failures >= MAX_PLAN_ATTEMPTS or len(self.plans) >= MAX_PLANS and plan is None:
                return None
            try:
                plan = make_plan(self.program, self.fgraph, self.lowering, values)
            except Exception as e:            # the Python schedule gives the error, if any
                self.plans[key] = failures + 1
                self.last_plan_failure = e
                return None
            self.plans[key] = plan
            self.stats["planned"] += 1
        self.current = plan
        return plan

    def _forget(self, plan):
        for key, p in list(self.plans.items()):
            if p is plan:
                self.plans[key] = MAX_PLAN_ATTEMPTS
        if self.current is plan:
            self.current = None

    def describe(self):
        """How each planned signature runs (for tests and debugging)."""
        return [p.describe() if not isinstance(p, int) else "runs in Python"
                for p in self.plans.values()]

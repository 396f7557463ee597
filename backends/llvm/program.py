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
from .driver import BIND_MISMATCH
from .plan import make_plan

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
        plan = self.current
        if plan is not None and self._lock.acquire(False):
            try:
                outs = tuple([_empty(s, d) for s, d in plan.fresh_specs])
                rc = self._drive(plan.address, values, outs)
                if rc == 0 and not plan.rest:
                    self.stats["native"] += 1
                    return [outs[k] if fresh else values[k] for fresh, k in plan.results]
                return self._after(plan, rc, values, outs)
            finally:
                self._lock.release()
        if plan is None and self._lock.acquire(False):
            try:
                return self._after(None, BIND_MISMATCH, values, None)
            finally:
                self._lock.release()
        self.stats["python"] += 1
        return self.program(*values)

    def _after(self, plan, rc, values, outs):
        """The rest of a call whose first native segment did not finish the work."""
        if rc == BIND_MISMATCH:
            plan = self._plan_for(values)
            if plan is None:
                self.stats["python"] += 1
                return self.program(*values)
            outs = tuple([_empty(s, d) for s, d in plan.fresh_specs])
            rc = self._drive(plan.address, values, outs)
        if rc == 0:
            rc = self._run_rest(plan)
        if rc != 0:
            plan.failures += 1
            if plan.failures > _GIVE_UP_AFTER:
                self._forget(plan)
            self.stats["python"] += 1
            return self.program(*values)
        self.stats["native"] += 1
        return [outs[k] if fresh else values[k] for fresh, k in plan.results]

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

    def _plan_for(self, values):
        """The plan for these inputs' signature (made now if need be), or None."""
        key = tuple([driver.layout_key(v) for v in values])
        if None in key:
            return None
        plan = self.plans.get(key)
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

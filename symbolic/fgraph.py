"""The graph a compiled function is made from.

A ``FunctionGraph`` owns a copy of the user's graph between fixed inputs and
outputs, so that rewrites can replace nodes without touching the user's
variables.  Backends receive one and lower its nodes in ``toposort`` order.
"""
from .graph import Constant, clone_replace, toposort


class FunctionGraph:
    def __init__(self, inputs, outputs, clone=True):
        self.inputs = list(inputs)
        if clone:
            fresh = [i if isinstance(i, Constant) else i.type(name=i.name) for i in self.inputs]
            outputs = clone_replace(list(outputs), dict(zip(self.inputs, fresh)))
            self.inputs = fresh
        self.outputs = list(outputs)
        # {output position: input position} for outputs that are new values of inputs
        # (shared-variable updates); set by ``function``.
        self.updates = {}
        # Filled by the inplace phase: {id(node): input position it may overwrite}, the order
        # to run the nodes in, and the nodes that overwrite shared storage (run last).
        self.inplace_plan = {}
        self.schedule = None
        self.deferred = set()

    def toposort(self):
        return toposort(self.outputs, blockers=self.inputs)

    def clients(self):
        """Map from variable id to the (node, input position) pairs that read it."""
        out = {}
        for node in self.toposort():
            for pos, inp in enumerate(node.inputs):
                out.setdefault(id(inp), []).append((node, pos))
        return out

    def replace_all(self, pairs):
        """Substitute variables throughout (outputs included); the inputs stay fixed."""
        self.outputs = clone_replace(self.outputs, dict(pairs))
        self.forget_schedule()

    def forget_schedule(self):
        """The graph changed: an in-place plan made for the old one no longer holds."""
        self.inplace_plan, self.schedule, self.deferred = {}, None, set()

    def __repr__(self):
        return f"FunctionGraph({self.inputs} -> {self.outputs})"

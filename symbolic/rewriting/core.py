"""The machinery: phases, registration, the fixpoint rebuild and trace carrying."""
import time
import warnings

from ..graph import Constant


class RewriteWarning(UserWarning):
    """A rewrite raised: it was skipped and the graph stays as it was."""


class Phase:
    """Named group of node rewrites, run to a fixpoint."""

    def __init__(self, name):
        self.name = name
        self.by_type = {}     # op type -> [rewrite]
        self.any_op = []      # rewrites offered every node
        self.graph_passes = []  # whole-graph passes (fusion) run before the node rewrites

    def rewrites_for(self, op):
        found = []
        for cls in type(op).__mro__:
            found.extend(self.by_type.get(cls, ()))
        return found + self.any_op

    def all_rewrites(self):
        seen = []
        for fns in list(self.by_type.values()) + [self.any_op]:
            seen.extend(f for f in fns if f not in seen)
        return seen


# In-place comes last: it is decided on the final schedule, which merging would change.
_ORDER = ("merge", "canonicalize", "stabilize", "specialize", "fusion", "final_merge", "inplace")
PHASES = {name: Phase(name) for name in _ORDER}
LEVELS = {
    "None": (),
    "fast_compile": ("merge", "canonicalize", "stabilize", "final_merge"),
    "fast_run": _ORDER,
}
# Rewrites switched off by name, for debugging: ``excluded.add("local_log1p")``.
excluded = set()
# When true (the tests set it), a rewrite that raises is an error, not a warning.
strict = False


def register(*op_types, phase, name=None):
    """Decorator: offer nodes whose op is one of ``op_types`` (any op if none) to ``fn``."""
    def deco(fn):
        fn.rewrite_name = name or fn.__name__
        fn.phase = phase
        target = PHASES[phase]
        if op_types:
            for t in op_types:
                target.by_type.setdefault(t, []).append(fn)
        else:
            target.any_op.append(fn)
        return fn
    return deco


def rewrite_graph(fgraph, level, profile=None):
    """Run the phases of ``level`` over ``fgraph`` (changed in place, and returned)."""
    if level not in LEVELS:
        raise ValueError(f"optimizer level {level!r} is not one of {', '.join(LEVELS)}")
    for name in LEVELS[level]:
        t0 = time.perf_counter()
        run_phase(fgraph, PHASES[name])
        if profile is not None:
            profile[name] = profile.get(name, 0.0) + time.perf_counter() - t0
    return fgraph


def run_phase(fgraph, phase, merge=True, max_passes=20):
    """Every pass also merges equal nodes, so rewrites that build the same replacement in
    two places never leave duplicates behind."""
    for graph_pass in phase.graph_passes:
        if graph_pass.__name__.lstrip("_") not in excluded:
            graph_pass(fgraph)
    for _ in range(max_passes):
        if not _one_pass(fgraph, phase, merge):
            return


def _one_pass(fgraph, phase, merge):
    """Rebuild the graph once, applying the first matching rewrite at each node."""
    memo = {}
    existing = set()
    merged = {}
    constants = {}
    changed = False
    for node in fgraph.toposort():
        new_inputs = [memo.get(id(i), i) for i in node.inputs]
        if merge:
            new_inputs = [_merge_constant(i, constants) for i in new_inputs]
        if any(a is not b for a, b in zip(new_inputs, node.inputs)):
            current = node.clone_with_new_inputs(new_inputs)
        else:
            current = node
        outputs = current.outputs
        key = (current.op, tuple(id(i) for i in current.inputs)) if merge else None
        if key is not None and key in merged:
            outputs = merged[key]
        else:
            replacement = _apply_rewrites(phase, current, existing)
            if replacement is not None:
                outputs = replacement
            elif key is not None:
                merged[key] = outputs
        if any(a is not b for a, b in zip(outputs, node.outputs)):
            changed = True
        for old, new in zip(node.outputs, outputs):
            memo[id(old)] = new
        existing.add(id(current))
        for o in outputs:
            if o.owner is not None:
                existing.add(id(o.owner))
    new_outputs = [memo.get(id(o), o) for o in fgraph.outputs]
    if merge:
        new_outputs = [_merge_constant(o, constants) for o in new_outputs]
    fgraph.outputs = new_outputs
    if changed:
        fgraph.forget_schedule()
    return changed


def _merge_constant(v, constants):
    if not isinstance(v, Constant):
        return v
    key = v.signature()
    return constants.setdefault(key, v)


def _apply_rewrites(phase, node, existing):
    for fn in phase.rewrites_for(node.op):
        if fn.rewrite_name in excluded:
            continue
        try:
            result = fn(node)
        except Exception as e:  # a rewrite that raises is a bug; the graph must stay correct
            if strict:
                raise
            warnings.warn(f"rewrite {fn.rewrite_name} failed on {node.op} and was skipped: "
                          f"{type(e).__name__}: {e}", RewriteWarning)
            continue
        if result is None:
            continue
        result = list(result)
        _check_replacement(fn, node, result)
        _carry_traces(node, result, existing)
        return result
    return None


def _check_replacement(fn, node, result):
    if len(result) != len(node.outputs):
        raise RuntimeError(f"rewrite {fn.rewrite_name} gave {len(result)} outputs for {len(node.outputs)}")
    for old, new in zip(node.outputs, result):
        if new.type.dtype != old.type.dtype or new.type.ndim != old.type.ndim:
            raise RuntimeError(f"rewrite {fn.rewrite_name} changed the type of {node.op}'s output "
                               f"from {old.type} to {new.type}")
        for a, b in zip(old.type.shape, new.type.shape):
            if a is not None and b is not None and a != b:
                raise RuntimeError(f"rewrite {fn.rewrite_name} changed the static shape of "
                                   f"{node.op}'s output from {old.type} to {new.type}")


def _carry_traces(node, result, existing):
    """Nodes a rewrite created inherit the trace of the node they replace."""
    stack = [v for v in result]
    while stack:
        v = stack.pop()
        owner = v.owner
        if owner is None or id(owner) in existing:
            continue
        owner.trace = list(node.trace)
        existing.add(id(owner))
        stack.extend(owner.inputs)

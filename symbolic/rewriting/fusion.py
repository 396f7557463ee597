"""Elementwise fusion: maximal convex groups of elementwise nodes become one op.

A node joins the groups of its elementwise producers when that creates no
cycle (no path leaves the group and comes back) and when every value the
group must still export has the group's iteration shape.  Groups are
tracked with a union-find; each variable remembers which groups it depends
on through nodes outside them, which is what the convexity test needs.
"""
from ..graph import toposort
from ..ops.elemwise import Cast, Elemwise
from ..ops.fused import FusedElemwise
from .core import PHASES
from .shapes import same_shape


def _fusable(node):
    return isinstance(node.op, (Elemwise, Cast)) and len(node.outputs) == 1


class _Groups:
    def __init__(self):
        self.parent = {}
        self.members = {}

    def find(self, g):
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def new(self, node):
        g = id(node)
        self.parent[g] = g
        self.members[g] = [node]
        return g

    def union(self, groups):
        root = groups[0]
        for g in groups[1:]:
            self.parent[g] = root
            self.members[root].extend(self.members.pop(g))
        return root


def fuse(fgraph):
    nodes = fgraph.toposort()
    clients = fgraph.clients()
    output_ids = {id(o) for o in fgraph.outputs}
    groups = _Groups()
    group_of = {}        # node id -> group id (before find)
    deps = {}            # variable id -> set of group ids it depends on from outside
    ext = {}             # group id -> groups that the group's outside inputs depend on
    for node in nodes:
        in_deps = set()
        for i in node.inputs:
            in_deps |= {groups.find(g) for g in deps.get(id(i), ())}
        if _fusable(node):
            candidates = []
            for i in node.inputs:
                owner = i.owner
                if owner is not None and id(owner) in group_of:
                    g = groups.find(group_of[id(owner)])
                    if g not in candidates and _may_join(i, node, clients, output_ids):
                        candidates.append(g)
            chosen, outside = [], _outside_deps(node, [], groups, group_of, deps)
            for g in candidates:
                trial = chosen + [g]
                trial_outside = _outside_deps(node, trial, groups, group_of, deps)
                if not any(t in trial_outside for t in trial) and not any(
                        a in {groups.find(d) for d in ext[b]} for a in trial for b in trial):
                    chosen, outside = trial, trial_outside
            own = groups.union(chosen + [groups.new(node)]) if chosen else groups.new(node)
            members_ext = set(outside)
            for g in chosen:
                members_ext |= ext.pop(g, set())
            ext[own] = {groups.find(d) for d in members_ext} - {own}
            group_of[id(node)] = own
            deps[id(node.outputs[0])] = {d for d in in_deps if groups.find(d) != own} | {own}
        else:
            for o in node.outputs:
                deps[id(o)] = in_deps
    fused = [m for m in groups.members.values() if len(m) > 1]
    if not fused:
        return False
    group_by_node = {id(n): k for k, members in enumerate(fused) for n in members}
    _Rebuild(fgraph, fused, group_by_node, clients, output_ids).run()
    return True


class _Rebuild:
    """Rebuild the graph with each group replaced by its fused node.

    A fused node's inputs are themselves rebuilt first (memoized, depth first),
    so no part of the unfused graph survives beside the fused one.
    """

    def __init__(self, fgraph, groups, group_by_node, clients, output_ids):
        self.fgraph, self.groups, self.group_by_node = fgraph, groups, group_by_node
        self.clients, self.output_ids = clients, output_ids
        self.memo = {id(v): v for v in fgraph.inputs}

    def run(self):
        import sys
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20000))
        try:
            self.fgraph.outputs = [self.new(o) for o in self.fgraph.outputs]
        finally:
            sys.setrecursionlimit(limit)
        self.fgraph.forget_schedule()

    def new(self, var):
        if id(var) in self.memo:
            return self.memo[id(var)]
        node = var.owner
        if node is None:
            return var
        k = self.group_by_node.get(id(node))
        if k is not None:
            mapping = _build(self.groups[k], self.clients, self.output_ids, self.new)
            for old, new in mapping.items():
                self.memo[id(old)] = new
            return self.memo[id(var)]
        inputs = [self.new(i) for i in node.inputs]
        if all(a is b for a, b in zip(inputs, node.inputs)):
            rebuilt = node
        else:
            rebuilt = node.clone_with_new_inputs(inputs)
        for old, new in zip(node.outputs, rebuilt.outputs):
            self.memo[id(old)] = new
        return self.memo[id(var)]


def _outside_deps(node, chosen, groups, group_of, deps):
    """Groups that ``node``'s inputs from outside ``chosen`` depend on (or come from)."""
    out = set()
    for i in node.inputs:
        owner = i.owner
        owner_group = groups.find(group_of[id(owner)]) if owner is not None and id(owner) in group_of else None
        if owner_group is not None and owner_group in chosen:
            continue
        out |= {groups.find(g) for g in deps.get(id(i), ())}
        if owner_group is not None:
            out.add(owner_group)
    return out


def _may_join(var, consumer, clients, output_ids):
    """A producer's value can be fused in if only fused code reads it, or if it has the
    consumer's shape (then the fused op can still export it)."""
    readers = clients.get(id(var), [])
    if id(var) not in output_ids and all(n is consumer for n, _ in readers):
        return True
    return same_shape(var, consumer.outputs[0])


def _build(members, clients, output_ids, translate):
    member_ids = {id(n) for n in members}
    order = [n for n in toposort([n.outputs[0] for n in members]) if id(n) in member_ids]
    inputs, reg = [], {}
    for n in order:
        for i in n.inputs:
            if id(i) not in reg and not (i.owner is not None and id(i.owner) in member_ids):
                reg[id(i)] = len(inputs)
                inputs.append(i)
    steps = []
    for n in order:
        args = tuple(reg[id(i)] for i in n.inputs)
        op = "cast" if isinstance(n.op, Cast) else n.op.scalar_op
        steps.append((op, args, n.outputs[0].dtype))
        reg[id(n.outputs[0])] = len(inputs) + len(steps) - 1
    exported = [n.outputs[0] for n in order
                if id(n.outputs[0]) in output_ids
                or any(id(c) not in member_ids for c, _ in clients.get(id(n.outputs[0]), []))]
    node = FusedElemwise(steps, [reg[id(v)] for v in exported]).make_node(
        *[translate(i) for i in inputs])
    trace = []
    for n in order:
        trace.extend(t for t in n.trace if t not in trace)
    node.trace = trace
    return {old: new for old, new in zip(exported, node.outputs)}


def _fusion_pass(fgraph):
    return fuse(fgraph)


PHASES["fusion"].graph_passes = [_fusion_pass]

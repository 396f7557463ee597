"""Elementwise fusion: maximal convex groups of elementwise nodes become one op.

A node joins the groups of its elementwise producers when that creates no
cycle (no path leaves the group and comes back) and when every value the
group must still export has the group's iteration shape.  Groups are
tracked with a union-find; each variable remembers which groups it depends
on through nodes outside them, which is what the convexity test needs.
"""
from ..graph import toposort
from ..ops.elemwise import Cast, Elemwise
from ..ops.fused import FusedElemwise, FusedReduce
from ..ops.reduce import Reduce
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
    all_groups = list(groups.members.values())
    tails = {}
    for k, members in enumerate(all_groups):
        tail = _reduction_tail(members, clients, output_ids)
        if tail is not None:
            tails[id(tail)] = k
    keep = [k for k, m in enumerate(all_groups) if len(m) > 1 or k in tails.values()]
    if not keep:
        return False
    renumber = {k: j for j, k in enumerate(keep)}
    fused = [all_groups[k] for k in keep]
    group_by_node = {id(n): j for j, members in enumerate(fused) for n in members}
    tails = {node_id: renumber[k] for node_id, k in tails.items()}
    _Rebuild(fgraph, fused, group_by_node, clients, output_ids, tails).run()
    return True


def _reduction_tail(members, clients, output_ids):
    """The ``Reduce`` node that is the only reader of the group's only exported value."""
    member_ids = {id(n) for n in members}
    exported = [n.outputs[0] for n in members
                if id(n.outputs[0]) in output_ids
                or any(id(c) not in member_ids for c, _ in clients.get(id(n.outputs[0]), []))]
    if len(exported) != 1 or id(exported[0]) in output_ids:
        return None
    readers = clients.get(id(exported[0]), [])
    if len(readers) == 1 and isinstance(readers[0][0].op, Reduce):
        return readers[0][0]
    return None


class _Rebuild:
    """Rebuild the graph with each group replaced by its fused node.

    A fused node's inputs are themselves rebuilt first (memoized, depth first),
    so no part of the unfused graph survives beside the fused one.
    """

    def __init__(self, fgraph, groups, group_by_node, clients, output_ids, tails):
        self.fgraph, self.groups, self.group_by_node = fgraph, groups, group_by_node
        self.clients, self.output_ids, self.tails = clients, output_ids, tails
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
        if id(node) in self.tails:
            members = self.groups[self.tails[id(node)]]
            elemwise, inputs, _ = _program(members, self.clients, self.output_ids)
            reduced = FusedReduce(elemwise, node.op).make_node(*[self.new(i) for i in inputs])
            reduced.trace = _union_traces(members + [node])
            self.memo[id(var)] = reduced.outputs[0]
            return reduced.outputs[0]
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


def _program(members, clients, output_ids):
    """The group as a ``FusedElemwise`` op, and the outside variables it reads."""
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
    return FusedElemwise(steps, [reg[id(v)] for v in exported]), inputs, exported


def _union_traces(nodes):
    trace = []
    for n in nodes:
        trace.extend(t for t in n.trace if t not in trace)
    return trace


def _build(members, clients, output_ids, translate):
    op, inputs, exported = _program(members, clients, output_ids)
    node = op.make_node(*[translate(i) for i in inputs])
    node.trace = _union_traces(members)
    return {old: new for old, new in zip(exported, node.outputs)}


def _fusion_pass(fgraph):
    return fuse(fgraph)


PHASES["fusion"].graph_passes = [_fusion_pass]

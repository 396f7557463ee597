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
    for node in nodes:
        in_deps = set()
        for i in node.inputs:
            in_deps |= {groups.find(g) for g in deps.get(id(i), ())}
        if _fusable(node):
            producers = []
            for i in node.inputs:
                owner = i.owner
                if owner is not None and id(owner) in group_of:
                    g = groups.find(group_of[id(owner)])
                    if g not in producers and _may_join(i, node, clients, output_ids):
                        producers.append(g)
            # Convex only if nothing feeding this node reaches a chosen group from outside.
            outside = set()
            for i in node.inputs:
                owner = i.owner
                if owner is None or id(owner) not in group_of or \
                        groups.find(group_of[id(owner)]) not in producers:
                    outside |= {groups.find(g) for g in deps.get(id(i), ())}
                    if owner is not None and id(owner) in group_of:
                        outside.add(groups.find(group_of[id(owner)]))
            producers = [g for g in producers if g not in outside]
            g = groups.union(producers + [groups.new(node)]) if producers else groups.new(node)
            group_of[id(node)] = g
            own = groups.find(g)
            deps[id(node.outputs[0])] = {d for d in in_deps if groups.find(d) != own} | {own}
        else:
            for o in node.outputs:
                deps[id(o)] = in_deps
    fused = [m for m in groups.members.values() if len(m) > 1]
    if not fused:
        return False
    replacements = {}
    for members in fused:
        replacements.update(_build(members, clients, output_ids))
    fgraph.replace_all(replacements.items())
    return True


def _may_join(var, consumer, clients, output_ids):
    """A producer's value can be fused in if only fused code reads it, or if it has the
    consumer's shape (then the fused op can still export it)."""
    readers = clients.get(id(var), [])
    if id(var) not in output_ids and all(n is consumer for n, _ in readers):
        return True
    return same_shape(var, consumer.outputs[0])


def _build(members, clients, output_ids):
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
    node = FusedElemwise(steps, [reg[id(v)] for v in exported]).make_node(*inputs)
    trace = []
    for n in order:
        trace.extend(t for t in n.trace if t not in trace)
    node.trace = trace
    return {old: new for old, new in zip(exported, node.outputs)}


def _fusion_pass(fgraph):
    return fuse(fgraph)


PHASES["fusion"].graph_passes = [_fusion_pass]

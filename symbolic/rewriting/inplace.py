"""In-place execution, decided by liveness on the final schedule.

Rather than validating every replacement against a destroy handler (Theano's
way), the plan is made once, on the graph the backend will run and in the
order it will run it: a node may write its output into an input's buffer when
that buffer

- was freshly allocated by the node that produced it (not a constant, not a
  function input or shared value),
- is read by nobody after this node, directly or through a view of it (the
  output of any op not known to allocate fresh memory is taken to be a view
  of its inputs), and is not, nor has a view that is, a function output,
- has exactly the output's dtype and (provably) its shape; GEMM's C is
  exempt from the proof because its lowering checks the shape at run time and
  falls back to a new array.

The plan maps a node to the input position it may overwrite.  Backends that
can compute in place use it; others ignore it.
"""
from ..graph import Constant
from ..ops.blas import Gemm
from ..ops.elemwise import Elemwise
from ..ops.fused import FusedElemwise
from .shapes import same_shape

# Ops whose outputs are always new arrays (never views of their inputs).
_FRESH_OUTPUT_OPS = (Elemwise, FusedElemwise, Gemm)


def _FRESH(node):
    """True when ``node``'s outputs are always new arrays, never views of its inputs."""
    from ..ops.crossentropy import SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
    from ..ops.linalg import Dot
    from ..ops.nnet import LogSoftmax, Softmax
    from ..ops.shape import Alloc
    from ..ops.subtensor import IncSubtensor
    return isinstance(node.op, _FRESH_OUTPUT_OPS + (
        Dot, Alloc, IncSubtensor, Softmax, LogSoftmax, SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad))


def _alias_groups(order):
    """Group variables that may share a buffer: the output of an op not known to
    allocate fresh memory (a reshape, a dimshuffle, a slice...) may be a view of
    any of its inputs, so a buffer lives as long as any view of it does."""
    parent = {}

    def find(v):
        parent.setdefault(v, v)
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for node in order:
        if _FRESH(node):
            continue
        for o in node.outputs:
            for i in node.inputs:
                parent[find(id(o))] = find(id(i))
    return find


def plan_inplace(fgraph):
    """``(plan, schedule, deferred)``: which input each node may overwrite, the order to run
    the nodes in, and the nodes that overwrite a shared variable's storage.

    A GEMM whose result is the new value of the shared variable it reads as ``C``
    may accumulate straight into that variable's storage.  Such nodes are scheduled
    last (nothing else reads their results) so that every other node has run,
    and could fail, before shared state is touched.
    """
    order = fgraph.toposort()
    group = _alias_groups(order)
    readers = {}
    for node in order:
        for i in node.inputs:
            readers[group(id(i))] = readers.get(group(id(i)), 0) + 1
    update_of = {id(fgraph.outputs[o]): fgraph.inputs[i] for o, i in fgraph.updates.items()}
    output_groups = {group(id(v)) for v in fgraph.outputs}
    deferred = [n for n in order if isinstance(n.op, Gemm)
                and update_of.get(id(n.outputs[0])) is n.inputs[0]
                and group(id(n.inputs[0])) not in output_groups
                and readers.get(group(id(n.outputs[0])), 0) == 0
                and sum(group(id(i)) == group(id(n.inputs[0])) for i in n.inputs) == 1]
    deferred_ids = {id(n) for n in deferred}
    schedule = [n for n in order if id(n) not in deferred_ids] + deferred
    last_read = {}
    for pos, node in enumerate(schedule):
        for i in node.inputs:
            last_read[group(id(i))] = pos
    protected = {group(id(v)) for v in list(fgraph.inputs) + list(fgraph.outputs)}
    plan, shared_ok = {}, set()
    for pos, node in enumerate(schedule):
        if id(node) in deferred_ids:
            if last_read.get(group(id(node.inputs[0]))) == pos:
                plan[id(node)] = 0
                shared_ok.add(id(node))
            continue
        k = _destroyable_input(node, pos, last_read, group, protected)
        if k is not None:
            plan[id(node)] = k
    return plan, schedule, shared_ok


def _destroyable_input(node, pos, last_read, group, protected):
    if isinstance(node.op, Elemwise) and len(node.outputs) == 1:
        candidates = range(len(node.inputs))
    elif isinstance(node.op, Gemm):
        candidates = (0,)         # C: beta * C + alpha * A @ B accumulates into C
    else:
        return None
    out = node.outputs[0]
    for k in candidates:
        i = node.inputs[k]
        g = group(id(i))
        if (isinstance(i, Constant) or g in protected or i.owner is None or not _FRESH(i.owner)
                or last_read.get(g) != pos
                or sum(group(id(j)) == g for j in node.inputs) != 1
                or i.dtype != out.dtype
                or not (same_shape(i, out) or isinstance(node.op, Gemm))):
            continue
        return k
    return None


def _inplace_pass(fgraph):
    fgraph.inplace_plan, fgraph.schedule, fgraph.deferred = plan_inplace(fgraph)
    return False

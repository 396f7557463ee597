"""In-place execution, decided by liveness on the final schedule.

Rather than validating every replacement against a destroy handler (Theano's
way), the plan is made once, on the graph the backend will run and in the
order it will run it: a node may write its output into an input's buffer when
that buffer

- was freshly allocated by the node that produced it (not a view of another
  value, not a constant, not a function input or shared value),
- is read by nobody after this node (this node is its last reader, and reads
  it once), and is not a function output,
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


def _fresh(var):
    from ..ops.linalg import Dot
    from ..ops.nnet import LogSoftmax, Softmax
    from ..ops.shape import Alloc
    from ..ops.subtensor import IncSubtensor
    owner = var.owner
    return owner is not None and isinstance(
        owner.op, _FRESH_OUTPUT_OPS + (Dot, Alloc, IncSubtensor, Softmax, LogSoftmax))


def plan_inplace(fgraph):
    """``{id(node): input position}`` for nodes that may overwrite that input."""
    order = fgraph.toposort()
    last_reader = {}
    for pos, node in enumerate(order):
        for i in node.inputs:
            last_reader[id(i)] = pos
    protected = {id(v) for v in fgraph.inputs} | {id(v) for v in fgraph.outputs}
    plan = {}
    for pos, node in enumerate(order):
        if isinstance(node.op, Elemwise) and len(node.outputs) == 1:
            candidates = range(len(node.inputs))
        elif isinstance(node.op, Gemm):
            candidates = (0,)         # C: beta * C + alpha * A @ B accumulates into C
        else:
            continue
        out = node.outputs[0]
        for k in candidates:
            i = node.inputs[k]
            if (isinstance(i, Constant) or id(i) in protected or not _fresh(i)
                    or last_reader.get(id(i)) != pos or node.inputs.count(i) != 1
                    or i.dtype != out.dtype
                    or not (same_shape(i, out) or isinstance(node.op, Gemm))):
                continue
            plan[id(node)] = k
            break
    return plan


def _inplace_pass(fgraph):
    fgraph.inplace_plan = plan_inplace(fgraph)
    return False

"""The CUDA backend: ``device=cuda`` (``SYMBOLIC_FLAGS=device=cuda``), ``linker=cuda``.

Nodes are lowered by dispatch on their op type through ``LOWERINGS`` (``fn(node) -> thunk
or None``); a node without one runs its NumPy reference on the host inside the same
schedule (see ``program.py`` for where each value lives), and the profile says so.
"""
from symbolic.ops.blas import Gemm
from symbolic.ops.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
from symbolic.ops.crossentropy import SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
from symbolic.ops.elemwise import Cast, Elemwise, Unbroadcast
from symbolic.ops.fused import FusedElemwise, FusedReduce
from symbolic.ops.linalg import Dot
from symbolic.ops.nnet import LogSoftmax, Softmax
from symbolic.ops.pool import Pool, PoolGrad
from symbolic.ops.reduce import ArgReduce, Reduce
from symbolic.ops.shape import Alloc, DimShuffle, Join, Reshape, Shape
from symbolic.ops.subtensor import IncSubtensor, Subtensor
from symbolic.random import Binomial, Uniform

from . import lower_blas, lower_elemwise, lower_nnet, lower_shapes
from .program import CudaProgram

LOWERINGS = {}


def register(op_type):
    """Decorator: ``fn(node) -> thunk or None`` lowers nodes of ``op_type`` to the GPU."""
    def deco(fn):
        LOWERINGS[op_type] = fn
        return fn
    return deco


for _op, _fn in ((Elemwise, lower_elemwise.elementwise), (Cast, lower_elemwise.elementwise),
                 (FusedElemwise, lower_elemwise.elementwise),
                 (Reduce, lower_elemwise.reduction), (FusedReduce, lower_elemwise.reduction),
                 (Dot, lower_blas.dot), (Gemm, lower_blas.gemm),
                 (Shape, lower_shapes.shape), (DimShuffle, lower_shapes.dimshuffle),
                 (Reshape, lower_shapes.reshape), (Subtensor, lower_shapes.subtensor),
                 (IncSubtensor, lower_shapes.inc_subtensor), (Alloc, lower_shapes.alloc),
                 (Join, lower_shapes.join), (Unbroadcast, lower_shapes.unbroadcast),
                 (ArgReduce, lower_nnet.argreduce),
                 (Softmax, lower_nnet.softmax("softmax")),
                 (LogSoftmax, lower_nnet.softmax("log_softmax")),
                 (SoftmaxCrossEntropy, lower_nnet.xent("xent")),
                 (SoftmaxCrossEntropyGrad, lower_nnet.xent("xent_grad")),
                 (Pool, lower_nnet.pool("forward")), (PoolGrad, lower_nnet.pool("grad")),
                 (Conv2d, lower_nnet.conv("forward")),
                 (Conv2dGradWeights, lower_nnet.conv("grad_weights")),
                 (Conv2dGradInputs, lower_nnet.conv("grad_inputs")),
                 (Uniform, lower_nnet.random_sample("uniform")),
                 (Binomial, lower_nnet.random_sample("binomial"))):
    register(_op)(_fn)


class CudaBackend:
    name = "cuda"

    def compile(self, fgraph, profile=None):
        from symbolic.config import config
        from .runtime import device_named
        if not config.device.startswith("cuda"):
            raise ValueError(f"linker=cuda runs on a GPU: set config.device='cuda' (now "
                             f"{config.device!r}) before creating shared variables")
        device_named(config.device)
        return CudaProgram(fgraph, LOWERINGS, profile, graphs=config.cuda_graphs)

"""symbolic: a Theano-style symbolic tensor compiler.

Declare typed variables, build expressions with NumPy semantics, take
gradients, and compile them with ``function``::

    import symbolic as S
    x = S.matrix('x')
    f = S.function([x], S.grad(S.sum(S.sigmoid(x)), x))
"""
from .config import config, change_flags
from .types import TensorType
from .graph import Apply, Constant, Op, Variable, constant
from .variable import TensorConstant, TensorVariable, as_tensor_variable
from .constructors import *  # noqa: F401,F403
from .ops import *  # noqa: F401,F403
from .shared import SharedVariable, shared
from .function import Function, In, Mode, Out, function
from .gradient import (Lop, Rop, disconnected_grad, grad, grad_clip, hessian, jacobian, zero_grad,
                       DisconnectedInputError)
from .graph import GradientUndefined
from .printing import debugprint, pydotprint, to_dot
from .gradcheck import verify_grad
from .ops.conv import conv2d
from .ops.pool import pool_2d, max_pool_2d
from .random import RandomStreams

__version__ = "0.1.0"

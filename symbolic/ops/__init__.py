"""Every op-building function, gathered for ``symbolic`` and ``symbolic.tensor``."""
from .elemwise import Elemwise, Cast, cast, unbroadcast
from .math import *  # noqa: F401,F403
from .math import __all__ as _math_all
from .shape import (alloc, arange, as_shape, broadcast_to, concatenate, dimshuffle, expand_dims,
                    fill, flatten, full, make_vector, ones, ones_like, reshape, second, shape,
                    shape_i, split, squeeze, stack, swapaxes, transpose, zeros, zeros_like)
from .reduce import (all, any, argmax, argmin, logsumexp, max, mean, min, prod, std, sum, var)
from .linalg import batched_dot, dot, matmul, outer, tensordot
from .subtensor import getitem, inc_subtensor, set_subtensor, take
from .nnet import (binary_crossentropy, categorical_crossentropy, log_softmax, softmax,
                   softmax_cross_entropy)

__all__ = list(_math_all) + [
    "Elemwise", "Cast", "cast", "unbroadcast",
    "alloc", "arange", "as_shape", "broadcast_to", "concatenate", "dimshuffle", "expand_dims",
    "fill", "flatten", "full", "make_vector", "ones", "ones_like", "reshape", "second", "shape",
    "shape_i", "split", "squeeze", "stack", "swapaxes", "transpose", "zeros", "zeros_like",
    "all", "any", "argmax", "argmin", "logsumexp", "max", "mean", "min", "prod", "std", "sum", "var",
    "batched_dot", "dot", "matmul", "outer", "tensordot",
    "getitem", "inc_subtensor", "set_subtensor", "take",
    "binary_crossentropy", "categorical_crossentropy", "log_softmax", "softmax",
    "softmax_cross_entropy",
]

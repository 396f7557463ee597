"""Theano-era alias: ``import symbolic.tensor as T`` gives the ops and constructors.

Code written for ``theano.tensor`` finds the same names here (``T.matrix``,
``T.dot``, ``T.nnet.sigmoid``, ``T.grad``...).
"""
from symbolic.constructors import *  # noqa: F401,F403
from symbolic.ops import *  # noqa: F401,F403
from symbolic.gradient import grad, jacobian, hessian, Lop, Rop  # noqa: F401
from symbolic.types import TensorType  # noqa: F401
from symbolic.variable import TensorVariable, TensorConstant, as_tensor_variable  # noqa: F401
from symbolic.graph import constant  # noqa: F401
from symbolic.shared import shared  # noqa: F401

from . import nnet  # noqa: E402,F401


class _CallableModule(type(nnet)):
    """``symbolic.tensor`` is this module *and* the ``tensor(dtype, shape, name)`` constructor.

    Importing the subpackage sets the attribute ``symbolic.tensor`` to the
    module, which would hide the constructor of the same name; making the
    module callable keeps ``S.tensor('float32', (None, 3), 'x')`` working.
    """

    def __call__(self, *args, **kwargs):
        from symbolic.constructors import tensor as make_tensor
        return make_tensor(*args, **kwargs)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _CallableModule

"""Theano-era alias: ``symbolic.tensor.nnet`` (``theano.tensor.nnet``)."""
from symbolic.ops.math import relu, sigmoid, softplus  # noqa: F401
from symbolic.ops.nnet import (binary_crossentropy, categorical_crossentropy,  # noqa: F401
                               log_softmax, sigmoid_binary_crossentropy, softmax,
                               softmax_cross_entropy)
from symbolic.ops.conv import conv2d  # noqa: F401


def ultra_fast_sigmoid(x):
    """Theano's approximate sigmoid; here the exact, stable one."""
    return sigmoid(x)


def hard_sigmoid(x):
    """``clip(0.2 * x + 0.5, 0, 1)``, as in Theano."""
    from symbolic.ops.math import clip
    return clip(0.2 * x + 0.5, 0, 1)

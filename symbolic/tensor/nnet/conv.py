"""Theano-era alias: ``symbolic.tensor.nnet.conv`` (``theano.tensor.nnet.conv``).

Old code calls ``conv.conv2d(input=..., filters=..., filter_shape=...,
image_shape=...)``; the one ``conv2d`` accepts that spelling too.
"""
from symbolic.ops.conv import conv2d  # noqa: F401

__all__ = ["conv2d"]

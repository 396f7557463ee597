"""Theano-era alias: ``theano.tensor.shared_randomstreams`` becomes this module.

Code such as network3's ``from theano.tensor import shared_randomstreams``
followed by ``shared_randomstreams.RandomStreams(seed)`` finds the same class
here.  The streams are Philox-based (see ``symbolic.random``), so the numbers
differ from Theano's, but the interface and the update behaviour match.
"""
from symbolic.random import RandomStreams  # noqa: F401

__all__ = ["RandomStreams"]

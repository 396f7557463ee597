"""Theano-era alias: ``symbolic.tensor.signal.pool`` (``theano.tensor.signal.pool``)."""
from symbolic.ops.pool import max_pool_2d, pool_2d  # noqa: F401

__all__ = ["pool_2d", "max_pool_2d"]

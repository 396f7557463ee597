"""Theano-era alias: ``symbolic.tensor.signal.downsample`` (the old module's ``max_pool_2d``)."""
from symbolic.ops.pool import max_pool_2d  # noqa: F401

__all__ = ["max_pool_2d"]

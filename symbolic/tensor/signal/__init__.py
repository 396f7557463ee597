"""Theano-era alias: ``symbolic.tensor.signal`` (``theano.tensor.signal``)."""

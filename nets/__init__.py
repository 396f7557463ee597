"""network3 on the ``symbolic`` compiler.

Michael Nielsen's chapter 6 network library (*Neural Networks and Deep
Learning*), reimplemented with the same API and semantics::

    from nets import Network, FullyConnectedLayer, SoftmaxLayer, load_data_shared
    training_data, validation_data, test_data = load_data_shared()
    net = Network([FullyConnectedLayer(n_in=784, n_out=100),
                   SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size=10)
    net.SGD(training_data, 60, 10, 0.1, validation_data, test_data)

``python -m nets [experiment]`` runs the book's experiments; see docs/nets.md.
Floats are ``symbolic.config.floatX`` (float32 unless SYMBOLIC_FLAGS says
otherwise; network3 forced float32, we keep an explicit choice).
"""
from .network import (ConvPoolLayer, FullyConnectedLayer, LayerShapeError, Network, ReLU,
                      SoftmaxLayer, TrainingHistory, dropout_layer, linear, sigmoid, size, tanh)
from .data import (MNISTDataError, expand_images, expand_mnist, find_mnist, load_data,
                   load_data_shared, read_idx, shared_dataset)

__all__ = [
    "Network", "ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer", "TrainingHistory",
    "LayerShapeError", "linear", "ReLU", "sigmoid", "tanh", "dropout_layer", "size",
    "load_data", "load_data_shared", "expand_mnist", "expand_images", "find_mnist", "read_idx",
    "shared_dataset", "MNISTDataError",
]

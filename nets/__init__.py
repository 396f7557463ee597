"""network3 on the ``symbolic`` compiler.

Michael Nielsen's chapter 6 network library (*Neural Networks and Deep
Learning*), reimplemented with the same API and semantics::

    from nets import Network, FullyConnectedLayer, SoftmaxLayer, load_data_shared
    training_data, validation_data, test_data = load_data_shared()
    net = Network([FullyConnectedLayer(n_in=784, n_out=100),
                   SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size=10)
    net.SGD(training_data, 60, 10, 0.1, validation_data, test_data)

Beyond network3, all opt-in (``Network.SGD`` keyword arguments, see
docs/nets.md): learning-rate schedules (``step_decay``, ``halve_on_plateau``),
momentum, early stopping, a progress bar, checkpoints that resume exactly,
JSON/CSV history, plots (``plot_history``, needs matplotlib) and voting
ensembles (``Ensemble``).

``python -m nets [experiment]`` runs the book's experiments; see docs/nets.md.
Floats are ``symbolic.config.floatX`` (float32 unless SYMBOLIC_FLAGS says
otherwise; network3 forced float32, we keep an explicit choice).
"""
from .network import (ConvPoolLayer, FullyConnectedLayer, LayerShapeError, Network, ReLU,
                      SoftmaxLayer, dropout_layer, linear, sigmoid, size, tanh)
from .history import TrainingHistory
from .data import (MNISTDataError, expand_images, expand_mnist, find_mnist, load_data,
                   load_data_shared, read_idx, shared_dataset)
from .schedules import halve_on_plateau, step_decay
from .training import EarlyStopping
from .checkpoint import CheckpointError, load_checkpoint
from .ensemble import Ensemble, vote
from .plots import plot_history

__all__ = [
    "Network", "ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer", "TrainingHistory",
    "LayerShapeError", "linear", "ReLU", "sigmoid", "tanh", "dropout_layer", "size",
    "load_data", "load_data_shared", "expand_mnist", "expand_images", "find_mnist", "read_idx",
    "shared_dataset", "MNISTDataError",
    "step_decay", "halve_on_plateau", "EarlyStopping", "CheckpointError", "load_checkpoint",
    "Ensemble", "vote", "plot_history",
]

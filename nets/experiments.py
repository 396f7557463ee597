"""The chapter 6 experiments of *Neural Networks and Deep Learning*, by name.

Each entry records the book's architecture and hyperparameters, so
``python -m nets dbl_conv_relu`` is the run the book describes, and the
accuracy the book reports for it (``book_accuracy``) to compare against.
Layers are built by a function of the mini-batch size because convolutional
layers need it in their ``image_shape``.

An experiment with ``ensemble > 1`` trains that many networks one after the
other and scores their majority vote with :class:`nets.Ensemble` (ties go to
the label with the largest summed softmax probability); ``python -m nets
ensemble`` is the book's five-network vote.
"""
from dataclasses import dataclass, field

from .network import ConvPoolLayer, FullyConnectedLayer, ReLU, SoftmaxLayer

__all__ = ["Experiment", "EXPERIMENTS"]


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    build: callable          # build(mini_batch_size) -> list of layers
    epochs: int = 60
    mini_batch_size: int = 10
    eta: float = 0.1
    lmbda: float = 0.0
    expanded: bool = False   # train on the 250,000 shifted images
    ensemble: int = 1        # > 1: train that many nets and let them vote (nets.Ensemble)
    book_accuracy: float = None
    notes: list = field(default_factory=list)


def _shallow(mbs):
    return [FullyConnectedLayer(n_in=784, n_out=100),
            SoftmaxLayer(n_in=100, n_out=10)]


def _conv1(mbs, activation_fn=None):
    kw = {} if activation_fn is None else {"activation_fn": activation_fn}
    return ConvPoolLayer(image_shape=(mbs, 1, 28, 28), filter_shape=(20, 1, 5, 5),
                         poolsize=(2, 2), **kw)


def _conv2(mbs, activation_fn=None):
    kw = {} if activation_fn is None else {"activation_fn": activation_fn}
    return ConvPoolLayer(image_shape=(mbs, 20, 12, 12), filter_shape=(40, 20, 5, 5),
                         poolsize=(2, 2), **kw)


def _basic_conv(mbs):
    return [_conv1(mbs),
            FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100),
            SoftmaxLayer(n_in=100, n_out=10)]


def _dbl_conv(mbs):
    return [_conv1(mbs), _conv2(mbs),
            FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100),
            SoftmaxLayer(n_in=100, n_out=10)]


def _dbl_conv_relu(mbs):
    return [_conv1(mbs, ReLU), _conv2(mbs, ReLU),
            FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=ReLU),
            SoftmaxLayer(n_in=100, n_out=10)]


def _double_fc(mbs):
    return [_conv1(mbs, ReLU), _conv2(mbs, ReLU),
            FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=ReLU),
            FullyConnectedLayer(n_in=100, n_out=100, activation_fn=ReLU),
            SoftmaxLayer(n_in=100, n_out=10)]


def _double_fc_dropout(mbs):
    return [_conv1(mbs, ReLU), _conv2(mbs, ReLU),
            FullyConnectedLayer(n_in=40 * 4 * 4, n_out=1000, activation_fn=ReLU, p_dropout=0.5),
            FullyConnectedLayer(n_in=1000, n_out=1000, activation_fn=ReLU, p_dropout=0.5),
            SoftmaxLayer(n_in=1000, n_out=10, p_dropout=0.5)]


EXPERIMENTS = {e.name: e for e in [
    Experiment("shallow", "one hidden layer: FC 784-100 sigmoid + softmax", _shallow,
               book_accuracy=0.9780),
    Experiment("basic_conv", "ConvPool 20x5x5 + FC 100 + softmax (sigmoid)", _basic_conv,
               book_accuracy=0.9878),
    Experiment("dbl_conv", "two ConvPool (20, 40 filters) + FC 100 + softmax (sigmoid)", _dbl_conv,
               book_accuracy=0.9906),
    Experiment("dbl_conv_relu", "dbl_conv with ReLU units and L2 regularisation", _dbl_conv_relu,
               eta=0.03, lmbda=0.1, book_accuracy=0.9923),
    Experiment("expanded_data", "dbl_conv_relu on the 250,000 shifted training images",
               _dbl_conv_relu, eta=0.03, lmbda=0.1, expanded=True, book_accuracy=0.9937),
    Experiment("expanded_data_double_fc", "expanded_data with a second FC 100 ReLU layer",
               _double_fc, eta=0.03, lmbda=0.1, expanded=True, book_accuracy=0.9943),
    Experiment("double_fc_dropout", "two ConvPool + two FC 1000 ReLU with dropout 0.5, "
               "expanded data", _double_fc_dropout, epochs=40, eta=0.03, expanded=True,
               book_accuracy=0.9960),
    Experiment("ensemble", "5 double_fc_dropout nets voting on each test image",
               _double_fc_dropout, epochs=40, eta=0.03, expanded=True, ensemble=5,
               book_accuracy=0.9967),
]}

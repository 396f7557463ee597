"""Michael Nielsen's ``network3`` (chapter 6 of *Neural Networks and Deep
Learning*) rebuilt on the ``symbolic`` compiler.

The model is the book's: a network is a list of layers, each layer turns a
symbolic mini-batch into a symbolic output twice -- once with dropout (the
``*_dropout`` path, used for the training cost) and once without (the path
used to measure accuracy) -- and ``Network.SGD`` compiles three functions
once (train / validate / test) that pick their mini-batch out of shared data
with ``givens`` and a mini-batch index.  Nothing leaves the compiled graph
during an epoch except one integer in and one number out per call, which is
what made the design fast on a GPU and is what a backend here optimises.

Behaviour kept from network3 on purpose, so book results transfer:

* initialisations: fully connected weights ~ N(0, 1/n_out), convolution
  weights ~ N(0, 1/n_out) with ``n_out = filters * kernel area / pool area``,
  biases ~ N(0, 1), softmax weights and biases zero;
* the cost is the mean negative log-likelihood of the dropout path plus
  ``0.5 * lmbda * sum(w**2) / num_training_batches`` (L2 on weights only);
* plain SGD, no shuffling between epochs, mini-batches taken in order;
* data that is not a multiple of the mini-batch size loses its remainder
  (``num_batches = n // mini_batch_size``), as network3's integer division did;
* at test time a layer with dropout ``p`` scales its weighted input by
  ``1 - p`` instead of masking;
* accuracies are the mean of per-mini-batch accuracies.

Differences (all documented in docs/nets.md): the cost uses ``log_softmax``
of the pre-activation instead of ``log(softmax(...))`` (the same value,
without ``log(0)`` when a probability underflows); layer shapes are checked
when the network is built; each dropout layer gets its own random stream
seeded from NumPy's global generator (so ``np.random.seed`` makes a run
reproducible); ``SGD`` returns a :class:`TrainingHistory`.

The training loop itself, with the opt-in extras (momentum, schedules,
early stopping, checkpoints, progress bar), is in :mod:`nets.training`.
"""
import numpy as np

import symbolic as S

from .history import TrainingHistory

__all__ = [
    "Network", "ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer", "TrainingHistory",
    "linear", "ReLU", "sigmoid", "tanh", "dropout_layer", "size", "LayerShapeError",
]


# ---------------------------------------------------------------- activations

def linear(z):
    """The identity: a layer with no non-linearity."""
    return z


def ReLU(z):
    """Rectified linear unit ``max(0, z)`` (network3's spelling of the name)."""
    return S.maximum(0.0, z)


def sigmoid(z):
    """The logistic function; network3's default activation."""
    return S.sigmoid(z)


def tanh(z):
    """Hyperbolic tangent."""
    return S.tanh(z)


# ---------------------------------------------------------------- helpers

def _floatX():
    # Read at call time, not import time: a user may change the flag after
    # importing nets (network3 forced float32; we respect an explicit choice).
    return S.config.floatX


def _rng(rng):
    """The generator weights are drawn from: the caller's, or NumPy's global one
    (network3 used ``np.random`` directly, so ``np.random.seed`` keeps working)."""
    return np.random if rng is None else rng


def _normal(rng, std, shape):
    return np.asarray(_rng(rng).normal(loc=0.0, scale=std, size=shape), dtype=_floatX())


def size(data):
    """Number of examples in a ``(shared_x, shared_y)`` pair, as network3's ``size``."""
    return data[0].get_value(borrow=True).shape[0]


def dropout_layer(layer, p_dropout, srng=None):
    """``layer`` with each unit zeroed independently with probability ``p_dropout``.

    The mask comes from a ``RandomStreams`` whose state is a shared variable
    with a default update, so every call of a compiled function draws a fresh
    mask without the caller passing any updates.  Without ``srng`` a new stream
    is seeded from NumPy's global generator: distinct per layer, reproducible
    under ``np.random.seed``.  (network3 seeded every layer's stream with the
    same constant.)
    """
    if not 0.0 <= p_dropout < 1.0:
        raise ValueError(f"dropout_layer: p_dropout must be in [0, 1), got {p_dropout!r}")
    if srng is None:
        srng = S.RandomStreams(int(np.random.randint(0, 2 ** 31 - 1)))
    mask = srng.binomial(n=1, p=1.0 - p_dropout, size=layer.shape, ndim=layer.ndim)
    return layer * S.cast(mask, layer.dtype)


class LayerShapeError(ValueError):
    """Two consecutive layers (or the data and the first layer) do not fit together."""


# ---------------------------------------------------------------- layers

class _Layer:
    """What every layer has: ``w``, ``b``, ``params`` and per-example shapes.

    ``input_shape`` / ``output_shape`` are per example (without the
    mini-batch axis); the network checks them against each other when it is
    built, so a wrong ``n_in`` fails at once with both layers named rather than
    as a reshape error deep inside the first training call.
    """

    input_shape = ()
    output_shape = ()

    @property
    def n_in_total(self):
        return int(np.prod(self.input_shape))

    @property
    def n_out_total(self):
        return int(np.prod(self.output_shape))

    @property
    def n_params(self):
        """Number of trainable scalars (weights plus biases)."""
        return sum(int(p.get_value(borrow=True).size) for p in self.params)

    def accuracy(self, y):
        """Fraction of the mini-batch whose arg-max output equals the label ``y``."""
        return S.mean(S.eq(y, self.y_out))

    def __repr__(self):
        return f"{type(self).__name__}({self._describe()})"


class ConvPoolLayer(_Layer):
    """A convolution followed by max-pooling, then a bias and the activation.

    ``filter_shape`` is ``(n_filters, channels, rows, cols)``; ``image_shape``
    is ``(mini_batch_size, channels, rows, cols)``; ``poolsize`` is the
    (non-overlapping) pooling window.  The convolution is 'valid' (no
    padding), so the output per example is ``(n_filters, (rows - k + 1) //
    pool_rows, (cols - k + 1) // pool_cols)``.  As in network3 the layer
    applies no dropout of its own: the dropout path equals the plain path.
    """

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2), activation_fn=sigmoid, rng=None):
        self.filter_shape = tuple(int(v) for v in filter_shape)
        self.image_shape = tuple(int(v) for v in image_shape)
        self.poolsize = tuple(int(v) for v in poolsize)
        self.activation_fn = activation_fn
        if len(self.filter_shape) != 4 or len(self.image_shape) != 4 or len(self.poolsize) != 2:
            raise ValueError(f"ConvPoolLayer: filter_shape and image_shape need 4 entries and "
                             f"poolsize 2, got filter_shape={filter_shape}, image_shape={image_shape}, "
                             f"poolsize={poolsize}")
        if self.filter_shape[1] != self.image_shape[1]:
            raise LayerShapeError(
                f"ConvPoolLayer: filter_shape {self.filter_shape} has {self.filter_shape[1]} input "
                f"channels but image_shape {self.image_shape} has {self.image_shape[1]}")
        conv_hw = [i - k + 1 for i, k in zip(self.image_shape[2:], self.filter_shape[2:])]
        if min(conv_hw) < 1:
            raise LayerShapeError(f"ConvPoolLayer: filter {self.filter_shape[2:]} is larger than the "
                                  f"image {self.image_shape[2:]}")
        pooled = [c // p for c, p in zip(conv_hw, self.poolsize)]
        if min(pooled) < 1:
            raise LayerShapeError(f"ConvPoolLayer: pool {self.poolsize} is larger than the "
                                  f"convolution output {tuple(conv_hw)}")
        self.input_shape = self.image_shape[1:]
        self.output_shape = (self.filter_shape[0], *pooled)
        # network3's fan-out: each input unit reaches filters*kernel_area units,
        # which pooling merges by pool_area.
        n_out = self.filter_shape[0] * np.prod(self.filter_shape[2:]) / np.prod(self.poolsize)
        self.w = S.shared(_normal(rng, np.sqrt(1.0 / n_out), self.filter_shape), name="w", borrow=True)
        self.b = S.shared(_normal(rng, 1.0, (self.filter_shape[0],)), name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size):
        """Build ``output`` (and ``output_dropout``, the same) from the previous layer."""
        self.inpt = S.reshape(inpt, self.image_shape)
        conv_out = S.conv2d(self.inpt, self.w, image_shape=self.image_shape,
                            filter_shape=self.filter_shape)
        pooled = S.pool_2d(conv_out, ws=self.poolsize, ignore_border=True)
        self.output = self.activation_fn(pooled + self.b.dimshuffle("x", 0, "x", "x"))
        self.output_dropout = self.output  # no dropout in convolutional layers

    def _describe(self):
        return (f"filter_shape={self.filter_shape}, image_shape={self.image_shape}, "
                f"poolsize={self.poolsize}, activation_fn={self.activation_fn.__name__}")


class FullyConnectedLayer(_Layer):
    """``activation(x . w + b)`` with dropout ``p_dropout`` on the layer's input."""

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0, rng=None):
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.activation_fn = activation_fn
        self.p_dropout = float(p_dropout)
        if not 0.0 <= self.p_dropout < 1.0:
            raise ValueError(f"FullyConnectedLayer: p_dropout must be in [0, 1), got {p_dropout!r}")
        self.input_shape, self.output_shape = (self.n_in,), (self.n_out,)
        self.w = S.shared(_normal(rng, np.sqrt(1.0 / self.n_out), (self.n_in, self.n_out)),
                          name="w", borrow=True)
        self.b = S.shared(_normal(rng, 1.0, (self.n_out,)), name="b", borrow=True)
        self.params = [self.w, self.b]

    def _pre_activations(self, inpt, inpt_dropout, mini_batch_size):
        shape = (mini_batch_size, self.n_in)
        self.inpt = S.reshape(inpt, shape)
        # Test time: every unit is present, so scale by the keep probability
        # to give the next layer the input it saw on average during training.
        z = (1.0 - self.p_dropout) * S.dot(self.inpt, self.w) + self.b
        self.inpt_dropout = S.reshape(inpt_dropout, shape)
        if self.p_dropout > 0.0:  # p = 0 keeps every unit: skip drawing the mask
            self.inpt_dropout = dropout_layer(self.inpt_dropout, self.p_dropout)
        z_dropout = S.dot(self.inpt_dropout, self.w) + self.b
        return z, z_dropout

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size):
        z, z_dropout = self._pre_activations(inpt, inpt_dropout, mini_batch_size)
        self.output = self.activation_fn(z)
        self.y_out = S.argmax(self.output, axis=1)
        self.output_dropout = self.activation_fn(z_dropout)

    def _describe(self):
        return (f"n_in={self.n_in}, n_out={self.n_out}, activation_fn={self.activation_fn.__name__}, "
                f"p_dropout={self.p_dropout}")


class SoftmaxLayer(FullyConnectedLayer):
    """The output layer: softmax probabilities and the log-likelihood cost.

    Weights and biases start at zero (network3's choice: the cost gradient
    alone breaks the symmetry, since each class gets a different signal).
    """

    def __init__(self, n_in, n_out, p_dropout=0.0):
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.activation_fn = S.softmax
        self.p_dropout = float(p_dropout)
        if not 0.0 <= self.p_dropout < 1.0:
            raise ValueError(f"SoftmaxLayer: p_dropout must be in [0, 1), got {p_dropout!r}")
        self.input_shape, self.output_shape = (self.n_in,), (self.n_out,)
        self.w = S.shared(np.zeros((self.n_in, self.n_out), dtype=_floatX()), name="w", borrow=True)
        self.b = S.shared(np.zeros((self.n_out,), dtype=_floatX()), name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size):
        z, self.z_dropout = self._pre_activations(inpt, inpt_dropout, mini_batch_size)
        self.output = S.softmax(z)
        self.y_out = S.argmax(self.output, axis=1)
        self.output_dropout = S.softmax(self.z_dropout)

    def cost(self, net):
        """Mean negative log-likelihood of ``net.y`` under the dropout path.

        ``log_softmax(z)`` equals ``log(softmax(z))`` but stays finite when a
        probability underflows to zero in float32.
        """
        log_p = S.log_softmax(self.z_dropout)
        return -S.mean(log_p[S.arange(net.y.shape[0]), net.y])

    def _describe(self):
        return f"n_in={self.n_in}, n_out={self.n_out}, p_dropout={self.p_dropout}"


# ---------------------------------------------------------------- network

def _check_layers(layers, mini_batch_size):
    """Raise LayerShapeError naming the layers if consecutive shapes disagree."""
    if not layers:
        raise ValueError("Network: give at least one layer")
    if not hasattr(layers[-1], "cost"):
        raise ValueError(f"Network: the last layer must have a cost (a SoftmaxLayer), got "
                         f"{type(layers[-1]).__name__}")
    for k, layer in enumerate(layers):
        if isinstance(layer, ConvPoolLayer) and layer.image_shape[0] != mini_batch_size:
            raise LayerShapeError(
                f"layer {k} (ConvPoolLayer) has image_shape {layer.image_shape} whose first entry "
                f"must be the mini-batch size {mini_batch_size}")
    for k in range(1, len(layers)):
        prev, layer = layers[k - 1], layers[k]
        # A convolution after a convolution must see exactly the previous
        # layout; a fully connected layer flattens, so only the count matters.
        if isinstance(layer, ConvPoolLayer) and isinstance(prev, ConvPoolLayer):
            ok = tuple(prev.output_shape) == tuple(layer.input_shape)
        else:
            ok = prev.n_out_total == layer.n_in_total
        if not ok:
            raise LayerShapeError(
                f"layer {k} ({type(layer).__name__}) expects input of shape {tuple(layer.input_shape)} "
                f"({layer.n_in_total} values) per example, but layer {k - 1} "
                f"({type(prev).__name__}) outputs shape {tuple(prev.output_shape)} "
                f"({prev.n_out_total} values)")


class Network:
    """A stack of layers trained by mini-batch SGD on a log-likelihood cost.

    ``layers`` run in order; the last must be a :class:`SoftmaxLayer`.
    ``mini_batch_size`` is fixed when the network is built because the layers
    reshape their input to ``(mini_batch_size, ...)`` (network3's design; it
    lets convolutions know their shapes statically).
    """

    def __init__(self, layers, mini_batch_size):
        self.layers = list(layers)
        self.mini_batch_size = int(mini_batch_size)
        if self.mini_batch_size < 1:
            raise ValueError(f"Network: mini_batch_size must be positive, got {mini_batch_size!r}")
        _check_layers(self.layers, self.mini_batch_size)
        self.params = [p for layer in self.layers for p in layer.params]
        self.x = S.matrix("x")
        self.y = S.ivector("y")
        first = self.layers[0]
        first.set_inpt(self.x, self.x, self.mini_batch_size)
        for prev, layer in zip(self.layers[:-1], self.layers[1:]):
            layer.set_inpt(prev.output, prev.output_dropout, self.mini_batch_size)
        self.output = self.layers[-1].output
        self.output_dropout = self.layers[-1].output_dropout

    @property
    def n_params(self):
        return sum(layer.n_params for layer in self.layers)

    def summary(self):
        """One line per layer: its type, per-example output shape and parameter count."""
        lines = [f"Network(mini_batch_size={self.mini_batch_size}), {self.n_params:,} parameters"]
        for k, layer in enumerate(self.layers):
            lines.append(f"  {k}: {layer!r} -> {tuple(layer.output_shape)}, {layer.n_params:,} params")
        return "\n".join(lines)

    # -- the pieces SGD compiles, exposed so tests and users can check them

    def cost(self, lmbda=0.0, num_training_batches=1):
        """The training cost: log-likelihood plus network3's scaled L2 term."""
        cost = self.layers[-1].cost(self)
        if lmbda == 0:  # the same value; leaves the L2 ops (and their gradients) out of the graph
            return cost
        l2_norm_squared = sum((layer.w ** 2).sum() for layer in self.layers)
        return cost + 0.5 * lmbda * l2_norm_squared / num_training_batches

    def _batch_givens(self, data, i):
        b = self.mini_batch_size
        return {self.x: data[0][i * b:(i + 1) * b], self.y: data[1][i * b:(i + 1) * b]}

    def _num_batches(self, data, what):
        n = size(data)
        batches = n // self.mini_batch_size  # the remainder is dropped, as in network3
        if batches == 0:
            raise ValueError(f"{what} has {n} examples, fewer than one mini-batch of "
                             f"{self.mini_batch_size}")
        return batches

    def _check_data(self, data, what):
        x = data[0]
        if not isinstance(x, S.SharedVariable):
            raise TypeError(f"{what}: expected a (shared_x, shared_y) pair as returned by "
                            f"load_data_shared, got {type(x).__name__} for x")
        if x.dtype != self.x.dtype or x.ndim != 2:
            raise TypeError(f"{what}: images must be a 2-d {self.x.dtype} shared variable "
                            f"(floatX), got {x.ndim}-d {x.dtype}")
        width = x.get_value(borrow=True).shape[1]
        if width != self.layers[0].n_in_total:
            raise LayerShapeError(
                f"{what} has {width} values per example, but layer 0 "
                f"({type(self.layers[0]).__name__}) expects input of shape "
                f"{tuple(self.layers[0].input_shape)} ({self.layers[0].n_in_total} values)")

    def accuracy_function(self, data):
        """Compiled ``f(i)``: accuracy on mini-batch ``i`` of ``data`` (no dropout)."""
        i = S.lscalar("i")
        return S.function([i], self.layers[-1].accuracy(self.y), givens=self._batch_givens(data, i))

    def predictions_function(self, data_x):
        """Compiled ``f(i)``: predicted labels of mini-batch ``i`` of the images ``data_x``."""
        i = S.lscalar("i")
        b = self.mini_batch_size
        return S.function([i], self.layers[-1].y_out, givens={self.x: data_x[i * b:(i + 1) * b]})

    def accuracy(self, data):
        """Mean per-mini-batch accuracy on ``data`` (a remainder is not scored)."""
        self._check_data(data, "data")
        f = self.accuracy_function(data)
        return float(np.mean([f(j) for j in range(self._num_batches(data, "data"))]))

    def predict(self, data_x):
        """Predicted labels for the first ``n // mini_batch_size * mini_batch_size`` images."""
        self._check_data((data_x, None), "data_x")
        f = self.predictions_function(data_x)
        n = self._num_batches((data_x, None), "data_x")
        return np.concatenate([np.asarray(f(j)) for j in range(n)])

    def SGD(self, training_data, epochs, mini_batch_size, eta, validation_data, test_data,
            lmbda=0.0, verbose=True, on_epoch=None, *, momentum=0.0, patience=None,
            restore_best=False, progress=False, checkpoint=None, history_path=None):
        """Train with mini-batch stochastic gradient descent; return a TrainingHistory.

        Each of the ``epochs`` passes runs ``size(training_data) //
        mini_batch_size`` mini-batches in order (no shuffling, as in network3);
        examples beyond the last full mini-batch are silently left out of
        training, validation and test alike.  After each epoch the validation
        and test accuracies are measured (``test_data`` may be None); the test
        accuracy reported at the end is the one at the epoch of the best
        validation accuracy (ties go to the later epoch, as in network3).

        ``mini_batch_size`` must equal the one the network was built with (it
        is repeated here only because network3's signature has it).
        ``verbose=False`` silences the progress lines; ``on_epoch(history)``
        is called after every epoch (the CLI uses it to save the history).

        The keyword-only arguments are additions, all off by default (see
        :mod:`nets.training` and docs/nets.md): ``eta`` may also be a
        schedule ``epoch -> eta``; ``momentum`` (classic momentum);
        ``patience`` (early stopping on validation accuracy) and
        ``restore_best``; ``progress`` (True, False or "auto": a progress bar
        on stderr); ``checkpoint`` (a file saved after every epoch and resumed
        from when it exists); ``history_path`` (JSON and CSV history written
        after every epoch).
        """
        from .training import Trainer
        return Trainer(self, training_data, epochs, mini_batch_size, eta, validation_data,
                       test_data, lmbda=lmbda, verbose=verbose, on_epoch=on_epoch,
                       momentum=momentum, patience=patience, restore_best=restore_best,
                       progress=progress, checkpoint=checkpoint, history_path=history_path).run()

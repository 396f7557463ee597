"""Where the tests find the real MNIST files: $NETS_DATA, else ../shared/data/mnist."""
import os

import pytest

from nets.data import MNIST_FILES

SHARED_MNIST = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                             "mnist"))


def mnist_dir():
    for d in (os.environ.get("NETS_DATA"), SHARED_MNIST):
        if d and all(os.path.isfile(os.path.join(d, f)) for f in MNIST_FILES):
            return d
    return None


needs_mnist = pytest.mark.skipif(mnist_dir() is None,
                                 reason="real MNIST not found in $NETS_DATA or ../shared/data/mnist")

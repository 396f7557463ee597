import numpy as np
import pytest

import symbolic as S
from symbolic.rewriting import core as rewriting_core

# A rewrite that raises is a bug: in the tests it fails loudly instead of warning.
rewriting_core.strict = True


@pytest.fixture(autouse=True)
def _flags_isolated():
    """Each test starts from the default flags and leaves them as it found them."""
    with S.config.change_flags():
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

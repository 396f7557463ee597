import numpy as np
import pytest

import symbolic as S


@pytest.fixture(autouse=True)
def _float64_default_isolated():
    """Each test starts from the default flags and leaves them as it found them."""
    with S.config.change_flags():
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

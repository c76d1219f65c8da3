"""Shared fixtures: the backends to run on, and PyTorch and Keras where they are installed.

CI sets NUMPYLSTM_REQUIRE_TORCH=1 and NUMPYLSTM_REQUIRE_KERAS=1, which turn a missing
torch or Keras from a skip into a failure, so the cross-checks cannot silently stop
running there.
"""
import os

import numpy as np
import pytest
from hypothesis import settings
from threadpoolctl import threadpool_limits

from numpylstm import backend
from numpylstm.threads import blas_threads

settings.register_profile("numpylstm", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("numpylstm")


@pytest.fixture(params=backend.available_devices())
def device(request):
    """Each test that takes ``device`` runs on the CPU, and on the GPU where CuPy finds one."""
    return request.param


@pytest.fixture
def xp(device):
    """The array module of ``device``: numpy, or cupy on "cuda"."""
    if device == "cuda":
        import cupy
        return cupy
    return np


def _import_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("NUMPYLSTM_REQUIRE_TORCH"):
            raise
        pytest.skip("torch is not installed: PyTorch cross-checks skipped (pip install torch)")
    return torch


@pytest.fixture
def torch():
    """The torch module in float64 on one thread, or a skip where it is not installed (a failure in CI).

    One thread: the cross-checks compute small products, which torch's thread pool slows down
    many times over on a busy 2-core machine, and the numbers do not depend on it.
    """
    torch = _import_torch()
    default, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    yield torch
    torch.set_default_dtype(default)   # so no other test depends on the order tests ran in
    torch.set_num_threads(threads)


@pytest.fixture
def keras(monkeypatch):
    """Keras 3 on its torch backend, computing in float64; a skip where it is not installed."""
    monkeypatch.setenv("KERAS_BACKEND", "torch")    # read once, when keras is first imported
    if os.environ.get("NUMPYLSTM_REQUIRE_KERAS"):
        import keras
    else:
        keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        message = f"keras was imported earlier with the {keras.backend.backend()} backend, not torch"
        pytest.fail(message) if os.environ.get("NUMPYLSTM_REQUIRE_KERAS") else pytest.skip(message)
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield keras
    keras.config.set_floatx(floatx)


@pytest.fixture
def two_blas_threads():
    """NumPy's BLAS on 2 threads for the test (restored after), or a skip where that cannot be."""
    if blas_threads() is None:
        pytest.skip("threadpoolctl finds no BLAS library here")
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != 2:
            pytest.skip(f"NumPy's BLAS cannot run 2 threads here (it runs {blas_threads()})")
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["fast", "reference"], scope="session")
def engine(request):
    """The LSTM engine a test builds its LSTMs with: every such test runs once per engine (a string,
    so one value can serve the whole session and hypothesis's tests)."""
    return request.param

"""The one place that knows about CuPy.

Every kernel asks ``get_array_module(x)`` for the array library of its inputs
and then writes ``xp.tanh``, ``xp.empty`` and so on, so the same code runs on
NumPy arrays (CPU) and CuPy arrays (GPU). CuPy is optional: without it,
``get_array_module`` always answers ``numpy`` and only the ``"cpu"`` device
exists.
"""
import functools

import numpy as np

try:  # pragma: no cover - depends on the machine
    import cupy as _cupy

    _cupy.cuda.runtime.getDeviceCount()
except Exception:  # ImportError, or CuPy installed without a usable GPU
    _cupy = None

DEVICES = ("cpu", "cuda")


def cupy_available():
    """True when CuPy imports and sees at least one GPU."""
    return _cupy is not None


def available_devices():
    """The devices this machine can run on: ``["cpu"]``, plus ``"cuda"`` with CuPy."""
    return ["cpu", "cuda"] if cupy_available() else ["cpu"]


def get_array_module(*arrays):
    """``numpy`` or ``cupy``: the library that owns ``arrays``."""
    if _cupy is not None:
        return _cupy.get_array_module(*arrays)
    return np


def is_array(value):
    """True for a NumPy array, or a CuPy array where CuPy is available."""
    return isinstance(value, np.ndarray) or (_cupy is not None and isinstance(value, _cupy.ndarray))


def to_numpy(array):
    """A NumPy array with the values of ``array`` (copied off the GPU if needed)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


def to_device(array, device):
    """``array`` on ``device`` (``"cpu"`` or ``"cuda"``); no copy when it is already there."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return to_numpy(array)
    if _cupy is None:
        raise RuntimeError(
            "device 'cuda' needs CuPy and a GPU; install it with "
            "`pip install numpylstm[cupy]` (no usable CuPy was found)"
        )
    return _cupy.asarray(array)


@functools.lru_cache(maxsize=None)
def elementwise_kernel(name, in_params, out_params, operation):
    """A compiled ``cupy.ElementwiseKernel`` (built on first use, then cached).

    Only the GPU path of the sequence kernels asks for one: there, fusing a
    step's element-wise work into one launch saves more than the arithmetic costs.
    """
    if _cupy is None:
        raise RuntimeError(f"elementwise_kernel({name!r}) needs CuPy and a GPU")
    return _cupy.ElementwiseKernel(in_params, out_params, operation, name)

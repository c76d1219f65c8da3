"""Argument checks shared by every public entry point.

Each check raises ``TypeError`` or ``ValueError`` whose message names the
argument, what was expected and what was given, so a student can act on it
without reading a traceback.
"""
import numbers

import numpy as np

from .backend import get_array_module


def positive_int(value, name):
    """``value`` as an ``int`` if it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def non_negative_int(value, name):
    """``value`` as an ``int`` if it is a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def probability(value, name):
    """``value`` as a ``float`` in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r} ({type(value).__name__})")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def float_dtype(dtype, name="dtype"):
    """``dtype`` as a NumPy float32 or float64 dtype."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def float_array(value, name, dtype):
    """``value`` as a floating array of ``dtype`` (the module's dtype).

    The one dtype rule of the library: real floating input (any precision) is
    converted to the dtype of the parameters it meets; integer, boolean,
    complex, string and object input is refused, because silently turning
    token ids or booleans into floats hides mistakes.
    """
    xp = get_array_module(value)
    if not hasattr(value, "dtype"):
        try:
            value = np.asarray(value)
        except (ValueError, TypeError):
            raise TypeError(f"{name} must be an array of floats, got {type(value).__name__}") from None
        xp = np
    if value.dtype.kind != "f":
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), got dtype {value.dtype}"
        )
    return xp.asarray(value, dtype=dtype)


def ndim_in(array, name, allowed, meaning):
    """Refuse ``array`` unless its rank is in ``allowed``; ``meaning`` describes the layouts."""
    if array.ndim not in allowed:
        raise ValueError(f"{name} must be {meaning}, got an array of shape {tuple(array.shape)}")


def shape_equal(array, name, expected, meaning=""):
    """Refuse ``array`` unless its shape is exactly ``expected``."""
    if tuple(array.shape) != tuple(expected):
        what = f" {meaning}" if meaning else ""
        raise ValueError(f"{name} must have shape {tuple(expected)}{what}, got {tuple(array.shape)}")


def non_empty(array, name):
    """Refuse arrays with a zero-length axis (empty sequences or batches)."""
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got an array of shape {tuple(array.shape)}")


def state_pair(state, name):
    """``state`` as ``(h, c)``: a tuple or list of exactly two arrays."""
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        got = f"a {type(state).__name__} of length {len(state)}" if isinstance(state, (tuple, list)) \
            else type(state).__name__
        raise TypeError(f"{name} must be a pair (h, c) of arrays, got {got}")
    return state

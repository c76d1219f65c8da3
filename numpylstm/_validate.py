"""Argument checks shared by every public entry point.

Each check raises ``TypeError`` or ``ValueError`` whose message names the
argument, what was expected and what was given, so a student can act on it
without reading a traceback.
"""
import math
import numbers

import numpy as np

from .backend import get_array_module, is_array


# -------------------------------------------------------------------- numbers
def integer(value, name, low=None, high=None, context=""):
    """``value`` as an ``int``: a whole number (not a bool) in [low, high] (None: unbounded).

    ``context`` is added to the range in the message, e.g. " (target vocabulary of 12)".
    """
    wanted = _integer_words(low, high) + context
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {wanted}, got {value}")
    return int(value)


def _integer_words(low, high):
    if high is None:
        return {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            low, f"an integer >= {low}")
    return f"an integer in [{'-inf' if low is None else low}, {high}]"


def positive_int(value, name):
    """``value`` as an ``int`` if it is a whole number >= 1."""
    return integer(value, name, low=1)


def non_negative_int(value, name):
    """``value`` as an ``int`` if it is a whole number >= 0."""
    return integer(value, name, low=0)


def real(value, name, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a ``float``: a finite real number (not a bool) within the bounds given.

    ``low``/``high`` are None for no bound; ``low_open``/``high_open`` exclude the bound itself.
    """
    bounds = _bound_words(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = "a positive number" if (low, low_open, high) == (0, True, None) else "a number" + bounds
        raise TypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        wanted = bounds[1:] if low is not None and high is not None else "a finite number" + bounds
        raise ValueError(f"{name} must be {wanted}, got {value}")
    return float(value)


def _bound_words(low, high, low_open, high_open):
    """" > 0", " >= 0", " < 1", " in [0, 1)", or "" without bounds."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def positive_real(value, name):
    """``value`` as a ``float`` if it is a finite real number > 0."""
    return real(value, name, low=0, low_open=True)


def non_negative_real(value, name):
    """``value`` as a ``float`` if it is a finite real number >= 0."""
    return real(value, name, low=0)


def probability(value, name):
    """``value`` as a ``float`` in [0, 1) (Adam's betas)."""
    return real(value, name, 0, 1, high_open=True)


def fraction(value, name):
    """``value`` as a ``float`` in [0, 1] (a dropout probability, as PyTorch allows)."""
    return real(value, name, 0, 1)


# --------------------------------------------------------------------- arrays
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


def parameter_array(value, name):
    """``value`` if it is a NumPy or CuPy array of float32 or float64 (what a Parameter holds)."""
    if not is_array(value):
        raise TypeError(f"{name} must be a float32 or float64 array, got {type(value).__name__}")
    if value.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {value.dtype}")
    return value


def integer_array(value, name, low=None, high=None, what="integers", context=""):
    """The one integer-array check (token ids, class ids, lengths): ``value`` as an integer array.

    Lists and tuples are converted (a ragged one is refused, naming ``name``); NumPy and CuPy
    arrays keep their device. Every entry must lie in [low, high] (None: unbounded); the range
    is read as exact Python integers, so a uint64 of 2**64-1 is reported as what it is.
    ``what`` names the entries in messages ("token ids"), ``context`` explains the range.
    """
    if not hasattr(value, "dtype"):
        try:
            value = np.asarray(value)
        except ValueError:      # NumPy refuses ragged nested lists
            raise ValueError(f"{name} must be a rectangular array of {what}, got a ragged "
                             f"{type(value).__name__} (rows of different lengths)") from None
    if value.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an array of {what}, got dtype {value.dtype}")
    if value.size and (low is not None or high is not None):
        smallest, largest = int(value.min()), int(value.max())
        if (low is not None and smallest < low) or (high is not None and largest > high):
            lowest = "-inf" if low is None else low
            raise ValueError(f"{name} must hold {what} in [{lowest}, {high if high is not None else 'inf'}]"
                             f"{context}, got values from {smallest} to {largest}")
    return value


def ndim_in(array, name, allowed, meaning):
    """Refuse ``array`` unless its rank is in ``allowed``; ``meaning`` describes the layouts."""
    if array.ndim not in allowed:
        raise ValueError(f"{name} must be {meaning}, got an array of shape {tuple(array.shape)}")


def shape_equal(array, name, expected, meaning=""):
    """Refuse ``array`` unless its shape is exactly ``expected``."""
    if tuple(array.shape) != tuple(expected):
        what = f" {meaning}" if meaning else ""
        raise ValueError(f"{name} must have shape {tuple(expected)}{what}, got {tuple(array.shape)}")


def output_grad(grad, name, expected_shape, dtype):
    """A gradient with respect to a forward output: floating, as ``dtype``, of the output's shape."""
    grad = float_array(grad, name, dtype)
    shape_equal(grad, name, expected_shape, "(the shape of the forward output)")
    return grad


def non_empty(array, name):
    """Refuse arrays with a zero-length axis (empty sequences or batches)."""
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got an array of shape {tuple(array.shape)}")


# -------------------------------------------- choices, flags, pairs and seeds
def one_of(value, name, choices):
    """``value`` if it is one of the strings ``choices``; TypeError / ValueError naming ``name`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(choices)}, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def boolean(value, name):
    """``value`` as a ``bool`` if it is one (Python or NumPy); TypeError otherwise.

    ``bool("no")`` is True, so a flag like ``batch_first="no"`` would silently
    mean the opposite of what was written: flags are refused unless boolean.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def pair(value, name, what="(h, c) of arrays"):
    """``value`` if it is a tuple or list of exactly two items (by default a recurrent state (h, c));
    ``what`` names the two in the TypeError."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        got = f"a {type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) \
            else type(value).__name__
        raise TypeError(f"{name} must be a pair {what}, got {got}")
    return value


def instance_of(value, kind, name, what):
    """``value`` if it is an instance of ``kind``; a TypeError saying it must be ``what`` otherwise."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


_SEED_TYPES = (np.random.SeedSequence, np.random.BitGenerator, np.random.Generator)


def seed(value, name="seed"):
    """``value`` if it can seed ``np.random.default_rng``: None, an int >= 0, a SeedSequence or a Generator.

    NumPy's own message for a bad seed ("SeedSequence expects int or sequence
    of ints for entropy") does not say which argument was wrong.
    """
    if value is None or isinstance(value, _SEED_TYPES):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be None, a non-negative integer, a numpy SeedSequence or a numpy "
                        f"Generator, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


# ----------------------------------------------------------- kernel arguments
def kernel_shapes(kernel, *expected):
    """Refuse kernel arguments whose shape differs from the expected one.

    The pure kernels are the hot path, so they check only what is free: a
    tuple comparison per argument, once per call (never per time step), no
    copies, no reading of values (which would force a GPU sync). It is
    enough to stop the one silent failure of a kernel, NumPy broadcasting a
    (1, H) state or gradient over the whole batch.

    Parameters
    ----------
    kernel : str, the kernel's name, for the message
    *expected : ``(name, array, dims)`` triples. ``dims`` is a tuple whose entries
        are ints (that size is required) or strings (any size; the string names the
        axis in the message, e.g. ``("T", "N", "I")``). An ``array`` of None (an
        optional argument left out) is skipped.

    Returns
    -------
    None; raises TypeError for a non-array and ValueError for a wrong shape.
    """
    for name, array, dims in expected:
        if array is None:
            continue
        got = getattr(array, "shape", None)
        if got is None:
            raise TypeError(f"{kernel}: {name} must be an array of shape {_dims_text(dims)}, "
                            f"got {type(array).__name__}")
        if got == dims:  # the common case, all sizes given: one tuple comparison
            continue
        if len(got) != len(dims) or any(g != d for g, d in zip(got, dims) if d.__class__ is not str):
            raise ValueError(f"{kernel}: {name} must have shape {_dims_text(dims)}, got {tuple(got)}")


def _dims_text(dims):
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def bias_pair(kernel, b_ih, b_hh):
    """Refuse one bias without the other: the kernels add both or neither."""
    if (b_ih is None) != (b_hh is None):
        given, missing = ("b_ih", "b_hh") if b_hh is None else ("b_hh", "b_ih")
        raise ValueError(f"{kernel}: b_ih and b_hh must be given together or both be None, "
                         f"got {given} without {missing}")

"""Argument checks shared by every public entry point.

Each check raises ``TypeError`` or ``ValueError`` whose message names the
argument, what was expected and what was given, so a student can act on it
without reading a traceback.
"""
import math
import numbers
import os
import sys

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
    except (TypeError, ValueError, SyntaxError):  # NumPy parses some strings as Python ("01": SyntaxError)
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if resolved not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def host_array(value, name, what="an array"):
    """``value`` as an array the library can compute with: NumPy or CuPy, unchanged; else ``np.asarray``.

    Anything NumPy can read is accepted where an array is: a list, a CPU
    ``torch.Tensor``, a Keras variable, any object with ``__array__``. A
    tensor that requires grad is detached first (its values are all numpylstm
    reads; it records no graph of its own). A tensor on a GPU is refused:
    numpylstm computes on the CPU (or on CuPy arrays), and copying it back on
    every call would hide the cost of the transfer.

    Parameters
    ----------
    value : array-like, any shape
    name : str, the argument's name for the message
    what : str, what the argument must be, for the messages ("an array of floats")

    Returns
    -------
    ndarray (NumPy, or CuPy if ``value`` is a CuPy array), sharing memory with ``value`` where NumPy can
    """
    not_masked(value, name)
    if is_array(value) or isinstance(value, np.generic):
        return value
    device = getattr(getattr(value, "device", None), "type", "cpu")
    if isinstance(device, str) and device != "cpu":
        raise TypeError(f"{name} must be {what} on the CPU, got a {type(value).__name__} on device "
                        f"{device!r}: call .cpu() on it first")
    detach = getattr(value, "detach", None)
    if callable(detach):
        value = detach()
    try:
        return np.asarray(value)
    except ValueError:      # NumPy refuses ragged nested lists
        raise ValueError(f"{name} must be a rectangular {_without_article(what)}, got a ragged "
                         f"{type(value).__name__} (rows of different lengths)") from None
    except (TypeError, RuntimeError) as error:  # objects NumPy cannot read, dtypes it lacks (bfloat16)
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} ({error})") from None


def _without_article(what):
    """"an array of floats" -> "array of floats", "a boolean or 0/1 array" -> "boolean or 0/1 array"."""
    for article in ("an ", "a "):
        if what.startswith(article):
            return what[len(article):]
    return what


def not_masked(value, name):
    """Refuse a ``numpy.ma.MaskedArray``: every computation here would read its hidden values
    and drop its mask without a word."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} must be a plain array, got a numpy.ma.MaskedArray, whose mask numpylstm "
                        f"would silently ignore: pass {name}.filled(value) with the value masked entries "
                        "should take, and give the mask where the function takes one (mask=, lengths=)")


def float_array(value, name, dtype):
    """``value`` as a floating array of ``dtype`` (the module's dtype; None keeps its own).

    The one dtype rule of the library: real floating input (any precision) is
    converted to the dtype of the parameters it meets; integer, boolean,
    complex, string and object input is refused, because silently turning
    token ids or booleans into floats hides mistakes. Torch tensors and other
    array-likes are read as ``host_array`` reads them. A conversion to a
    narrower dtype (float64 input, float32 model) that would turn finite values
    into inf is refused, naming the largest value (NumPy only warns).
    """
    value = host_array(value, name, "an array of floats")
    if value.dtype.kind != "f":
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), got dtype {value.dtype}"
        )
    xp = get_array_module(value)
    if dtype is None or np.dtype(dtype).itemsize >= value.dtype.itemsize:
        return xp.asarray(value, dtype=dtype)
    with np.errstate(over="ignore"):   # overflow is refused below, with the argument's name
        converted = xp.asarray(value, dtype=dtype)
    if not bool(xp.isfinite(converted).all()):
        _refuse_overflow(value, converted, name)
    return converted


def _refuse_overflow(value, converted, name):
    """Refuse ``value`` if a finite entry of it became inf in ``converted`` (nan and inf given stay)."""
    xp = get_array_module(value)
    overflowed = xp.isinf(converted) & xp.isfinite(value)
    if bool(overflowed.any()):
        largest = float(xp.abs(value[overflowed]).max())
        limit = float(np.finfo(converted.dtype).max)
        raise ValueError(f"{name} holds values up to {largest:.6g} in magnitude, beyond the range of "
                         f"{converted.dtype} (largest {limit:.6g}): they would become inf. Rescale the data, "
                         f"or build the model with dtype=np.float64")


def all_finite(array, name, advice=""):
    """Refuse a floating ``array`` holding nan or inf, with their count and the first position.

    Integer and boolean arrays pass unread (they cannot hold either).
    """
    if array.dtype.kind not in "fc":
        return array
    xp = get_array_module(array)
    finite = xp.isfinite(array)
    if bool(finite.all()):
        return array
    bad = ~finite
    n_nan, n_bad = int(xp.isnan(array).sum()), int(bad.sum())
    first = tuple(int(i) for i in np.unravel_index(int(xp.argmax(bad.ravel())), array.shape))
    raise ValueError(f"{name} must hold finite values, got {n_nan} nan and {n_bad - n_nan} inf "
                     f"(the first at index {first}){advice}")


def parameter_array(value, name):
    """``value`` if it is a NumPy or CuPy array of float32 or float64 (what a Parameter holds)."""
    not_masked(value, name)
    if not is_array(value):
        raise TypeError(f"{name} must be a float32 or float64 array, got {type(value).__name__}")
    if value.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {value.dtype}")
    return value


def integer_array(value, name, low=None, high=None, what="integers", context=""):
    """The one integer-array check (token ids, class ids, lengths): ``value`` as an integer array.

    Lists, tuples and CPU tensors are converted (``host_array``; a ragged list is refused,
    naming ``name``); NumPy and CuPy arrays keep their device. Every entry must lie in
    [low, high] (None: unbounded); the range is read as exact Python integers, so a uint64
    of 2**64-1 is reported as what it is.
    ``what`` names the entries in messages ("token ids"), ``context`` explains the range.
    """
    value = host_array(value, name, f"an array of {what}")
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


def mask_array(mask, name, shape, meaning):
    """``mask`` as a boolean array of ``shape``: booleans, or numbers that are all 0 or 1.

    Parameters
    ----------
    mask : array-like of ``shape``, bool or 0/1 numbers
    name : str, the argument's name
    shape : tuple, the shape it must have
    meaning : str, what the shape is, for the message ("(logits.shape[:-1], one entry per position)")
    """
    mask = host_array(mask, name, "a boolean or 0/1 array")
    shape_equal(mask, name, shape, meaning)
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be boolean or 0/1 numbers, got dtype {mask.dtype}")
    if mask.dtype.kind != "b" and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{name} must hold only 0 and 1 (or False and True), got values from "
                         f"{float(mask.min())} to {float(mask.max())}")
    return mask.astype(bool, copy=False)


def non_empty(array, name):
    """Refuse arrays with a zero-length axis (empty sequences or batches)."""
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got an array of shape {tuple(array.shape)}")


# --------------------------------------------------------------------- memory
class TooLargeError(ValueError, MemoryError):
    """A size whose arrays would not fit in the memory available, refused before allocating.

    A ``ValueError`` (a bad argument: the CLI prints it as one line) and a
    ``MemoryError`` (what NumPy would have raised, after trying), so either
    ``except`` catches it.
    """


# Below this many bytes memory is not looked up: reading it costs a file read per call, and no
# machine that runs Python lacks 64 MiB (a refusal there would tell nothing NumPy would not).
ALWAYS_FITS = 2 ** 26
MEMINFO = "/proc/meminfo"
CGROUP_MEMORY = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current")


def available_memory(xp=np):
    """Bytes that arrays of ``xp`` (numpy or cupy) can still take, or None when unknown.

    CPU: ``MemAvailable`` of /proc/meminfo (what Linux can give without swapping), else
    ``os.sysconf`` (free physical pages), and no more than a cgroup v2 limit leaves (in a
    container the kernel kills a process over its limit instead of raising MemoryError).
    GPU (CuPy): the device's free memory plus the blocks CuPy's pool holds for reuse.
    """
    if xp is not np:
        try:
            free, _ = xp.cuda.runtime.memGetInfo()
            return int(free) + int(xp.get_default_memory_pool().free_bytes())
        except Exception:  # an array module without these: unknown
            return None
    system = _meminfo_available()
    if system is None:
        system = _sysconf_available()
    limit = _cgroup_room()
    known = [value for value in (system, limit) if value is not None]
    return min(known) if known else None


def _meminfo_available():
    try:
        with open(MEMINFO) as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024   # the file counts kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this system (macOS lacks AVPHYS, Windows sysconf)
        return None


def _cgroup_room():
    """What a cgroup v2 memory limit leaves this process's group, or None without one."""
    try:
        with open(CGROUP_MEMORY[0]) as limit, open(CGROUP_MEMORY[1]) as used:
            maximum, current = limit.read().strip(), used.read().strip()
        return None if maximum == "max" else max(0, int(maximum) - int(current))
    except (OSError, ValueError):
        return None


def bytes_text(n_bytes):
    """``n_bytes`` for a person: "512 B", "47.7 GiB", "5.9e+24 EiB"."""
    if n_bytes < 1024:
        return f"{n_bytes} B"
    value = float(n_bytes)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if value < 1024 or unit == "EiB":
            return f"{value:.1f} {unit}" if value < 1e6 else f"{value:.2g} {unit}"


def fits_in_memory(n_values, dtype, what, needs_for, advice="", xp=np):
    """Refuse, before anything is allocated, arrays of ``n_values`` values of ``dtype`` that cannot fit.

    Raises ``TooLargeError`` with the estimate when the bytes needed exceed what
    NumPy can address or what ``available_memory(xp)`` reports; passes when they
    are below ``ALWAYS_FITS`` (memory not read) or when the memory is unknown.

    Parameters
    ----------
    n_values : int, the number of values (a Python int: exact for any size)
    dtype : the values' dtype (its item size is counted)
    what : str, who needs them, e.g. "LSTM(1, 40000, num_layers=1)"
    needs_for : str, what for, e.g. "its parameters and their gradients"
    advice : str, appended to the message (what to do instead)
    xp : numpy or cupy, where the arrays will live
    """
    needed = int(n_values) * np.dtype(dtype).itemsize
    if needed <= ALWAYS_FITS:
        return
    if needed > sys.maxsize:
        raise TooLargeError(f"{what} needs {bytes_text(needed)} for {needs_for}, more than any array "
                            f"can address{advice}")
    available = available_memory(xp)
    if available is not None and needed > available:
        where = "this machine has" if xp is np else "the GPU has"
        raise TooLargeError(f"{what} needs {bytes_text(needed)} for {needs_for}; {where} "
                            f"{bytes_text(available)} available{advice}")


def parameters_fit(module, n_values, dtype, description=None):
    """Refuse a module whose ``n_values`` parameters, with their gradients, cannot fit in memory.

    Every module constructor that allocates parameters calls this before
    drawing them: each ``Parameter`` holds its values and a gradient of the
    same size. The message names the module as ``description``, by default
    ``Name(extra_repr)``.
    """
    count = f"{n_values:,}" if n_values < 10 ** 15 else f"{n_values:.3g}"
    description = description or f"{type(module).__name__}({module.extra_repr()})"
    fits_in_memory(2 * n_values, dtype, description,
                   f"its parameters and their gradients ({count} values of {np.dtype(dtype)} each)")


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

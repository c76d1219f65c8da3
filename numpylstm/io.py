"""Save and load model weights as ``.npz`` files that are safe to share.

A weight file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) with

- one entry per parameter, named as in ``state_dict()`` (PyTorch's names);
- ``__numpylstm_format__``: the format version (an integer, now ``FORMAT_VERSION``);
- ``__numpylstm_config__``: JSON text with the model's configuration (its class
  and constructor arguments, see ``module_config``) and any ``metadata`` given to ``save``.

Why it is safe:

- **No pickles.** Files are read with ``allow_pickle=False``, so loading a file
  never runs code from it; a file carrying pickled objects is refused.
- **Atomic saves.** ``save`` writes a temporary file in the same folder and then
  renames it over the target (``os.replace``, atomic on POSIX and Windows), so
  a save interrupted by an error, a full disk or Ctrl-C leaves the previous
  file as it was.
- **Checked loads.** A truncated or corrupted file, a file from a newer format,
  or a model of another configuration gives a ``ValueError`` naming the path
  and what is wrong, and changes nothing in the model.
"""
import inspect
import json
import os
import struct
import tempfile
import zipfile
import zlib
from contextlib import suppress
from pathlib import Path

import numpy as np

from . import _validate as check
from .module import Module, Parameter

FORMAT_VERSION = 1
SUFFIX = ".npz"
_FORMAT_KEY = "__numpylstm_format__"
_CONFIG_KEY = "__numpylstm_config__"
_RESERVED = (_FORMAT_KEY, _CONFIG_KEY)
# Constructor arguments that change neither the architecture nor how it computes:
# loading into a model that differs only in these is allowed (values are cast to the model's dtype).
IGNORED_IN_COMPARISON = ("seed", "dtype")
# What zipfile and numpy raise on damaged archives besides ValueError (found by flipping every
# byte of a small file: an unknown compression method or a set "encrypted" flag among them).
_DAMAGED_FILE_ERRORS = (OSError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError,
                        RuntimeError, struct.error, zlib.error)


def weights_path(path):
    """``path`` as a ``Path`` ending in ``.npz`` (``"model"`` -> ``"model.npz"``, as ``np.savez`` does)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


# --------------------------------------------------------------------- configuration
def module_config(module):
    """The configuration of ``module``: its class and the arguments that rebuild it.

    Returns a JSON-compatible dict ``{"class": name, "args": {...}, "children": {...}}``.
    ``args`` comes from ``module.config()`` (or a ``config`` dict attribute) when the
    class defines one; otherwise
    it is read from the attributes named like the constructor's arguments
    (``input_size``, ``hidden_size``, ``num_layers``, ...), where a ``Parameter``
    attribute such as ``Linear.bias`` counts as ``True`` and ``dtype`` is the
    parameters' dtype. ``children`` holds the configuration of every
    sub-module, so a ``Sequential`` is described by its layers.
    """
    check.instance_of(module, Module, "module", "a numpylstm Module")
    custom = getattr(module, "config", None)
    if callable(custom):  # the models in numpylstm.models report their arguments with config()
        args = dict(custom())
    else:
        args = _constructor_args(module)
    return {
        "class": type(module).__name__,
        "args": {name: _json_value(value) for name, value in args.items()},
        "children": {name: module_config(child) for name, child in module._modules.items()},
    }


def _constructor_args(module):
    args = {}
    signature = inspect.signature(type(module).__init__)
    for name, param in signature.parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name == "dtype":
            args[name] = str(module.dtype)
        elif name in module.__dict__:
            value = module.__dict__[name]
            if isinstance(value, Parameter):
                value = True
            if _is_json_value(value):
                args[name] = value
    return args


def _is_json_value(value):
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_is_json_value(v) for v in value)
    return False


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value


def config_differences(saved, current, prefix=""):
    """Human-readable differences between two ``module_config`` dicts (ignoring seed and dtype)."""
    where = f" at {prefix.rstrip('.')!r}" if prefix else ""
    if saved.get("class") != current.get("class"):
        return [f"the file holds a {saved.get('class')}{where}, the model has a {current.get('class')}"]
    problems = []
    saved_args, current_args = saved.get("args", {}), current.get("args", {})
    for name in sorted(set(saved_args) | set(current_args)):
        if name in IGNORED_IN_COMPARISON:
            continue
        a, b = saved_args.get(name, "<absent>"), current_args.get(name, "<absent>")
        if a != b:
            problems.append(f"{prefix}{name} is {a!r} in the file but {b!r} in the model")
    saved_children, current_children = saved.get("children", {}), current.get("children", {})
    for name in saved_children.keys() | current_children.keys():
        if name not in current_children:
            problems.append(f"sub-module {prefix}{name} is in the file but not in the model")
        elif name not in saved_children:
            problems.append(f"sub-module {prefix}{name} is in the model but not in the file")
        else:
            problems += config_differences(saved_children[name], current_children[name], f"{prefix}{name}.")
    return sorted(problems)


# ------------------------------------------------------------------------------ save
def save(module, path, metadata=None):
    """Write the weights and configuration of ``module`` to ``path`` (``.npz`` added if missing).

    Parameters
    ----------
    module : Module (its parameters may live on the GPU; they are copied to the CPU)
    path : str or os.PathLike; the folder must exist
    metadata : optional JSON-serialisable dict stored beside the configuration
        (for example the task name or a character vocabulary); ``read_info`` returns it

    Returns
    -------
    pathlib.Path of the file written

    The file is written to a temporary file in the same folder and renamed over
    ``path`` only once complete, so a failed save leaves an existing file intact.
    """
    target = weights_path(path)
    entries = check.instance_of(module, Module, "module", "a numpylstm Module").state_dict()
    clash = [name for name in entries if name in _RESERVED]
    if clash:
        raise ValueError(f"parameter names {clash} are reserved for the file format; rename them")
    header = {"config": module_config(module), "metadata": metadata}
    try:
        header_text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"metadata must be JSON-serialisable (dicts, lists, str, numbers, bool, None): {err}") from None
    entries[_FORMAT_KEY] = np.array(FORMAT_VERSION, dtype=np.int64)
    entries[_CONFIG_KEY] = np.array(header_text)  # a unicode array: no pickle needed to read it
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {str(target)!r}: the folder {str(target.parent)!r} does not exist")
    _write_atomically(target, entries)
    return target


def _write_atomically(target, entries):
    """Write ``entries`` as an ``.npz`` to a temporary file beside ``target``, then rename it over ``target``."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            _write_npz(file, entries)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them visible
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, target)
    except BaseException:  # including KeyboardInterrupt: never leave the temporary file behind
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _write_npz(file, entries):
    """What ``np.savez`` writes (one ``name.npy`` member per entry), refusing object arrays."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in entries.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------ load
def read_info(path):
    """The format version, configuration and metadata stored in a weight file, without loading weights.

    Returns
    -------
    dict with keys ``"format_version"``, ``"config"`` and ``"metadata"``
    """
    path = _existing_path(path)
    _, info = _read(path)
    return info


def load(module, path, strict=True):
    """Load the weights in ``path`` into ``module`` and return ``module``.

    Parameters
    ----------
    module : Module built with the same configuration as the saved one
    path : str or os.PathLike (``.npz`` is added when ``path`` does not exist without it)
    strict : with True (default) the configuration (class and constructor arguments
        other than seed and dtype) and the set of parameters must match; with False
        only the parameters both have are loaded, and their shapes must match

    Raises
    ------
    FileNotFoundError
        when there is no such file
    ValueError
        naming the path, when the file is truncated, corrupted, carries pickled
        objects, comes from a newer format, or does not fit ``module``; ``module``
        is unchanged then
    """
    check.instance_of(module, Module, "module", "a numpylstm Module")
    strict = check.boolean(strict, "strict")
    path = _existing_path(path)
    weights, info = _read(path)
    if strict:
        problems = config_differences(info["config"], module_config(module))
        if problems:
            raise ValueError(
                f"{str(path)!r} was saved from a model with another configuration:\n  " + "\n  ".join(problems)
                + "\nbuild the model with the saved arguments (numpylstm.io.read_info shows them), "
                  "or pass strict=False to load the parameters that fit"
            )
    try:
        module.load_state_dict(weights, strict=strict)
    except ValueError as err:
        raise ValueError(f"{str(path)!r} does not fit this {type(module).__name__}: {err}") from None
    return module


def _existing_path(path):
    given = Path(path) if isinstance(path, (str, os.PathLike)) else weights_path(path)
    if given.is_file():
        return given
    with_suffix = weights_path(given)
    if with_suffix.is_file():
        return with_suffix
    raise FileNotFoundError(f"no weight file at {str(given)!r}" +
                            (f" or {str(with_suffix)!r}" if with_suffix != given else ""))


def _read(path):
    """``(weights, info)`` from the file at ``path``; every failure is a ValueError naming it."""
    try:
        archive = np.load(path, allow_pickle=False)
    except PermissionError:
        raise  # says what is wrong already; not a damaged file
    except (ValueError, *_DAMAGED_FILE_ERRORS) as err:
        raise _unreadable(path, err) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{str(path)!r} is a single .npy array, not a numpylstm weight file (.npz archive)")
    with archive:
        entries = {}
        for name in archive.files:
            try:
                entries[name] = archive[name]
            except (ValueError, *_DAMAGED_FILE_ERRORS) as err:
                raise _unreadable(path, err, name) from None
    return _split_entries(path, entries)


def _split_entries(path, entries):
    if _FORMAT_KEY not in entries or _CONFIG_KEY not in entries:
        raise ValueError(
            f"{str(path)!r} is an .npz archive without numpylstm's format version and configuration "
            f"(entries {sorted(entries)}); write weight files with numpylstm.io.save"
        )
    version = entries.pop(_FORMAT_KEY)
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{str(path)!r} has an unreadable format version entry {version!r}")
    version = int(version)
    if version > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format version {version}, newer than this numpylstm "
                         f"reads ({FORMAT_VERSION}); upgrade numpylstm to load it")
    header = entries.pop(_CONFIG_KEY)
    try:
        header = json.loads(str(header))
        config, metadata = header["config"], header["metadata"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{str(path)!r} has an unreadable configuration entry: {err}") from None
    return entries, {"format_version": version, "config": config, "metadata": metadata}


def _unreadable(path, err, name=None):
    """The ValueError for ``err`` raised while reading ``path`` (or its entry ``name``): pickled or damaged."""
    if isinstance(err, ValueError) and "pickle" in str(err):
        return ValueError(_pickle_message(path, name))
    return ValueError(_corrupt_message(path, err, name))


def _pickle_message(path, name=None):
    what = f"its entry {name!r} holds" if name else "it holds"
    return (f"refused to load {str(path)!r}: {what} pickled Python objects, and unpickling can run "
            "arbitrary code; numpylstm weight files hold plain numeric arrays only")


def _corrupt_message(path, err, name=None):
    where = f" (entry {name!r})" if name else ""
    return (f"{str(path)!r} is not a readable numpylstm weight file{where}: it looks truncated or "
            f"corrupted ({type(err).__name__}: {err})")

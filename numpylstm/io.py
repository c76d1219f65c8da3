"""Save and load model weights as ``.npz`` or ``.safetensors`` files that are safe to share.

A weight file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) with

- one entry per parameter, named as in ``state_dict()`` (PyTorch's names);
- ``__numpylstm_format__``: the format version (an integer, now ``FORMAT_VERSION``);
- ``__numpylstm_config__``: JSON text with the model's configuration (its class
  and constructor arguments, see ``module_config``) and any ``metadata`` given to ``save``.

A path ending in ``.safetensors`` is written in that format instead (with the optional
``safetensors`` package): the same parameter names, so ``safetensors.torch.load_file``
gives a ``state_dict`` that the PyTorch module loads directly; the format version and the
configuration go into the file's string metadata under the same two keys.

Why it is safe:

- **No pickles.** Nothing is ever unpickled; an entry or file holding pickled
  objects (a PyTorch ``.pt`` file among them) is refused.
- **Cheap refusals.** Every entry's name, shape and dtype is checked from the zip
  directory and the ``.npy`` header (or the safetensors header) before any data is
  read, against the model being loaded (or, for ``read_info`` and ``load_model``,
  against ``MAX_CONFIG_BYTES`` and ``MAX_WEIGHT_BYTES``); an entry whose zip record
  and header disagree about its size is refused without inflating it, so a
  compression bomb or a header declaring terabytes costs kilobytes.
- **Atomic saves.** ``save`` writes a temporary file in the same folder (named
  ``.{name}.{pid}.{random}.tmp``), flushes it to disk, renames it over the target
  (``os.replace``, atomic on POSIX and Windows) and flushes the folder, so a save
  interrupted by an error, a full disk, Ctrl-C or a crash leaves the previous file
  intact. A save keeps the permission bits of the file it replaces, refuses a file
  it may not write (``PermissionError``), and removes temporary files left by
  saves whose process was killed.
- **Checked loads.** A truncated, corrupted or foreign file, a file from a newer
  format, or a model of another configuration gives a ``ValueError`` naming the
  path and what is wrong, and changes nothing in the model.
"""
import inspect
import json
import os
from pathlib import Path

import numpy as np

from . import _validate as check
from ._atomic_write import write_atomically
from ._rebuild import rebuild
from ._weight_files import (RESERVED, SAFETENSORS_SUFFIX, SUFFIX, config_entry_bytes, npz_writer,
                            open_weight_file, safetensors_writer)
from .module import Module, Parameter, _state_dict_problems

FORMAT_VERSION = 1
# The most bytes the configuration entry (JSON text with the metadata) may take in a file.
# ``save`` refuses metadata beyond it; raise it to read an older file with more.
MAX_CONFIG_BYTES = 2**20
# The most bytes of parameters ``read_info`` and ``load_model`` accept from a file (``load``
# is bounded by the model it loads into instead). Raise it for larger models.
MAX_WEIGHT_BYTES = 2**32
# Temporary files older than this are removed by the next save to the same target.
STALE_TEMPORARY_SECONDS = 3600
# Constructor arguments that change neither the architecture nor what it computes:
# loading into a model that differs only in these is allowed (values are cast to the model's dtype;
# LSTM's engine picks kernels that give the same results).
IGNORED_IN_COMPARISON = ("seed", "dtype", "engine")


def weights_path(path):
    """``path`` as a ``Path`` ending in ``.npz`` (``"model"`` -> ``"model.npz"``, as ``np.savez`` does),
    or in ``.safetensors`` when it does already."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    given = Path(path)
    if given.name in ("", ".", ".."):
        raise ValueError(f"path must name a file (such as 'model.npz'), got {os.fspath(path)!r}")
    if given.suffix in (SUFFIX, SAFETENSORS_SUFFIX):
        return given
    return given.with_name(given.name + SUFFIX)


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
        elif name in module.__dict__ or isinstance(getattr(type(module), name, None), property):
            value = getattr(module, name)  # an attribute, or a checked property such as LSTM.dropout
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
    """Human-readable differences between two ``module_config`` dicts.

    Arguments in ``IGNORED_IN_COMPARISON`` are skipped, and so are arguments the saved
    configuration does not record (files written before numpylstm recorded them).
    """
    where = f" at {prefix.rstrip('.')!r}" if prefix else ""
    if saved.get("class") != current.get("class"):
        return [f"the file holds a {saved.get('class')}{where}, the model has a {current.get('class')}"]
    problems = []
    saved_args, current_args = saved.get("args", {}), current.get("args", {})
    for name in sorted(set(saved_args) | set(current_args)):
        if name in IGNORED_IN_COMPARISON or name not in saved_args:
            continue
        a, b = saved_args[name], current_args.get(name, "<absent>")
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
    path : str or os.PathLike; the folder must exist. A name ending in ``.safetensors``
        is written in that format (needs ``pip install safetensors``), any other as ``.npz``.
    metadata : optional JSON-serialisable dict stored beside the configuration
        (for example the task name or a character vocabulary); ``read_info`` returns it

    Returns
    -------
    pathlib.Path of the file written

    The file is written to a temporary file in the same folder and renamed over
    ``path`` only once complete, so a failed save leaves an existing file intact.
    An existing file keeps its permission bits; a new one gets ``0o666 & ~umask``.

    Raises
    ------
    PermissionError
        when ``path`` exists and may not be written (as ``np.save`` and ``torch.save``)
    """
    target = weights_path(path)
    entries = check.instance_of(module, Module, "module", "a numpylstm Module").state_dict()
    clash = [name for name in entries if name in RESERVED]
    if clash:
        raise ValueError(f"parameter names {clash} are reserved for the file format; rename them")
    header_text = _header_text(module, metadata)
    if target.suffix == SAFETENSORS_SUFFIX:
        write = safetensors_writer(entries, header_text, FORMAT_VERSION)
    else:
        write = npz_writer(entries, header_text, FORMAT_VERSION)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {str(target)!r}: the folder {str(target.parent)!r} does not exist")
    write_atomically(target, write, STALE_TEMPORARY_SECONDS)
    return target


def _header_text(module, metadata):
    """The JSON text of the configuration entry, refused beyond ``MAX_CONFIG_BYTES`` (load would refuse it)."""
    header = {"config": module_config(module), "metadata": metadata}
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"metadata must be JSON-serialisable (dicts, lists, str, numbers, bool, None): {err}") from None
    size = config_entry_bytes(text)
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"metadata must fit in numpylstm.io.MAX_CONFIG_BYTES ({MAX_CONFIG_BYTES} bytes) with the "
                         f"configuration, got {size} bytes; store large data in a file of its own")
    return text


# ------------------------------------------------------------------------------ load
def read_info(path):
    """The format version, configuration and metadata stored in a weight file, without loading weights.

    Returns
    -------
    dict with keys ``"format_version"``, ``"config"`` and ``"metadata"``

    Raises
    ------
    ValueError
        naming the path, when the file is not a numpylstm weight file, is damaged,
        or declares more than ``MAX_WEIGHT_BYTES`` of parameters
    """
    path = _existing_path(path)
    with _weight_file(path) as weights:
        _check_within_limit(path, weights.declared)
        return weights.info


def load(module, path, strict=True):
    """Load the weights in ``path`` into ``module`` and return ``module``.

    Parameters
    ----------
    module : Module built with the same configuration as the saved one
    path : str or os.PathLike of an ``.npz`` (added when ``path`` does not exist without it)
        or ``.safetensors`` file written by ``save``
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
    with _weight_file(path) as weights:
        if strict:
            _check_same_configuration(path, weights.info["config"], module)
        _load_weights(path, weights, module, strict)
    return module


def load_model(path):
    """Rebuild the model saved in ``path`` from the configuration stored with it, and load its weights.

    The class is looked up by name among numpylstm's own modules (``LSTM``, ``LSTMCell``,
    ``RNN``, ``RNNCell``, ``Linear``, ``Embedding``, ``Sequential``, ``ReLU``, ``Tanh``,
    ``Sigmoid``, ``Dropout``, ``SequenceRegressor``, ``SequenceClassifier``, ``CharLM``,
    ``Encoder``, ``Decoder``, ``Seq2Seq``); nothing else is imported or evaluated. The model
    is built with the stored arguments and dtype, then loaded with ``strict=True``.

    Returns
    -------
    Module, in training mode, with the saved weights

    Raises
    ------
    ValueError
        naming the path, for everything ``load`` refuses, an unknown class, or stored
        arguments that do not rebuild the parameters the file holds
    """
    path = _existing_path(path)
    with _weight_file(path) as weights:
        _check_within_limit(path, weights.declared)
        model = rebuild(path, weights.info["config"], weights.declared)
        _check_same_configuration(path, weights.info["config"], model)
        _load_weights(path, weights, model, strict=True)
    return model


def _weight_file(path):
    """The weight file at ``path`` (``open_weight_file``), read with the limits as they are now: a user may
    have raised ``MAX_CONFIG_BYTES``."""
    return open_weight_file(path, newest_version=FORMAT_VERSION, max_config_bytes=MAX_CONFIG_BYTES)


def _existing_path(path):
    with_suffix = weights_path(path)  # refuses what is not a path naming a file
    given = Path(path)
    if given.is_file():
        return given
    if with_suffix.is_file():
        return with_suffix
    raise FileNotFoundError(f"no weight file at {str(given)!r}" +
                            (f" or {str(with_suffix)!r}" if with_suffix != given else ""))


def _check_same_configuration(path, saved, module):
    problems = config_differences(_with_current_child_names(saved, module), module_config(module))
    if problems:
        raise ValueError(
            f"{str(path)!r} was saved from a model with another configuration:\n  " + "\n  ".join(problems)
            + "\nbuild the model with the saved arguments (numpylstm.io.read_info shows them, "
              "numpylstm.io.load_model does it for you), or pass strict=False to load the parameters that fit"
        )


def _with_current_child_names(config, module):
    """``config`` with the sub-modules a class has since renamed (its ``renamed_parameters``, such as
    Decoder's ``"out." -> "head."``) under their current names, so older files still compare equal."""
    children = dict(config["children"])
    for old, new in getattr(module, "renamed_parameters", {}).items():
        old, new = old.rstrip("."), new.rstrip(".")
        if old in children and new not in children:
            children[new] = children.pop(old)
    children = {name: _with_current_child_names(child, module._modules[name]) if name in module._modules
                else child for name, child in children.items()}
    return {**config, "children": children}


def _load_weights(path, weights, module, strict):
    """Check the declared names, shapes and dtypes against ``module``, then read only what it takes."""
    file_names = _file_names(module, weights.declared)
    declared = {name: weights.declared[file_name] for name, file_name in file_names.items()}
    problems = _state_dict_problems(dict(module.named_parameters()), declared, strict)
    if problems:
        raise ValueError(f"{str(path)!r} does not fit this {type(module).__name__}:\n  " + "\n  ".join(problems))
    wanted = [name for name, _ in module.named_parameters() if name in declared]
    arrays = weights.arrays([file_names[name] for name in wanted])
    module.load_state_dict({name: arrays[file_names[name]] for name in wanted}, strict=strict)


def _file_names(module, declared):
    """Current parameter name -> the name in the file, which may be one a class has since renamed
    (``Module._with_current_names`` applies its ``renamed_parameters``)."""
    return dict(module._with_current_names({name: name for name in declared}))   # renamed keys, same values


def _check_within_limit(path, declared):
    """Without a model to compare with, parameters must be floating arrays within ``MAX_WEIGHT_BYTES``."""
    for name, entry in declared.items():
        if entry.dtype.kind != "f":
            raise ValueError(f"{str(path)!r} is not a numpylstm weight file: its entry {name!r} holds "
                             f"{entry.dtype} values, parameters are floating-point arrays")
    total = sum(entry.nbytes for entry in declared.values())
    if total > MAX_WEIGHT_BYTES:
        raise ValueError(f"{str(path)!r} declares {total} bytes of parameters, more than "
                         f"numpylstm.io.MAX_WEIGHT_BYTES ({MAX_WEIGHT_BYTES}); raise that limit to load it "
                         "if you trust the file")

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
import hashlib
import inspect
import json
import math
import os
import re
import struct
import zipfile
import zlib
from contextlib import contextmanager, suppress
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import _validate as check
from ._atomic_write import write_atomically
from ._rebuild import rebuild
from .module import Module, Parameter, _state_dict_problems

FORMAT_VERSION = 1
SUFFIX = ".npz"
SAFETENSORS_SUFFIX = ".safetensors"
# The most bytes the configuration entry (JSON text with the metadata) may take in a file.
# ``save`` refuses metadata beyond it; raise it to read an older file with more.
MAX_CONFIG_BYTES = 2**20
# The most bytes of parameters ``read_info`` and ``load_model`` accept from a file (``load``
# is bounded by the model it loads into instead). Raise it for larger models.
MAX_WEIGHT_BYTES = 2**32
# Temporary files older than this are removed by the next save to the same target.
STALE_TEMPORARY_SECONDS = 3600
_FORMAT_KEY = "__numpylstm_format__"
_CONFIG_KEY = "__numpylstm_config__"
# safetensors files carry no checksum of their own (a zip has a CRC per member): numpylstm adds two.
_HEADER_DIGEST_KEY = "__numpylstm_header_sha256__"
_DATA_DIGEST_KEY = "__numpylstm_data_sha256__"
_RESERVED = (_FORMAT_KEY, _CONFIG_KEY)
# Constructor arguments that change neither the architecture nor what it computes:
# loading into a model that differs only in these is allowed (values are cast to the model's dtype;
# LSTM's engine picks kernels that give the same results).
IGNORED_IN_COMPARISON = ("seed", "dtype", "engine")
# What zipfile and numpy raise on damaged archives besides ValueError (found by flipping every
# byte of a small file: an unknown compression method or a set "encrypted" flag among them).
_DAMAGED_FILE_ERRORS = (OSError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError,
                        RuntimeError, struct.error, zlib.error)
# What numpy's .npy header parser raises on a hostile header (a literal_eval of the text).
_BAD_HEADER_ERRORS = (ValueError, TypeError, SyntaxError, OverflowError, RecursionError)
_NPY_HEADER_LIMIT = 10_000  # numpy's own default max_header_size; real headers take about 128 bytes
_NPY_LENGTH_FORMATS = {(1, 0): "<H", (2, 0): "<I"}  # version 3.0 (utf-8 names) is never written for floats
_MAX_CONFIG_DEPTH = 64
_READ_CHUNK = 2**20


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
    clash = [name for name in entries if name in _RESERVED]
    if clash:
        raise ValueError(f"parameter names {clash} are reserved for the file format; rename them")
    header_text = _header_text(module, metadata)
    if target.suffix == SAFETENSORS_SUFFIX:
        write = _safetensors_writer(entries, header_text)
    else:
        write = _npz_writer(entries, header_text)
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
    size = _config_entry_bytes(text)
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"metadata must fit in numpylstm.io.MAX_CONFIG_BYTES ({MAX_CONFIG_BYTES} bytes) with the "
                         f"configuration, got {size} bytes; store large data in a file of its own")
    return text


def _config_entry_bytes(text):
    return 4 * len(text)  # stored as a NumPy unicode array: 4 bytes per character


def _npz_writer(entries, header_text):
    entries = dict(entries)
    entries[_FORMAT_KEY] = np.array(FORMAT_VERSION, dtype=np.int64)
    entries[_CONFIG_KEY] = np.array(header_text)  # a unicode array: no pickle needed to read it
    return lambda file: _write_npz(file, entries)


def _write_npz(file, entries):
    """What ``np.savez`` writes (one ``name.npy`` member per entry), refusing object arrays."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in entries.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _safetensors_writer(entries, header_text):
    library = _safetensors_numpy()  # before any file is touched: a missing package changes nothing
    metadata = {_FORMAT_KEY: str(FORMAT_VERSION), _CONFIG_KEY: header_text}
    declared = {name: _Declared(array.shape, array.dtype) for name, array in entries.items()}
    metadata[_HEADER_DIGEST_KEY] = _header_digest(metadata, declared)
    metadata[_DATA_DIGEST_KEY] = _data_digest(entries)
    return lambda file: file.write(library.save(dict(entries), metadata=metadata))


def _header_digest(metadata, declared):
    """SHA-256 of the format version, the configuration and every tensor's name, dtype and shape."""
    digest = hashlib.sha256()
    described = (f"{name}:{entry.dtype.newbyteorder('<').str}:{tuple(entry.shape)}"
                 for name, entry in sorted(declared.items()))
    for part in (metadata[_FORMAT_KEY], metadata[_CONFIG_KEY], *described):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _data_digest(arrays):
    """SHA-256 of the tensors' bytes (little-endian, as safetensors stores them), in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(np.ascontiguousarray(arrays[name], dtype=arrays[name].dtype.newbyteorder("<")))
    return digest.hexdigest()


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(".safetensors files need the safetensors package: pip install safetensors "
                          "(or pip install numpylstm[safetensors]); .npz files need nothing more") from None
    return safetensors.numpy


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
    return {next(iter(module._with_current_names({name: None}))): name for name in declared}


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


# -------------------------------------------------------------------- weight files
class _Declared(NamedTuple):
    """What a header says an entry holds, before any of it is read (``load_state_dict``'s checks read
    ``shape`` and ``dtype``). ``location``: ``(zip member, header length, fortran_order)`` in an .npz,
    ``(begin, end)`` data offsets in a .safetensors file."""
    shape: tuple
    dtype: np.dtype
    location: tuple = ()

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


@contextmanager
def _weight_file(path):
    """The weight file at ``path``, inspected: ``declared`` (name -> _Declared of every parameter entry),
    ``info`` (format version, configuration, metadata) and ``arrays(names)``. Every refusal is a
    ValueError naming ``path``."""
    if path.suffix == SAFETENSORS_SUFFIX:
        yield _SafetensorsFile(path)
        return
    with open(path, "rb") as file:
        archive = _open_archive(path, file)
        with archive:
            yield _NpzFile(path, archive)


def _open_archive(path, file):
    """``file`` as a ``zipfile.ZipFile``, or a ValueError saying what the file is instead."""
    head = file.read(64)
    _refuse_foreign_head(path, head, os.fstat(file.fileno()).st_size)
    file.seek(0)
    try:
        return zipfile.ZipFile(file)
    except (ValueError, *_DAMAGED_FILE_ERRORS) as err:
        if head.startswith(b"PK"):
            raise ValueError(_corrupt_message(path, err)) from None
        raise ValueError(f"{str(path)!r} is not a numpylstm weight file: it is not a zip archive (an .npz "
                         f"file is a zip of .npy arrays); it starts with {head[:16]!r}") from None


def _refuse_foreign_head(path, head, size):
    """Name what the file is when its first bytes say it is not an .npz archive."""
    name = str(path)
    if not head:
        raise ValueError(f"{name!r} is empty, not a numpylstm weight file (it may be a save that never finished)")
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"{name!r} is a single .npy array, not a numpylstm weight file (.npz archive)")
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        raise ValueError(_pickle_message(path, what="it is a file of pickled Python objects (as torch.save "
                                                    "wrote before PyTorch 1.6), which"))
    if len(head) > 8 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= size - 8:
        raise ValueError(f"{name!r} is a safetensors file, not an .npz archive; give it the "
                         f"{SAFETENSORS_SUFFIX} suffix to load it as one")
    if _looks_like_text(head):
        raise ValueError(f"{name!r} is a text file, not a numpylstm weight file (an .npz archive, "
                         f"written by numpylstm.io.save); it starts with {head[:32]!r}")


def _looks_like_text(head):
    if b"\x00" in head or head.startswith(b"PK"):
        return False
    for cut in range(4):  # the 64 bytes may end inside a multi-byte character
        with suppress(UnicodeDecodeError):
            head[:len(head) - cut].decode("utf-8")
            return True
    return False


class _NpzFile:
    """An .npz weight file whose every member is checked from the zip directory and its .npy header."""

    def __init__(self, path, archive):
        self.path, self.archive = path, archive
        entries = _npz_entries(path, archive)
        self.info = self._info(entries)
        self.declared = {name: entry for name, entry in entries.items() if name not in _RESERVED}

    def arrays(self, names):
        return {name: self._array(name, self.declared[name]) for name in names}

    def _info(self, entries):
        if _FORMAT_KEY not in entries or _CONFIG_KEY not in entries:
            raise ValueError(
                f"{str(self.path)!r} is an .npz archive without numpylstm's format version and configuration "
                f"(entries {sorted(entries)}); write weight files with numpylstm.io.save"
            )
        version = self._format_version(entries[_FORMAT_KEY])
        config_text = self._config_text(entries[_CONFIG_KEY])
        return _checked_info(self.path, version, config_text)

    def _format_version(self, entry):
        if entry.shape != () or entry.dtype.kind not in "iu" or entry.dtype.itemsize > 8:
            raise ValueError(f"{str(self.path)!r} has an unreadable format version entry (a {entry.dtype} array "
                             f"of shape {entry.shape}; numpylstm writes one integer)")
        return int(self._array(_FORMAT_KEY, entry))

    def _config_text(self, entry):
        if entry.shape != () or entry.dtype.kind != "U":
            raise ValueError(f"{str(self.path)!r} has an unreadable configuration entry (a {entry.dtype} array "
                             f"of shape {entry.shape}; numpylstm writes one JSON text)")
        if entry.nbytes > MAX_CONFIG_BYTES:
            raise ValueError(f"{str(self.path)!r} has a configuration entry of {entry.nbytes} bytes, more than "
                             f"numpylstm.io.MAX_CONFIG_BYTES ({MAX_CONFIG_BYTES}); raise that limit to read it "
                             "if you trust the file")
        try:
            return str(self._array(_CONFIG_KEY, entry)[()])
        except (ValueError, UnicodeError) as err:  # code points beyond U+10FFFF
            raise ValueError(f"{str(self.path)!r} has an unreadable configuration entry: {err}") from None

    def _array(self, name, entry):
        """Read one entry, never more bytes than its header declares."""
        member, header_size, fortran_order = entry.location
        array = np.empty(math.prod(entry.shape), dtype=entry.dtype)
        buffer = memoryview(array.view(np.uint8)) if entry.nbytes else memoryview(b"")
        try:
            with self.archive.open(member) as stream:
                _read_exactly(stream, header_size)
                for start in range(0, len(buffer), _READ_CHUNK):
                    chunk = _read_exactly(stream, min(_READ_CHUNK, len(buffer) - start))
                    buffer[start:start + len(chunk)] = chunk
        except (ValueError, *_DAMAGED_FILE_ERRORS) as err:
            raise ValueError(_corrupt_message(self.path, err, name)) from None
        if fortran_order:  # np.save writes Fortran-ordered arrays column by column
            return array.reshape(entry.shape[::-1]).T
        return array.reshape(entry.shape)


def _npz_entries(path, archive):
    """name -> _Declared for every member, from the zip directory and the .npy headers alone."""
    members = archive.infolist()
    if any(m.filename == "data.pkl" or m.filename.endswith("/data.pkl") for m in members):
        raise ValueError(f"{str(path)!r} looks like a PyTorch file saved by torch.save (a zip holding a pickle); "
                         "numpylstm never unpickles, since unpickling can run arbitrary code. Convert it in "
                         "PyTorch: numpylstm_model.load_state_dict({k: v.numpy() for k, v in "
                         "torch.load(path).items()}), then numpylstm.io.save, or save it with safetensors")
    entries = {}
    for member in members:
        name = _entry_name(path, member)
        if name in entries:
            raise ValueError(f"{str(path)!r} holds the entry {name!r} twice; refused, since readers "
                             "disagree on which one counts")
        entries[name] = _inspect_member(path, archive, member, name)
    return entries


def _entry_name(path, member):
    if not member.filename.endswith(".npy") or member.is_dir():
        raise ValueError(f"{str(path)!r} is not a numpylstm weight file: its member {member.filename!r} is not "
                         "a .npy array")
    return member.filename[:-len(".npy")]


def _inspect_member(path, archive, member, name):
    if member.flag_bits & 0x1:
        raise ValueError(f"{str(path)!r} has an encrypted entry {name!r}; numpylstm weight files are not encrypted")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{str(path)!r} stores its entry {name!r} with zip compression method "
                         f"{member.compress_type}; .npz files are stored or deflated")
    try:
        with archive.open(member) as stream:
            header_size, (shape, fortran_order, dtype) = _npy_header(stream)
    except (*_BAD_HEADER_ERRORS, *_DAMAGED_FILE_ERRORS) as err:
        raise ValueError(f"{str(path)!r} is not a readable numpylstm weight file: its entry {name!r} does not "
                         f"start with a valid .npy header ({type(err).__name__}: {err})") from None
    if dtype.hasobject:
        raise ValueError(_pickle_message(path, name))
    if any(size < 0 for size in shape):
        raise ValueError(f"{str(path)!r} has a damaged entry {name!r}: negative shape {shape}")
    entry = _Declared(tuple(shape), dtype, (member, header_size, fortran_order))
    if header_size + entry.nbytes != member.file_size:
        raise ValueError(f"{str(path)!r} has a damaged or hostile entry {name!r}: its .npy header declares "
                         f"{dtype} values of shape {entry.shape} ({header_size + entry.nbytes} bytes with the "
                         f"header) but its zip record holds {member.file_size} bytes; refused without reading it")
    return entry


def _npy_header(stream):
    """``(header_size, (shape, fortran_order, dtype))`` of the .npy array starting ``stream``.

    The header length is checked before the header is read: numpy's own reader reads
    all of it first, which a hostile length of 4 GiB turns into 4 GiB of memory.
    """
    version = np.lib.format.read_magic(stream)
    length_format = _NPY_LENGTH_FORMATS.get(version)
    if length_format is None:
        raise ValueError(f".npy format version {version} is not one numpylstm reads (1.0 or 2.0)")
    length_bytes = _read_exactly(stream, struct.calcsize(length_format))
    length = struct.unpack(length_format, length_bytes)[0]
    if length > _NPY_HEADER_LIMIT:
        raise ValueError(f"the header declares {length} bytes, more than the {_NPY_HEADER_LIMIT} a .npy "
                         "header may take")
    header = _read_exactly(stream, length)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    described = reader(BytesIO(length_bytes + header), max_header_size=_NPY_HEADER_LIMIT)
    return np.lib.format.MAGIC_LEN + len(length_bytes) + length, described


def _read_exactly(stream, size):
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"expected {size} bytes, the file ends after {len(data)}")
    return data


# ------------------------------------------------------------------ safetensors files
# numpy dtypes of the safetensors type names (little-endian, as the format stores them);
# BF16 and the 8-bit floats have no numpy dtype.
_SAFETENSORS_DTYPES = {
    "F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4", "I64": "<i8",
    "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?",
}


class _SafetensorsFile:
    """A .safetensors weight file whose header (its first 8 bytes give its length) is checked in full
    before any tensor is read."""

    def __init__(self, path):
        self.path = path
        header, data_size = self._header()
        metadata = header.pop("__metadata__", {})
        self.declared = {name: _safetensors_entry(path, name, value) for name, value in header.items()}
        _check_offsets(path, self.declared, data_size)
        self.info = self._info(metadata)
        self.data_digest = metadata[_DATA_DIGEST_KEY]

    def arrays(self, names):
        """The tensors ``names``, once every tensor in the file matches the stored digest."""
        if not names:
            return {}
        _safetensors_numpy()  # the clear ImportError when the package is missing
        from safetensors import SafetensorError, safe_open
        try:
            with safe_open(self.path, framework="numpy") as file:
                arrays = {name: file.get_tensor(name) for name in self.declared}
        except (SafetensorError, OSError, ValueError) as err:
            raise ValueError(_corrupt_message(self.path, err)) from None
        if _data_digest(arrays) != self.data_digest:
            raise ValueError(_corrupt_message(self.path, "the tensors do not match the SHA-256 stored with them"))
        return {name: arrays[name] for name in names}

    def _header(self):
        """The header as a dict, and the size of the data after it."""
        name = str(self.path)
        with open(self.path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            first = file.read(8)
            if len(first) < 8:
                raise ValueError(f"{name!r} is not a readable safetensors file: it has {len(first)} bytes, "
                                 "fewer than the 8 that give the header length")
            if first.startswith(b"PK"):
                raise ValueError(f"{name!r} is a zip archive (an .npz file?), not a safetensors file; "
                                 f"name it with the {SUFFIX} suffix to load it as one")
            length = struct.unpack("<Q", first)[0]
            limit = _safetensors_header_limit()
            if length > limit or length > size - 8:
                raise ValueError(f"{name!r} is not a readable safetensors file: its header length is "
                                 f"{length} bytes, the file holds {size - 8} after the length and the "
                                 f"limit is {limit}")
            text = file.read(length)
        header = _json_or_refuse(self.path, text, "header")
        if not isinstance(header, dict):
            raise ValueError(f"{name!r} has a damaged safetensors header: {_json_type(header)}, not an object")
        return header, size - 8 - length

    def _info(self, metadata):
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError(f"{str(self.path)!r} has damaged safetensors metadata: it must map names to strings")
        if _FORMAT_KEY not in metadata or _CONFIG_KEY not in metadata:
            raise ValueError(
                f"{str(self.path)!r} is a safetensors file without numpylstm's format version and configuration "
                f"(metadata keys {sorted(metadata)}); write weight files with numpylstm.io.save"
            )
        if _HEADER_DIGEST_KEY not in metadata or _DATA_DIGEST_KEY not in metadata:
            raise ValueError(_corrupt_message(self.path, f"its metadata lacks the {_HEADER_DIGEST_KEY} and "
                                                         f"{_DATA_DIGEST_KEY} checksums numpylstm writes"))
        if metadata[_HEADER_DIGEST_KEY] != _header_digest(metadata, self.declared):
            raise ValueError(_corrupt_message(self.path, "its header does not match the SHA-256 stored in it"))
        version = metadata[_FORMAT_KEY]
        if not re.fullmatch(r"[0-9]{1,9}", version):
            raise ValueError(f"{str(self.path)!r} has an unreadable format version {version[:40]!r} "
                             "(numpylstm writes an integer)")
        text = metadata[_CONFIG_KEY]
        if _config_entry_bytes(text) > MAX_CONFIG_BYTES:
            raise ValueError(f"{str(self.path)!r} has a configuration of {_config_entry_bytes(text)} bytes, more "
                             f"than numpylstm.io.MAX_CONFIG_BYTES ({MAX_CONFIG_BYTES})")
        return _checked_info(self.path, int(version), text)


def _safetensors_header_limit():
    # The configuration (ASCII JSON, at most doubled by escaping) and ~100 bytes per tensor.
    return 4 * MAX_CONFIG_BYTES


def _safetensors_entry(path, name, value):
    where = f"{str(path)!r} has a damaged safetensors header: entry {name!r}"
    if not isinstance(value, dict):
        raise ValueError(f"{where} is {_json_type(value)}, not an object")
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(f"{where} has dtype {str(dtype)[:20]!r}; numpylstm reads "
                         f"{', '.join(_SAFETENSORS_DTYPES)}")
    if not _non_negative_ints(shape):
        raise ValueError(f"{where} has shape {str(shape)[:60]}, not a list of sizes")
    if not (_non_negative_ints(offsets) and len(offsets) == 2):
        raise ValueError(f"{where} has data_offsets {str(offsets)[:60]}, not [begin, end]")
    entry = _Declared(tuple(shape), np.dtype(_SAFETENSORS_DTYPES[dtype]), tuple(offsets))
    if offsets[1] - offsets[0] != entry.nbytes:
        raise ValueError(f"{where} declares shape {entry.shape} of {dtype} ({entry.nbytes} bytes) but "
                         f"data_offsets {offsets} ({offsets[1] - offsets[0]} bytes)")
    return entry


def _non_negative_ints(value):
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)


def _check_offsets(path, declared, data_size):
    """The tensors must tile the data exactly, as safetensors requires: no gaps, no overlaps, no tail."""
    end = 0
    for entry in sorted(declared.values(), key=lambda e: e.location):
        if entry.location[0] != end:
            break
        end = entry.location[1]
    else:
        if end == data_size:
            return
    raise ValueError(f"{str(path)!r} is not a readable safetensors file: its tensors' data_offsets do not "
                     f"cover its {data_size} data bytes exactly (truncated, or a damaged header)")


# ------------------------------------------------------------- the configuration text
def _checked_info(path, version, config_text):
    """``read_info``'s dict, once the version is one this numpylstm reads and the JSON has the right shape."""
    if version < 1:
        raise ValueError(f"{str(path)!r} has format version {version}; numpylstm writes 1 and later")
    if version > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format version {version}, newer than this numpylstm "
                         f"reads ({FORMAT_VERSION}); upgrade numpylstm to load it")
    header = _json_or_refuse(path, config_text, "configuration entry")
    try:
        if not isinstance(header, dict) or set(header) != {"config", "metadata"}:
            raise ValueError(f"it is {_json_type(header)}, not an object with 'config' and 'metadata'")
        _check_config_structure(header["config"], "config")
    except ValueError as err:
        raise ValueError(f"{str(path)!r} has an unreadable configuration entry: {err}") from None
    return {"format_version": version, "config": header["config"], "metadata": header["metadata"]}


def _json_or_refuse(path, text, what):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:  # RecursionError: thousands of nested brackets
        raise ValueError(f"{str(path)!r} has an unreadable {what}: not JSON ({type(err).__name__}: "
                         f"{str(err)[:200]})") from None


def _check_config_structure(config, where, depth=0):
    """Refuse anything but ``{"class": str, "args": object, "children": {name: config}}``, recursively."""
    if depth > _MAX_CONFIG_DEPTH:
        raise ValueError(f"{where} is nested more than {_MAX_CONFIG_DEPTH} modules deep")
    if not isinstance(config, dict):
        raise ValueError(f"{where} is {_json_type(config)}, not an object")
    for key, kind in (("class", str), ("args", dict), ("children", dict)):
        if not isinstance(config.get(key), kind):
            expected = "a string" if kind is str else "an object"
            raise ValueError(f"{where}[{key!r}] is {_json_type(config.get(key))}, not {expected}")
    for name, child in config["children"].items():
        _check_config_structure(child, f"{where}['children'][{name!r}]", depth + 1)


def _json_type(value):
    for kind, name in ((dict, "an object"), (list, "an array"), (str, "a string"), (bool, "a boolean"),
                       (int, "a number"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


# ----------------------------------------------------------------------- messages
def _pickle_message(path, name=None, what=None):
    what = what or (f"its entry {name!r} holds pickled Python objects, which" if name
                    else "it holds pickled Python objects, which")
    return (f"refused to load {str(path)!r}: {what} numpylstm never unpickles (unpickling can run "
            "arbitrary code); numpylstm weight files hold plain numeric arrays only")


def _corrupt_message(path, err, name=None):
    """The message for a damaged file; ``err`` is the exception met, or a sentence saying what is wrong."""
    where = f" (entry {name!r})" if name else ""
    reason = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return (f"{str(path)!r} is not a readable numpylstm weight file{where}: it looks truncated or "
            f"corrupted ({reason})")

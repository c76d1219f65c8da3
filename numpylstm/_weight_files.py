"""The bytes of the two weight file formats, ``.npz`` and ``.safetensors``: writing them, and
reading them back with every check a file must pass before any of its data is read.

``io`` decides what goes into a file (the configuration, the metadata, the limits a user may
raise) and what a loaded file must match (a model); this module knows only the formats: the
entries numpylstm adds (the format version, the configuration text, for safetensors two
SHA-256 checksums), the zip directory and ``.npy`` headers of an ``.npz`` archive, the JSON
header of a ``.safetensors`` file, and the messages that say what a foreign or damaged file is.
It imports no model: a hostile file is refused here from its headers, at the cost of kilobytes.
"""
import hashlib
import json
import math
import os
import re
import struct
import zipfile
import zlib
from contextlib import contextmanager, suppress
from io import BytesIO
from typing import NamedTuple

import numpy as np

SUFFIX = ".npz"
SAFETENSORS_SUFFIX = ".safetensors"
_FORMAT_KEY = "__numpylstm_format__"
_CONFIG_KEY = "__numpylstm_config__"
# safetensors files carry no checksum of their own (a zip has a CRC per member): numpylstm adds two.
_HEADER_DIGEST_KEY = "__numpylstm_header_sha256__"
_DATA_DIGEST_KEY = "__numpylstm_data_sha256__"
RESERVED = (_FORMAT_KEY, _CONFIG_KEY)  # no parameter may take these names
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


class Declared(NamedTuple):
    """What a header says an entry holds, before any of it is read (``load_state_dict``'s checks read
    ``shape`` and ``dtype``). ``location``: ``(zip member, header length, fortran_order)`` in an .npz,
    ``(begin, end)`` data offsets in a .safetensors file."""
    shape: tuple
    dtype: np.dtype
    location: tuple = ()

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


class _Limits(NamedTuple):
    """What the caller allows: the newest format version it reads, the most bytes of configuration."""
    newest_version: int
    max_config_bytes: int


# ------------------------------------------------------------------------------ writing
def config_entry_bytes(text):
    return 4 * len(text)  # stored as a NumPy unicode array: 4 bytes per character


def npz_writer(entries, header_text, version):
    """``write(file)`` writing ``entries`` (name -> array), format ``version`` and the configuration
    entry ``header_text`` as an .npz archive."""
    entries = dict(entries)
    entries[_FORMAT_KEY] = np.array(version, dtype=np.int64)
    entries[_CONFIG_KEY] = np.array(header_text)  # a unicode array: no pickle needed to read it
    return lambda file: _write_npz(file, entries)


def _write_npz(file, entries):
    """What ``np.savez`` writes (one ``name.npy`` member per entry), refusing object arrays."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in entries.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def safetensors_writer(entries, header_text, version):
    """``write(file)`` writing ``entries`` as a .safetensors file, the format ``version`` and
    ``header_text`` in its metadata with numpylstm's two checksums."""
    library = _safetensors_numpy()  # before any file is touched: a missing package changes nothing
    metadata = {_FORMAT_KEY: str(version), _CONFIG_KEY: header_text}
    declared = {name: Declared(array.shape, array.dtype) for name, array in entries.items()}
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


# ------------------------------------------------------------------------------ reading
@contextmanager
def open_weight_file(path, newest_version, max_config_bytes):
    """The weight file at ``path``, inspected: ``declared`` (name -> Declared of every parameter entry),
    ``info`` (format version, configuration, metadata) and ``arrays(names)``. Every refusal is a
    ValueError naming ``path``; so is a format version above ``newest_version`` and a configuration
    entry over ``max_config_bytes``."""
    limits = _Limits(newest_version, max_config_bytes)
    if path.suffix == SAFETENSORS_SUFFIX:
        yield _SafetensorsFile(path, limits)
        return
    with open(path, "rb") as file:
        archive = _open_archive(path, file)
        with archive:
            yield _NpzFile(path, archive, limits)


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

    def __init__(self, path, archive, limits):
        self.path, self.archive, self.limits = path, archive, limits
        entries = _npz_entries(path, archive)
        self.info = self._info(entries)
        self.declared = {name: entry for name, entry in entries.items() if name not in RESERVED}

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
        return _checked_info(self.path, version, config_text, self.limits.newest_version)

    def _format_version(self, entry):
        if entry.shape != () or entry.dtype.kind not in "iu" or entry.dtype.itemsize > 8:
            raise ValueError(f"{str(self.path)!r} has an unreadable format version entry (a {entry.dtype} array "
                             f"of shape {entry.shape}; numpylstm writes one integer)")
        return int(self._array(_FORMAT_KEY, entry))

    def _config_text(self, entry):
        if entry.shape != () or entry.dtype.kind != "U":
            raise ValueError(f"{str(self.path)!r} has an unreadable configuration entry (a {entry.dtype} array "
                             f"of shape {entry.shape}; numpylstm writes one JSON text)")
        limit = self.limits.max_config_bytes
        if entry.nbytes > limit:
            raise ValueError(f"{str(self.path)!r} has a configuration entry of {entry.nbytes} bytes, more than "
                             f"numpylstm.io.MAX_CONFIG_BYTES ({limit}); raise that limit to read it "
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
    """name -> Declared for every member, from the zip directory and the .npy headers alone."""
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
    entry = Declared(tuple(shape), dtype, (member, header_size, fortran_order))
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

    def __init__(self, path, limits):
        self.path, self.limits = path, limits
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
            limit = _safetensors_header_limit(self.limits.max_config_bytes)
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
        if config_entry_bytes(text) > self.limits.max_config_bytes:
            raise ValueError(f"{str(self.path)!r} has a configuration of {config_entry_bytes(text)} bytes, more "
                             f"than numpylstm.io.MAX_CONFIG_BYTES ({self.limits.max_config_bytes})")
        return _checked_info(self.path, int(version), text, self.limits.newest_version)


def _safetensors_header_limit(max_config_bytes):
    # The configuration (ASCII JSON, at most doubled by escaping) and ~100 bytes per tensor.
    return 4 * max_config_bytes


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
    entry = Declared(tuple(shape), np.dtype(_SAFETENSORS_DTYPES[dtype]), tuple(offsets))
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
def _checked_info(path, version, config_text, newest_version):
    """``read_info``'s dict, once the version is one this numpylstm reads (``newest_version`` at the most)
    and the JSON has the right shape."""
    if version < 1:
        raise ValueError(f"{str(path)!r} has format version {version}; numpylstm writes 1 and later")
    if version > newest_version:
        raise ValueError(f"{str(path)!r} has format version {version}, newer than this numpylstm "
                         f"reads ({newest_version}); upgrade numpylstm to load it")
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

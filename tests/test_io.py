"""Weight files: bit-exact round trips, no pickles, atomic saves, clear errors for damaged or foreign files."""
import io as stdio
import json
import os
import pickle
import signal
import stat
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from numpylstm import LSTM, RNN, Dropout, Embedding, LSTMCell, RNNCell, Seq2Seq, Sigmoid, Tanh, io
from numpylstm import _atomic_write, _weight_files
from numpylstm.layers import Linear, ReLU, Sequential
from numpylstm.models import CharLM, SequenceClassifier, SequenceRegressor
from numpylstm.seq2seq import Decoder, Encoder
from assertions import raises_naming


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [dict(), dict(num_layers=2, bidirectional=True, proj_size=2)])
def test_round_trip_is_bit_exact(tmp_path, dtype, options):
    saved = LSTM(3, 4, dtype=dtype, seed=0, **options)
    path = io.save(saved, tmp_path / "lstm.npz")
    loaded = io.load(LSTM(3, 4, dtype=dtype, seed=1, **options), path)
    assert_same_weights(saved, loaded)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(dtype)
    np.testing.assert_array_equal(saved(x)[0], loaded(x)[0])


def test_round_trip_on_the_device(tmp_path, device):
    saved = LSTM(2, 3, seed=0).to(device)
    io.save(saved, tmp_path / "w")
    loaded = io.load(LSTM(2, 3, seed=5).to(device), tmp_path / "w")
    assert_same_weights(saved, loaded)


def test_models_with_children_round_trip_and_record_their_configuration(tmp_path):
    head = Sequential(Linear(3, 5, seed=0), ReLU(), Linear(5, 2, seed=1))
    io.save(head, tmp_path / "mlp")
    config = io.read_info(tmp_path / "mlp")["config"]
    assert config["class"] == "Sequential"
    assert config["children"]["2"]["args"]["out_features"] == 2
    assert_same_weights(head, io.load(Sequential(Linear(3, 5), ReLU(), Linear(5, 2)), tmp_path / "mlp"))

    model = SequenceRegressor(1, 6, head="every", seed=0)
    io.save(model, tmp_path / "reg")
    assert io.read_info(tmp_path / "reg")["config"]["args"]["head"] == "every"
    assert_same_weights(model, io.load(SequenceRegressor(1, 6, head="every", seed=9), tmp_path / "reg"))


def test_file_carries_format_version_configuration_and_metadata(tmp_path):
    path = io.save(LSTM(2, 3, num_layers=2, seed=0), tmp_path / "m", metadata={"task": "sine", "epochs": 3})
    info = io.read_info(path)
    assert info["format_version"] == io.FORMAT_VERSION == 1
    assert info["config"]["class"] == "LSTM"
    assert {k: info["config"]["args"][k] for k in ("input_size", "hidden_size", "num_layers")} == \
        {"input_size": 2, "hidden_size": 3, "num_layers": 2}
    assert info["metadata"] == {"task": "sine", "epochs": 3}
    with np.load(path, allow_pickle=False) as archive:   # a plain .npz anyone can read
        assert "weight_ih_l1" in archive.files


def test_npz_suffix_is_added_once_and_found_on_load(tmp_path):
    assert io.save(LSTM(1, 2), tmp_path / "model") == tmp_path / "model.npz"
    assert io.save(LSTM(1, 2), str(tmp_path / "again.npz")) == tmp_path / "again.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.npz", "model.npz"]
    io.load(LSTM(1, 2), tmp_path / "model")              # finds model.npz
    with pytest.raises(FileNotFoundError, match="nothere"):
        io.load(LSTM(1, 2), tmp_path / "nothere")


def test_float64_file_loads_into_a_float32_model(tmp_path):
    saved = LSTM(2, 3, seed=0)
    io.save(saved, tmp_path / "w")
    loaded = io.load(LSTM(2, 3, dtype=np.float32), tmp_path / "w")
    assert loaded.weight_ih_l0.data.dtype == np.float32
    np.testing.assert_array_equal(loaded.weight_ih_l0.data, saved.weight_ih_l0.data.astype(np.float32))


# ------------------------------------------------------------------ pickles
def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight_ih_l0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled") as info:
        io.load(LSTM(1, 1), path)
    assert str(path) in str(info.value)


class _Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_file_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "weights.npz"
    path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(ValueError, match="pickled") as info:
        io.load(LSTM(1, 1), path)
    assert str(path) in str(info.value)
    assert not marker.exists()


# ---------------------------------------------------------------- atomic save
def test_a_save_failing_midway_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = io.save(LSTM(2, 3, seed=0), tmp_path / "w")
    before = file_bytes(path)
    real_write = np.lib.format.write_array
    calls = []

    def write_then_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:            # two arrays are already in the new file
            raise OSError("No space left on device")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="No space"):
        io.save(LSTM(2, 3, seed=1), tmp_path / "w")
    assert len(calls) == 3
    assert file_bytes(path) == before
    assert os.listdir(tmp_path) == ["w.npz"]             # no temporary file left behind
    monkeypatch.undo()
    assert_same_weights(io.load(LSTM(2, 3), path), LSTM(2, 3, seed=0))


def test_an_interrupt_before_the_rename_leaves_no_trace(tmp_path, monkeypatch):
    path = io.save(LSTM(2, 3, seed=0), tmp_path / "w")
    before = file_bytes(path)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.save(LSTM(2, 3, seed=1), path)
    assert file_bytes(path) == before and os.listdir(tmp_path) == ["w.npz"]


def test_saving_over_a_file_replaces_it(tmp_path):
    io.save(LSTM(2, 3, seed=0), tmp_path / "w")
    io.save(LSTM(2, 3, seed=1), tmp_path / "w")
    assert_same_weights(io.load(LSTM(2, 3), tmp_path / "w"), LSTM(2, 3, seed=1))


# -------------------------------------------------------- damaged files
@pytest.fixture
def small_file(tmp_path):
    return io.save(LSTM(1, 1, seed=0), tmp_path / "small")


def test_every_truncation_is_a_clear_error_naming_the_path(small_file, tmp_path):
    raw = file_bytes(small_file)
    damaged = tmp_path / "truncated.npz"
    model = LSTM(1, 1, seed=3)
    for cut in range(0, len(raw), 17):
        damaged.write_bytes(raw[:cut])
        with pytest.raises(ValueError) as info:
            io.load(model, damaged)
        assert str(damaged) in str(info.value)
    assert_same_weights(model, LSTM(1, 1, seed=3))          # nothing half-loaded


def test_corrupted_bytes_give_a_clear_error_or_the_exact_weights(small_file, tmp_path):
    # A flipped byte either breaks the file (checksums, headers) or hits bytes that carry no
    # data (timestamps); it must never load different weights silently.
    raw = file_bytes(small_file)
    reference = LSTM(1, 1, seed=0)
    damaged = tmp_path / "corrupted.npz"
    errors = 0
    for position in np.random.default_rng(0).choice(len(raw), size=150, replace=False):
        flipped = bytearray(raw)
        flipped[position] ^= 0xFF
        damaged.write_bytes(bytes(flipped))
        try:
            loaded = io.load(LSTM(1, 1, seed=3), damaged)
        except ValueError as err:
            assert str(damaged) in str(err)
            errors += 1
        else:
            assert_same_weights(loaded, reference)
    assert errors > 100


def test_a_foreign_npz_without_format_version_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, **LSTM(1, 1).state_dict())
    with pytest.raises(ValueError, match="format version"):
        io.load(LSTM(1, 1), path)


def test_a_newer_format_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "FORMAT_VERSION", 7)
    path = io.save(LSTM(1, 1), tmp_path / "future")
    monkeypatch.setattr(io, "FORMAT_VERSION", 1)
    with pytest.raises(ValueError, match="format version 7"):
        io.load(LSTM(1, 1), path)


def test_a_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        io.load(LSTM(1, 1), path)


# ------------------------------------------------------ configuration mismatch
@pytest.mark.parametrize("other, words", [
    (LSTM(2, 5), ["hidden_size", "3", "5"]),
    (LSTM(2, 3, num_layers=2), ["num_layers", "1", "2"]),
    (LSTM(2, 3, batch_first=True), ["batch_first", "False", "True"]),   # same shapes, other layout
    (Linear(2, 3), ["LSTM", "Linear"]),
])
def test_loading_into_another_configuration_names_the_entry(tmp_path, other, words):
    io.save(LSTM(2, 3, seed=0), tmp_path / "w")
    before = other.state_dict()
    raises_naming(ValueError, lambda: io.load(other, tmp_path / "w"), str(tmp_path / "w.npz"), *words)
    assert all(np.array_equal(before[k], v) for k, v in other.state_dict().items())


def test_child_configuration_differences_are_named_with_their_path(tmp_path):
    io.save(Sequential(Linear(3, 5), ReLU(), Linear(5, 2)), tmp_path / "mlp")
    with pytest.raises(ValueError, match=r"2\.out_features is 2 in the file but 4 in the model"):
        io.load(Sequential(Linear(3, 5), ReLU(), Linear(5, 4)), tmp_path / "mlp")


def test_strict_false_loads_what_fits(tmp_path):
    saved = LSTM(2, 3, seed=0)
    io.save(saved, tmp_path / "w")
    other = io.load(LSTM(2, 3, batch_first=True, seed=1), tmp_path / "w", strict=False)
    assert_same_weights(other, saved)
    with pytest.raises(ValueError, match="weight_ih_l0"):     # shapes must still agree
        io.load(LSTM(2, 4), tmp_path / "w", strict=False)


# ------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("call, error, words", [
    (lambda p: io.save("not a module", p / "w"), TypeError, ["module", "str"]),
    (lambda p: io.save(LSTM(1, 1), p / "missing" / "w"), FileNotFoundError, ["missing"]),
    (lambda p: io.save(LSTM(1, 1), p / "w", metadata={"f": object()}), TypeError, ["metadata", "JSON"]),
    (lambda p: io.save(LSTM(1, 1), 42), TypeError, ["path", "int"]),
    (lambda p: io.load([1], p / "w"), TypeError, ["module", "list"]),
])
def test_bad_arguments(tmp_path, call, error, words):
    raises_naming(error, lambda: call(tmp_path), *words)


def test_io_load_strict_must_be_a_boolean(tmp_path):
    linear = Linear(3, 2)
    path = io.save(linear, tmp_path / "linear")
    raises_naming(TypeError, lambda: io.load(linear, path, strict="false"), "strict", "'false'")


# ================================================================ hostile files
# Builders of .npz members by hand: a real save's members, .npy headers that say anything,
# zip records that say anything.
def saved_members(model=None, tmp=None):
    """name -> bytes of every member of a real save of ``model`` (LSTM(1, 1) by default)."""
    buffer = stdio.BytesIO()
    _weight_files._write_npz(buffer, {**(model or LSTM(1, 1, seed=0)).state_dict(),
                                      "__numpylstm_format__": np.array(1),
                                      "__numpylstm_config__": np.array(json.dumps(
                                          {"config": io.module_config(model or LSTM(1, 1, seed=0)),
                                           "metadata": None}))})
    with zipfile.ZipFile(buffer) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def npy_header(shape, descr="<f8", version=(1, 0), fortran_order=False):
    """The bytes of a .npy header as np.save writes them, declaring whatever it is given."""
    text = repr({"descr": descr, "fortran_order": fortran_order, "shape": tuple(shape)})
    length_format = "<H" if version == (1, 0) else "<I"
    preamble = 6 + 2 + struct.calcsize(length_format)
    text += " " * (-(preamble + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(length_format, len(text)) + text.encode("latin1")


def npy_array_bytes(array):
    """The bytes np.save writes for ``array``."""
    buffer = stdio.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def write_zip(path, members, compression=zipfile.ZIP_STORED, claimed_sizes=None):
    """A zip of ``members`` (name -> bytes); ``claimed_sizes`` (name -> int) makes the directory lie."""
    with zipfile.ZipFile(path, "w", compression=compression, allowZip64=True) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info in archive.filelist:
            info.file_size = (claimed_sizes or {}).get(info.filename, info.file_size)
    return path


def write_bomb(path, name, data_bytes, header_shape):
    """A real save plus a deflated member ``name``: a header of ``header_shape`` float64, then
    ``data_bytes`` zeros (a few kB on disk)."""
    members = saved_members()
    members.pop(name, None)
    write_zip(path, members)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            member.write(npy_header(header_shape))
            for _ in range(data_bytes // MiB):
                member.write(bytes(MiB))
    return path


def peak_memory_of(call):
    """``(outcome, peak bytes traced)`` of ``call()``; outcome is its result or the exception raised."""
    tracemalloc.start()
    try:
        outcome = call()
    except Exception as err:  # the caller asserts on the type
        outcome = err
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, peak


MiB = 2**20


def test_a_deflate_bomb_is_refused_without_inflating_it(tmp_path):
    # 32 MiB of zeros behind a consistent header, about 1000:1 on disk: before any data is read,
    # the name and shape are compared with the model's (the old reader inflated every entry first).
    bomb = write_bomb(tmp_path / "bomb.npz", "weight_ih_l0.npy", 32 * MiB, (4 * MiB,))
    assert bomb.stat().st_size < 100_000
    error, peak = peak_memory_of(lambda: io.load(LSTM(1, 1), bomb))
    assert isinstance(error, ValueError) and str(bomb) in str(error) and "weight_ih_l0" in str(error)
    assert "(4194304,)" in str(error) and "(4, 1)" in str(error)             # declared and expected
    assert peak < 2 * MiB, f"refusing a bomb took {peak / MiB:.1f} MiB"


def test_a_header_that_lies_about_the_zip_size_is_refused_without_inflating(tmp_path):
    # The header declares the expected (4, 1) but the zip record 32 MiB: one of them lies.
    bomb = write_bomb(tmp_path / "liar.npz", "weight_ih_l0.npy", 32 * MiB, (4, 1))
    error, peak = peak_memory_of(lambda: io.load(LSTM(1, 1), bomb))
    assert isinstance(error, ValueError), error
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), bomb), str(bomb), "weight_ih_l0", "zip record",
                  str(32 * MiB + 128))
    assert peak < 2 * MiB, f"refusing a lying header took {peak / MiB:.1f} MiB"


def test_read_info_and_load_model_bound_parameters_by_max_weight_bytes(tmp_path, monkeypatch):
    bomb = write_bomb(tmp_path / "bomb.npz", "extra.npy", 32 * MiB, (4 * MiB,))
    monkeypatch.setattr(io, "MAX_WEIGHT_BYTES", 16 * MiB)
    for call in (io.read_info, io.load_model):
        error, peak = peak_memory_of(lambda: call(bomb))
        assert isinstance(error, ValueError) and "MAX_WEIGHT_BYTES" in str(error) and str(bomb) in str(error)
        assert peak < 2 * MiB
    monkeypatch.setattr(io, "MAX_WEIGHT_BYTES", 64 * MiB)          # within the limit: read_info reads no weights
    info, peak = peak_memory_of(lambda: io.read_info(bomb))
    assert info["config"]["class"] == "LSTM" and peak < 2 * MiB


def test_an_entry_declaring_8_tib_is_a_value_error_not_a_memory_error(tmp_path):
    members = saved_members()
    header = npy_header((2**40,))
    members["weight_ih_l0.npy"] = header                           # header and zip record agree on 8 TiB
    path = write_zip(tmp_path / "huge.npz", members, claimed_sizes={"weight_ih_l0.npy": len(header) + 2**43})
    for call in (lambda: io.load(LSTM(1, 1), path), lambda: io.load(LSTM(1, 1), path, strict=False),
                 lambda: io.read_info(path), lambda: io.load_model(path)):
        error, peak = peak_memory_of(call)
        assert isinstance(error, ValueError) and str(path) in str(error), repr(error)
        assert peak < MiB


@pytest.mark.parametrize("version, length_format", [((1, 0), "<H"), ((2, 0), "<I")])
def test_an_overlong_npy_header_is_called_that_not_a_pickle(tmp_path, version, length_format):
    # The whole header is there (deflated): numpy's reader reads all of it before checking its length.
    members = saved_members()
    declared = 65_535 if version == (1, 0) else 16 * MiB
    members["bias_ih_l0.npy"] = b"\x93NUMPY" + bytes(version) + struct.pack(length_format, declared) + b" " * declared
    path = write_zip(tmp_path / "header.npz", members, compression=zipfile.ZIP_DEFLATED)
    error, peak = peak_memory_of(lambda: io.load(LSTM(1, 1), path))
    message = raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), "bias_ih_l0", "header",
                            str(declared))
    assert "pickle" not in message and peak < MiB


# ------------------------------------------------------- every refusal says what the file is
def test_a_text_file_is_called_a_text_file(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("hidden_size = 32\nlearning rate 0.01\n")
    message = raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), "text file")
    assert "pickle" not in message


@pytest.mark.parametrize("content, words", [
    (b"", ["empty"]),
    (b"\x00\x01\x02\x03binary junk" * 4, ["not a zip archive"]),
    (b"PK\x03\x04" + bytes(60), ["truncated or corrupted"]),
])
def test_files_that_are_not_zip_archives_say_so(tmp_path, content, words):
    path = tmp_path / "weights.npz"
    path.write_bytes(content)
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), *words)
    raises_naming(ValueError, lambda: io.read_info(path), str(path), *words)


def test_a_pytorch_file_is_named_as_one(tmp_path, torch):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.LSTM(1, 1).state_dict(), path)
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), "PyTorch", "torch.save",
                  "never unpickles", "state_dict")
    raises_naming(ValueError, lambda: io.load_model(path), str(path), "PyTorch")


def test_a_zip_holding_data_pkl_is_named_a_pytorch_file_without_torch(tmp_path):
    path = write_zip(tmp_path / "model.pt", {"archive/data.pkl": pickle.dumps({"a": 1}), "archive/version": b"3"})
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), "PyTorch", "torch.save")


def test_a_safetensors_file_given_to_the_npz_reader_is_named(tmp_path):
    header = json.dumps({"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "weights.npz"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), "safetensors file", ".safetensors")


def config_text(config, metadata=None):
    return json.dumps({"config": config, "metadata": metadata})


LSTM_CONFIG = io.module_config(LSTM(1, 1))


@pytest.mark.parametrize("member, data, words", [
    ("__numpylstm_format__.npy", b"1", ["__numpylstm_format__", ".npy header"]),
    ("__numpylstm_format__.npy", np.array(1.0), ["format version entry", "float64"]),
    ("__numpylstm_format__.npy", np.array([1, 2]), ["format version entry", "(2,)"]),
    ("__numpylstm_format__.npy", np.array(0), ["format version 0"]),
    ("__numpylstm_config__.npy", np.array(b"{}"), ["configuration entry", "|S2"]),
    ("__numpylstm_config__.npy", np.array("not json {"), ["configuration entry", "not JSON"]),
    ("__numpylstm_config__.npy", np.array('"a string"'), ["configuration entry", "a string", "'config'"]),
    ("__numpylstm_config__.npy", np.array(config_text("LSTM")), ["configuration entry", "config is a string"]),
    ("__numpylstm_config__.npy", np.array(config_text({**LSTM_CONFIG, "args": [1, 1]})),
     ["configuration entry", "config['args'] is an array"]),
    ("__numpylstm_config__.npy", np.array(config_text({**LSTM_CONFIG, "class": 3})),
     ["configuration entry", "config['class'] is a number"]),
    ("__numpylstm_config__.npy", np.array(config_text({**LSTM_CONFIG, "children": {"0": []}})),
     ["configuration entry", "config['children']['0'] is an array"]),
    ("__numpylstm_config__.npy", np.array("[" * 100_000), ["configuration entry", "RecursionError"]),
])
def test_bad_format_and_configuration_entries_are_value_errors_naming_the_path(tmp_path, member, data, words):
    members = saved_members()
    members[member] = npy_array_bytes(data) if isinstance(data, np.ndarray) else data
    path = write_zip(tmp_path / "bad.npz", members)
    for call in (lambda: io.load(LSTM(1, 1), path), lambda: io.load(LSTM(1, 1), path, strict=False),
                 lambda: io.read_info(path), lambda: io.load_model(path)):
        raises_naming(ValueError, call, str(path), *words)


def test_a_configuration_larger_than_max_config_bytes_is_refused_unread(tmp_path, monkeypatch):
    path = io.save(LSTM(1, 1), tmp_path / "w", metadata={"notes": "x" * 10_000})
    monkeypatch.setattr(io, "MAX_CONFIG_BYTES", 20_000)
    raises_naming(ValueError, lambda: io.read_info(path), str(path), "MAX_CONFIG_BYTES", "20000")
    raises_naming(ValueError, lambda: io.save(LSTM(1, 1), tmp_path / "v", metadata={"notes": "x" * 10_000}),
                  "metadata", "MAX_CONFIG_BYTES")
    assert not (tmp_path / "v.npz").exists()


def test_duplicate_and_non_npy_members_are_refused(tmp_path):
    members = saved_members()
    path = write_zip(tmp_path / "extra.npz", {**members, "readme.txt": b"hello"})
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path, strict=False), str(path), "readme.txt", ".npy")
    path = tmp_path / "twice.npz"
    with pytest.warns(UserWarning, match="Duplicate name"):
        write_zip(path, members)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("weight_ih_l0.npy", members["weight_ih_l0.npy"])
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), "weight_ih_l0", "twice")


def test_fortran_ordered_and_compressed_archives_from_numpy_still_load(tmp_path):
    saved = LSTM(2, 3, seed=0)
    members = saved_members(saved)
    state = saved.state_dict()
    members["weight_ih_l0.npy"] = npy_array_bytes(np.asfortranarray(state["weight_ih_l0"]))
    assert b"'fortran_order': True" in members["weight_ih_l0.npy"]
    path = write_zip(tmp_path / "f.npz", members, compression=zipfile.ZIP_DEFLATED)
    assert_same_weights(io.load(LSTM(2, 3, seed=1), path), saved)


# ================================================================ safe saves
def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604, 0o664])
def test_a_save_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path, mode):
    path = io.save(LSTM(1, 1, seed=0), tmp_path / "w")
    os.chmod(path, mode)
    io.save(LSTM(1, 1, seed=1), path)
    assert mode_of(path) == mode
    assert_same_weights(io.load(LSTM(1, 1), path), LSTM(1, 1, seed=1))


def test_a_read_only_file_is_refused_like_numpy_does_or_kept_read_only_for_root(tmp_path):
    path = io.save(LSTM(1, 1, seed=0), tmp_path / "w")
    os.chmod(path, 0o444)
    before = file_bytes(path)
    if os.access(path, os.W_OK):   # root may write anything, as with np.save: the mode must survive
        io.save(LSTM(1, 1, seed=1), path)
        assert mode_of(path) == 0o444
    else:
        raises_naming(PermissionError, lambda: io.save(LSTM(1, 1, seed=1), path), str(path), "not writable")
        assert file_bytes(path) == before
    assert temporaries(tmp_path) == []


def test_a_file_the_process_may_not_write_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    # What a non-root user meets with a 0444 file, whoever runs the tests.
    path = io.save(LSTM(1, 1, seed=0), tmp_path / "w")
    before = file_bytes(path)
    monkeypatch.setattr(os, "access", lambda p, how: os.fspath(p) != str(path))
    raises_naming(PermissionError, lambda: io.save(LSTM(1, 1, seed=1), path), str(path), "not writable",
                  oct(mode_of(path)))
    assert file_bytes(path) == before and os.listdir(tmp_path) == ["w.npz"]


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


@pytest.mark.parametrize("read_from", ["proc", "probe"])
def test_new_files_get_0666_less_the_umask_without_os_umask(umask_027, tmp_path, monkeypatch, read_from):
    # umask_027 first: it is restored after monkeypatch has put os.umask back
    # os.umask can only read the mask by setting it: for a moment other threads create files
    # with the wrong mode. The save reads it from /proc, or from a probe file where there is none.
    if read_from == "probe":
        monkeypatch.setattr(_atomic_write, "_PROC_STATUS", str(tmp_path / "no-such-file"))

    def forbidden(mask):
        raise AssertionError("os.umask was called")

    monkeypatch.setattr(os, "umask", forbidden)
    path = io.save(LSTM(1, 1), tmp_path / "w")
    assert mode_of(path) == 0o640
    assert os.listdir(tmp_path) == ["w.npz"]          # the probe is gone too


def test_the_folder_is_flushed_after_the_rename(tmp_path, monkeypatch):
    # Without an fsync of the folder a power cut can lose the rename itself.
    flushed = []
    real_fsync = os.fsync

    def recording_fsync(handle):
        is_folder = stat.S_ISDIR(os.fstat(handle).st_mode)
        flushed.append(("folder" if is_folder else "file", (tmp_path / "w.npz").exists()))
        return real_fsync(handle)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    io.save(LSTM(1, 1), tmp_path / "w")
    assert flushed == [("file", False), ("folder", True)]


def test_an_empty_path_is_a_value_error_naming_path(tmp_path):
    for given in ("", ".", str(tmp_path) + "/.."):
        raises_naming(ValueError, lambda: io.save(LSTM(1, 1), given), "path", repr(given))
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), ""), "path", "''")


def test_saving_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    real = io.save(LSTM(1, 1, seed=0), tmp_path / "real")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    io.save(LSTM(1, 1, seed=1), link)
    assert link.is_symlink()
    assert_same_weights(io.load(LSTM(1, 1), real), LSTM(1, 1, seed=1))


# A writer that saves an 18 MB model over and over, to be killed in the middle of a save.
_SAVING_FOREVER = """
import sys
from numpylstm import io
from numpylstm.layers import Linear
model = Linear(1500, 1500, seed=0)
while True:
    io.save(model, sys.argv[1])
"""


def kill_mid_save(target):
    """Start a process saving to ``target`` in a loop, SIGKILL it while its temporary file exists;
    returns the temporary files it left."""
    for attempt in range(20):
        writer = subprocess.Popen([sys.executable, "-c", _SAVING_FOREVER, str(target)])
        try:
            give_up = time.monotonic() + 120        # a guard against a hang, not a measurement
            while not temporaries(target.parent) and time.monotonic() < give_up:
                time.sleep(0.001)
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        left = temporaries(target.parent)
        if left:                                     # else it renamed just before the kill: again
            return left
    pytest.fail("never caught the writer in the middle of a save")


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_save_killed_by_sigkill_leaves_a_temporary_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "w.npz"
    left = kill_mid_save(target)
    assert all(name.startswith(".w.npz.") for name in left)
    io.save(LSTM(1, 1, seed=0), target)
    assert temporaries(tmp_path) == []
    assert_same_weights(io.load(LSTM(1, 1), target), LSTM(1, 1, seed=0))


def test_only_temporaries_of_gone_writers_or_older_than_an_hour_are_removed(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    gone_pid = int(gone.stdout)
    names = {
        "gone writer": f".w.npz.{gone_pid}.0badc0de.tmp",
        "live writer": f".w.npz.{os.getppid()}.0badc0de.tmp",      # pytest's parent: alive
        "this process": f".w.npz.{os.getpid()}.0badc0de.tmp",      # another thread may be saving
        "old mkstemp name": ".w.npz.k2j3h4g5.tmp",
        "recent mkstemp name": ".w.npz.a1b2c3d4.tmp",
        "another target": f".v.npz.{gone_pid}.0badc0de.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(tmp_path / names["old mkstemp name"], (two_hours_ago, two_hours_ago))
    io.save(LSTM(1, 1), tmp_path / "w")
    kept = {what for what, name in names.items() if (tmp_path / name).exists()}
    assert kept == {"live writer", "this process", "recent mkstemp name", "another target"}


# ================================================================ load_model
_rng = np.random.default_rng(7)
_x = _rng.standard_normal((5, 2, 3))
_ids = np.array([[1, 4], [2, 0], [3, 3]])
# (model, the arguments of one forward call): every class load_model rebuilds.
EVERY_CLASS = {
    "LSTM": (LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=True, dropout=0.2,
                  dtype=np.float32, seed=0), (_x.astype(np.float32),)),
    "LSTMCell": (LSTMCell(3, 4, bias=False, seed=0), (_x[0],)),
    "RNN": (RNN(3, 4, num_layers=2, nonlinearity="relu", bias=False, seed=0), (_x,)),
    "RNNCell": (RNNCell(3, 4, nonlinearity="relu", seed=0), (_x[0],)),
    "Linear": (Linear(3, 2, seed=0), (_x,)),
    "Linear without bias": (Linear(3, 2, bias=False, seed=0), (_x,)),
    "Embedding": (Embedding(6, 3, padding_idx=2, seed=0), (_ids,)),
    "Sequential": (Sequential(Linear(3, 5, seed=0), ReLU(), Dropout(0.3), Tanh(),
                              Sequential(Linear(5, 2, seed=1), Sigmoid())), (_x,)),
    "ReLU": (ReLU(), (_x,)), "Tanh": (Tanh(), (_x,)), "Sigmoid": (Sigmoid(), (_x,)),
    "Dropout": (Dropout(0.25), (_x,)),
    "SequenceRegressor": (SequenceRegressor(3, 4, output_size=2, num_layers=2, head="every", bidirectional=True,
                                            dropout=0.1, seed=0), (_x,)),
    "SequenceClassifier": (SequenceClassifier(3, 4, 5, head_hidden=6, seed=0), (_x,)),
    "SequenceClassifier of tokens": (SequenceClassifier(3, 4, 5, vocab_size=6, bidirectional=True, seed=0), (_ids,)),
    "CharLM": (CharLM(6, 3, 4, num_layers=2, seed=0), (_ids,)),
    "Encoder": (Encoder(6, 3, 4, num_layers=2, seed=0), (_ids,)),
    "Decoder": (Decoder(6, 3, 4, seed=0), (_ids,)),
    "Seq2Seq": (Seq2Seq(6, 3, 4, num_layers=2, tgt_vocab_size=5, batch_first=True, seed=0), (_ids.T, _ids.T)),
}


def flat_outputs(result):
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in flat_outputs(item)]
    return [result]


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("name", list(EVERY_CLASS))
def test_load_model_rebuilds_every_class_bit_for_bit(tmp_path, name, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    model, inputs = EVERY_CLASS[name]
    path = io.save(model, tmp_path / f"model{suffix}")
    rebuilt = io.load_model(path)
    assert type(rebuilt) is type(model) and io.module_config(rebuilt) == io.module_config(model)
    assert repr(rebuilt) == repr(model)                    # options such as Dropout.p and LSTM.dropout too
    assert_same_weights(rebuilt, model)
    model.eval(), rebuilt.eval()
    expected, got = flat_outputs(model(*inputs)), flat_outputs(rebuilt(*inputs))
    assert len(expected) == len(got) >= 1
    for a, b in zip(expected, got):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def file_with_config(path, config, model=None):
    """A real save of ``model`` (LSTM(1, 1)) whose configuration entry is replaced by ``config``."""
    members = saved_members(model)
    members["__numpylstm_config__.npy"] = npy_array_bytes(np.array(config_text(config)))
    return write_zip(path, members)


class MyLSTM(LSTM):
    pass


@pytest.mark.parametrize("class_name", ["os.system", "MyLSTM", "__import__", "numpylstm.io.save", "Module"])
def test_load_model_refuses_classes_it_does_not_know_by_name(tmp_path, class_name):
    path = file_with_config(tmp_path / "w.npz", {**LSTM_CONFIG, "class": class_name})
    raises_naming(ValueError, lambda: io.load_model(path), str(path), repr(class_name), "does not rebuild",
                  "numpylstm.io.load")


def test_a_subclass_saved_by_the_user_is_refused_by_load_model_and_loads_with_load(tmp_path):
    path = io.save(MyLSTM(1, 2, seed=0), tmp_path / "mine")
    raises_naming(ValueError, lambda: io.load_model(path), "'MyLSTM'")
    assert_same_weights(io.load(MyLSTM(1, 2), path), MyLSTM(1, 2, seed=0))


@pytest.mark.parametrize("args, words", [
    ({"hidden_size": 10**6}, ["describe", "holds 16"]),                   # would allocate 32 GB
    ({"hidden_size": 10**30, "num_layers": 10**30}, ["describe"]),
    ({"hidden_size": "1"}, ["hidden_size", "'1'", "not a size"]),
    ({"bidirectional": 1}, ["bidirectional", "not True or False"]),
    ({"nonsense": 3}, ["nonsense"]),                                     # the constructor refuses it
    ({"dropout": 2.0}, ["dropout"]),
])
def test_load_model_refuses_arguments_that_do_not_rebuild_the_file(tmp_path, args, words):
    path = file_with_config(tmp_path / "w.npz", {**LSTM_CONFIG, "args": {**LSTM_CONFIG["args"], **args}})
    error, peak = peak_memory_of(lambda: io.load_model(path))
    assert isinstance(error, ValueError), repr(error)
    raises_naming(ValueError, lambda: io.load_model(path), str(path), "cannot be rebuilt", *words)
    assert peak < MiB


def test_load_model_rebuilds_sequential_children_in_order_only(tmp_path):
    model = Sequential(Linear(1, 2, seed=0), ReLU())
    config = io.module_config(model)
    config["children"] = {"1": config["children"]["1"], "0": config["children"]["0"]}
    path = file_with_config(tmp_path / "w.npz", config, model)
    raises_naming(ValueError, lambda: io.load_model(path), str(path), "'0', '1', ... in order")


def test_load_model_refuses_a_seq2seq_without_its_recorded_encoder(tmp_path):
    model = Seq2Seq(4, 2, 3, seed=0)
    config = io.module_config(model)
    del config["children"]["encoder"]
    path = file_with_config(tmp_path / "w.npz", config, model)
    raises_naming(ValueError, lambda: io.load_model(path), str(path), "'encoder'")


# ================================================================ safetensors
@pytest.fixture
def safetensors():
    return pytest.importorskip("safetensors")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_safetensors_round_trip_is_bit_exact_and_carries_the_configuration(tmp_path, safetensors, dtype):
    saved = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=dtype, seed=0)
    path = io.save(saved, tmp_path / "lstm.safetensors", metadata={"task": "sine"})
    assert path == tmp_path / "lstm.safetensors"
    assert_same_weights(io.load(LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=dtype), path),
                        saved)
    info = io.read_info(path)
    assert info["format_version"] == 1 and info["metadata"] == {"task": "sine"}
    assert info["config"] == io.module_config(saved)
    import safetensors.numpy
    plain = safetensors.numpy.load_file(path)            # a plain safetensors file with PyTorch's names
    assert sorted(plain) == sorted(saved.state_dict())
    with safetensors.safe_open(path, framework="numpy") as file:
        assert sorted(file.metadata()) == ["__numpylstm_config__", "__numpylstm_data_sha256__",
                                           "__numpylstm_format__", "__numpylstm_header_sha256__"]


def test_pytorch_loads_a_saved_safetensors_file_straight_into_its_module(tmp_path, safetensors, torch):
    import safetensors.torch
    from numpylstm.gradcheck import rel_error
    from torch_reference import PARITY_TOLERANCE, assert_distinct_biases
    model = LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, seed=4)
    assert_distinct_biases(model)
    path = io.save(model, tmp_path / "lstm.safetensors")
    twin = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    twin.load_state_dict(safetensors.torch.load_file(path))        # strict: every name and shape fits
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(twin.state_dict()[name].numpy(), value)
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    ours, (h, c) = model(x)
    theirs, (th, tc) = twin(torch.tensor(x))
    for a, b in ((ours, theirs), (h, th), (c, tc)):
        assert rel_error(a, b.detach().numpy()) < PARITY_TOLERANCE


def test_without_the_safetensors_package_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    raises_naming(ImportError, lambda: io.save(LSTM(1, 1), tmp_path / "w.safetensors"), "pip install safetensors")
    assert os.listdir(tmp_path) == []
    assert io.save(LSTM(1, 1), tmp_path / "w.npz").exists()        # .npz needs nothing more


def safetensors_bytes(header, data=b""):
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(text)) + text + data


ONE_TENSOR = {"bias_ih_l0": {"dtype": "F64", "shape": [4], "data_offsets": [0, 32]}}


def signed(format_version="1", config=config_text(LSTM_CONFIG)):
    """numpylstm's metadata for ONE_TENSOR of zeros, with checksums that fit (so later checks are reached)."""
    metadata = {"__numpylstm_format__": format_version, "__numpylstm_config__": config}
    metadata["__numpylstm_header_sha256__"] = _weight_files._header_digest(
        metadata, {"bias_ih_l0": _weight_files.Declared((4,), np.dtype("<f8"))})
    metadata["__numpylstm_data_sha256__"] = _weight_files._data_digest({"bias_ih_l0": np.zeros(4)})
    return metadata



@pytest.mark.parametrize("content, words", [
    (b"\x00" * 5, ["fewer than the 8"]),
    (struct.pack("<Q", 2**40) + b"{}", ["header length", str(2**40)]),
    (struct.pack("<Q", 100) + b"{}", ["header length is 100"]),
    (safetensors_bytes(b"{not json"), ["not JSON"]),
    (safetensors_bytes(b"[" * 50_000), ["not JSON", "RecursionError"]),
    (safetensors_bytes([1, 2]), ["an array, not an object"]),
    (safetensors_bytes({"a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, bytes(2)), ["BF16"]),
    (safetensors_bytes({"a": {"dtype": "F64", "shape": [-1], "data_offsets": [0, 8]}}, bytes(8)), ["shape"]),
    (safetensors_bytes({"a": {"dtype": "F64", "shape": [2**40], "data_offsets": [0, 8]}}, bytes(8)),
     ["8796093022208 bytes"]),
    (safetensors_bytes({"a": {"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}}, bytes(16)),
     ["data_offsets", "16 data bytes"]),
    (safetensors_bytes({**ONE_TENSOR, "__metadata__": {"__numpylstm_format__": 1}}, bytes(32)), ["strings"]),
    (safetensors_bytes({**ONE_TENSOR, "__metadata__": {"format": "pt"}}, bytes(32)), ["without numpylstm"]),
    (safetensors_bytes({**ONE_TENSOR, "__metadata__": signed(format_version="one")}, bytes(32)),
     ["format version 'one'"]),
    (safetensors_bytes({**ONE_TENSOR, "__metadata__": signed(config="[]")}, bytes(32)),
     ["configuration entry", "an array"]),
    (safetensors_bytes({**ONE_TENSOR, "__metadata__": {**signed(), "__numpylstm_config__": "{}"}}, bytes(32)),
     ["header does not match the SHA-256"]),
    (safetensors_bytes({**ONE_TENSOR, "__metadata__": {"__numpylstm_format__": "1", "__numpylstm_config__": "{}"}},
                       bytes(32)), ["lacks the", "checksums"]),
])
def test_hostile_safetensors_headers_are_refused_before_reading(tmp_path, content, words):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    for call in (lambda: io.load(LSTM(1, 1), path), lambda: io.read_info(path), lambda: io.load_model(path)):
        error, peak = peak_memory_of(call)
        assert isinstance(error, ValueError) and peak < MiB, repr(error)
        raises_naming(ValueError, call, str(path), *words)


def test_an_npz_named_safetensors_is_called_a_zip(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(file_bytes(io.save(LSTM(1, 1), tmp_path / "w.npz")))
    raises_naming(ValueError, lambda: io.load(LSTM(1, 1), path), str(path), "zip archive", ".npz")


def test_a_safetensors_file_of_another_model_names_the_entry(tmp_path, safetensors):
    path = io.save(LSTM(2, 3), tmp_path / "w.safetensors")
    raises_naming(ValueError, lambda: io.load(LSTM(2, 4), path, strict=False), str(path), "weight_ih_l0",
                  "(12, 2)", "(16, 2)")


def test_a_safetensors_file_with_one_changed_byte_is_refused_not_loaded_changed(tmp_path, safetensors):
    # safetensors has no checksum (a zip has a CRC per member): without numpylstm's SHA-256 digests a
    # flipped bit in a weight or in the configuration would load a different model without a word.
    path = io.save(LSTM(1, 1, seed=0), tmp_path / "w.safetensors")
    raw = file_bytes(path)
    in_data, in_config = len(raw) - 3, raw.index(b"input_size") + 1
    for position, call, words in ((in_data, lambda p: io.load(LSTM(1, 1), p), ["tensors do not match"]),
                                  (in_config, io.read_info, ["header does not match"])):
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        damaged = tmp_path / "damaged.safetensors"
        damaged.write_bytes(bytes(flipped))
        raises_naming(ValueError, lambda: call(damaged), str(damaged), "SHA-256", *words)


# ============================================== files written by earlier numpylstm versions
def renamed_file(path, saved, rename):
    """A save of ``saved`` whose member names and recorded sub-modules use the names ``rename``
    (new prefix -> old) maps back to, as before a class renamed them."""
    members = {}
    for name, data in saved_members(saved).items():
        for new, old in rename.items():
            name = name.replace(new, old)
        members[name] = data
    config = io.module_config(saved)
    decoder = config["children"]["decoder"] if "decoder" in config["children"] else config
    decoder["children"]["out"] = decoder["children"].pop("head")
    members["__numpylstm_config__.npy"] = npy_array_bytes(np.array(config_text(config)))
    return write_zip(path, members)


@pytest.mark.parametrize("model, rename", [
    (Decoder(6, 3, 4, seed=0), {"head.": "out."}),
    (Seq2Seq(6, 3, 4, seed=0), {"decoder.head.": "decoder.out."}),
])
def test_files_saved_before_decoder_out_became_head_still_load(tmp_path, model, rename):
    path = renamed_file(tmp_path / "old.npz", model, rename)
    with zipfile.ZipFile(path) as archive:
        assert any(".out." in name or name.startswith("out.") for name in archive.namelist())
    for strict in (True, False):
        assert_same_weights(io.load(type(model)(6, 3, 4, seed=1), path, strict=strict), model)
    assert_same_weights(io.load_model(path), model)


def test_options_held_in_properties_are_recorded_and_compared(tmp_path):
    # LSTM.dropout and Dropout.p are checked properties, not plain attributes.
    assert io.module_config(LSTM(2, 3, num_layers=2, dropout=0.3))["args"]["dropout"] == 0.3
    assert io.module_config(Dropout(0.3))["args"]["p"] == 0.3
    path = io.save(LSTM(2, 3, num_layers=2, dropout=0.3, seed=0), tmp_path / "w")
    raises_naming(ValueError, lambda: io.load(LSTM(2, 3, num_layers=2), path), "dropout is 0.3 in the file but 0.0")
    assert io.load(LSTM(2, 3, num_layers=2, dropout=0.3, engine="reference"), path)   # engine is not compared


def test_an_argument_the_file_does_not_record_is_not_compared(tmp_path):
    saved = LSTM(2, 3, num_layers=2, seed=0)
    config = io.module_config(saved)
    del config["args"]["dropout"]                      # as files saved before it was recorded
    path = file_with_config(tmp_path / "w.npz", config, saved)
    assert_same_weights(io.load(LSTM(2, 3, num_layers=2, dropout=0.5), path), saved)
    assert io.load_model(path).dropout == 0.0          # rebuilt with the default

"""Weight files: bit-exact round trips, no pickles, atomic saves, clear errors for damaged or foreign files."""
import os
import pickle

import numpy as np
import pytest

from numpylstm import io, LSTM
from numpylstm.layers import Linear, ReLU, Sequential
from numpylstm.models import SequenceRegressor

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

"""Fuzzing the weight-file readers with damaged and hostile files (hypothesis, small files).

Every reader (``load`` strict and not, ``read_info``, ``load_model``) on every file must
either give what an undamaged file holds or raise a ValueError naming the path: never
another exception type, never a MemoryError, and never more than a few MiB of memory.
(Split from test_io.py, which holds the hand-written cases and is long already.)
"""
import json
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numpylstm import LSTM, io
from test_io import MiB, config_text, npy_array_bytes, npy_header, peak_memory_of, saved_members, write_zip

REFERENCE = LSTM(1, 1, seed=0)
PARAMETERS = list(REFERENCE.state_dict())
fuzz_settings = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def outcomes(path):
    """``{reader: its result or the exception it raised}``, each within 8 MiB of memory."""
    readers = {
        "load": lambda: io.load(LSTM(1, 1, seed=3), path),
        "load strict=False": lambda: io.load(LSTM(1, 1, seed=3), path, strict=False),
        "read_info": lambda: io.read_info(path),
        "load_model": lambda: io.load_model(path),
    }
    results = {}
    for name, read in readers.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # LSTM(dropout>0, num_layers=1) warns on rebuild
            results[name], peak = peak_memory_of(read)
        assert peak < 8 * MiB, f"{name} took {peak / MiB:.1f} MiB"
        if isinstance(results[name], Exception):
            assert isinstance(results[name], ValueError), f"{name}: {results[name]!r}"
            assert str(path) in str(results[name]), f"{name}: {results[name]}"
    return results


def assert_weights(model, expected):
    """``model`` holds ``expected`` (name -> array), cast to its dtype."""
    state = model.state_dict()
    assert list(state) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(state[name], np.asarray(value).astype(state[name].dtype), err_msg=name)


# ------------------------------------------------------------- damaged bytes of a valid file
damage = st.lists(st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
), min_size=1, max_size=3)


def damaged(raw, operations):
    data = bytearray(raw)
    for operation in operations:
        position = operation[1] % (len(data) + 1)
        if operation[0] == "flip" and position < len(data):
            data[position] ^= operation[2]
        elif operation[0] == "truncate":
            del data[position:]
        elif operation[0] == "insert":
            data[position:position] = operation[2]
    return bytes(data)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@fuzz_settings
@given(operations=damage)
def test_damaged_files_load_the_saved_weights_or_fail_naming_the_path(folder, suffix, operations):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    original = io.save(REFERENCE, folder / f"original{suffix}")
    path = folder / f"damaged{suffix}"
    path.write_bytes(damaged(original.read_bytes(), operations))
    results = outcomes(path)
    for name in ("load", "load strict=False", "load_model"):
        if not isinstance(results[name], Exception):
            assert_weights(results[name], REFERENCE.state_dict())
    if not isinstance(results["read_info"], Exception):
        assert results["read_info"] == io.read_info(original)


# ------------------------------------------------- zip members with any .npy header at all
descrs = st.sampled_from(["<f8", "<f4", ">f8", "<f2", "<i8", "|b1", "|O", "<U4", "|S3", "|V8", "<c16",
                          [("a", "<f8")], [("a", "|O")], "bogus", "<f8 "])
shapes = st.lists(st.sampled_from([0, 1, 4, 2**40, -1]), max_size=3).map(tuple)
member_names = st.sampled_from(PARAMETERS + ["__numpylstm_format__", "__numpylstm_config__", "extra"])


@st.composite
def npy_members(draw):
    """``(file name, bytes, size the zip directory claims or None)`` of a member that may lie anywhere."""
    name = draw(member_names) + ".npy"
    if draw(st.integers(0, 9)) == 0:
        return name, draw(st.binary(max_size=200)), None
    version = draw(st.sampled_from([(1, 0), (2, 0), (3, 0), (0, 1)]))
    descr, shape = draw(descrs), draw(shapes)
    header = npy_header(shape, descr, version if version != (0, 1) else (1, 0), draw(st.booleans()))
    if version == (0, 1):
        header = header[:6] + bytes(version) + header[8:]
    try:
        size = int(np.prod(shape)) * np.dtype(descr).itemsize
    except (TypeError, ValueError):
        size = -1
    data = draw(st.binary(min_size=size, max_size=size)) if 0 <= size <= 256 else draw(st.binary(max_size=64))
    claimed = draw(st.none() | st.integers(0, 2**45))
    return name, header + data, claimed


@fuzz_settings
@given(members=st.lists(npy_members(), min_size=1, max_size=4),
       removed=st.sets(st.sampled_from(PARAMETERS + ["__numpylstm_format__", "__numpylstm_config__"]), max_size=2),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_random_members_with_random_npy_headers_load_what_they_hold_or_fail_naming_the_path(
        folder, members, removed, compression):
    files = saved_members()
    for name in removed:
        del files[name + ".npy"]
    claimed = {}
    for name, data, claim in members:
        files[name] = data
        if claim is not None:
            claimed[name] = claim
    path = write_zip(folder / "random.npz", files, compression, claimed)
    results = outcomes(path)
    loaded = {name: results[name] for name in ("load", "load strict=False", "load_model")
              if not isinstance(results[name], Exception)}
    if loaded:
        with np.load(path, allow_pickle=False) as archive:   # an independent reader of what it holds
            held = {name: archive[name] for name in PARAMETERS if name in archive.files}
        untouched = LSTM(1, 1, seed=3).state_dict()           # strict=False leaves the others as they were
        for name, model in loaded.items():
            assert_weights(model, {**untouched, **held})


# -------------------------------------------------------------- any JSON as configuration
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12)
ARGUMENT_NAMES = ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional", "proj_size",
                  "dropout", "dtype", "in_features", "out_features", "num_embeddings", "embedding_dim", "p",
                  "nonlinearity", "vocab_size", "head", "output_size", "num_classes", "head_hidden"]
argument_values = st.one_of(st.integers(-1, 5), st.integers(0, 2**64), st.booleans(), st.none(), st.floats(-1, 2),
                            st.sampled_from(["float32", "float64", "float16", "tanh", "relu", "every", "x"]))
LSTM_CONFIG = io.module_config(REFERENCE)
configs = st.one_of(
    json_values,
    st.fixed_dictionaries({   # the saved configuration with some arguments or the class changed
        "class": st.sampled_from(["LSTM", "LSTM", "RNN", "LSTMCell", "Linear", "Sequential", "Seq2Seq", "Foo"]),
        "args": st.dictionaries(st.sampled_from(ARGUMENT_NAMES), argument_values, max_size=4).map(
            lambda changed: {**LSTM_CONFIG["args"], **changed}),
        "children": st.just({}) | st.dictionaries(st.sampled_from(["0", "1", "lstm"]), json_values, max_size=2),
    }),
)
headers = st.one_of(json_values, st.fixed_dictionaries({"config": configs, "metadata": json_values}))


@fuzz_settings
@given(header=headers)
def test_any_json_configuration_loads_or_fails_naming_the_path(folder, header):
    files = saved_members()
    text = json.dumps(header)
    files["__numpylstm_config__.npy"] = npy_array_bytes(np.array(text))
    path = write_zip(folder / "config.npz", files)
    results = outcomes(path)
    if not isinstance(results["read_info"], Exception):
        assert results["read_info"]["config"] == header["config"]
        assert results["read_info"]["metadata"] == header["metadata"]
    for name in ("load", "load strict=False", "load_model"):
        if not isinstance(results[name], Exception):
            assert_weights(results[name], REFERENCE.state_dict())


def test_the_fuzzers_reach_successful_loads(folder):
    # The strategies are only useful if valid files come out of them too: the unchanged configuration.
    files = saved_members()
    files["__numpylstm_config__.npy"] = npy_array_bytes(np.array(config_text(LSTM_CONFIG)))
    results = outcomes(write_zip(folder / "valid.npz", files))
    assert not any(isinstance(result, Exception) for result in results.values()), results

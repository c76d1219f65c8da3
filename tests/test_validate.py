"""The argument checks of ``numpylstm._validate`` on their own (every module's checks go through them)."""
import numpy as np
import pytest

from numpylstm import _validate as check

from assertions import raises_naming


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_boolean_accepts_python_and_numpy_booleans(value):
    assert check.boolean(value, "flag") is bool(value)


@pytest.mark.parametrize("value, shown", [("no", "'no'"), (1, "1"), (None, "None"), (0.0, "0.0")])
def test_boolean_refuses_everything_else_naming_the_argument(value, shown):
    raises_naming(TypeError, lambda: check.boolean(value, "batch_first"), "batch_first", "True or False", shown)


@pytest.mark.parametrize("value", [None, 0, 7, np.int64(3), np.random.SeedSequence(1), np.random.default_rng(2)])
def test_seed_accepts_what_default_rng_takes(value):
    assert check.seed(value) == value
    np.random.default_rng(check.seed(value))


@pytest.mark.parametrize("value, error, shown", [
    ("x", TypeError, "'x'"), (1.5, TypeError, "1.5"), (True, TypeError, "True"), (-1, ValueError, "-1"),
])
def test_seed_refuses_bad_seeds_naming_the_argument(value, error, shown):
    raises_naming(error, lambda: check.seed(value, "seed"), "seed", "non-negative integer", shown)


def test_kernel_shapes_names_kernel_argument_expected_and_actual():
    h = np.zeros((1, 4))
    raises_naming(ValueError, lambda: check.kernel_shapes("k", ("h", h, (3, 4))), "k: h", "(3, 4)", "(1, 4)")
    raises_naming(ValueError, lambda: check.kernel_shapes("k", ("x", h, ("T", "N", "I"))), "x", "(T, N, I)",
                  "(1, 4)")
    raises_naming(ValueError, lambda: check.kernel_shapes("k", ("b", np.zeros(3), (4,))), "(4,)", "(3,)")
    raises_naming(TypeError, lambda: check.kernel_shapes("k", ("h", [[0.0]], (1, 1))), "h", "list")
    check.kernel_shapes("k", ("x", np.zeros((5, 2, 3)), ("T", "N", 3)), ("b", None, (4,)))  # passes


def test_bias_pair_refuses_one_bias_alone():
    raises_naming(ValueError, lambda: check.bias_pair("k", np.zeros(4), None), "k:", "b_ih without b_hh")
    raises_naming(ValueError, lambda: check.bias_pair("k", None, np.zeros(4)), "b_hh without b_ih")
    check.bias_pair("k", None, None)
    check.bias_pair("k", np.zeros(4), np.zeros(4))


# ------------------------------------------------------------- arrays: masks, overflow, finiteness
@pytest.mark.parametrize("check_call", [
    lambda a: check.float_array(a, "x", np.float64),
    lambda a: check.integer_array(a.astype(np.int64), "x"),
    lambda a: check.host_array(a, "x"),
    lambda a: check.parameter_array(a, "x"),
])
def test_masked_arrays_are_refused_naming_the_argument_and_the_way_out(check_call):
    masked = np.ma.masked_array(np.ones(3), mask=[False, True, False])
    raises_naming(TypeError, lambda: check_call(masked), "x must be a plain array", "MaskedArray", "x.filled(")


def test_a_ragged_list_is_named_with_what_it_must_be_in_plain_words():
    raises_naming(ValueError, lambda: check.host_array([[1], [1, 0]], "mask", "a boolean or 0/1 array"),
                  "mask must be a rectangular boolean or 0/1 array, got a ragged list")


def test_float64_values_beyond_float32_are_refused_when_converted_naming_the_largest():
    x = np.array([1.0, -1e39, 2e39])
    raises_naming(ValueError, lambda: check.float_array(x, "input", np.float32), "input", "2e+39", "float32",
                  "dtype=np.float64")
    big_but_fine = np.array([3.4e38, -3.4e38])
    assert np.isfinite(check.float_array(big_but_fine, "input", np.float32)).all()
    assert check.float_array(x, "input", np.float64) is x   # no conversion: nothing to refuse
    given = check.float_array(np.array([np.inf, np.nan, 1.0]), "input", np.float32)   # inf given stays inf
    assert np.isinf(given[0]) and np.isnan(given[1])


def test_all_finite_counts_nan_and_inf_and_names_the_first_position():
    x = np.zeros((3, 4))
    x[1, 2], x[2, 0], x[2, 3] = np.nan, np.inf, np.nan
    raises_naming(ValueError, lambda: check.all_finite(x, "train_data[0]", "; fix it"),
                  "train_data[0] must hold finite values, got 2 nan and 1 inf (the first at index (1, 2)); fix it")
    check.all_finite(np.zeros(3), "x")
    check.all_finite(np.array([1, 2]), "x")          # integers cannot hold nan: passed unread


def test_mask_array_takes_booleans_and_zeros_and_ones_only():
    np.testing.assert_array_equal(check.mask_array([1, 0], "mask", (2,), ""), [True, False])
    raises_naming(ValueError, lambda: check.mask_array([0.5, 1], "mask", (2,), ""), "mask", "0 and 1", "0.5")
    raises_naming(TypeError, lambda: check.mask_array(np.array(["a", "b"]), "mask", (2,), ""), "mask", "<U1")
    raises_naming(ValueError, lambda: check.mask_array([1, 0, 1], "mask", (2,), "(one per position)"),
                  "mask", "(2,)", "(3,)")


# ----------------------------------------------------------------------------- memory
GiB = 2 ** 30


def fake_memory(monkeypatch, tmp_path, meminfo_kb=None, cgroup=None):
    """Point _validate at a fake /proc/meminfo (MemAvailable in kB) and cgroup files (limit, used)."""
    meminfo = tmp_path / "meminfo"
    if meminfo_kb is not None:
        meminfo.write_text(f"MemTotal:       99999999 kB\nMemAvailable:   {meminfo_kb} kB\n")
    monkeypatch.setattr(check, "MEMINFO", str(meminfo))
    limit, used = tmp_path / "memory.max", tmp_path / "memory.current"
    if cgroup is not None:
        limit.write_text(f"{cgroup[0]}\n")
        used.write_text(f"{cgroup[1]}\n")
    monkeypatch.setattr(check, "CGROUP_MEMORY", (str(limit), str(used)))


def test_available_memory_reads_memavailable(monkeypatch, tmp_path):
    fake_memory(monkeypatch, tmp_path, meminfo_kb=24222515)
    assert check.available_memory() == 24222515 * 1024


def test_available_memory_is_bounded_by_a_cgroup_limit(monkeypatch, tmp_path):
    fake_memory(monkeypatch, tmp_path, meminfo_kb=20 * 2 ** 20, cgroup=(4 * GiB, GiB))
    assert check.available_memory() == 3 * GiB
    fake_memory(monkeypatch, tmp_path, meminfo_kb=20 * 2 ** 20, cgroup=("max", GiB))
    assert check.available_memory() == 20 * GiB


def test_available_memory_falls_back_to_sysconf_and_then_to_unknown(monkeypatch, tmp_path):
    fake_memory(monkeypatch, tmp_path)                      # no meminfo, no cgroup
    monkeypatch.setattr(check.os, "sysconf", {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}.__getitem__)
    assert check.available_memory() == 4096000

    def no_sysconf(name):
        raise ValueError(name)
    monkeypatch.setattr(check.os, "sysconf", no_sysconf)
    assert check.available_memory() is None


def test_fits_in_memory_refuses_with_the_estimate_and_what_is_available(monkeypatch):
    monkeypatch.setattr(check, "available_memory", lambda xp=np: int(23.1 * GiB))
    message = raises_naming(check.TooLargeError, lambda: check.fits_in_memory(
        6_400_480_000, np.float64, "LSTM(1, 40000)", "its parameters", ": use less"),
        "LSTM(1, 40000) needs 47.7 GiB for its parameters; this machine has 23.1 GiB available: use less")
    assert message
    check.fits_in_memory(3 * GiB // 8, np.float64, "x", "y")            # 3 GiB of 23.1: passes
    with pytest.raises(MemoryError):                                    # also what NumPy would raise
        check.fits_in_memory(4 * GiB, np.float64, "x", "y")


def test_fits_in_memory_does_not_read_memory_for_small_sizes(monkeypatch):
    def unreadable(xp=np):
        raise AssertionError("available_memory was read")
    monkeypatch.setattr(check, "available_memory", unreadable)
    check.fits_in_memory(check.ALWAYS_FITS // 8, np.float64, "x", "y")
    with pytest.raises(AssertionError):
        check.fits_in_memory(check.ALWAYS_FITS // 8 + 1, np.float64, "x", "y")


def test_fits_in_memory_refuses_what_no_array_can_address_even_when_memory_is_unknown(monkeypatch):
    monkeypatch.setattr(check, "available_memory", lambda xp=np: None)
    check.fits_in_memory(2 ** 40, np.float64, "x", "y")                # unknown memory: only the address limit
    raises_naming(ValueError, lambda: check.fits_in_memory(2 ** 62, np.float64, "LSTM(4, 10**19)", "z"),
                  "LSTM(4, 10**19) needs 32.0 EiB for z, more than any array can address")


@pytest.mark.parametrize("n_bytes, text", [(512, "512 B"), (5 * 2 ** 20, "5.0 MiB"), (102407680000, "95.4 GiB"),
                                           (2 ** 70, "1024.0 EiB"), (2 ** 200, "1.4e+42 EiB")])
def test_bytes_text(n_bytes, text):
    assert check.bytes_text(n_bytes) == text


@pytest.mark.parametrize("dtype", ["01", "x", "(", "f8,", "3f8", np.int64])
def test_float_dtype_refuses_every_other_dtype_or_string_as_a_type_error(dtype):
    raises_naming(TypeError, lambda: check.float_dtype(dtype, "dtype"), "dtype must be float32 or float64")

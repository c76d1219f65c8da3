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

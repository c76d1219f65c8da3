"""Assertions shared by the test files."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpylstm import _validate


def raises_naming(error, call, *fragments):
    """Run ``call``; it must raise ``error`` whose message holds every fragment. Returns the message."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} is not in the message {message!r}"
    return message


def random_array(rng, shape, scale, dtype=np.float64):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def assert_finite(*arrays):
    for array in arrays:
        assert np.all(np.isfinite(array)), "a well-formed call returned nan or inf"


def memory_of(monkeypatch, n_bytes):
    """Make every size check of the library see ``n_bytes`` available, and look memory up for any size."""
    monkeypatch.setattr(_validate, "available_memory", lambda xp=np: n_bytes)
    monkeypatch.setattr(_validate, "ALWAYS_FITS", 0)


def refused_naming(call, *names):
    """Run ``call``: it may succeed (the value was acceptable); if it raises, the error must be a
    ValueError or TypeError whose message holds one of ``names`` (for a size that cannot fit, a
    ``TooLargeError`` shows the value instead, in the module it sizes). Returns the error or None."""
    try:
        call()
    except _validate.TooLargeError as error:
        assert "needs" in str(error), str(error)
        return error
    except (ValueError, TypeError) as error:
        assert any(name in str(error) for name in names), f"none of {names} is in the message {str(error)!r}"
        return error
    return None


def fuzzed_arguments_test(calls, max_examples, names=None):
    """A hypothesis test: one argument of one valid call of ``calls`` replaced by a hostile value must be
    accepted or refused naming it (``refused_naming``).

    ``calls`` maps a case to ``(function, valid keyword arguments)``; ``names`` maps an argument to the
    names its messages may use instead (the models' ``x`` is the LSTM's ``input``).
    """
    from strategies import hostile_values

    @pytest.mark.filterwarnings("ignore:dropout option adds dropout")   # dropout > 0 with one layer: valid, warned
    @settings(max_examples=max_examples)
    @given(case=st.sampled_from(sorted(calls)), value=hostile_values, data=st.data())
    def test(case, value, data):
        call, valid = calls[case]
        argument = data.draw(st.sampled_from(sorted(valid)))
        refused_naming(lambda: call(**dict(valid, **{argument: value})), *(names or {}).get(argument, (argument,)))
    return test

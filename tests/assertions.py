"""Assertions shared by the test files."""
import pytest


def raises_naming(error, call, *fragments):
    """Run ``call``; it must raise ``error`` whose message holds every fragment. Returns the message."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} is not in the message {message!r}"
    return message

"""Hypothesis strategies shared by the test files: shapes and float64 arrays."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

small_sizes = st.integers(min_value=1, max_value=5)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def lstm_configs(draw, max_layers=3, bidirectional=None, proj=None):
    """Keyword arguments for ``LSTM``: small sizes, layers 1..max_layers, random options."""
    hidden = draw(st.integers(min_value=2, max_value=5))
    return dict(
        input_size=draw(small_sizes),
        hidden_size=hidden,
        num_layers=draw(st.integers(min_value=1, max_value=max_layers)),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()) if bidirectional is None else bidirectional,
        proj_size=(draw(st.integers(min_value=0, max_value=hidden - 1)) if proj is None else proj),
        seed=draw(seeds),
    )


@st.composite
def sequence_shapes(draw, max_T=6, max_N=4):
    """``(T, N)``: sequence length and batch size."""
    return draw(st.integers(1, max_T)), draw(st.integers(1, max_N))


def float_arrays(shape, scale=1.0):
    """float64 arrays of ``shape`` with finite values in [-scale, scale]."""
    return hnp.arrays(np.float64, shape,
                      elements=st.floats(-scale, scale, allow_nan=False, allow_infinity=False))


@st.composite
def lengths_for(draw, T, N):
    """One length per sequence in 1..T, any order, as an int64 array."""
    return np.array(draw(st.lists(st.integers(1, T), min_size=N, max_size=N)), dtype=np.int64)

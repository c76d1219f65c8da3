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


# ------------------------------------------------------------ reliability (malformed and random calls)
# The dtypes every module refuses for float data (the dtype rule in numpylstm._validate.float_array).
REFUSED_DTYPES = (np.int64, np.int32, np.uint8, np.bool_, np.complex128, np.object_, np.str_)
refused_dtypes = st.sampled_from(REFUSED_DTYPES)


def array_of_dtype(shape, dtype):
    """An array of ``shape`` and the (possibly refused) ``dtype``: zeros, or "a" for strings."""
    if np.dtype(dtype).kind == "U":
        return np.full(shape, "a")
    return np.zeros(shape).astype(dtype)


@st.composite
def wrong_shapes(draw, shape, axes=None):
    """A shape that differs from ``shape``: one axis more, one axis fewer, or one size changed.

    ``axes`` limits the size changes to those axes (all by default); rank changes
    are then left out, so the result keeps the rank and differs exactly there.
    """
    shape = tuple(shape)
    kinds = ["resize"] if axes is not None else ["resize", "extra_axis", "missing_axis"]
    if not shape:
        kinds = ["extra_axis"]
    kind = draw(st.sampled_from(kinds))
    if kind == "extra_axis":
        where = draw(st.integers(0, len(shape)))
        return shape[:where] + (draw(small_sizes),) + shape[where:]
    if kind == "missing_axis":
        where = draw(st.integers(0, len(shape) - 1))
        return shape[:where] + shape[where + 1:]
    axis = draw(st.sampled_from(list(range(len(shape)) if axes is None else axes)))
    size = draw(st.integers(1, shape[axis] + 3).filter(lambda s: s != shape[axis]))
    return shape[:axis] + (size,) + shape[axis + 1:]


@st.composite
def rnn_configs(draw):
    """Keyword arguments for ``RNN``: small sizes, layers 1..3, random options."""
    return dict(
        input_size=draw(small_sizes),
        hidden_size=draw(small_sizes),
        num_layers=draw(st.integers(1, 3)),
        nonlinearity=draw(st.sampled_from(["tanh", "relu"])),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        seed=draw(seeds),
    )


float_dtypes = st.sampled_from([np.float32, np.float64])
# Scales of the inputs of the random well-formed calls: ordinary, large, and the 1e6 of issue 7.
input_scales = st.sampled_from([1.0, 1e3, 1e6])


# ------------------------------------------------------------ hostile arguments (issue 14)
# What a careless or hostile caller passes where any argument belongs: wrong types, NumPy's odd
# corners (0-d, empty, object, complex, masked), ragged lists, huge and subnormal numbers. Each is
# made fresh per example (a factory), so no call can see another's in-place changes.
HOSTILE_FACTORIES = (
    lambda: None, lambda: "x", lambda: "no", lambda: True, lambda: 2.5, lambda: -1, lambda: 0, lambda: 10 ** 19,
    lambda: np.uint64(2 ** 64 - 1), lambda: float("nan"), lambda: float("inf"), lambda: 1e-320, lambda: -1e308,
    lambda: [], lambda: [[1], [1, 2]], lambda: (1, 2, 3), lambda: np.array(3.0), lambda: np.zeros((0, 3)),
    lambda: np.array(["a"]), lambda: np.array([1 + 2j]), lambda: np.zeros((2, 3), dtype=object),
    lambda: np.ma.masked_array([1.0, 2.0], mask=[False, True]), lambda: object(),
)
hostile_values = st.one_of(st.sampled_from(HOSTILE_FACTORIES).map(lambda make: make()),
                           st.integers(-3, 3), st.floats(width=64), st.text(max_size=3))

# Shipped text: numpylstm/texts/sonnets.txt holds Sonnets 1-25 of William Shakespeare's
# "Shake-speares Sonnets" (first printed 1609; public domain), in the modernised text
# distributed by Project Gutenberg, without its licence header and sonnet numbers (the
# sonnets are separated by blank lines). Two typographical slips of that transcription are
# corrected: "on th;heart" -> "on thy heart" (22) and "proud compare'" -> "proud compare," (21).
"""Built-in tasks: small data sets made on the spot, seeded, no downloads.

Every array has the samples on axis 0, so sequence inputs are (N, T, features):
build LSTMs with ``batch_first=True`` for them.

==========================  ====================================================
task                        returns
==========================  ====================================================
``sine_task``               next-value prediction on a noisy (multi-)sine series,
                            chronological train/test split (``SeriesTask``)
``adding_problem``          X (N, T, 2), y (N, 1): add the two marked numbers
``reversal_task``           token sequences and their reversals for Seq2Seq
                            (``ReversalData``; tokens ``PAD``, ``START``, ``END``)
``classification_task``     X (N, T, 1), y (N,): which of ``n_classes`` frequencies
``char_task``               a character language model on the shipped sonnets
                            (``CharTask`` with its ``CharVocab``)
==========================  ====================================================

``minibatches`` walks through any arrays together in (optionally shuffled)
batches, and ``train_test_split`` splits them.
"""
import math
import numbers
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import _validate as check
from .backend import get_array_module, to_numpy

TEXT_FOLDER = Path(__file__).resolve().parent / "texts"

# Special tokens of ``reversal_task``; the n_symbols ordinary symbols follow them.
PAD, START, END = 0, 1, 2
FIRST_SYMBOL = 3


# ------------------------------------------------------------------- argument checks
def make_rng(seed, name="seed"):
    """A ``numpy.random.Generator`` from ``seed``: None (fresh entropy), an int >= 0, a SeedSequence or a Generator.

    Passing the same Generator to several calls continues its stream, which is
    how ``fit`` draws a new but reproducible shuffle every epoch.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check.seed(seed, name))


def _fraction(value, name):
    """A number strictly between 0 and 1 (a split fraction)."""
    return check.real(value, name, 0, 1, low_open=True, high_open=True)


def _positive_reals(values, name):
    """A non-empty sequence of positive finite numbers, as a float64 array."""
    if isinstance(values, numbers.Real):
        values = (values,)
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of positive numbers, got {type(values).__name__}") from None
    if not items:
        raise ValueError(f"{name} must hold at least one number, got an empty sequence")
    return np.array([check.positive_real(v, f"{name}[{k}]") for k, v in enumerate(items)])


def _arrays_fit(n_values, dtype, call):
    """Refuse a data set whose arrays (``n_values`` values of ``dtype``, temporaries included) cannot fit."""
    check.fits_in_memory(n_values, dtype, call, "its arrays", ": ask for fewer or shorter samples")


def _integer_ids(ids):
    """``ids`` as a NumPy array of integers (copied off the GPU if needed); TypeError otherwise."""
    return to_numpy(check.integer_array(ids, "ids", what="integer ids"))


def _same_length(arrays, name):
    """Refuse non-arrays, and arrays that do not share the length of their first axis."""
    for k, a in enumerate(arrays):
        if not hasattr(a, "shape"):  # a list would be indexed by the batch index arrays and fail obscurely
            raise TypeError(f"{name}[{k}] must be an array (NumPy or CuPy) with the samples on axis 0, "
                            f"got {type(a).__name__}; convert it with np.asarray")
    lengths = [len(a) if a.ndim else None for a in arrays]
    if None in lengths:
        k = lengths.index(None)
        raise ValueError(f"{name}[{k}] must be an array with a sample axis, got a 0-d value")
    if len(set(lengths)) > 1:
        shapes = [tuple(a.shape) for a in arrays]
        raise ValueError(f"{name} must all have the same number of samples (first axis), got shapes {shapes}")
    return lengths[0]


# ------------------------------------------------------------------------ batching
def minibatches(*arrays, batch_size, shuffle=True, seed=None, drop_last=False):
    """Yield tuples of matching batches of ``arrays`` along their first axis.

    Parameters
    ----------
    *arrays : arrays of shape (N, ...) with the same N (NumPy or CuPy)
    batch_size : int >= 1; the last batch is smaller when N is not a multiple
    shuffle : visit the samples in a random order (one permutation per call)
    seed : None, int or numpy Generator for that order
    drop_last : skip a last batch smaller than ``batch_size``

    Yields
    ------
    tuple of arrays, one per input, each (B, ...) with B <= batch_size

    Examples
    --------
    >>> for X_batch, y_batch in minibatches(X, y, batch_size=32, seed=0): ...
    """
    if not arrays:
        raise ValueError("minibatches needs at least one array, got none")
    batch_size = check.positive_int(batch_size, "batch_size")
    shuffle = check.boolean(shuffle, "shuffle")
    drop_last = check.boolean(drop_last, "drop_last")
    n = _same_length(arrays, "arrays")
    if n == 0:
        raise ValueError("arrays must not be empty, got arrays with 0 samples")
    order = make_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        yield tuple(a[get_array_module(a).asarray(index)] for a in arrays)


def train_test_split(*arrays, test_fraction=0.2, shuffle=False, seed=None):
    """Split ``arrays`` (N, ...) into ``[a_train, a_test, b_train, b_test, ...]``.

    Without ``shuffle`` the split is chronological: the first samples train,
    the last ``ceil(test_fraction * N)`` test, so no test sample precedes a
    training one (what a time series needs).
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array, got none")
    test_fraction = _fraction(test_fraction, "test_fraction")
    shuffle = check.boolean(shuffle, "shuffle")
    n = _same_length(arrays, "arrays")
    n_test = math.ceil(test_fraction * n)
    if n_test >= n:
        raise ValueError(f"test_fraction={test_fraction} leaves no training samples out of {n}")
    order = make_rng(seed).permutation(n) if shuffle else np.arange(n)
    train, test = order[:n - n_test], order[n - n_test:]
    return [part for a in arrays for part in (a[train], a[test])]


# -------------------------------------------------------------- time series (sine)
class SeriesTask(NamedTuple):
    """Windows of one series for next-value prediction, split in time.

    ``X_*[k]`` (T, 1) holds T consecutive values and ``y_*[k]`` (1,) the value
    right after them. Every training target lies before every test target:
    ``y_train`` is ``series[T:split]`` and ``y_test`` is ``series[split:]``.
    """
    X_train: np.ndarray   # (N_train, T, 1)
    y_train: np.ndarray   # (N_train, 1)
    X_test: np.ndarray    # (N_test, T, 1)
    y_test: np.ndarray    # (N_test, 1)
    series: np.ndarray    # (n_steps,) the whole noisy series
    split: int            # index in ``series`` of the first test target


def sine_series(n_steps, frequencies=(1.0,), amplitudes=None, dt=0.04, noise=0.02, seed=None,
                dtype=np.float64):
    r"""A noisy sum of sines sampled at ``t = 0, dt, 2 dt, ...``.

    .. math:: s_t = \sum_k a_k \sin(2\pi f_k t + \varphi_k) + \sigma \epsilon_t,
              \quad \epsilon_t \sim N(0, 1)

    with random phases :math:`\varphi_k` (the first is 0).

    Parameters
    ----------
    n_steps : int, number of samples
    frequencies : sequence of positive floats f_k, in cycles per unit of t
        (with the default dt=0.04, f=1 is a period of 25 samples)
    amplitudes : sequence of positive floats a_k (default: all 1 / number of frequencies)
    dt : positive float, the sampling interval
    noise : float >= 0, the standard deviation sigma of the added Gaussian noise
    seed : None, int or numpy Generator
    dtype : float32 or float64

    Returns
    -------
    series : (n_steps,) array of ``dtype``
    """
    n_steps = check.positive_int(n_steps, "n_steps")
    frequencies = _positive_reals(frequencies, "frequencies")
    amplitudes = (np.full(len(frequencies), 1.0 / len(frequencies)) if amplitudes is None
                  else _positive_reals(amplitudes, "amplitudes"))
    if len(amplitudes) != len(frequencies):
        raise ValueError(f"amplitudes must have one entry per frequency ({len(frequencies)}), "
                         f"got {len(amplitudes)}")
    dt = check.positive_real(dt, "dt")
    noise = check.non_negative_real(noise, "noise")
    dtype = check.float_dtype(dtype)
    _arrays_fit(n_steps * (len(frequencies) + 3), np.float64, f"sine_series(n_steps={n_steps})")
    rng = make_rng(seed)
    phases = np.concatenate([[0.0], rng.uniform(0, 2 * np.pi, len(frequencies) - 1)])
    t = np.arange(n_steps) * dt
    clean = (amplitudes * np.sin(2 * np.pi * frequencies * t[:, None] + phases)).sum(axis=1)
    return (clean + noise * rng.standard_normal(n_steps)).astype(dtype)


def window_series(series, window):
    """Every run of ``window`` consecutive values and the value that follows it.

    Parameters
    ----------
    series : (n_steps,) array
    window : int, 1 <= window < n_steps

    Returns
    -------
    X : (n_steps - window, window, 1), ``X[k, :, 0] = series[k:k + window]``
    y : (n_steps - window, 1), ``y[k, 0] = series[k + window]``
    """
    series = check.float_array(series, "series", getattr(series, "dtype", np.float64))
    check.ndim_in(series, "series", (1,), "a 1-d array (n_steps,)")
    window = check.positive_int(window, "window")
    if window >= len(series):
        raise ValueError(f"window must be smaller than the series length {len(series)}, got {window}")
    n = len(series) - window
    index = np.arange(n)[:, None] + np.arange(window)[None, :]
    xp = get_array_module(series)
    return series[xp.asarray(index)][..., None], series[window:][:, None]


def sine_task(n_steps=1000, window=25, test_fraction=0.2, frequencies=(1.0,), amplitudes=None,
              dt=0.04, noise=0.02, seed=None, dtype=np.float64):
    """The sine task: windows of a noisy sine series, split chronologically.

    The series is ``sine_series(n_steps, frequencies, amplitudes, dt, noise, seed)``;
    its ``n_steps - window`` windows (``window_series``) are split so that the
    last ``ceil(test_fraction * N)`` windows, whose targets are the end of the
    series, form the test set. Compare a model with ``last_value_baseline``.

    Returns
    -------
    SeriesTask(X_train (N_train, window, 1), y_train (N_train, 1),
               X_test (N_test, window, 1), y_test (N_test, 1), series (n_steps,), split)
    """
    series = sine_series(n_steps, frequencies, amplitudes, dt, noise, seed, dtype)
    if check.positive_int(window, "window") >= n_steps - 1:
        raise ValueError(f"window must be smaller than n_steps - 1 = {n_steps - 1}, got {window}")
    X, y = window_series(series, window)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=test_fraction)
    return SeriesTask(X_train, y_train, X_test, y_test, series, window + len(X_train))


def multi_sine_task(frequencies=(0.5, 1.0, 1.7), amplitudes=(0.5, 0.3, 0.2), **kwargs):
    """``sine_task`` on a sum of three sines (a harder, less regular series); same arguments."""
    return sine_task(frequencies=frequencies, amplitudes=amplitudes, **kwargs)


def last_value_baseline(X):
    """The naive forecast "the next value equals the last one seen": ``X[:, -1, :]``, shape (N, 1)."""
    X = check.float_array(X, "X", getattr(X, "dtype", np.float64))
    check.ndim_in(X, "X", (3,), "a batch of windows (N, T, features)")
    check.non_empty(X, "X")
    return X[:, -1, :]


# ------------------------------------------------------------------ adding problem
def adding_problem(n_samples, seq_len=50, seed=None, dtype=np.float64):
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4).

    Each sequence has two channels: ``X[n, :, 0]`` holds numbers drawn
    uniformly from [0, 1), ``X[n, :, 1]`` marks exactly two steps with 1 (one
    in the first half of the sequence, one in the second) and is 0 elsewhere.
    The target is the sum of the two marked numbers, so the model must carry
    the first one across about T/2 steps. This is the variant used by Le,
    Jaitly & Hinton (2015) and later papers; the 1997 paper drew the numbers
    from [-1, 1]. Predicting the constant 1.0 gives an MSE of 1/6 (the
    variance of a sum of two U(0, 1) numbers), the bar a model must beat.

    Parameters
    ----------
    n_samples : int, N
    seq_len : int >= 2, T
    seed : None, int or numpy Generator
    dtype : float32 or float64

    Returns
    -------
    X : (N, T, 2) array of ``dtype``
    y : (N, 1) array of ``dtype``
    """
    n_samples = check.positive_int(n_samples, "n_samples")
    seq_len = check.positive_int(seq_len, "seq_len")
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2 (one marker in each half), got {seq_len}")
    dtype = check.float_dtype(dtype)
    _arrays_fit(6 * n_samples * seq_len, np.float64, f"adding_problem(n_samples={n_samples}, seq_len={seq_len})")
    rng = make_rng(seed)
    half = seq_len // 2
    values = rng.uniform(0.0, 1.0, (n_samples, seq_len))
    first = rng.integers(0, half, n_samples)
    second = rng.integers(half, seq_len, n_samples)
    markers = np.zeros((n_samples, seq_len))
    rows = np.arange(n_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return np.stack([values, markers], axis=-1).astype(dtype), y[:, None].astype(dtype)


# --------------------------------------------------------------------- reversal
class ReversalData(NamedTuple):
    """Token sequences and their reversals, padded, for an encoder-decoder.

    With n = ``source_lengths[k]`` and source symbols s_1 .. s_n:

    - ``source[k]``        = s_1 .. s_n, PAD ...               (N, max_len)
    - ``decoder_input[k]`` = START, s_n .. s_1, PAD ...        (N, max_len + 1)
    - ``target[k]``        = s_n .. s_1, END, PAD ...          (N, max_len + 1)
    - ``target_mask[k]``   = True on the first n + 1 positions (N, max_len + 1)

    Teacher forcing feeds ``decoder_input`` and scores the decoder's logits
    against ``target`` where ``target_mask`` is True (the mask argument of
    ``cross_entropy``); greedy decoding starts from START and stops at END.
    """
    source: np.ndarray          # (N, max_len) int64
    source_lengths: np.ndarray  # (N,) int64 in min_len..max_len
    decoder_input: np.ndarray   # (N, max_len + 1) int64
    target: np.ndarray          # (N, max_len + 1) int64
    target_mask: np.ndarray     # (N, max_len + 1) bool
    n_tokens: int               # vocabulary size: 3 special tokens + n_symbols


def reversal_task(n_samples, n_symbols=10, min_len=3, max_len=8, seed=None):
    """Sequences of random symbols to be output in reverse order.

    Tokens: ``PAD = 0`` (padding after a sequence's end), ``START = 1`` (first
    decoder input), ``END = 2`` (last target, where decoding stops), and the
    symbols ``3 .. 3 + n_symbols - 1``. Lengths are uniform in min_len..max_len.

    Returns
    -------
    ReversalData (see its docstring for the arrays and their shapes)
    """
    n_samples = check.positive_int(n_samples, "n_samples")
    n_symbols = check.integer(n_symbols, "n_symbols", 1, np.iinfo(np.int64).max - FIRST_SYMBOL,
                              context=" (token ids are int64)")
    min_len = check.positive_int(min_len, "min_len")
    max_len = check.positive_int(max_len, "max_len")
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got min_len={min_len} and max_len={max_len}")
    _arrays_fit(6 * n_samples * (max_len + 1), np.int64, f"reversal_task(n_samples={n_samples}, max_len={max_len})")
    rng = make_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, n_samples)
    symbols = rng.integers(FIRST_SYMBOL, FIRST_SYMBOL + n_symbols, (n_samples, max_len))
    position = np.arange(max_len + 1)[None, :]
    source = np.where(position[:, :max_len] < lengths[:, None], symbols, PAD)
    reversed_symbols = np.zeros((n_samples, max_len + 1), dtype=np.int64)
    for k, n in enumerate(lengths):
        reversed_symbols[k, :n] = source[k, :n][::-1]
    target = np.where(position < lengths[:, None], reversed_symbols,
                      np.where(position == lengths[:, None], END, PAD))
    decoder_input = np.full((n_samples, max_len + 1), PAD, dtype=np.int64)
    decoder_input[:, 0] = START
    decoder_input[:, 1:] = np.where(position[:, 1:] <= lengths[:, None], reversed_symbols[:, :max_len], PAD)
    return ReversalData(source.astype(np.int64), lengths.astype(np.int64), decoder_input,
                        target.astype(np.int64), position <= lengths[:, None],
                        FIRST_SYMBOL + n_symbols)


def exact_match(predicted, target, target_mask):
    """The fraction of sequences whose every unmasked target token was predicted.

    Parameters
    ----------
    predicted : (N, L) integer tokens (e.g. from greedy decoding); shorter
        than the target counts as wrong where the target still has tokens
    target : (N, M) integer tokens
    target_mask : (N, M) bool, True where the target counts (through END)

    Returns
    -------
    float in [0, 1]
    """
    predicted, target = (to_numpy(check.integer_array(array, name, what="integer tokens"))
                         for array, name in ((predicted, "predicted"), (target, "target")))
    for array, name in ((predicted, "predicted"), (target, "target")):
        check.ndim_in(array, name, (2,), "(N, length)")
    mask = to_numpy(check.mask_array(target_mask, "target_mask", target.shape, "(the shape of target)"))
    if len(predicted) != len(target):
        raise ValueError(f"predicted must have one row per target sequence ({len(target)}), got {len(predicted)}")
    M = target.shape[1]
    padded = np.full(target.shape, -1, dtype=np.int64)
    keep = min(M, predicted.shape[1])
    padded[:, :keep] = predicted[:, :keep]
    correct = (padded == target) | ~mask
    return float(correct.all(axis=1).mean())


# --------------------------------------------------------------- classification
def classification_task(n_samples, seq_len=30, n_classes=3, noise=0.5, seed=None, dtype=np.float64):
    r"""Tell which of ``n_classes`` frequencies a noisy sine wave has.

    A sequence of class k is

    .. math:: x_t = \sin(2\pi (k + 1) t / T + \varphi) + \sigma \epsilon_t,
              \quad t = 0 .. T - 1

    with a random phase :math:`\varphi` and Gaussian noise of standard deviation
    ``noise``: class 0 makes one full cycle over the sequence, class 1 two,
    and so on. One step says little (noise 0.5 against an amplitude of 1);
    the class shows in how the values rise and fall over many steps, which
    the LSTM must accumulate. The classes are balanced (their counts differ
    by at most one), so chance level is ``1 / n_classes`` (33% for 3 classes).

    Returns
    -------
    X : (N, T, 1) array of ``dtype``
    y : (N,) int64 class indices in 0 .. n_classes - 1
    """
    n_samples = check.positive_int(n_samples, "n_samples")
    seq_len = check.positive_int(seq_len, "seq_len")
    n_classes = check.positive_int(n_classes, "n_classes")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    if seq_len < 2 * n_classes + 1:
        raise ValueError(f"seq_len must be at least 2 * n_classes + 1 = {2 * n_classes + 1} so that "
                         f"{n_classes} cycles stay distinguishable, got {seq_len}")
    noise = check.non_negative_real(noise, "noise")
    dtype = check.float_dtype(dtype)
    _arrays_fit(3 * n_samples * seq_len, np.float64,
                f"classification_task(n_samples={n_samples}, seq_len={seq_len})")
    rng = make_rng(seed)
    y = rng.permutation(np.arange(n_samples) % n_classes)
    phase = rng.uniform(0, 2 * np.pi, n_samples)
    t = np.arange(seq_len) / seq_len
    X = np.sin(2 * np.pi * (y[:, None] + 1) * t[None, :] + phase[:, None])
    X += noise * rng.standard_normal(X.shape)
    return X[..., None].astype(dtype), y.astype(np.int64)


# ----------------------------------------------------------------------- text
def available_texts():
    """Names of the texts shipped with the package (``load_text`` takes them)."""
    return sorted(p.stem for p in TEXT_FOLDER.glob("*.txt"))


def load_text(name="sonnets"):
    """The text shipped as ``numpylstm/texts/<name>.txt`` (see the header of this file for its source)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    names = available_texts()
    if name not in names:
        raise ValueError(f"name must be one of the shipped texts {names}, got {name!r}")
    return (TEXT_FOLDER / f"{name}.txt").read_text(encoding="utf-8")


class CharVocab:
    """A character vocabulary: every distinct character of a text, sorted, numbered from 0.

    ``vocab.encode("text")`` gives an int64 array of ids, ``vocab.decode(ids)``
    the string back, and ``decode(encode(s)) == s`` for every string made of
    the vocabulary's characters.
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        if not text:
            raise ValueError("text must not be empty, got ''")
        self.chars = sorted(set(text))
        self._index = {ch: k for k, ch in enumerate(self.chars)}

    @property
    def size(self):
        """V, the number of distinct characters."""
        return len(self.chars)

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"CharVocab(size={self.size})"

    def encode(self, text):
        """``text`` (str) as an int64 array of ids, shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        unknown = sorted(set(text) - set(self._index))
        if unknown:
            raise ValueError(f"text holds characters outside the vocabulary: {unknown}")
        return np.fromiter((self._index[ch] for ch in text), dtype=np.int64, count=len(text))

    def decode(self, ids):
        """The string of the ids ``ids`` (any shape is flattened), each in 0 .. size - 1."""
        ids = to_numpy(check.integer_array(ids, "ids", 0, self.size - 1, what="character ids",
                                           context=f" (a vocabulary of {self.size})"))
        return "".join(self.chars[k] for k in ids.ravel())


def char_windows(ids, seq_len, step=None):
    """Input/target pairs for a character language model.

    Parameters
    ----------
    ids : (L,) int array, the encoded text
    seq_len : int, T
    step : int, distance between window starts (default T: no overlap)

    Returns
    -------
    X : (N, T) int64, ``X[k] = ids[k*step : k*step + T]``
    Y : (N, T) int64, the next characters, ``Y[k] = ids[k*step + 1 : k*step + T + 1]``
    """
    ids = _integer_ids(ids)
    check.ndim_in(ids, "ids", (1,), "a 1-d array of character ids (L,)")
    seq_len = check.positive_int(seq_len, "seq_len")
    step = seq_len if step is None else check.positive_int(step, "step")
    step = min(step, len(ids))   # a longer step gives the same single window (and stays an index)
    if len(ids) < seq_len + 1:
        raise ValueError(f"ids must hold at least seq_len + 1 = {seq_len + 1} characters, got {len(ids)}")
    n_windows = -(-(len(ids) - seq_len) // step)
    _arrays_fit(3 * n_windows * seq_len, np.int64, f"char_windows of {n_windows} windows (seq_len={seq_len})")
    starts = np.arange(0, len(ids) - seq_len, step)
    index = starts[:, None] + np.arange(seq_len)[None, :]
    return ids[index].astype(np.int64), ids[index + 1].astype(np.int64)


class CharTask(NamedTuple):
    """A character language-modelling task: predict every next character."""
    X_train: np.ndarray   # (N_train, T) int64 character ids
    Y_train: np.ndarray   # (N_train, T) int64 next-character ids
    X_test: np.ndarray    # (N_test, T)
    Y_test: np.ndarray    # (N_test, T)
    vocab: CharVocab


def char_task(seq_len=64, test_fraction=0.1, step=None, name="sonnets"):
    """The shipped text, encoded, cut in windows (``char_windows``), the last ones kept for testing.

    The split is on the text itself: the test windows come from its last
    ``test_fraction``, which no training window overlaps.
    """
    text = load_text(name)
    test_fraction = _fraction(test_fraction, "test_fraction")
    seq_len = check.positive_int(seq_len, "seq_len")
    vocab = CharVocab(text)
    ids = vocab.encode(text)
    cut = len(ids) - math.ceil(test_fraction * len(ids))
    for part, size in (("training", cut), ("test", len(ids) - cut)):
        if size < seq_len + 1:
            raise ValueError(f"test_fraction={test_fraction} leaves {size} characters of {len(ids)} for {part}, "
                             f"fewer than one window needs (seq_len + 1 = {seq_len + 1})")
    X_train, Y_train = char_windows(ids[:cut], seq_len, step)
    X_test, Y_test = char_windows(ids[cut:], seq_len, step)
    return CharTask(X_train, Y_train, X_test, Y_test, vocab)


def unigram_entropy(ids, n_tokens=None):
    r"""The entropy :math:`-\sum_v p_v \log p_v` (nats) of the token frequencies in ``ids``.

    The cross-entropy of a model that ignores context and predicts the
    character frequencies; a language model is learning context once its
    loss falls below it.

    Parameters
    ----------
    ids : non-empty integer array of any shape, token ids >= 0
    n_tokens : int or None, the vocabulary size; every id must be below it

    Returns
    -------
    float, in nats
    """
    ids = _integer_ids(ids)
    if ids.size == 0:
        raise ValueError("ids must not be empty")
    if int(ids.min()) < 0:
        raise ValueError(f"ids must be token ids >= 0, got values from {ids.min()} to {ids.max()}")
    if n_tokens is not None and int(ids.max()) >= check.positive_int(n_tokens, "n_tokens"):
        raise ValueError(f"ids must be below n_tokens={n_tokens}, got values up to {ids.max()}")
    # Counts of the ids that occur (ids that never occur add nothing): memory of the size of ids,
    # where bincount would allocate one count per possible id up to the largest.
    _, counts = np.unique(ids, return_counts=True)
    p = counts / ids.size
    return float(-(p * np.log(p)).sum())


"""Built-in tasks: shapes, seeding, targets recomputed independently, splits, vocabulary, batching."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from numpylstm import data

from assertions import fuzzed_arguments_test, raises_naming
from strategies import seeds


# ------------------------------------------------------------------------ sine
def test_sine_task_shapes_dtype_and_split_sizes():
    task = data.sine_task(n_steps=300, window=20, test_fraction=0.25, seed=0, dtype=np.float32)
    n = 300 - 20
    n_test = int(np.ceil(0.25 * n))
    assert task.X_train.shape == (n - n_test, 20, 1) and task.y_train.shape == (n - n_test, 1)
    assert task.X_test.shape == (n_test, 20, 1) and task.y_test.shape == (n_test, 1)
    assert task.series.shape == (300,)
    assert {a.dtype for a in task[:5]} == {np.dtype(np.float32)}


def test_sine_task_split_is_chronological_and_windows_come_from_the_series():
    task = data.sine_task(n_steps=200, window=10, seed=3)
    s = task.series
    # Every training target precedes every test target, and together they are the series after the first window.
    np.testing.assert_array_equal(task.y_train[:, 0], s[10:task.split])
    np.testing.assert_array_equal(task.y_test[:, 0], s[task.split:])
    for X, y in ((task.X_train, task.y_train), (task.X_test, task.y_test)):
        for k in (0, len(X) // 2, len(X) - 1):
            start = np.flatnonzero(s == y[k, 0])[0] - 10
            np.testing.assert_array_equal(X[k, :, 0], s[start:start + 10])


def test_sine_series_without_noise_is_the_formula():
    t = np.arange(50) * 0.1
    series = data.sine_series(50, frequencies=(0.7,), amplitudes=(2.0,), dt=0.1, noise=0.0, seed=0)
    np.testing.assert_allclose(series, 2.0 * np.sin(2 * np.pi * 0.7 * t), rtol=0, atol=1e-12)


def test_sine_series_noise_has_the_requested_standard_deviation():
    clean = data.sine_series(20000, noise=0.0, seed=5)
    noisy = data.sine_series(20000, noise=0.3, seed=5)
    assert abs(np.std(noisy - clean) - 0.3) < 0.01


def test_multi_frequency_series_differs_from_a_single_sine_and_is_seeded():
    a = data.multi_sine_task(n_steps=120, window=10, seed=1)
    b = data.multi_sine_task(n_steps=120, window=10, seed=1)
    c = data.multi_sine_task(n_steps=120, window=10, seed=2)
    np.testing.assert_array_equal(a.series, b.series)
    assert not np.array_equal(a.series, c.series)
    assert a.X_train.shape[1:] == (10, 1)


def test_sine_task_reproducible_with_a_seed_and_different_across_seeds():
    a, b, c = (data.sine_task(n_steps=100, window=5, seed=s) for s in (7, 7, 8))
    for x, y in zip(a[:5], b[:5]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.series, c.series)


def test_last_value_baseline_is_the_last_step_of_each_window():
    task = data.sine_task(n_steps=100, window=5, seed=0)
    baseline = data.last_value_baseline(task.X_test)
    assert baseline.shape == task.y_test.shape
    np.testing.assert_array_equal(baseline[1:, 0], task.y_test[:-1, 0])  # consecutive windows overlap


# --------------------------------------------------------------- adding problem
def test_adding_problem_shapes_markers_and_targets():
    X, y = data.adding_problem(500, seq_len=12, seed=0)
    assert X.shape == (500, 12, 2) and y.shape == (500, 1)
    values, markers = X[..., 0], X[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers[:, :6].sum(axis=1) == 1) and np.all(markers[:, 6:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1), rtol=0, atol=1e-15)


def test_adding_problem_constant_prediction_scores_one_sixth():
    # The bar quoted for the task: Var(U1 + U2) = 2/12 for independent U(0, 1).
    _, y = data.adding_problem(20000, seq_len=4, seed=1)
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 0.01


def test_adding_problem_seeding():
    a, b, c = (data.adding_problem(20, 8, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert data.adding_problem(3, 5, dtype=np.float32)[0].dtype == np.float32


# --------------------------------------------------------------------- reversal
def test_reversal_task_arrays_follow_the_documented_layout():
    r = data.reversal_task(300, n_symbols=10, min_len=3, max_len=8, seed=0)
    N = 300
    assert r.source.shape == (N, 8) and r.source_lengths.shape == (N,)
    assert r.decoder_input.shape == r.target.shape == r.target_mask.shape == (N, 9)
    assert r.n_tokens == 13 and (data.PAD, data.START, data.END) == (0, 1, 2)
    assert set(np.unique(r.source_lengths)) == set(range(3, 9))
    for k in range(N):
        n = r.source_lengths[k]
        src = r.source[k, :n]
        assert np.all((src >= 3) & (src < 13))
        assert np.all(r.source[k, n:] == data.PAD)
        np.testing.assert_array_equal(r.target[k, :n], src[::-1])
        assert r.target[k, n] == data.END and np.all(r.target[k, n + 1:] == data.PAD)
        assert r.decoder_input[k, 0] == data.START
        np.testing.assert_array_equal(r.decoder_input[k, 1:n + 1], src[::-1])
        assert np.all(r.decoder_input[k, n + 1:] == data.PAD)
        np.testing.assert_array_equal(r.target_mask[k], np.arange(9) <= n)


def test_exact_match_counts_whole_sequences_within_the_mask():
    r = data.reversal_task(4, min_len=2, max_len=4, seed=1)
    assert data.exact_match(r.target, r.target, r.target_mask) == 1.0
    short = [k for k in np.flatnonzero(~r.target_mask[:, -1]) if k != 0]  # padding after END
    assert short
    wrong = r.target.copy()
    wrong[0, 0] = (wrong[0, 0] + 1) % r.n_tokens          # inside the mask: sequence 0 is wrong
    wrong[short[0], -1] = 5                                 # after END: ignored
    assert data.exact_match(wrong, r.target, r.target_mask) == 0.75
    shorter = r.target[:, :1]                               # stopped before END: all wrong
    assert data.exact_match(shorter, r.target, r.target_mask) == 0.0


# ------------------------------------------------------------- classification
def test_classification_task_shapes_and_balanced_classes():
    X, y = data.classification_task(301, seq_len=30, n_classes=3, seed=0)
    assert X.shape == (301, 30, 1) and y.shape == (301,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=3)
    assert counts.max() - counts.min() <= 1       # chance level is 1/3


def test_classification_signal_is_learnable_by_a_fixed_frequency_detector():
    # Independent of any training: the dominant Fourier bin recovers the class far above chance.
    X, y = data.classification_task(600, seq_len=30, n_classes=3, noise=0.5, seed=1)
    spectrum = np.abs(np.fft.rfft(X[..., 0], axis=1))
    guess = np.argmax(spectrum[:, 1:4], axis=1)   # bins 1, 2, 3 = one, two, three cycles
    assert np.mean(guess == y) > 0.9


def test_classification_seeding():
    a, b = data.classification_task(10, seed=4), data.classification_task(10, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ------------------------------------------------------------------------- text
def test_shipped_text_loads_and_is_the_sonnets():
    assert "sonnets" in data.available_texts()
    text = data.load_text("sonnets")
    assert text.startswith("From fairest creatures we desire increase,")
    assert "Shall I compare thee to a summer's day?" in text
    assert len(text.split("\n\n")) == 25                  # Sonnets 1-25, blank-line separated
    assert 5_000 < len(text.encode("utf-8")) < 100_000


@given(st.text(alphabet="abc de\nf!", max_size=40))
def test_vocabulary_round_trip(text):
    vocab = data.CharVocab("abc de\nf!")
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text


def test_vocabulary_is_sorted_and_numbered_from_zero():
    vocab = data.CharVocab("hello")
    assert vocab.chars == ["e", "h", "l", "o"] and vocab.size == len(vocab) == 4
    np.testing.assert_array_equal(vocab.encode("hole"), [1, 3, 2, 0])


def test_char_windows_targets_are_inputs_shifted_by_one():
    ids = np.arange(20, dtype=np.int64)
    X, Y = data.char_windows(ids, seq_len=6)
    assert X.shape == Y.shape == (3, 6)
    np.testing.assert_array_equal(X[1], np.arange(6, 12))
    np.testing.assert_array_equal(Y, X + 1)
    X2, _ = data.char_windows(ids, seq_len=6, step=2)
    assert X2.shape == (7, 6) and X2[1, 0] == 2


def test_char_task_test_windows_come_after_the_training_text():
    task = data.char_task(seq_len=32, test_fraction=0.1)
    text = data.load_text()
    decode = task.vocab.decode
    train_text, test_text = decode(task.X_train), decode(task.X_test)
    assert text.startswith(train_text[:200])
    assert text.rfind(decode(task.X_test[0])) > text.find(decode(task.X_train[-1]))
    assert test_text[:32] in text[int(0.85 * len(text)):]
    assert task.X_train.shape[1] == task.Y_train.shape[1] == 32


def test_unigram_entropy_known_values():
    assert data.unigram_entropy(np.array([0, 0, 1, 1])) == pytest.approx(np.log(2), abs=1e-15)
    assert data.unigram_entropy(np.arange(7)) == pytest.approx(np.log(7), abs=1e-15)
    assert data.unigram_entropy(np.zeros(5, dtype=np.int64)) == 0.0


# ----------------------------------------------------------------- minibatches
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), seed=seeds, shuffle=st.booleans())
def test_minibatches_visit_every_sample_once_and_keep_arrays_aligned(n, batch_size, seed, shuffle):
    X = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    batches = list(data.minibatches(X, y, batch_size=batch_size, shuffle=shuffle, seed=seed))
    assert [len(b[0]) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    seen = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(n))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_minibatches_shuffle_is_seeded():
    y = np.arange(50)
    order = lambda seed: np.concatenate([b for (b,) in data.minibatches(y, batch_size=7, seed=seed)])
    np.testing.assert_array_equal(order(3), order(3))
    assert not np.array_equal(order(3), order(4))
    assert not np.array_equal(order(3), y)


def test_minibatches_drop_last_and_device_arrays(xp):
    X = xp.arange(10.0)
    batches = list(data.minibatches(X, batch_size=4, shuffle=False, drop_last=True))
    assert [len(b[0]) for b in batches] == [4, 4]
    assert all(type(b[0]) is type(X) for b in batches)


def test_train_test_split_chronological_and_shuffled():
    a, b = np.arange(10), np.arange(10) * 10
    a_train, a_test, b_train, b_test = data.train_test_split(a, b, test_fraction=0.3)
    np.testing.assert_array_equal(a_train, np.arange(7))
    np.testing.assert_array_equal(b_test, [70, 80, 90])
    s_train, s_test = data.train_test_split(a, test_fraction=0.3, shuffle=True, seed=0)
    assert sorted(np.concatenate([s_train, s_test])) == list(range(10)) and len(s_test) == 3


# --------------------------------------------------------------- bad arguments
BAD_CALLS = [
    (lambda: data.sine_task(n_steps=0), ValueError, ["n_steps", "0"]),
    (lambda: data.sine_task(n_steps=50, window=49), ValueError, ["window", "49"]),
    (lambda: data.sine_task(test_fraction=1.0), ValueError, ["test_fraction", "1.0"]),
    (lambda: data.sine_task(noise=-0.1), ValueError, ["noise", "-0.1"]),
    (lambda: data.sine_task(frequencies=()), ValueError, ["frequencies", "empty"]),
    (lambda: data.sine_task(frequencies=(1.0, -2.0)), ValueError, ["frequencies[1]", "-2.0"]),
    (lambda: data.sine_task(amplitudes=(1.0, 2.0)), ValueError, ["amplitudes", "1", "2"]),
    (lambda: data.sine_task(dtype=np.int32), TypeError, ["dtype", "int32"]),
    (lambda: data.sine_task(seed=-1), ValueError, ["seed", "-1"]),
    (lambda: data.sine_task(seed="0"), TypeError, ["seed", "'0'"]),
    (lambda: data.sine_task(window=2.5), TypeError, ["window", "2.5"]),
    (lambda: data.window_series(np.zeros((3, 2)), 1), ValueError, ["series", "(3, 2)"]),
    (lambda: data.window_series(np.arange(5), 2), TypeError, ["series", "int64"]),
    (lambda: data.last_value_baseline(np.zeros((4, 3))), ValueError, ["X", "(4, 3)"]),
    (lambda: data.adding_problem(10, seq_len=1), ValueError, ["seq_len", "1"]),
    (lambda: data.adding_problem(-3), ValueError, ["n_samples", "-3"]),
    (lambda: data.reversal_task(5, min_len=6, max_len=4), ValueError, ["min_len", "max_len", "6", "4"]),
    (lambda: data.reversal_task(5, n_symbols=0), ValueError, ["n_symbols", "0"]),
    (lambda: data.classification_task(5, n_classes=1), ValueError, ["n_classes", "1"]),
    (lambda: data.classification_task(5, seq_len=4, n_classes=3), ValueError, ["seq_len", "4", "7"]),
    (lambda: data.load_text("hamlet"), ValueError, ["name", "hamlet", "sonnets"]),
    (lambda: data.CharVocab(""), ValueError, ["text", "empty"]),
    (lambda: data.CharVocab("abc").encode("abz"), ValueError, ["vocabulary", "'z'"]),
    (lambda: data.CharVocab("abc").decode(np.array([0, 3])), ValueError, ["ids", "[0, 2]", "3"]),
    (lambda: data.CharVocab("abc").decode(np.array([0, 2 ** 64 - 1], np.uint64)), ValueError,
     ["ids", "[0, 2]", str(2 ** 64 - 1)]),
    (lambda: data.CharVocab("abc").decode([[0], [1, 2]]), ValueError, ["ids", "ragged"]),
    (lambda: data.CharVocab("abc").decode(np.array([0.0])), TypeError, ["ids", "float64"]),
    (lambda: data.char_windows(np.arange(5), 5), ValueError, ["ids", "6", "5"]),
    (lambda: data.exact_match(np.zeros((2, 3)), np.zeros((2, 3), int), np.ones((2, 3), bool)),
     TypeError, ["predicted", "float64"]),
    (lambda: data.exact_match(np.zeros((2, 3), int), np.zeros((2, 3), int), np.ones((2, 4), bool)),
     ValueError, ["target_mask", "(2, 3)", "(2, 4)"]),
    (lambda: list(data.minibatches(np.zeros(3), np.zeros(4), batch_size=2)), ValueError, ["arrays", "(3,)", "(4,)"]),
    (lambda: list(data.minibatches(np.zeros(3), batch_size=0)), ValueError, ["batch_size", "0"]),
    (lambda: list(data.minibatches(np.zeros(3), batch_size=2.0)), TypeError, ["batch_size", "2.0"]),
    (lambda: list(data.minibatches(batch_size=2)), ValueError, ["at least one array"]),
    (lambda: list(data.minibatches(np.zeros((0, 2)), batch_size=2)), ValueError, ["empty", "0 samples"]),
    (lambda: data.train_test_split(np.arange(2), test_fraction=0.9), ValueError, ["test_fraction", "no training"]),
    # issue 14: flags, ragged lists, masks, and sizes that cannot fit
    (lambda: list(data.minibatches(np.zeros(5), batch_size=2, drop_last="no")), TypeError, ["drop_last", "'no'"]),
    (lambda: list(data.minibatches(np.zeros(5), batch_size=2, shuffle="no")), TypeError, ["shuffle", "'no'"]),
    (lambda: data.train_test_split(np.zeros(5), shuffle=1), TypeError, ["shuffle", "True or False", "1"]),
    (lambda: data.exact_match([[1], [1, 2]], np.zeros((2, 2), int), np.ones((2, 2), bool)), ValueError,
     ["predicted", "ragged"]),
    (lambda: data.exact_match(np.zeros((2, 2), int), [[1], [1, 2]], np.ones((2, 2), bool)), ValueError,
     ["target", "ragged"]),
    (lambda: data.exact_match(np.zeros((2, 2), int), np.zeros((2, 2), int), np.full((2, 2), 0.5)), ValueError,
     ["target_mask", "0 and 1"]),
    (lambda: data.exact_match(np.ma.masked_array(np.zeros((2, 2), int)), np.zeros((2, 2), int), np.ones((2, 2))),
     TypeError, ["predicted", "MaskedArray"]),
    (lambda: data.adding_problem(10 ** 12), MemoryError, ["adding_problem(n_samples=1000000000000, seq_len=50)",
                                                          "needs", "its arrays"]),
    (lambda: data.reversal_task(10, max_len=10 ** 15), MemoryError, ["reversal_task", "max_len=1000000000000000"]),
    (lambda: data.sine_series(10 ** 15), MemoryError, ["sine_series(n_steps=1000000000000000)"]),
    (lambda: data.classification_task(10 ** 11), MemoryError, ["classification_task(n_samples=100000000000"]),
    (lambda: data.char_windows(np.arange(10 ** 6), 500_000, step=1), MemoryError,
     ["char_windows of 500000 windows (seq_len=500000)"]),
]


@pytest.mark.parametrize("call, error, words", BAD_CALLS)
def test_bad_arguments_raise_naming_the_argument(call, error, words):
    raises_naming(error, call, *words)


def test_make_rng_takes_every_seed_the_modules_take():
    a = data.make_rng(np.random.SeedSequence(5)).random(3)
    b = data.make_rng(np.random.SeedSequence(5)).random(3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="seed must be None"):
        data.make_rng("x")


def test_minibatches_refuse_lists_naming_the_position():
    raises_naming(TypeError, lambda: list(data.minibatches(np.zeros(3), [1, 2, 3], batch_size=2)), "arrays[1]",
                  "list")


def test_last_value_baseline_takes_array_likes_and_refuses_bad_ones():
    np.testing.assert_array_equal(data.last_value_baseline([[[1.0], [2.0]]]), [[2.0]])
    raises_naming(TypeError, lambda: data.last_value_baseline(np.zeros((2, 3, 1), dtype=int)), "X", "int64")
    raises_naming(ValueError, lambda: data.last_value_baseline(np.zeros((0, 3, 1))), "X", "empty")


def test_unigram_entropy_refuses_negative_ids_and_a_too_small_vocabulary():
    raises_naming(ValueError, lambda: data.unigram_entropy(np.array([-1, 2])), "ids", ">= 0", "-1")
    raises_naming(ValueError, lambda: data.unigram_entropy(np.array([1, 5]), n_tokens=3), "n_tokens=3", "5")
    raises_naming(TypeError, lambda: data.unigram_entropy(np.array([1, 2]), n_tokens="3"), "n_tokens")
    assert data.unigram_entropy(np.array([0, 1]), n_tokens=4) == pytest.approx(np.log(2))
    # a vocabulary far larger than memory: ids that never occur are not counted one by one
    assert data.unigram_entropy(np.array([0, 1]), n_tokens=10 ** 15) == pytest.approx(np.log(2))


# ------------------------------------------------------------- issue 14: fuzzed arguments
def vocab():
    return data.CharVocab("abc")


DATA_CALLS = {
    "minibatches": (lambda **kw: list(data.minibatches(np.zeros((5, 2)), **kw)),
                    dict(batch_size=2, shuffle=True, seed=0, drop_last=False)),
    "train_test_split": (lambda **kw: data.train_test_split(np.zeros(5), **kw),
                         dict(test_fraction=0.2, shuffle=False, seed=None)),
    "sine_series": (data.sine_series, dict(n_steps=40, frequencies=(1.0,), amplitudes=None, dt=0.04, noise=0.02,
                                           seed=0, dtype=np.float64)),
    "window_series": (data.window_series, dict(series=np.arange(10.0), window=3)),
    "last_value_baseline": (data.last_value_baseline, dict(X=np.zeros((2, 3, 1)))),
    "adding_problem": (data.adding_problem, dict(n_samples=3, seq_len=4, seed=0, dtype=np.float64)),
    "reversal_task": (data.reversal_task, dict(n_samples=3, n_symbols=4, min_len=2, max_len=3, seed=0)),
    "exact_match": (data.exact_match, dict(predicted=np.zeros((2, 3), int), target=np.zeros((2, 3), int),
                                           target_mask=np.ones((2, 3), bool))),
    "classification_task": (data.classification_task, dict(n_samples=3, seq_len=9, n_classes=2, noise=0.5, seed=0,
                                                           dtype=np.float64)),
    "load_text": (data.load_text, dict(name="sonnets")),
    "CharVocab": (data.CharVocab, dict(text="abc")),
    "encode": (lambda **kw: vocab().encode(**kw), dict(text="ab")),
    "decode": (lambda **kw: vocab().decode(**kw), dict(ids=np.array([0, 2]))),
    "char_windows": (data.char_windows, dict(ids=np.arange(20), seq_len=4, step=None)),
    "char_task": (data.char_task, dict(seq_len=64, test_fraction=0.1, step=None, name="sonnets")),
    "unigram_entropy": (data.unigram_entropy, dict(ids=np.arange(5), n_tokens=None)),
    "make_rng": (data.make_rng, dict(seed=None)),
}


test_fuzzed_arguments_are_refused_naming_them = fuzzed_arguments_test(DATA_CALLS, 300)


def test_a_char_task_split_too_small_for_one_window_names_test_fraction():
    raises_naming(ValueError, lambda: data.char_task(test_fraction=1e-320), "test_fraction=1e-320",
                  "leaves 1 characters", "for test", "seq_len + 1 = 65")
    raises_naming(ValueError, lambda: data.char_task(seq_len=64, test_fraction=0.9999999),
                  "characters", "for training")


def test_a_step_longer_than_the_text_gives_its_one_window():
    X, Y = data.char_windows(np.arange(20), 4, step=10 ** 19)
    np.testing.assert_array_equal(X, [[0, 1, 2, 3]])
    np.testing.assert_array_equal(Y, [[1, 2, 3, 4]])


def test_reversal_task_bounds_n_symbols_by_the_int64_token_ids():
    raises_naming(ValueError, lambda: data.reversal_task(3, n_symbols=10 ** 19), "n_symbols", "int64")


def test_unigram_entropy_of_huge_ids_counts_only_those_present():
    assert data.unigram_entropy(np.array([10 ** 12, 10 ** 12, 2 ** 64 - 1], np.uint64)) == pytest.approx(
        -(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)), rel=1e-12)

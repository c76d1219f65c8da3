"""The fast engine (``numpylstm.fast``) equals the definition (``numpylstm.functional``).

``fast.lstm_forward`` / ``fast.lstm_backward`` are rearranged for speed (exp-based
nonlinearities with a gate factor folded into the weights, derivative factors
precomputed for blocks of steps, gradients written over the cached gates, in-place
buffers). Every test here compares them with ``functional.lstm_forward`` /
``functional.lstm_backward``, the plain loops over the step kernels, to 1e-12 in
float64: outputs, states and every gradient, with projections and lengths, and with
blocks of 1 and 2 steps as well as the default. A batch split into shards that run in
threads (``numpylstm.fast_threads``) must give what the whole batch gives in one piece.

Each test takes the ``device`` fixture, so on a machine with CuPy and a GPU
the same tests run on CuPy arrays; the reference always runs in NumPy float64.
"""
import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numpylstm import LSTM, fast, fast_threads, functional
from numpylstm.backend import to_device, to_numpy
from numpylstm.functional import sigmoid
from numpylstm.gradcheck import rel_error
from numpylstm.threads import engine_threads

from strategies import lengths_for, seeds, sequence_shapes, small_sizes

TOLERANCE_F64 = 1e-12
# float32 against a float64 reference: a few hundred ulps (eps = 1.2e-7) after a few steps.
TOLERANCE_F32 = 1e-5
GRAD_NAMES = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr")
# ``device`` is a plain string ("cpu" or "cuda"): nothing in it needs resetting between examples.
device_fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------ problem setup
def make_problem(seed, T, N, I, H, proj=0, bias=True, scale=0.5):
    """Random float64 inputs, weights (distinct b_ih and b_hh) and output gradients."""
    rng = np.random.default_rng(seed)
    P = proj or H
    problem = dict(
        x=rng.standard_normal((T, N, I)),
        h0=rng.standard_normal((N, P)),
        c0=rng.standard_normal((N, H)),
        W_ih=scale * rng.standard_normal((4 * H, I)),
        W_hh=scale * rng.standard_normal((4 * H, P)),
        b_ih=scale * rng.standard_normal(4 * H) if bias else None,
        b_hh=scale * rng.standard_normal(4 * H) if bias else None,
        W_hr=scale * rng.standard_normal((P, H)) if proj else None,
    )
    grads = dict(d_out=rng.standard_normal((T, N, P)), dh_n=rng.standard_normal((N, P)),
                 dc_n=rng.standard_normal((N, H)))
    return problem, grads


def on_device(arrays, device, dtype=np.float64):
    """The dict ``arrays`` cast to ``dtype`` and moved to ``device`` (None stays None)."""
    return {name: None if a is None else to_device(np.asarray(a, dtype=dtype), device)
            for name, a in arrays.items()}


@contextlib.contextmanager
def blocks_of(steps, N, H):
    """Make both passes go through time ``steps`` steps at a time (None: the default blocks)."""
    saved = fast.BLOCK_VALUES, fast.GPU_BLOCK_VALUES
    if steps:
        fast.BLOCK_VALUES = fast.GPU_BLOCK_VALUES = steps * N * 4 * H
    try:
        yield
    finally:
        fast.BLOCK_VALUES, fast.GPU_BLOCK_VALUES = saved


@contextlib.contextmanager
def shards(count):
    """Run the fast engine on ``count`` threads, splitting every batch of at least ``count`` rows
    into ``count`` shards however small it is (``count`` = 1: the whole batch in one piece)."""
    saved = fast_threads.SHARD_MIN_VALUES
    fast_threads.SHARD_MIN_VALUES = dict.fromkeys(saved, 1)
    try:
        with engine_threads(count):
            yield
    finally:
        fast_threads.SHARD_MIN_VALUES = saved


def shard_count(cache):
    """How many shards the forward that made ``cache`` ran."""
    return len(cache.caches) if isinstance(cache, fast.ShardedLSTMCache) else 1


def run_fast(problem, grads, device="cpu", dtype=np.float64, lengths=None, block_steps=None, threads=None):
    """Forward and backward of the sequence path; every result as a NumPy array in a dict.

    ``block_steps``: steps per block of both passes (None: the default). ``threads``: run
    under ``shards(threads)`` and check that the batch was split as that promises.
    """
    p, g = on_device(problem, device, dtype), on_device(grads, device, dtype)
    if lengths is not None:
        lengths = to_device(lengths, device)
    N, H = problem["c0"].shape
    with blocks_of(block_steps, N, H), shards(threads) if threads else contextlib.nullcontext():
        out, h_n, c_n, cache = fast.lstm_forward(
            p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"], p["W_hr"], lengths=lengths)
        if threads:
            assert shard_count(cache) == (min(threads, N) if device == "cpu" else 1)
        dx, dh0, dc0, weight_grads = fast.lstm_backward(g["d_out"], g["dh_n"], g["dc_n"], cache)
    result = dict(out=out, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0)
    result.update({"d" + name: grad for name, grad in zip(GRAD_NAMES, weight_grads) if grad is not None})
    return {name: to_numpy(value) for name, value in result.items()}


# --------------------------------------------------------- the reference: the definition
def run_reference(problem, grads, lengths=None):
    """The same layer through ``functional.lstm_forward`` / ``lstm_backward`` in NumPy float64."""
    out, h_n, c_n, cache = functional.lstm_forward(*problem.values(), lengths=lengths)
    dx, dh0, dc0, weight_grads = functional.lstm_backward(grads["d_out"], grads["dh_n"], grads["dc_n"], cache)
    result = dict(out=out, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0)
    result.update({"d" + name: grad for name, grad in zip(GRAD_NAMES, weight_grads) if grad is not None})
    return result


def worst_error(fast, reference):
    """``(relative error, name)`` of the worst-matching result; the same names must exist."""
    assert sorted(fast) == sorted(reference)
    return max((rel_error(fast[name], reference[name]), name) for name in reference)


# ------------------------------------------------------------------ equality, float64
# Blocks of 1 or 2 steps (2 leaves a shorter block when T is odd), or all T steps at once.
block_steps = st.sampled_from([None, 1, 2])


@device_fixture_ok
@given(shape=sequence_shapes(), I=small_sizes, H=small_sizes, bias=st.booleans(), seed=seeds,
       block=block_steps)
def test_fast_engine_equals_the_definition(device, shape, I, H, bias, seed, block):
    problem, grads = make_problem(seed, *shape, I, H, bias=bias)
    fast = run_fast(problem, grads, device, block_steps=block)
    error, name = worst_error(fast, run_reference(problem, grads))
    assert error < TOLERANCE_F64, f"{name}: relative error {error:.2e}"


@device_fixture_ok
@given(shape=sequence_shapes(), I=small_sizes, H=st.integers(2, 5), bias=st.booleans(),
       seed=seeds, block=block_steps, data=st.data())
def test_projection_equals_the_definition(device, shape, I, H, bias, seed, block, data):
    proj = data.draw(st.integers(1, H - 1), label="proj")
    problem, grads = make_problem(seed, *shape, I, H, proj=proj, bias=bias)
    fast = run_fast(problem, grads, device, block_steps=block)
    assert fast["out"].shape == (shape[0], shape[1], proj)
    assert fast["dW_hr"].shape == (proj, H)
    error, name = worst_error(fast, run_reference(problem, grads))
    assert error < TOLERANCE_F64, f"{name}: relative error {error:.2e}"


@device_fixture_ok
@given(shape=sequence_shapes(max_T=6, max_N=4), I=small_sizes, H=st.integers(2, 5),
       bias=st.booleans(), use_proj=st.booleans(), seed=seeds, block=block_steps, data=st.data())
def test_lengths_equal_the_definition(device, shape, I, H, bias, use_proj, seed, block, data):
    T, N = shape
    lengths = data.draw(lengths_for(T, N), label="lengths")
    problem, grads = make_problem(seed, T, N, I, H, proj=H - 1 if use_proj else 0, bias=bias)
    fast = run_fast(problem, grads, device, lengths=lengths, block_steps=block)
    for n, length in enumerate(lengths):  # exactly zero past each length, not just small
        assert not fast["out"][length:, n].any() and not fast["dx"][length:, n].any()
    error, name = worst_error(fast, run_reference(problem, grads, lengths))
    assert error < TOLERANCE_F64, f"{name}: relative error {error:.2e}"


def test_wide_layers_equal_the_definition(device):
    """N * H >= 1024: the forward's float64 tanh(c) takes the exp-based route on NumPy."""
    problem, grads = make_problem(17, 3, 32, 2, 32, scale=0.3)
    error, name = worst_error(run_fast(problem, grads, device, block_steps=2), run_reference(problem, grads))
    assert error < TOLERANCE_F64, f"{name}: relative error {error:.2e}"


def test_shapes_of_every_result(device):
    T, N, I, H, P = 3, 2, 5, 4, 3
    problem, grads = make_problem(0, T, N, I, H, proj=P)
    fast = run_fast(problem, grads, device)
    expected = dict(out=(T, N, P), h_n=(N, P), c_n=(N, H), dx=(T, N, I), dh0=(N, P), dc0=(N, H),
                    dW_ih=(4 * H, I), dW_hh=(4 * H, P), db_ih=(4 * H,), db_hh=(4 * H,), dW_hr=(P, H))
    assert {name: value.shape for name, value in fast.items()} == expected


def test_missing_state_gradients_mean_zero(device):
    """dh_n = dc_n = None is the same as passing zeros."""
    problem, grads = make_problem(3, 4, 3, 2, 3)
    p = on_device(problem, device)
    d_out = to_device(grads["d_out"], device)
    zeros = on_device(dict(h=np.zeros((3, 3)), c=np.zeros((3, 3))), device)
    with_none = fast.lstm_backward(d_out, None, None, fast.lstm_forward(*p.values())[3])
    with_zeros = fast.lstm_backward(d_out, zeros["h"], zeros["c"], fast.lstm_forward(*p.values())[3])
    for a, b in zip(with_none[:3] + tuple(with_none[3]), with_zeros[:3] + tuple(with_zeros[3])):
        if a is not None:
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_a_cache_serves_one_backward_pass(device):
    """Backward writes the gate gradients over the cached gates; a second use is refused, not wrong."""
    problem, grads = make_problem(5, 4, 3, 2, 3, proj=2)
    p, g = on_device(problem, device), on_device(grads, device)
    _, _, _, cache = fast.lstm_forward(*p.values(), lengths=to_device(np.array([4, 1, 2]), device))
    fast.lstm_backward(g["d_out"], g["dh_n"], g["dc_n"], cache)
    with pytest.raises(RuntimeError, match="already used by a backward pass"):
        fast.lstm_backward(g["d_out"], g["dh_n"], g["dc_n"], cache)


def test_backward_refuses_a_gradient_of_the_wrong_shape_before_using_the_cache(device):
    problem, grads = make_problem(5, 4, 3, 2, 3)
    p, g = on_device(problem, device), on_device(grads, device)
    _, _, _, cache = fast.lstm_forward(*p.values())
    message = r"fast.lstm_backward: d_out must have shape \(4, 3, 3\), got \(3, 3, 3\)"
    with pytest.raises(ValueError, match=message):
        fast.lstm_backward(g["d_out"][1:], None, None, cache)
    fast.lstm_backward(g["d_out"], None, None, cache)  # the cache is still usable


@pytest.mark.parametrize("name, make_bad, message", [
    ("h0", lambda p: p["h0"][:1], r"h0 must have shape \(3, 4\), got \(1, 4\)"),
    ("c0", lambda p: p["c0"][:, :3], r"c0 must have shape \(3, 4\), got \(3, 3\)"),
    ("x", lambda p: p["x"][0], r"x must have shape \(T, N, I\), got \(3, 2\)"),
    ("W_ih", lambda p: p["W_ih"][:-1], r"W_ih must have 4H rows \(gates i, f, g, o\), got 15"),
    ("W_hh", lambda p: p["W_hh"][:, :3], r"W_hh must have shape \(16, 4\), got \(16, 3\)"),
    ("b_ih", lambda p: p["b_ih"][:8], r"b_ih must have shape \(16,\), got \(8,\)"),
    ("b_hh", lambda p: None, r"b_ih and b_hh must be given together or both be None, got b_ih without b_hh"),
])
def test_forward_refuses_arguments_of_the_wrong_shape(device, name, make_bad, message):
    """Especially a (1, H) state, which NumPy would silently broadcast over the batch."""
    problem, _ = make_problem(1, 5, 3, 2, 4)
    problem[name] = make_bad(problem)
    with pytest.raises(ValueError, match="fast.lstm_forward: " + message):
        fast.lstm_forward(*on_device(problem, device).values())


def test_inference_forward_keeps_no_cache_and_gives_the_same_outputs(device):
    problem, _ = make_problem(7, 5, 3, 2, 4)
    lengths = to_device(np.array([5, 2, 3]), device)
    p = on_device(problem, device)
    with_cache = fast.lstm_forward(*p.values(), lengths=lengths)
    without = fast.lstm_forward(*p.values(), lengths=lengths, keep_cache=False)
    assert without[3] is None and with_cache[3] is not None
    for a, b in zip(with_cache[:3], without[:3]):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.parametrize("view", ["reversed", "batch_first"])
def test_non_contiguous_input_is_copied_once_and_gives_the_same_results(device, view):
    problem, grads = make_problem(9, 4, 3, 2, 3)
    if view == "reversed":  # what the reverse direction of a bidirectional layer passes
        stored = np.ascontiguousarray(problem["x"][::-1])
        problem["x"] = stored[::-1]
    else:  # (N, T, I) memory seen as (T, N, I)
        stored = np.ascontiguousarray(problem["x"].transpose(1, 0, 2))
        problem["x"] = stored.transpose(1, 0, 2)
    assert not problem["x"].flags.c_contiguous
    error, name = worst_error(run_fast(problem, grads, device), run_reference(problem, grads))
    assert error < TOLERANCE_F64, f"{name}: relative error {error:.2e}"
    p = on_device(problem, device)
    cache = fast.lstm_forward(*p.values())[3]
    assert cache.x.flags.c_contiguous  # the backward's products reuse this copy


# ----------------------------------------------------------------------- float32
@device_fixture_ok
@given(shape=sequence_shapes(), I=small_sizes, H=st.integers(2, 5), use_proj=st.booleans(), seed=seeds)
def test_float32_matches_the_float64_reference(device, shape, I, H, use_proj, seed):
    problem, grads = make_problem(seed, *shape, I, H, proj=H - 1 if use_proj else 0)
    fast = run_fast(problem, grads, device, dtype=np.float32)
    assert all(value.dtype == np.float32 for value in fast.values())
    error, name = worst_error(fast, run_reference(problem, grads))
    assert error < TOLERANCE_F32, f"{name}: relative error {error:.2e}"


# ------------------------------------------------------------- extreme pre-activations
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("magnitude", [1e6, -1e6])
def test_huge_pre_activations_raise_no_warning_and_give_no_nan(device, dtype, magnitude):
    """Gates saturate to 0 and 1 exactly as in the step kernel; no overflow, underflow or NaN."""
    T, N, I, H = 4, 3, 2, 3
    problem, grads = make_problem(11, T, N, I, H)
    signs = np.sign(np.random.default_rng(1).standard_normal((4 * H, I)))
    problem.update(W_ih=magnitude * signs, b_ih=np.full(4 * H, magnitude),
                   b_hh=np.full(4 * H, -magnitude / 2))
    problem["x"] = np.abs(problem["x"]) + 0.5  # pre-activations of order 1e6, both signs by row
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        fast = run_fast(problem, grads, device, dtype=dtype)
        reference = run_reference(on_device(problem, "cpu", dtype), on_device(grads, "cpu", dtype))
    for name, value in fast.items():
        assert np.isfinite(value).all(), f"{name} is not finite"
    error, name = worst_error(fast, reference)
    assert error < (TOLERANCE_F32 if dtype == np.float32 else TOLERANCE_F64), f"{name}: {error:.2e}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_based_nonlinearities_match_numpy_to_a_few_ulps(device, dtype):
    a = np.concatenate([np.linspace(-60, 60, 2001), [-1e6, -1e30, 0.0, 1e-30, 1e30, 1e6]]).astype(dtype)
    limit = fast._exp_limit(dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        got_sigmoid = to_numpy(fast._activate_via_exp(to_device(a.copy(), device), 1, limit))
        x = to_device(a, device)
        got_tanh = to_numpy(fast._tanh_via_exp(x, x.copy(), limit))
    exact = a.astype(np.float64)
    eps = np.finfo(dtype).eps
    # Absolute error against values in [0, 1] and [-1, 1]: a few ulps of 1.
    assert np.abs(got_sigmoid - sigmoid(exact)).max() < 4 * eps
    assert np.abs(got_tanh - np.tanh(exact)).max() < 4 * eps
    # Saturation is exact, as in the step kernel: a gate of 1e-30 would make a slope s (1 - s)
    # that huge weights amplify into a visible gradient.
    assert got_sigmoid[-6] == 0 and got_sigmoid[-1] == 1
    assert got_tanh[-6] == -1 and got_tanh[-1] == 1


def test_exp_limit_keeps_exp_in_the_normal_range():
    for dtype in (np.float32, np.float64):
        info, limit = np.finfo(dtype), fast._exp_limit(dtype)
        assert info.tiny < np.exp(-limit) < info.eps ** 1.5  # normal, and far beyond saturation
        assert np.exp(limit) < info.max


# ------------------------------------------------------------------- a planted bug
def test_a_planted_wrong_local_derivative_is_caught(monkeypatch):
    """The comparisons above can fail: a 0.1% error in the sigmoid slope of the fast backward."""
    real_slope = fast._sigmoid_slope

    def wrong_slope(s, out):
        real_slope(s, out)
        out *= 1.001
        return out

    monkeypatch.setattr(fast, "_sigmoid_slope", wrong_slope)
    problem, grads = make_problem(13, 4, 3, 2, 3, proj=2)
    lengths = np.array([4, 2, 1])
    error, name = worst_error(run_fast(problem, grads, lengths=lengths), run_reference(problem, grads, lengths))
    assert error > 1e-4, name


# ------------------------------------------------------- shards of the batch, in threads
# Every batch is split here (fast_threads.SHARD_MIN_VALUES all 1), however small: the same
# code runs on the large batches that are split by default.
shard_threads = st.integers(2, 4)


def assert_same_results(got, expected, tolerance):
    error, name = worst_error(got, expected)
    assert error < tolerance, f"{name}: relative error {error:.2e}"


@given(shape=sequence_shapes(max_N=6), I=small_sizes, H=st.integers(2, 5), bias=st.booleans(),
       use_proj=st.booleans(), use_lengths=st.booleans(), seed=seeds, block=block_steps,
       threads=shard_threads, data=st.data())
def test_shards_give_what_one_piece_gives(shape, I, H, bias, use_proj, use_lengths, seed, block, threads, data):
    T, N = shape
    lengths = data.draw(lengths_for(T, N), label="lengths") if use_lengths else None
    problem, grads = make_problem(seed, T, N, I, H, proj=H - 1 if use_proj else 0, bias=bias)
    split = run_fast(problem, grads, lengths=lengths, block_steps=block, threads=threads)
    assert_same_results(split, run_fast(problem, grads, lengths=lengths, block_steps=block, threads=1),
                        TOLERANCE_F64)
    assert_same_results(split, run_reference(problem, grads, lengths), TOLERANCE_F64)


@given(shape=sequence_shapes(max_N=6), I=small_sizes, H=st.integers(2, 5), use_proj=st.booleans(),
       seed=seeds, threads=shard_threads)
def test_float32_shards_give_what_one_piece_gives(shape, I, H, use_proj, seed, threads):
    problem, grads = make_problem(seed, *shape, I, H, proj=H - 1 if use_proj else 0)
    split = run_fast(problem, grads, dtype=np.float32, threads=threads)
    assert all(value.dtype == np.float32 for value in split.values())
    assert_same_results(split, run_fast(problem, grads, dtype=np.float32, threads=1), TOLERANCE_F32)
    assert_same_results(split, run_reference(problem, grads), TOLERANCE_F32)


def test_inference_in_shards_gives_what_one_piece_gives():
    problem, _ = make_problem(21, 7, 5, 3, 4, proj=3)
    lengths = np.array([7, 2, 5, 1, 7])
    results = {}
    for threads in (1, 3):
        with shards(threads):
            results[threads] = fast.lstm_forward(*problem.values(), lengths=lengths, keep_cache=False)
    assert results[3][3] is None
    for split, whole in zip(results[3][:3], results[1][:3]):
        assert rel_error(split, whole) < TOLERANCE_F64


def lstm_results(lstm, x, d_out, d_state, lengths):
    """Output, final state, dx, initial-state gradients and every parameter's .grad of one step."""
    lstm.zero_grad()
    out, (h_n, c_n) = lstm(x, lengths=lengths)
    dx, (dh0, dc0) = lstm.backward(d_out, d_state)
    results = dict(out=out, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0)
    results.update({name: param.grad.copy() for name, param in lstm.named_parameters()})
    return results


@pytest.mark.parametrize("batch_first", [False, True])
def test_a_bidirectional_stacked_lstm_in_shards_gives_what_one_piece_gives(batch_first):
    """Through the module: both directions (the reverse one reads reversed, padded views), two
    layers, a projection, lengths, and the caches of one forward used by its backward."""
    rng = np.random.default_rng(8)
    N, T = 5, 6
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=batch_first, seed=4)
    x = rng.standard_normal((N, T, 3) if batch_first else (T, N, 3))
    d_out = rng.standard_normal(x.shape[:2] + (4,))
    d_state = (rng.standard_normal((4, N, 2)), rng.standard_normal((4, N, 4)))
    lengths = np.array([6, 3, 1, 6, 4])
    with shards(1):
        whole = lstm_results(lstm, x, d_out, d_state, lengths)
    with shards(2):
        lstm(x, lengths=lengths)
        assert {shard_count(cache) for cache in lstm._caches[-1].layers} == {2}
        lstm.clear_caches()
        split = lstm_results(lstm, x, d_out, d_state, lengths)
    assert_same_results(split, whole, TOLERANCE_F64)


def test_a_dropped_shard_gradient_is_caught(monkeypatch):
    """The comparisons above can fail: the weight gradients of the last shard left out of the sum."""
    real_sum = fast._sum_over_shards
    monkeypatch.setattr(fast, "_sum_over_shards", lambda parts: real_sum(parts[:-1]))
    problem, grads = make_problem(13, 4, 5, 2, 3, proj=2)
    split = run_fast(problem, grads, threads=2)
    error, name = worst_error(split, run_fast(problem, grads, threads=1))
    assert error > 1e-2, name
    assert name.startswith("dW") or name.startswith("db")


def test_shards_that_read_the_wrong_rows_of_the_state_are_caught(monkeypatch):
    """A shard given the next shard's initial state: the outputs, not only the gradients, go wrong."""
    real_slices = fast_threads.batch_slices

    def shifted(N, count):
        return tuple(slice(r.start, r.stop) if k == count - 1 else slice(r.start + 1, r.stop + 1)
                     for k, r in enumerate(real_slices(N, count)))

    monkeypatch.setattr(fast_threads, "batch_slices", shifted)
    problem, grads = make_problem(14, 4, 6, 2, 3)
    error, name = worst_error(run_fast(problem, grads, threads=2), run_fast(problem, grads, threads=1))
    assert error > 1e-2, name


def test_a_sharded_cache_serves_one_backward_and_refuses_a_wrong_gradient_first():
    problem, grads = make_problem(5, 4, 4, 2, 3)
    with shards(2):
        cache = fast.lstm_forward(*problem.values())[3]
        assert shard_count(cache) == 2
        message = r"fast.lstm_backward: dh_n must have shape \(4, 3\), got \(3, 3\)"
        with pytest.raises(ValueError, match=message):
            fast.lstm_backward(grads["d_out"], grads["dh_n"][1:], None, cache)
        fast.lstm_backward(grads["d_out"], grads["dh_n"], None, cache)   # still usable after the refusal
        with pytest.raises(RuntimeError, match="already used by a backward pass"):
            fast.lstm_backward(grads["d_out"], grads["dh_n"], None, cache)


def test_the_backward_of_a_split_forward_runs_its_shards_whatever_the_budget_now():
    problem, grads = make_problem(6, 3, 4, 2, 3)
    with shards(2):
        split_forward = fast.lstm_forward(*problem.values())
    with shards(1):
        whole = run_fast(problem, grads)
        dx, dh0, dc0, weight_grads = fast.lstm_backward(*grads.values(), split_forward[3])
    split = dict(out=split_forward[0], h_n=split_forward[1], c_n=split_forward[2], dx=dx, dh0=dh0, dc0=dc0)
    split.update({"d" + name: grad for name, grad in zip(GRAD_NAMES, weight_grads) if grad is not None})
    assert_same_results(split, whole, TOLERANCE_F64)

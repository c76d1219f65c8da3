"""The definition: the step kernels, a stable sigmoid, and the sequence kernels looping over them."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpylstm import functional as F
from numpylstm.gradcheck import numerical_gradient, rel_error
from assertions import raises_naming
from strategies import seeds, small_sizes


def random_step_inputs(rng, N, I, H):
    """x, h, c, W_ih, W_hh, b_ih, b_hh for one step, with distinct non-zero biases."""
    return (rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
            rng.standard_normal((4 * H, I)) * 0.5, rng.standard_normal((4 * H, H)) * 0.5,
            rng.uniform(0.1, 1.0, 4 * H), rng.uniform(-1.0, -0.1, 4 * H))


def test_step_forward_shapes_match_the_docstring(rng):
    N, I, H = 3, 4, 5
    h, c, cache = F.lstm_step_forward(*random_step_inputs(rng, N, I, H))
    assert h.shape == c.shape == (N, H)
    assert cache.x.shape == (N, I)
    for gate in (cache.i, cache.f, cache.g, cache.o, cache.tanh_c, cache.h_prev, cache.c_prev):
        assert gate.shape == (N, H)
    grads = F.lstm_step_backward(np.ones((N, H)), np.ones((N, H)), cache)
    expected = [(N, I), (N, H), (N, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]
    assert [g.shape for g in grads] == expected


def test_step_forward_follows_the_gate_equations(rng):
    """One step written out with the textbook sigmoid 1/(1+exp(-a)), gate by gate."""
    x, h, c, W_ih, W_hh, b_ih, b_hh = random_step_inputs(rng, 2, 3, 4)
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    logistic = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    i, f, g, o = logistic(a[:, :4]), logistic(a[:, 4:8]), np.tanh(a[:, 8:12]), logistic(a[:, 12:])
    c_next = f * c + i * g
    h_next, c_ours, _ = F.lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh)
    np.testing.assert_allclose(c_ours, c_next, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h_next, o * np.tanh(c_next), rtol=1e-13, atol=1e-15)


def test_sigmoid_equals_the_logistic_function():
    x = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(F.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_huge_pre_activations(dtype):
    x = np.array([-1e6, -1e3, -50.0, 0.0, 50.0, 1e3, 1e6], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = F.sigmoid(x)
    assert s.dtype == dtype and np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5


def test_sigmoid_works_in_place():
    x = np.array([-2.0, 0.0, 2.0])
    expected = 1 / (1 + np.exp(-x))
    out = F.sigmoid(x, out=x)
    assert out is x
    np.testing.assert_allclose(x, expected, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_is_finite_for_pre_activations_of_a_million(rng, dtype):
    x, h, c, W_ih, W_hh, b_ih, b_hh = (a.astype(dtype) for a in random_step_inputs(rng, 2, 3, 4))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        h1, c1, cache = F.lstm_step_forward(x * 1e6, h, c, W_ih * 1e6, W_hh, b_ih, b_hh)
        grads = F.lstm_step_backward(np.ones_like(h1), np.ones_like(c1), cache)
    assert all(np.all(np.isfinite(a)) for a in (h1, c1, *grads))


STEP_ARGUMENTS = ["x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh"]


def step_gradient_errors(rng, N, I, H, backward=F.lstm_step_backward):
    """Relative error of every step gradient against central finite differences."""
    args = list(random_step_inputs(rng, N, I, H))
    dh_next, dc_next = rng.standard_normal((N, H)), rng.standard_normal((N, H))

    def loss():
        h, c, _ = F.lstm_step_forward(*args)
        return np.sum(h * dh_next) + np.sum(c * dc_next)

    _, _, cache = F.lstm_step_forward(*args)
    analytic = backward(dh_next, dc_next, cache)
    # backward returns (dx, dh, dc, dW_ih, dW_hh, db_ih, db_hh): the order of STEP_ARGUMENTS
    return {name: rel_error(grad, numerical_gradient(loss, arg))
            for name, arg, grad in zip(STEP_ARGUMENTS, args, analytic)}


@given(N=small_sizes, I=small_sizes, H=small_sizes, seed=seeds)
def test_step_backward_matches_finite_differences(N, I, H, seed):
    errors = step_gradient_errors(np.random.default_rng(seed), N, I, H)
    assert max(errors.values()) < 1e-6, errors


def test_a_dropped_term_in_the_step_backward_is_caught(rng):
    """Plant the classic bug: forget that c' also reaches the loss through h' = o * tanh(c')."""
    def buggy_backward(dh_next, dc_next, cache):
        x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh = cache
        dc = dc_next  # missing: + dh_next * o * (1 - tanh_c ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                             dh_next * tanh_c * o * (1 - o)], axis=-1)
        db = da.sum(axis=0)
        return da @ W_ih, da @ W_hh, dc * f, da.T @ x, da.T @ h_prev, db, db

    errors = step_gradient_errors(rng, 3, 2, 4, backward=buggy_backward)
    assert errors["W_ih"] > 1e-3 and errors["c"] > 1e-3


def test_reverse_padded_reverses_each_sequence_within_its_length():
    x = np.arange(4 * 3).reshape(4, 3).astype(float)[:, :, None]   # x[t, n] = 3t + n
    lengths = np.array([4, 1, 3])
    r = F.reverse_padded(x, lengths)[:, :, 0]
    np.testing.assert_array_equal(r[:, 0], [9, 6, 3, 0])        # full length: plain reversal
    np.testing.assert_array_equal(r[:, 1], [1, 4, 7, 10])       # length 1: unchanged
    np.testing.assert_array_equal(r[:, 2], [8, 5, 2, 11])       # length 3: padding stays last
    np.testing.assert_array_equal(F.reverse_padded(F.reverse_padded(x, lengths), lengths), x)
    np.testing.assert_array_equal(F.reverse_padded(x), x[::-1])


def test_sigmoid_of_a_zero_dimensional_array():
    assert float(F.sigmoid(np.array(2.0))) == pytest.approx(1 / (1 + np.exp(-2.0)), rel=1e-15)


# ------------------------------------------------------------- the sequence kernels
SEQUENCE_ARGUMENTS = ("x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh", "W_hr")
WEIGHT_GRADS = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr")


def sequence_problem(rng, T, N, I, H, proj=0, bias=True):
    """Inputs of ``lstm_forward`` (distinct non-zero biases) and random output gradients."""
    P = proj or H
    args = dict(x=rng.standard_normal((T, N, I)), h0=rng.standard_normal((N, P)),
                c0=rng.standard_normal((N, H)), W_ih=rng.standard_normal((4 * H, I)) * 0.5,
                W_hh=rng.standard_normal((4 * H, P)) * 0.5,
                b_ih=rng.uniform(0.1, 1.0, 4 * H) if bias else None,
                b_hh=rng.uniform(-1.0, -0.1, 4 * H) if bias else None,
                W_hr=rng.standard_normal((P, H)) * 0.5 if proj else None)
    grads = dict(d_out=rng.standard_normal((T, N, P)), dh_n=rng.standard_normal((N, P)),
                 dc_n=rng.standard_normal((N, H)))
    return args, grads


def sequence_gradients(args, grads, lengths=None, backward=F.lstm_backward):
    """Every analytic gradient of the definition, by the name of what it is a gradient of."""
    *_, cache = F.lstm_forward(**args, lengths=lengths)
    dx, dh0, dc0, weight_grads = backward(grads["d_out"], grads["dh_n"], grads["dc_n"], cache)
    named = dict(x=dx, h0=dh0, c0=dc0, **dict(zip(WEIGHT_GRADS, weight_grads)))
    return {name: grad for name, grad in named.items() if grad is not None}


def sequence_gradient_errors(args, grads, lengths=None, backward=F.lstm_backward):
    """Relative error of every analytic gradient against central finite differences of
    L = sum(d_out * out) + sum(dh_n * h_n) + sum(dc_n * c_n)."""
    def loss():
        out, h_n, c_n, _ = F.lstm_forward(**args, lengths=lengths)
        return np.sum(grads["d_out"] * out) + np.sum(grads["dh_n"] * h_n) + np.sum(grads["dc_n"] * c_n)

    analytic = sequence_gradients(args, grads, lengths, backward)
    return {name: rel_error(grad, numerical_gradient(loss, args[name])) for name, grad in analytic.items()}


@pytest.mark.parametrize("proj", [0, 2], ids=["plain", "projection"])
@pytest.mark.parametrize("lengths", [None, [4, 2, 1]], ids=["full", "lengths"])
def test_sequence_backward_matches_finite_differences(rng, proj, lengths):
    args, grads = sequence_problem(rng, 4, 3, 2, 3, proj=proj)
    errors = sequence_gradient_errors(args, grads, None if lengths is None else np.array(lengths))
    assert set(errors) == {"x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"} | ({"W_hr"} if proj else set())
    assert max(errors.values()) < 1e-6, errors


def test_sequence_backward_without_bias_returns_no_bias_gradients(rng):
    args, grads = sequence_problem(rng, 3, 2, 2, 3, bias=False)
    errors = sequence_gradient_errors(args, grads)
    assert "b_ih" not in errors and max(errors.values()) < 1e-6, errors


def test_a_sequence_backward_that_forgets_the_cell_carry_is_caught(rng, monkeypatch):
    """Plant a classic BPTT bug: dc is not carried from step t+1 back to step t."""
    real_step_backward = F.lstm_step_backward
    monkeypatch.setattr(F, "lstm_step_backward",
                        lambda dh_next, dc_next, cache: real_step_backward(dh_next, None, cache))
    args, grads = sequence_problem(rng, 4, 2, 2, 3)
    errors = sequence_gradient_errors(args, grads)
    assert errors["W_hh"] > 1e-3 and errors["c0"] > 1e-3, errors


@given(T=st.integers(1, 5), N=st.integers(1, 4), proj=st.sampled_from([0, 1]), seed=seeds, data=st.data())
def test_lengths_act_like_each_sequence_run_alone(T, N, proj, seed, data):
    """Padded batch with lengths == each sequence run alone without padding (zeros past its end)."""
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=N, max_size=N)))
    args, grads = sequence_problem(np.random.default_rng(seed), T, N, 2, 2, proj=proj)
    out, h_n, c_n, _ = F.lstm_forward(**args, lengths=lengths)
    batch = sequence_gradients(args, grads, lengths)
    summed = {name: 0 for name in WEIGHT_GRADS if name in batch}
    for n, length in enumerate(lengths):
        alone = dict(args, x=args["x"][:length, n:n + 1], h0=args["h0"][n:n + 1], c0=args["c0"][n:n + 1])
        alone_grads = dict(d_out=grads["d_out"][:length, n:n + 1], dh_n=grads["dh_n"][n:n + 1],
                           dc_n=grads["dc_n"][n:n + 1])
        out_n, h_n_n, c_n_n, _ = F.lstm_forward(**alone)
        np.testing.assert_allclose(out[:length, n], out_n[:, 0], rtol=1e-13, atol=1e-15)
        assert not out[length:, n].any() and not batch["x"][length:, n].any()  # exactly zero
        np.testing.assert_allclose(h_n[n], h_n_n[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(c_n[n], c_n_n[0], rtol=1e-13, atol=1e-15)
        one = sequence_gradients(alone, alone_grads)
        np.testing.assert_allclose(batch["x"][:length, n], one["x"][:, 0], rtol=1e-12, atol=1e-14)
        for name in summed:
            summed[name] = summed[name] + one[name]
    for name, total in summed.items():
        assert rel_error(batch[name], total) < 1e-12, name


def test_missing_state_gradients_mean_zero(rng):
    args, grads = sequence_problem(rng, 3, 2, 2, 3)
    *_, cache = F.lstm_forward(**args)
    with_none = F.lstm_backward(grads["d_out"], None, None, cache)
    zeros = F.lstm_backward(grads["d_out"], np.zeros((2, 3)), np.zeros((2, 3)), cache)
    for a, b in zip(with_none[:3] + tuple(with_none[3]), zeros[:3] + tuple(zeros[3])):
        np.testing.assert_array_equal(a, b)


def test_inference_forward_returns_no_cache(rng):
    args, _ = sequence_problem(rng, 3, 2, 2, 3)
    with_cache, without = F.lstm_forward(**args), F.lstm_forward(**args, keep_cache=False)
    assert without[3] is None and isinstance(with_cache[3], F.LSTMCache)
    for a, b in zip(with_cache[:3], without[:3]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change, fragments", [
    (dict(h0=np.zeros((1, 3))), ["lstm_forward: h0 must have shape (2, 3), got (1, 3)"]),
    (dict(lengths=np.array([2.5, 3.0])), ["lstm_forward: lengths must be integers, got dtype float64"]),
    (dict(lengths=np.array([2, 3, 1])), ["lstm_forward: lengths must have shape (2,), got (3,)"]),
    (dict(b_hh=None), ["b_ih and b_hh must be given together"]),
])
def test_sequence_forward_refuses_arguments_it_would_misread(rng, change, fragments):
    args, _ = sequence_problem(rng, 3, 2, 2, 3)
    raises_naming((ValueError, TypeError), lambda: F.lstm_forward(**{**args, **change}), *fragments)


def test_sequence_backward_refuses_gradients_of_the_wrong_shape_and_foreign_caches(rng):
    args, grads = sequence_problem(rng, 3, 2, 2, 3)
    *_, cache = F.lstm_forward(**args)
    raises_naming(ValueError, lambda: F.lstm_backward(grads["d_out"], np.zeros((1, 3)), None, cache),
                  "lstm_backward: dh_n must have shape (2, 3), got (1, 3)")
    raises_naming(TypeError, lambda: F.lstm_backward(grads["d_out"], None, None, cache.steps),
                  "lstm_backward: cache must be the LSTMCache of functional.lstm_forward", "list")

"""The pure step kernels: shapes, a stable sigmoid, and the hand-written step backward."""
import warnings

import numpy as np
import pytest
from hypothesis import given

from numpylstm import functional as F
from numpylstm.gradcheck import numerical_gradient, rel_error
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

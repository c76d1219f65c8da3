"""The RNN's definition (``numpylstm.functional_rnn``): step kernels against finite differences,
sequence kernels against the step kernels chained."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpylstm.functional_rnn as F
from numpylstm import numerical_gradient, rel_error
from strategies import seeds, small_sizes

NONLINEARITIES = ["tanh", "relu"]


def random_step_inputs(rng, N, I, H):
    """x, h, W_ih, W_hh, b_ih, b_hh for one step, with distinct non-zero biases."""
    return (rng.standard_normal((N, I)), rng.standard_normal((N, H)),
            rng.standard_normal((H, I)) * 0.6, rng.standard_normal((H, H)) * 0.6,
            rng.uniform(0.1, 1.0, H), rng.uniform(-1.0, -0.1, H))


# ------------------------------------------------------------------------- kernels
def test_step_shapes_match_the_docstring(rng):
    N, I, H = 3, 4, 5
    h1, cache = F.rnn_step_forward(*random_step_inputs(rng, N, I, H))
    assert h1.shape == (N, H) and cache.x.shape == (N, I) and cache.h_prev.shape == (N, H)
    grads = F.rnn_step_backward(np.ones((N, H)), cache)
    assert [g.shape for g in grads] == [(N, I), (N, H), (H, I), (H, H), (H,), (H,)]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_step_forward_follows_the_equation(rng, nonlinearity):
    x, h, W_ih, W_hh, b_ih, b_hh = random_step_inputs(rng, 2, 3, 4)
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    expected = np.tanh(a) if nonlinearity == "tanh" else np.where(a > 0, a, 0.0)
    h1, _ = F.rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh, nonlinearity=nonlinearity)
    np.testing.assert_allclose(h1, expected, rtol=1e-14, atol=1e-15)
    assert nonlinearity == "tanh" or np.any(expected == 0)   # relu really clipped something


def step_gradient_errors(rng, N, I, H, nonlinearity, backward=F.rnn_step_backward):
    """Relative error of every step gradient against central finite differences."""
    args = list(random_step_inputs(rng, N, I, H))
    dh_next = rng.standard_normal((N, H))

    def loss():
        return np.sum(F.rnn_step_forward(*args, nonlinearity=nonlinearity)[0] * dh_next)

    _, cache = F.rnn_step_forward(*args, nonlinearity=nonlinearity)
    analytic = backward(dh_next, cache)   # (dx, dh, dW_ih, dW_hh, db_ih, db_hh): the order of args
    names = ["x", "h", "W_ih", "W_hh", "b_ih", "b_hh"]
    return {name: rel_error(grad, numerical_gradient(loss, arg)) for name, arg, grad in zip(names, args, analytic)}


@settings(max_examples=15)
@given(N=small_sizes, I=small_sizes, H=small_sizes, seed=seeds, nonlinearity=st.sampled_from(NONLINEARITIES))
def test_step_backward_matches_finite_differences(N, I, H, seed, nonlinearity):
    errors = step_gradient_errors(np.random.default_rng(seed), N, I, H, nonlinearity)
    assert max(errors.values()) < 1e-6, errors


def test_a_wrong_slope_in_the_step_backward_is_caught(rng):
    """Plant a classic bug: the sigmoid's slope h(1-h) instead of tanh's 1-h^2."""
    def buggy_backward(dh_next, cache):
        da = dh_next * cache.h_next * (1 - cache.h_next)
        db = da.sum(axis=0)
        return da @ cache.W_ih, da @ cache.W_hh, da.T @ cache.x, da.T @ cache.h_prev, db, db

    errors = step_gradient_errors(rng, 3, 2, 4, "tanh", backward=buggy_backward)
    assert min(errors.values()) > 1e-2, errors


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_sequence_kernels_equal_the_step_kernels_chained(rng, nonlinearity):
    T, N, I, H = 5, 3, 2, 4
    _, h0, W_ih, W_hh, b_ih, b_hh = random_step_inputs(rng, N, I, H)
    x = rng.standard_normal((T, N, I))
    out, h_n, cache = F.rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity)
    assert out.shape == (T, N, H) and h_n.shape == (N, H)
    h, caches = h0, []
    for t in range(T):
        h, step_cache = F.rnn_step_forward(x[t], h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
        np.testing.assert_allclose(out[t], h, rtol=1e-13, atol=1e-15)
        caches.append(step_cache)
    np.testing.assert_allclose(h_n, h, rtol=1e-13, atol=1e-15)

    d_out, dh_n = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    dx, dh0, grads = F.rnn_backward(d_out, dh_n, cache)
    assert dx.shape == (T, N, I) and dh0.shape == (N, H)
    dh, totals, dxs = dh_n, [0, 0, 0, 0], []
    for t in reversed(range(T)):
        dx_t, dh, *step_grads = F.rnn_step_backward(dh + d_out[t], caches[t])
        dxs.append(dx_t)
        totals = [total + g for total, g in zip(totals, step_grads)]
    assert rel_error(dx, np.stack(dxs[::-1])) < 1e-12
    assert rel_error(dh0, dh) < 1e-12
    for name, ours, chained in zip(grads._fields, grads, totals):
        assert rel_error(ours, chained) < 1e-12, name


def test_sequence_forward_leaves_its_inputs_alone(rng):
    _, h0, W_ih, W_hh, b_ih, b_hh = random_step_inputs(rng, 2, 3, 4)
    x = rng.standard_normal((3, 2, 3))
    before = [a.copy() for a in (x, h0, W_ih, W_hh)]
    out, h_n, cache = F.rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
    F.rnn_backward(np.ones_like(out), np.ones_like(h_n), cache)
    for a, b in zip((x, h0, W_ih, W_hh), before):
        np.testing.assert_array_equal(a, b)



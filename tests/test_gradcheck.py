"""The gradient checker: its pieces, the report, and that it catches wrong gradients."""
import numpy as np
import pytest
from hypothesis import given, settings

import numpylstm.recurrent as recurrent
from numpylstm import check_gradients, Linear, LSTM, LSTMCell, numerical_gradient, rel_error

from assertions import raises_naming
from strategies import lstm_configs, seeds, sequence_shapes


def test_rel_error_is_normwise_and_sane_at_zero():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([3.0, 4.0]), np.array([3.0, 4.0])) == 0.0
    a, b = np.array([3.0, 4.0]), np.array([3.0, 4.5])
    assert rel_error(a, b) == pytest.approx(0.5 / np.sqrt(9 + 4.5 ** 2), rel=1e-15)
    assert rel_error(a, b) == rel_error(b, a)
    assert rel_error(np.zeros(2), np.array([0.0, 1e-30])) == 1.0   # any difference from zero is total
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_of_a_cubic_and_restores_its_input():
    x = np.array([[0.5, -1.0], [2.0, 0.0]])
    before = x.copy()
    grad = numerical_gradient(lambda: np.sum(x ** 3), x)
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(x, before)


@settings(max_examples=8)
@given(config=lstm_configs(bidirectional=False, proj=0), shape=sequence_shapes(max_T=4, max_N=3), seed=seeds)
def test_every_lstm_gradient_passes(config, shape, seed):
    rng = np.random.default_rng(seed)
    lstm = LSTM(**config)
    T, N = shape
    x = rng.standard_normal((N, T, lstm.input_size) if lstm.batch_first else (T, N, lstm.input_size))
    layers = lstm.num_layers
    state = (rng.standard_normal((layers, N, lstm.hidden_size)), rng.standard_normal((layers, N, lstm.hidden_size)))
    report = check_gradients(lstm, (x, state))
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == {"input", "h0", "c0", *dict(lstm.named_parameters())}
    assert report.worst.rel_error < 1e-6


@pytest.mark.parametrize("num_layers", [2, 3])
def test_stacked_lstm_gradients_pass(rng, num_layers):
    lstm = LSTM(3, 4, num_layers=num_layers, seed=num_layers)
    report = check_gradients(lstm, (rng.standard_normal((5, 2, 3)),))
    assert report.passed, str(report)


def test_lstm_cell_gradients_pass(rng):
    cell = LSTMCell(3, 4, seed=0)
    state = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4)))
    report = check_gradients(cell, (rng.standard_normal((2, 3)), state))
    assert report.passed, str(report)
    assert [c.name for c in report.checks] == ["input", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def plant_wrong_gate_gradient(monkeypatch, gate_index, factor=0.5):
    """Make LSTM.backward scale one gate's block of every weight and bias gradient (a planted bug)."""
    real_forward, real_backward = recurrent.ENGINES["fast"]

    def buggy_backward(*args):
        dx, dh0, dc0, grads = real_backward(*args)
        wrong = []
        for grad in grads:
            if grad is not None and grad.shape[0] % 4 == 0:
                grad = grad.copy()
                H = grad.shape[0] // 4
                grad[gate_index * H:(gate_index + 1) * H] *= factor
            wrong.append(grad)
        return dx, dh0, dc0, type(grads)(*wrong)

    monkeypatch.setitem(recurrent.ENGINES, "fast", (real_forward, buggy_backward))


@pytest.mark.parametrize("gate_index, gate", list(enumerate("ifgo")))
def test_a_wrong_gate_is_caught_and_named(rng, monkeypatch, gate_index, gate):
    plant_wrong_gate_gradient(monkeypatch, gate_index)
    lstm = LSTM(3, 4, num_layers=2, seed=1)
    report = check_gradients(lstm, (rng.standard_normal((4, 2, 3)),))
    assert not report.passed
    failed = {c.name for c in report.failures()}
    assert failed == {name for name, _ in lstm.named_parameters()}
    for name in failed:
        assert report.wrong_gates(name) == [gate], (name, report[name].gates)
    assert report["input"].passed          # the input gradient was left intact
    text = str(report)
    assert "WRONG" in text and f"in gate {gate}" in text


def test_a_dropped_term_in_the_cell_is_attributed_to_the_gates_it_feeds(rng, monkeypatch):
    """Drop the h' -> c' path from the cell's backward: i, f and g are wrong, o (which skips c') is not."""
    def buggy_step_backward(dh_next, dc_next, cache):
        x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh = cache
        dc = np.zeros_like(c_prev) if dc_next is None else dc_next   # missing: + dh_next * o * (1 - tanh_c**2)
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g ** 2),
                             dh_next * tanh_c * o * (1 - o)], axis=-1)
        db = da.sum(axis=0)
        return da @ W_ih, da @ W_hh, dc * f, da.T @ x, da.T @ h_prev, db, db

    monkeypatch.setattr(recurrent, "lstm_step_backward", buggy_step_backward)
    cell = LSTMCell(3, 4, seed=2)
    state = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4)))
    report = check_gradients(cell, (rng.standard_normal((2, 3)), state))
    assert report.wrong_gates("weight_ih") == ["i", "f", "g"]
    assert report["weight_ih"].gates["o"] < 1e-6


def test_float32_modules_are_refused_with_advice():
    with pytest.raises(TypeError, match="float64"):
        check_gradients(LSTM(2, 3, dtype=np.float32), (np.zeros((2, 1, 2)),))


def test_report_lookup_of_an_unknown_tensor_lists_the_known_ones(rng):
    report = check_gradients(LSTMCell(2, 2, seed=0), (rng.standard_normal((1, 2)),))
    with pytest.raises(KeyError, match="weight_ih"):
        report["weight_xx"]


def test_numerical_gradient_refuses_integer_arrays_it_would_truncate():
    x = np.arange(3)
    raises_naming(TypeError, lambda: numerical_gradient(lambda: float((x ** 2).sum()), x), "x", "int64")
    raises_naming(ValueError, lambda: numerical_gradient(lambda: 0.0, np.zeros(2), eps=0), "eps", "0")
    raises_naming(TypeError, lambda: numerical_gradient(3.0, np.zeros(2)), "f", "callable", "float")


def test_check_gradients_refuses_non_modules_and_bad_tolerances():
    raises_naming(TypeError, lambda: check_gradients(np.tanh, (np.zeros(2),)), "module", "Module", "ufunc")
    raises_naming(ValueError, lambda: check_gradients(Linear(2, 2), (np.zeros((1, 2)),), tolerance=-1e-6),
                  "tolerance", "-1e-06")
    raises_naming(TypeError, lambda: check_gradients(Linear(2, 2), (np.zeros((1, 2)),), progress="yes"),
                  "progress", "callable", "str")


def test_progress_is_told_each_tensor_before_its_finite_differences(rng):
    lstm = LSTM(2, 3, seed=0)
    seen, forwards = [], []
    real_forward = lstm.forward
    lstm.forward = lambda *args, **kwargs: forwards.append(1) or real_forward(*args, **kwargs)
    x, state = rng.standard_normal((4, 1, 2)), (rng.standard_normal((1, 1, 3)), rng.standard_normal((1, 1, 3)))
    report = check_gradients(lstm, (x, state), progress=lambda name, shape: seen.append((name, shape, len(forwards))))
    assert [(name, shape) for name, shape, _ in seen] == [(c.name, c.shape) for c in report.checks]
    # Each tensor's finite differences take 2 forward passes per entry, after the one analytic pass.
    sizes = [int(np.prod(shape)) for _, shape, _ in seen]
    assert [count for _, _, count in seen] == list(1 + 2 * np.cumsum([0] + sizes[:-1]))
    assert len(forwards) == 1 + 2 * sum(sizes)

"""Looking inside (``numpylstm.analysis``): traces of the gates, and gradient norms through time.

Both run the definition on the module's weights and must leave the module exactly as it was.
"""
import numpy as np
import pytest

import numpylstm.functional_rnn as functional_rnn
from numpylstm import LSTM, LSTMCell, RNN, RNNCell, numerical_gradient
from numpylstm.analysis import gates_from, hidden_gradient_norms, lstm_trace
from numpylstm.functional import lstm_forward
from assertions import raises_naming

NONLINEARITIES = ["tanh", "relu"]


@pytest.fixture
def x(rng):
    return rng.standard_normal((7, 3, 2))


# ------------------------------------------------------------------- the trace
def test_lstm_trace_matches_the_definition_and_the_output(x):
    lstm = LSTM(2, 4, seed=0)
    trace = lstm_trace(lstm, x)
    assert {k: v.shape for k, v in trace.items()} == {g: (7, 3, 4) for g in "ifgoch"}
    weights = [p.data for _, p in lstm.named_parameters()]
    out, _, c_n, cache = lstm_forward(x, np.zeros((3, 4)), np.zeros((3, 4)), *weights)
    np.testing.assert_array_equal(trace["h"], out)
    np.testing.assert_array_equal(trace["f"], np.stack([step.f for step in cache.steps]))
    np.testing.assert_array_equal(trace["c"][-1], c_n)
    np.testing.assert_allclose(trace["c"], trace["f"] * np.concatenate([np.zeros((1, 3, 4)), trace["c"][:-1]])
                               + trace["i"] * trace["g"], rtol=1e-14, atol=1e-15)   # c_t = f c_{t-1} + i g
    assert not lstm._caches and lstm.training


def test_lstm_trace_reverse_direction_in_input_time_order_and_without_dropout(x):
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, dropout=0.5, seed=0)
    trace = lstm_trace(lstm, x, layer=1, direction=1)
    lstm.eval()
    out, (h_n, c_n) = lstm(x)
    np.testing.assert_allclose(trace["h"], out[..., 3:], rtol=1e-13, atol=1e-15)   # the reverse half
    np.testing.assert_allclose(trace["c"][0], c_n[3], rtol=1e-13, atol=1e-15)      # it ends at t = 0
    assert lstm.dropout == 0.5 and not lstm._caches


def test_lstm_trace_between_a_forward_and_its_backward_changes_nothing(x, rng):
    lstm, twin = LSTM(2, 3, seed=1), LSTM(2, 3, seed=1)
    d_out = rng.standard_normal((7, 3, 3))
    lstm(x)
    lstm_trace(lstm, x[:4])                      # in between: must not touch the pending cache
    lstm.backward(d_out)
    twin(x)
    twin.backward(d_out)
    for a, b in zip(lstm.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_lstm_trace_with_lengths_freezes_the_cell_and_zeroes_h(x):
    trace = lstm_trace(LSTM(2, 3, seed=2), x, lengths=np.array([7, 3, 5]))
    assert not trace["h"][3:, 1].any()
    np.testing.assert_array_equal(trace["c"][3:, 1], np.broadcast_to(trace["c"][2, 1], (4, 3)))


def test_gates_from_every_source_agree(x):
    lstm = LSTM(2, 3, num_layers=2, seed=2)
    trace = gates_from(lstm_trace(lstm, x), batch_index=1)
    weights = [p.data for name, p in lstm.named_parameters() if name.endswith("_l0")]
    *_, cache = lstm_forward(x, np.zeros((3, 3)), np.zeros((3, 3)), *weights)
    from_cache = gates_from(cache, batch_index=1)
    cell = LSTMCell(2, 3)
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in lstm.state_dict().items() if k.endswith("_l0")})
    state = None
    for t in range(len(x)):
        state = cell(x[t], state)
    from_steps = gates_from([c for c, _ in cell._caches], batch_index=1)
    for g in "ifgo":
        np.testing.assert_array_equal(trace[g], from_cache[g])
        np.testing.assert_allclose(from_steps[g], trace[g], rtol=1e-13, atol=1e-15)
    layer1 = gates_from(lstm_trace(lstm, x, layer=1), batch_index=1)
    assert not np.allclose(layer1["i"], trace["i"])


def test_gates_from_refuses_the_caches_a_module_records(x):
    """The fast engine's cache holds gradients in place of the gates once backward has run."""
    lstm = LSTM(2, 3, seed=0)
    out, _ = lstm(x)
    cache = lstm._caches[-1]
    lstm.backward(np.ones_like(out))
    for source in (cache, cache.layers[0]):
        raises_naming(TypeError, lambda: gates_from(source), "lstm_trace", type(source).__name__)


@pytest.mark.parametrize("call, error, words", [
    (lambda: lstm_trace(LSTM(2, 3), np.zeros((4, 1, 2)), layer=1), ValueError, ["layer", "0..0", "1"]),
    (lambda: lstm_trace(LSTM(2, 3), np.zeros((4, 1, 2)), direction=1), ValueError, ["direction", "1"]),
    (lambda: lstm_trace(LSTMCell(2, 3), np.zeros((4, 1, 2))), TypeError, ["lstm", "LSTMCell"]),
    (lambda: lstm_trace(LSTM(2, 3), np.zeros((4, 1, 3))), ValueError, ["input", "input_size=2"]),
    (lambda: gates_from({"i": np.zeros((3, 2))}), ValueError, ["missing", "'f'"]),
    (lambda: gates_from(dict.fromkeys("ifgo", np.zeros((3, 2, 4))), batch_index=2), ValueError, ["batch_index"]),
])
def test_bad_arguments(call, error, words):
    raises_naming(error, call, *words)


# ---------------------------------------------------------- gradient norms through time
def chained_rnn_norms(net, x, d_last):
    """||dL/dh_t|| by chaining the step kernel backward through the steps (single layer, time first)."""
    args = [p.data for p in net._layer_parameters(0)]
    h, caches = np.zeros((x.shape[1], net.hidden_size)), []
    for t in range(len(x)):
        h, cache = functional_rnn.rnn_step_forward(x[t], h, *args, nonlinearity=net.nonlinearity)
        caches.append(cache)
    dh, norms = d_last, [np.linalg.norm(d_last)]
    for t in range(len(x) - 1, 0, -1):
        _, dh, *_ = functional_rnn.rnn_step_backward(dh, caches[t])
        norms.append(np.linalg.norm(dh))
    return np.array(norms[::-1])


def chained_lstm_norms(lstm, x, d_last):
    """||dL/dh_t|| by running an LSTMCell with the LSTM's weights step by step, then backward step by step."""
    cell = LSTMCell(lstm.input_size, lstm.hidden_size, seed=0)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data[...] = getattr(lstm, f"{name}_l0").data
    state = None
    for t in range(len(x)):
        state = cell(x[t], state)
    dh, dc, norms = d_last, None, [np.linalg.norm(d_last)]
    for t in range(len(x) - 1, 0, -1):
        _, (dh, dc) = cell.backward(dh, dc)
        norms.append(np.linalg.norm(dh))
    return np.array(norms[::-1])


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_rnn_gradient_norms_equal_the_chained_step_kernels(rng, nonlinearity):
    net = RNN(2, 5, nonlinearity=nonlinearity, seed=3)
    x, d_last = rng.standard_normal((8, 3, 2)), rng.standard_normal((3, 5))
    norms = hidden_gradient_norms(net, x, d_last=d_last)
    assert norms.shape == (8,)
    np.testing.assert_allclose(norms, chained_rnn_norms(net, x, d_last), rtol=1e-10, atol=1e-300)


def test_lstm_gradient_norms_equal_the_stepped_cell(rng):
    lstm = LSTM(2, 5, seed=4)
    x, d_last = rng.standard_normal((8, 3, 2)), rng.standard_normal((3, 5))
    norms = hidden_gradient_norms(lstm, x, d_last=d_last)
    np.testing.assert_allclose(norms, chained_lstm_norms(lstm, x, d_last), rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_gradient_norms_of_a_stack_match_finite_differences(rng, kind):
    """For 2 layers: perturb the top layer's h_t and rerun the rest of the sequence, forward only."""
    module = RNN(2, 3, num_layers=2, seed=5) if kind == "rnn" else LSTM(2, 3, num_layers=2, seed=5)
    T, N = 5, 2
    x, d_last = rng.standard_normal((T, N, 2)), rng.standard_normal((N, 3))
    norms = hidden_gradient_norms(module, x, d_last=d_last)
    module.eval()
    for t in (0, 2):
        state = None
        for s in range(t + 1):
            _, state = module(x[s:s + 1], state)
        h = (state[0] if kind == "lstm" else state).copy()

        def loss():
            rest = (h, state[1]) if kind == "lstm" else h
            out, _ = module(x[t + 1:], rest)
            return np.sum(out[-1] * d_last)

        numeric = numerical_gradient(loss, h)[-1]     # the top layer's h_t
        assert abs(norms[t] - np.linalg.norm(numeric)) < 1e-7 * max(1.0, norms[t]), (t, norms[t])
    assert norms[-1] == pytest.approx(np.linalg.norm(d_last), rel=1e-15)


def test_gradient_norms_follow_the_layout_and_leave_the_module_as_it_was(rng):
    net = RNN(2, 4, batch_first=True, seed=6)
    x = rng.standard_normal((3, 6, 2))
    net(x)                                   # a pending forward whose cache must survive
    net.weight_hh_l0.grad[...] = 7.0
    norms = hidden_gradient_norms(net, x)
    time_first = RNN(2, 4, seed=6)
    np.testing.assert_allclose(norms, hidden_gradient_norms(time_first, x.transpose(1, 0, 2)), rtol=1e-13)
    assert norms[-1] == pytest.approx(np.sqrt(3 * 4))   # default d_last: ones of shape (N, H)
    assert np.all(net.weight_hh_l0.grad == 7.0) and net.training
    net.backward(np.zeros((3, 6, 4)))                    # the pending forward's cache is still there
    unbatched = hidden_gradient_norms(net, x[0])
    assert unbatched.shape == (6,) and unbatched[-1] == pytest.approx(2.0)


def test_rnn_gradient_vanishes_at_the_rate_its_weights_allow(rng):
    """||W_hh||_2 = 0.5 and |tanh'| <= 1: each step back shrinks the gradient by at least half."""
    net = RNN(2, 6, seed=7)
    W = rng.standard_normal((6, 6))
    net.weight_hh_l0.data[...] = 0.5 * W / np.linalg.norm(W, 2)
    norms = hidden_gradient_norms(net, rng.standard_normal((10, 2, 2)))
    assert np.all(norms[:-1] <= 0.5 * norms[1:] * (1 + 1e-12))
    assert norms[0] < norms[-1] * 0.5 ** 9 * (1 + 1e-12)


def test_gradient_norms_refuse_modules_they_cannot_measure():
    with pytest.raises(TypeError, match="module must be an RNN or an LSTM, got RNNCell"):
        hidden_gradient_norms(RNNCell(2, 3), np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match="bidirectional"):
        hidden_gradient_norms(LSTM(2, 3, bidirectional=True), np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match=r"d_last.*\(1, 3\).*\(3,\)"):
        hidden_gradient_norms(RNN(2, 3), np.zeros((3, 1, 2)), d_last=np.ones(3))

"""``LSTMCell`` and ``LSTM`` (``numpylstm.recurrent``), run over both engines.

Every test that builds an ``LSTM`` takes the ``engine`` fixture, so it runs once with
``engine="fast"`` and once with ``engine="reference"`` (the definition): the same
parameters must give the same numbers and the same errors.

- PyTorch parity (float64, outputs, final states and every gradient, random distinct
  biases), skipped where torch is absent (CI requires it).
- ``nn.LSTM`` features: bidirectional layers, dropout between layers, projections
  (``proj_size``), variable lengths, truncated BPTT, each also checked against finite
  differences or an explicit construction, with a planted mistake the check must catch.
- Behaviour of the modules: the cache stack, layouts, dtypes, devices.
- Malformed calls (hypothesis breaks one thing of a valid call) and well-formed random
  calls (finite values of the documented shapes).
"""
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings, strategies as st

from numpylstm import (check_gradients, detach_state, LSTM, LSTMCell, numerical_gradient, rel_error, RNNCell)
from numpylstm.module import MissingForwardError

from assertions import assert_finite, memory_of, raises_naming, random_array
from strategies import (array_of_dtype, float_dtypes, input_scales, lengths_for, lstm_configs, refused_dtypes, seeds,
                        sequence_shapes, small_sizes, wrong_shapes)
from torch_reference import assert_distinct_biases, PARITY_TOLERANCE, torch_twin, worst_parity_error


# ============================================================ PyTorch parity
def random_state(rng, module, batch):
    """(h0, c0) of the shapes ``module`` expects, for ``batch`` None (unbatched) or N."""
    if isinstance(module, LSTMCell):
        shape = (module.hidden_size,) if batch is None else (batch, module.hidden_size)
        return rng.standard_normal(shape), rng.standard_normal(shape)
    layers = module.num_layers * module.num_directions
    lead = (layers,) if batch is None else (layers, batch)
    return rng.standard_normal(lead + (module.output_size,)), rng.standard_normal(lead + (module.hidden_size,))


@pytest.mark.parametrize("batch", [3, None], ids=["batched", "unbatched"])
@pytest.mark.parametrize("with_state", [True, False], ids=["state", "no-state"])
def test_lstm_cell_matches_torch(torch, rng, batch, with_state):
    cell = LSTMCell(4, 5, seed=7)
    x = rng.standard_normal((4,) if batch is None else (batch, 4))
    inputs = (x, random_state(rng, cell, batch)) if with_state else (x,)
    error, where = worst_parity_error(cell, inputs, torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("layout", ["time-first", "batch-first", "unbatched"])
def test_lstm_matches_torch(torch, rng, num_layers, layout, engine):
    lstm = LSTM(3, 5, num_layers=num_layers, batch_first=layout == "batch-first", seed=num_layers, engine=engine)
    T, N = 6, 4
    shape = {"time-first": (T, N, 3), "batch-first": (N, T, 3), "unbatched": (T, 3)}[layout]
    x = rng.standard_normal(shape)
    state = random_state(rng, lstm, None if layout == "unbatched" else N)
    error, where = worst_parity_error(lstm, (x, state), torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


def test_lstm_without_bias_or_state_matches_torch(torch, rng, engine):
    lstm = LSTM(3, 4, num_layers=2, bias=False, seed=3, engine=engine)
    error, where = worst_parity_error(lstm, (rng.standard_normal((5, 2, 3)),), torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


def test_parity_check_catches_a_swapped_gate_block(torch, rng, monkeypatch, engine):
    """The cross-check itself can fail: a kernel that reads the f and g blocks swapped must."""
    import numpylstm.recurrent as recurrent

    real_forward, real_backward = recurrent.ENGINES[engine]

    def swapped_forward(x, h0, c0, W_ih, *rest, **kwargs):
        i, f, g, o = np.split(W_ih, 4)
        return real_forward(x, h0, c0, np.concatenate([i, g, f, o]), *rest, **kwargs)

    monkeypatch.setitem(recurrent.ENGINES, engine, (swapped_forward, real_backward))
    lstm = LSTM(3, 4, seed=5, engine=engine)
    error, where = worst_parity_error(lstm, (rng.standard_normal((4, 2, 3)),), torch, rng)
    assert error > 1e-3, f"a swapped gate block went unnoticed (worst: {where}, {error:.1e})"


# ============================================================ nn.LSTM features
GRADCHECK_TOLERANCE = 1e-6
EXACT = 1e-12  # the same arithmetic in another arrangement: only round-off may differ


# ----------------------------------------------------------------------- helpers
def random_input(rng, lstm, T, N):
    """x in the module's layout: (T, N, I), (N, T, I) with batch_first, (T, I) for N None."""
    if N is None:
        return rng.standard_normal((T, lstm.input_size))
    return rng.standard_normal((N, T, lstm.input_size) if lstm.batch_first else (T, N, lstm.input_size))


def run_numpylstm(lstm, x, state, lengths, d_out, d_state):
    """Forward and backward; outputs, input gradients and parameter gradients by name."""
    lstm.zero_grad()
    out, (h_n, c_n) = lstm(x, state, lengths=lengths)
    dx, (dh0, dc0) = lstm.backward(d_out, d_state)
    results = dict(out=out, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0)
    results.update({name: param.grad.copy() for name, param in lstm.named_parameters()})
    return results


def run_torch(lstm, x, state, lengths, d_out, d_state, torch):
    """The same through ``torch.nn.LSTM``; with lengths through its packed path:
    ``pack_padded_sequence(enforce_sorted=False)`` and ``pad_packed_sequence(total_length=T)``."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    twin = torch_twin(lstm, torch).train(lstm.training)
    x_t = torch.tensor(x, requires_grad=True)
    state_t = tuple(torch.tensor(s, requires_grad=True) for s in state)
    if lengths is None:
        out, (h_n, c_n) = twin(x_t, state_t)
    else:
        packed = pack_padded_sequence(x_t, torch.as_tensor(lengths), batch_first=lstm.batch_first,
                                      enforce_sorted=False)
        packed_out, (h_n, c_n) = twin(packed, state_t)
        T = x.shape[1] if lstm.batch_first else x.shape[0]
        out, _ = pad_packed_sequence(packed_out, batch_first=lstm.batch_first, total_length=T)
    loss = sum((value * torch.tensor(grad)).sum() for value, grad in zip((out, h_n, c_n), (d_out, *d_state)))
    loss.backward()
    results = dict(out=out, h_n=h_n, c_n=c_n, dx=x_t.grad, dh0=state_t[0].grad, dc0=state_t[1].grad)
    results.update({name: param.grad for name, param in twin.named_parameters()})
    return {name: value.detach().numpy() for name, value in results.items()}


def torch_errors(lstm, x, state, lengths, rng, torch):
    """Relative error, numpylstm vs torch, of outputs, states and every gradient, by name.

    The output gradients are random and non-zero everywhere, padded positions
    included: PyTorch's padded outputs are constants, so those must be ignored.
    """
    assert_distinct_biases(lstm)
    out, (h_n, c_n) = lstm(x, state, lengths=lengths)
    lstm.clear_caches()
    d_out, d_state = rng.standard_normal(out.shape), (rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape))
    ours = run_numpylstm(lstm, x, state, lengths, d_out, d_state)
    theirs = run_torch(lstm, x, state, lengths, d_out, d_state, torch)
    assert set(ours) == set(theirs), "parameter names differ from torch's"
    return {name: rel_error(ours[name], theirs[name]) for name in ours}


def assert_below(errors, tolerance):
    worst = max(errors, key=errors.get)
    assert errors[worst] < tolerance, f"{worst}: relative error {errors[worst]:.2e} (all: {errors})"


def one_direction(lstm, layer, direction):
    """A one-layer unidirectional LSTM holding the weights of ``lstm``'s (layer, direction)."""
    input_size = lstm.input_size if layer == 0 else lstm.num_directions * lstm.output_size
    part = LSTM(input_size, lstm.hidden_size, proj_size=lstm.proj_size, bias=lstm.bias, engine=lstm.engine).eval()
    suffix = f"_l{layer}" + ("_reverse" if direction else "")
    state = lstm.state_dict()
    part.load_state_dict({name: state[name.replace("_l0", suffix)] for name in part.state_dict()})
    return part


def forward_by_hand(lstm, x, h0, c0, lengths=None, dropout_masks=()):
    """``lstm``'s forward (time-major x) rebuilt from one-layer, one-direction LSTMs.

    Each sequence runs alone and only up to its own length, so neither the
    ``lengths`` code nor the batched bidirectional code is used: the reverse
    direction is literally the forward kernel on the sequence read backwards,
    layer k + 1 reads [forward, reverse] of layer k times its dropout mask.
    """
    T, N = x.shape[:2]
    D, L = lstm.num_directions, lstm.num_layers
    parts = {(k, d): one_direction(lstm, k, d) for k in range(L) for d in range(D)}
    out = np.zeros((T, N, D * lstm.output_size))
    h_n, c_n = np.zeros_like(h0), np.zeros_like(c0)
    for n in range(N):
        steps = T if lengths is None else int(lengths[n])
        seq = x[:steps, n:n + 1]
        for k in range(L):
            outputs = []
            for d in range(D):
                index = k * D + d
                part_state = (h0[index:index + 1, n:n + 1], c0[index:index + 1, n:n + 1])
                part_out, (h, c) = parts[k, d](seq if d == 0 else seq[::-1], part_state)
                outputs.append(part_out if d == 0 else part_out[::-1])
                h_n[index, n], c_n[index, n] = h[0, 0], c[0, 0]
            seq = np.concatenate(outputs, axis=-1)
            if k < L - 1 and len(dropout_masks):
                seq = seq * dropout_masks[k][:steps, n:n + 1]
        out[:steps, n] = seq[:, 0]
    return out, h_n, c_n


def plant(monkeypatch, lstm, corrupt):
    """Make ``lstm.backward`` work from ``corrupt(cache)`` instead of its true forward cache."""
    real_pop = lstm._pop_cache
    monkeypatch.setattr(lstm, "_pop_cache", lambda: corrupt(real_pop()))


def failed_names(report):
    return {check.name for check in report.failures()}


# ----------------------------------------------------------------- 1. bidirectional
@pytest.mark.parametrize("proj_size", [0, 2])
def test_parameter_names_and_shapes_match_torch(torch, proj_size, engine):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=proj_size, engine=engine)
    twin = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=proj_size)
    ours = [(name, tuple(p.shape)) for name, p in lstm.named_parameters()]
    assert ours == [(name, tuple(p.shape)) for name, p in twin.named_parameters()]
    assert "weight_hh_l1_reverse" in dict(ours)


@pytest.mark.parametrize("lengths", [None, [2, 5, 1]], ids=["full", "lengths"])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_bidirectional_output_is_forward_then_reverse(rng, num_layers, lengths, engine):
    """Output concat order (forward, reverse) and the (layer * 2 + direction) state layout,
    against the layers and directions run one at a time and one sequence at a time."""
    lstm = LSTM(2, 3, num_layers=num_layers, bidirectional=True, seed=3, engine=engine)
    x = rng.standard_normal((5, 3, 2))
    h0, c0 = random_state(rng, lstm, 3)
    out, (h_n, c_n) = lstm(x, (h0, c0), lengths=lengths)
    expected = forward_by_hand(lstm, x, h0, c0, lengths)
    for name, ours, theirs in zip(("out", "h_n", "c_n"), (out, h_n, c_n), expected):
        assert rel_error(ours, theirs) < EXACT, name


@pytest.mark.parametrize("layout", ["time-first", "batch-first", "unbatched"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_bidirectional_matches_torch(torch, rng, num_layers, layout, engine):
    lstm = LSTM(3, 4, num_layers=num_layers, bidirectional=True, batch_first=layout == "batch-first", seed=11, engine=engine)
    N = None if layout == "unbatched" else 3
    x = random_input(rng, lstm, 5, N)
    assert_below(torch_errors(lstm, x, random_state(rng, lstm, N), None, rng, torch), PARITY_TOLERANCE)


def test_bidirectional_final_states_sit_at_each_end(rng, engine):
    """h_n[-2] is the forward direction's last output, h_n[-1] the reverse one's output at t = 0."""
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, seed=5, engine=engine)
    out, (h_n, _) = lstm(rng.standard_normal((4, 2, 2)))
    assert h_n.shape == (4, 2, 3)
    np.testing.assert_array_equal(h_n[-2], out[-1, :, :3])
    np.testing.assert_array_equal(h_n[-1], out[0, :, 3:])


# --------------------------------------------------------------------- 2. dropout
def dropout_lstm(engine, p=0.4, seed=2, **options):
    options = dict(dict(num_layers=3, bidirectional=True), **options)
    return LSTM(2, 3, dropout=p, seed=seed, **options, engine=engine)


def last_masks(lstm):
    return lstm._caches[-1].dropout_masks


def test_dropout_masks_sit_between_layers_with_inverted_scaling(rng, engine):
    """Layer k + 1 reads layer k's output times a mask of 0 and 1 / (1 - p); none after the last layer."""
    p = 0.4
    lstm = dropout_lstm(engine, p)
    x, (h0, c0) = rng.standard_normal((6, 4, 2)), random_state(rng, lstm, 4)
    out, (h_n, c_n) = lstm(x, (h0, c0))
    masks = last_masks(lstm)
    assert len(masks) == lstm.num_layers - 1
    for mask in masks:
        assert mask.shape == (6, 4, 2 * 3)
        assert set(np.unique(mask)) == {0.0, 1.0 / (1.0 - p)}
    expected = forward_by_hand(lstm, x, h0, c0, dropout_masks=masks)
    for name, ours, theirs in zip(("out", "h_n", "c_n"), (out, h_n, c_n), expected):
        assert rel_error(ours, theirs) < EXACT, name


def test_dropout_is_active_in_train_and_identity_in_eval(rng, engine):
    lstm = dropout_lstm(engine, 0.5)
    x = rng.standard_normal((5, 3, 2))
    train_out, _ = lstm(x)
    lstm.eval()
    eval_out, _ = lstm(x)
    again, _ = lstm(x)
    np.testing.assert_array_equal(eval_out, again)
    assert rel_error(train_out, eval_out) > 1e-3
    no_dropout = LSTM(2, 3, num_layers=3, bidirectional=True, engine=engine)
    no_dropout.load_state_dict(lstm.state_dict())
    np.testing.assert_array_equal(no_dropout(x)[0], eval_out)


def test_dropout_in_eval_mode_matches_torch(torch, rng, engine):
    lstm = dropout_lstm(engine, 0.5, proj_size=2).eval()
    x, state = rng.standard_normal((5, 3, 2)), random_state(rng, lstm, 3)
    twin = torch_twin(lstm, torch).eval()
    ours = lstm(x, state, lengths=[5, 2, 4])
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    packed = pack_padded_sequence(torch.tensor(x), torch.tensor([5, 2, 4]), enforce_sorted=False)
    packed_out, (h_n, c_n) = twin(packed, tuple(torch.tensor(s) for s in state))
    out = pad_packed_sequence(packed_out, total_length=5)[0]
    for name, a, b in zip(("out", "h_n", "c_n"), (ours[0], *ours[1]), (out, h_n, c_n)):
        assert rel_error(a, b.detach().numpy()) < PARITY_TOLERANCE, name


def test_dropout_zero_in_training_matches_torch(torch, rng, engine):
    lstm = LSTM(2, 4, num_layers=3, bidirectional=True, proj_size=3, dropout=0.0, seed=8, engine=engine)
    x, state = rng.standard_normal((5, 3, 2)), random_state(rng, lstm, 3)
    assert_below(torch_errors(lstm, x, state, [3, 5, 1], rng, torch), PARITY_TOLERANCE)


def test_dropout_masks_are_seeded_and_fresh_on_every_call(rng, engine):
    x = rng.standard_normal((5, 3, 2))
    first, twin, other = dropout_lstm(engine, seed=1), dropout_lstm(engine, seed=1), dropout_lstm(engine, seed=2)
    other.load_state_dict(first.state_dict())  # same weights, another seed
    outputs = [module(x)[0] for module in (first, twin, other)]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert rel_error(outputs[0], outputs[2]) > 1e-3, "a different seed must give different masks"
    masks_before = [m.copy() for m in last_masks(first)]
    first(x)
    assert any(np.any(a != b) for a, b in zip(masks_before, last_masks(first))), "masks must change per call"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_about_p_of_the_entries(p, engine):
    """Over n mask entries the zeroed fraction is Binomial(n, p) / n: within 5 standard deviations of p.

    Each entry is drawn on its own, as in PyTorch: a mask shared over time steps
    would change between consecutive steps far less often than 2 p (1 - p).
    """
    lstm = LSTM(1, 2, num_layers=2, dropout=p, seed=4, engine=engine)
    lstm(np.ones((60, 100, 1)))
    (mask,) = last_masks(lstm)
    n = mask.size
    bound = 5 * np.sqrt(p * (1 - p) / n)
    assert abs(np.mean(mask == 0) - p) < bound
    changes = np.mean((mask[1:] == 0) != (mask[:-1] == 0))
    assert abs(changes - 2 * p * (1 - p)) < 5 * np.sqrt(0.25 / mask[1:].size)


def test_dropout_gradients_match_finite_differences_with_the_mask_fixed(engine):
    """check_gradients rewinds the module's random generator before each forward, so the
    finite differences see the same masks as the backward pass, which must reuse them."""
    lstm = dropout_lstm(engine, 0.4, proj_size=2)
    x, state = np.random.default_rng(0).standard_normal((4, 3, 2)), random_state(np.random.default_rng(1), lstm, 3)
    lstm(x, state)
    assert all(np.any(mask == 0) for mask in last_masks(lstm)), "the check must see dropped entries"
    lstm.clear_caches()
    report = check_gradients(lstm, (x, state), lengths=[4, 1, 3])
    assert report.passed, str(report)


def test_gradient_check_catches_a_backward_with_a_fresh_mask(monkeypatch, engine):
    lstm = dropout_lstm(engine, 0.4)
    x = np.random.default_rng(0).standard_normal((4, 2, 2))
    fresh = np.random.default_rng(99)
    plant(monkeypatch, lstm, lambda cache: cache._replace(dropout_masks=[
        (fresh.random(m.shape) >= 0.4) / 0.6 for m in cache.dropout_masks]))
    report = check_gradients(lstm, (x,))
    assert "weight_ih_l0" in failed_names(report) and "input" in failed_names(report)
    assert "weight_ih_l2" not in failed_names(report), "the last layer's inputs carry no new mask"


def test_dropout_with_one_layer_warns_as_torch_does(torch, engine):
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        torch.nn.LSTM(2, 3, num_layers=1, dropout=0.5)
    with pytest.warns(UserWarning, match=r"num_layers greater than 1.*dropout=0.5 and num_layers=1"):
        LSTM(2, 3, num_layers=1, dropout=0.5, engine=engine)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LSTM(2, 3, num_layers=2, dropout=0.5, engine=engine)
        LSTM(2, 3, num_layers=1, dropout=0.0, engine=engine)


@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.5, ValueError), ("0.5", TypeError), (True, TypeError)])
def test_bad_dropout_is_a_clear_error(p, error, engine):
    with pytest.raises(error, match=r"dropout must be .*\[0, 1\].*got"):
        LSTM(2, 3, num_layers=2, dropout=p, engine=engine)
    lstm = LSTM(2, 3, num_layers=2, engine=engine)
    with pytest.raises(error, match=r"dropout must be .*\[0, 1\].*got"):
        lstm.dropout = p       # checked also when changed after construction
    assert lstm.dropout == 0.0


@pytest.mark.parametrize("set_later", [False, True], ids=["constructor", "set later"])
def test_dropout_of_one_drops_everything_as_torch_does(torch, rng, set_later, engine):
    """p = 1 zeroes every output of the lower layers (not 0/0 = NaN), also when set after construction."""
    lstm = LSTM(3, 4, num_layers=2, dropout=0.0 if set_later else 1.0, seed=3, engine=engine)
    if set_later:
        lstm.dropout = 1
    twin = torch_twin(lstm, torch)
    twin.dropout = 1.0
    x = rng.standard_normal((5, 2, 3))
    out, (h_n, c_n) = lstm(x)
    expected, (h_t, c_t) = twin(torch.tensor(x))
    assert np.isfinite(out).all()
    assert rel_error(out, expected.detach().numpy()) < 1e-12 and rel_error(h_n, h_t.detach().numpy()) < 1e-12
    dx, _ = lstm.backward(np.ones_like(out))
    assert not dx.any()          # nothing reaches the input through a layer that dropped everything


# ------------------------------------------------------------------ 3. proj_size
@pytest.mark.parametrize("batch", [3, None], ids=["batched", "unbatched"])
def test_projection_shapes_match_torch(torch, rng, batch, engine):
    lstm = LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, engine=engine)
    twin = torch_twin(lstm, torch)
    x = random_input(rng, lstm, 4, batch)
    ours = lstm(x)
    out, (h_n, c_n) = twin(torch.tensor(x))
    assert [a.shape for a in (ours[0], *ours[1])] == [tuple(t.shape) for t in (out, h_n, c_n)]
    lead = (4,) if batch is None else (4, batch)
    assert ours[1][0].shape == lead + (2,) and ours[1][1].shape == lead + (5,)
    assert lstm.weight_hr_l1_reverse.shape == (2, 5) and lstm.weight_hh_l0.shape == (20, 2)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_projection_matches_torch(torch, rng, num_layers, bidirectional, engine):
    lstm = LSTM(3, 5, num_layers=num_layers, bidirectional=bidirectional, proj_size=3, seed=21, engine=engine)
    x, state = random_input(rng, lstm, 5, 2), random_state(rng, lstm, 2)
    assert_below(torch_errors(lstm, x, state, None, rng, torch), PARITY_TOLERANCE)


@pytest.mark.parametrize("proj_size", [4, 5])
def test_proj_size_not_below_hidden_size_is_a_clear_error(proj_size, engine):
    with pytest.raises(ValueError, match=f"proj_size must be smaller than hidden_size.*proj_size={proj_size}"
                                         r".*hidden_size=4"):
        LSTM(3, 4, proj_size=proj_size, engine=engine)


@pytest.mark.parametrize("proj_size, error", [(-1, ValueError), (1.5, TypeError)])
def test_bad_proj_size_is_a_clear_error(proj_size, error, engine):
    with pytest.raises(error, match=r"proj_size must be a non-negative integer, got"):
        LSTM(3, 4, proj_size=proj_size, engine=engine)


def test_h0_of_hidden_size_with_a_projection_is_a_clear_error(rng, engine):
    lstm = LSTM(3, 4, num_layers=2, proj_size=2, engine=engine)
    h0_too_wide = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"h0 \(state\[0\]\) must have shape \(2, 3, 2\).*got \(2, 3, 4\)"):
        lstm(rng.standard_normal((5, 3, 3)), (h0_too_wide, np.zeros((2, 3, 4))))


def test_gradient_check_catches_a_wrong_projection_gradient(monkeypatch, engine):
    """A 1e-4 relative error in dW_hr alone, far below anything visible in a loss curve, is caught."""
    import numpylstm.recurrent as recurrent

    real_forward, real_backward = recurrent.ENGINES[engine]

    def slightly_wrong(*args):
        dx, dh0, dc0, grads = real_backward(*args)
        return dx, dh0, dc0, grads._replace(W_hr=grads.W_hr * (1 + 1e-4))

    monkeypatch.setitem(recurrent.ENGINES, engine, (real_forward, slightly_wrong))
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2, seed=1, engine=engine)
    report = check_gradients(lstm, (np.random.default_rng(0).standard_normal((3, 2, 2)),))
    assert failed_names(report) == {"weight_hr_l0", "weight_hr_l0_reverse", "weight_hr_l1", "weight_hr_l1_reverse"}


# -------------------------------------------------------------------- 4. lengths
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_match_torch_packed_sequences(torch, rng, bidirectional, batch_first, engine):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first, proj_size=2, seed=6, engine=engine)
    x, state = random_input(rng, lstm, 6, 5), random_state(rng, lstm, 5)
    lengths = np.array([3, 6, 1, 6, 4])  # unsorted, with repeats, the shortest and the longest possible
    assert_below(torch_errors(lstm, x, state, lengths, rng, torch), PARITY_TOLERANCE)


def test_lengths_act_like_each_sequence_run_alone(rng, engine):
    """Outputs past a length are zero, h_n/c_n are at each sequence's own last step, and the
    reverse direction starts there: the same as running each sequence alone, cut to its length."""
    lstm = LSTM(2, 4, num_layers=2, bidirectional=True, proj_size=3, seed=9, engine=engine)
    x, (h0, c0) = rng.standard_normal((6, 4, 2)), random_state(rng, lstm, 4)
    lengths = np.array([4, 6, 1, 3])
    out, (h_n, c_n) = lstm(x, (h0, c0), lengths=lengths)
    for n, length in enumerate(lengths):
        assert np.all(out[length:, n] == 0)
    expected = forward_by_hand(lstm, x, h0, c0, lengths)
    for name, ours, theirs in zip(("out", "h_n", "c_n"), (out, h_n, c_n), expected):
        assert rel_error(ours, theirs) < EXACT, name


def test_padded_positions_neither_affect_outputs_nor_receive_gradient(rng, engine):
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, seed=10, engine=engine)
    lengths = np.array([2, 5, 3])
    padded = np.arange(5)[None, :] >= lengths[:, None]  # (N, T), True past each length
    x, state = random_input(rng, lstm, 5, 3), random_state(rng, lstm, 3)
    x_other_padding = np.where(padded[..., None], rng.standard_normal(x.shape), x)
    d_out, d_state = rng.standard_normal((3, 5, 6)), random_state(rng, lstm, 3)
    d_out_other_padding = np.where(padded[..., None], rng.standard_normal(d_out.shape), d_out)
    first = run_numpylstm(lstm, x, state, lengths, d_out, d_state)
    second = run_numpylstm(lstm, x_other_padding, state, lengths, d_out_other_padding, d_state)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    assert np.all(first["dx"][padded] == 0) and np.all(first["dx"][~padded] != 0)


def test_lengths_gradients_match_finite_differences_and_catch_a_misaligned_reverse(monkeypatch, engine):
    """The reverse direction's backward must reverse within each length; plain x[::-1] is caught."""
    lstm = LSTM(2, 3, bidirectional=True, seed=12, engine=engine)
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    assert check_gradients(lstm, (x,), lengths=[2, 4, 3]).passed
    plant(monkeypatch, lstm, lambda cache: cache._replace(lengths=None))
    failed = failed_names(check_gradients(lstm, (x,), lengths=[2, 4, 3]))
    assert {"input", "weight_ih_l0_reverse"} <= failed and "weight_ih_l0" not in failed


LENGTH_ERRORS = {
    "zero": ([2, 0, 3], ValueError, r"lengths must hold values in \[1, 4\] \(1 to the sequence length T=4\), "
                                    r"got values from 0 to 3"),
    "too long": ([2, 5, 3], ValueError, r"lengths must hold values in \[1, 4\].*T=4.*got .* to 5"),
    "negative": ([2, -1, 3], ValueError, r"lengths must hold values in \[1, 4\].*got values from -1"),
    "too few": ([2, 3], ValueError, r"lengths must have shape \(3,\) \(one length per sequence\), got \(2,\)"),
    "too many": ([[2, 3, 4]], ValueError, r"lengths must have shape \(3,\).*got \(1, 3\)"),
    "floats": ([2.0, 3.0, 4.0], TypeError, r"lengths must be an array of integers, got dtype float64"),
    "fractions": ([2.5, 3, 4], TypeError, r"lengths must be an array of integers, got dtype float64"),
    "booleans": ([True, True, False], TypeError, r"lengths must be an array of integers, got dtype bool"),
    "ragged": ([[2], [3, 4]], ValueError, r"lengths must be a rectangular array of integers, got a ragged list"),
    "huge uint64": (np.array([2, 2**64 - 1, 3], dtype=np.uint64), ValueError,
                    r"lengths must hold values in \[1, 4\].*got values from 2 to 18446744073709551615"),
}


@pytest.mark.parametrize("case", LENGTH_ERRORS, ids=list(LENGTH_ERRORS))
def test_bad_lengths_are_clear_errors(rng, case, engine):
    lengths, error, message = LENGTH_ERRORS[case]
    with pytest.raises(error, match=message):
        LSTM(2, 3, engine=engine)(rng.standard_normal((4, 3, 2)), lengths=lengths)


def test_lengths_with_unbatched_input_is_a_clear_error(rng, engine):
    with pytest.raises(ValueError, match=r"lengths needs batched input .* got unbatched input"):
        LSTM(2, 3, engine=engine)(rng.standard_normal((4, 2)), lengths=[4])


# --------------------------------------------------------- 5. truncated BPTT
CHUNK_STARTS = [4, 6]  # a 9-step sequence in chunks of 4, 2 and 3 steps


def chunked_setup(rng, engine):
    lstm = LSTM(2, 3, num_layers=2, proj_size=2, seed=13, engine=engine)
    x, state = rng.standard_normal((9, 3, 2)), random_state(rng, lstm, 3)
    d_out, d_state = rng.standard_normal((9, 3, 2)), random_state(rng, lstm, 3)
    return lstm, x, state, d_out, d_state


def forward_chunks(lstm, x, state):
    """Run the chunks in order, each starting from the detached final state of the one before."""
    outputs, starts = [], []
    for chunk in np.split(x, CHUNK_STARTS):
        starts.append(state)
        out, state = lstm(chunk, state)
        outputs.append(out)
        state = detach_state(state)
    return np.concatenate(outputs), state, starts


def backward_chunks(lstm, d_out, d_state, carry):
    """Backward newest chunk first; ``carry`` passes each chunk's (dh0, dc0) to the chunk before."""
    dxs = []
    for d_chunk in reversed(np.split(d_out, CHUNK_STARTS)):
        dx, d_start = lstm.backward(d_chunk, d_state)
        dxs.insert(0, dx)
        d_state = d_start if carry else None
    return np.concatenate(dxs), d_start


def test_chunked_forward_equals_whole_sequence_forward(rng, engine):
    lstm, x, state, _, _ = chunked_setup(rng, engine)
    out, (h_n, c_n) = lstm(x, state)
    chunked_out, (chunked_h, chunked_c), _ = forward_chunks(lstm, x, state)
    for name, a, b in (("out", chunked_out, out), ("h_n", chunked_h, h_n), ("c_n", chunked_c, c_n)):
        assert rel_error(a, b) < EXACT, name


def test_chunked_backward_carrying_state_gradients_equals_whole_sequence_backward(rng, engine):
    lstm, x, state, d_out, d_state = chunked_setup(rng, engine)
    whole = run_numpylstm(lstm, x, state, None, d_out, d_state)
    lstm.zero_grad()
    forward_chunks(lstm, x, state)
    dx, (dh0, dc0) = backward_chunks(lstm, d_out, d_state, carry=True)
    errors = dict(dx=rel_error(dx, whole["dx"]), dh0=rel_error(dh0, whole["dh0"]), dc0=rel_error(dc0, whole["dc0"]))
    errors.update({name: rel_error(p.grad, whole[name]) for name, p in lstm.named_parameters()})
    assert_below(errors, EXACT)


def truncated_gradients(lstm, x, state, d_out, d_state):
    lstm.zero_grad()
    forward_chunks(lstm, x, state)
    dx, (dh0, dc0) = backward_chunks(lstm, d_out, d_state, carry=False)
    grads = dict(dx=dx, dh0=dh0, dc0=dc0)
    grads.update({name: p.grad.copy() for name, p in lstm.named_parameters()})
    return grads


@pytest.mark.parametrize("loss_on", ["every chunk", "last chunk"])
def test_truncated_backward_is_each_chunks_own_gradient(rng, loss_on, engine):
    """Dropping the carried gradients differentiates each chunk's loss with its starting state
    held constant: compared with finite differences of exactly that function."""
    lstm, x, state, d_out, d_state = chunked_setup(rng, engine)
    if loss_on == "last chunk":
        d_out[:CHUNK_STARTS[-1]] = 0
    _, _, starts = forward_chunks(lstm.eval(), x, state)
    lstm.train()
    grads = truncated_gradients(lstm, x, state, d_out, d_state)
    whole = run_numpylstm(lstm, x, state, None, d_out, d_state)
    assert rel_error(grads["weight_hh_l0"], whole["weight_hh_l0"]) > 1e-3, "truncation must change the gradient"

    h0, c0 = starts[0]  # perturbing them (in place) reaches only the first chunk

    def truncated_loss():
        total = 0.0
        for chunk, start, d_chunk in zip(np.split(x, CHUNK_STARTS), [(h0, c0)] + starts[1:],
                                         np.split(d_out, CHUNK_STARTS)):
            out, final = lstm(chunk, start)
            total += np.sum(d_chunk * out)
        return total + np.sum(d_state[0] * final[0]) + np.sum(d_state[1] * final[1])

    lstm.eval()  # the finite differences record no caches
    numeric = dict(dx=numerical_gradient(truncated_loss, x), dh0=numerical_gradient(truncated_loss, h0),
                   dc0=numerical_gradient(truncated_loss, c0))
    numeric.update({name: numerical_gradient(truncated_loss, p.data) for name, p in lstm.named_parameters()})
    assert_below({name: rel_error(grads[name], numeric[name]) for name in grads}, GRADCHECK_TOLERANCE)
    if loss_on == "last chunk":
        assert np.all(grads["dx"][:CHUNK_STARTS[-1]] == 0) and np.all(grads["dh0"] == 0)


def test_truncated_backward_matches_torch_with_detach(torch, rng, engine):
    """PyTorch's truncated BPTT: ``state = (h.detach(), c.detach())`` between chunks."""
    lstm, x, state, d_out, d_state = chunked_setup(rng, engine)
    ours = truncated_gradients(lstm, x, state, d_out, d_state)
    twin = torch_twin(lstm, torch)
    x_t = torch.tensor(x, requires_grad=True)
    start = tuple(torch.tensor(s, requires_grad=True) for s in state)
    carried, loss = start, 0
    for chunk, d_chunk in zip(torch.tensor_split(x_t, CHUNK_STARTS), np.split(d_out, CHUNK_STARTS)):
        out, (h, c) = twin(chunk, carried)
        loss = loss + (out * torch.tensor(d_chunk)).sum()
        carried = (h.detach(), c.detach())
    (loss + (h * torch.tensor(d_state[0])).sum() + (c * torch.tensor(d_state[1])).sum()).backward()
    theirs = dict(dx=x_t.grad, dh0=start[0].grad, dc0=start[1].grad)
    theirs.update({name: p.grad for name, p in twin.named_parameters()})
    assert_below({name: rel_error(ours[name], theirs[name].numpy()) for name in ours}, PARITY_TOLERANCE)


def test_detach_state_returns_independent_copies(rng):
    h, c = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5))
    h_copy, c_copy = detach_state((h, c))
    np.testing.assert_array_equal(h_copy, h)
    np.testing.assert_array_equal(c_copy, c)
    h[...] = 0
    assert np.all(h_copy != 0)


def test_detach_state_docstring_example_runs():
    import doctest

    import numpylstm.recurrent as recurrent

    runner = doctest.DocTestRunner()
    for example in doctest.DocTestFinder().find(recurrent.detach_state, "detach_state", globs={}):
        runner.run(example)
    assert runner.tries > 5 and runner.failures == 0


@pytest.mark.parametrize("state", [np.zeros(3), (np.zeros(3),), [np.zeros(3)] * 3])
def test_detach_state_refuses_anything_but_a_pair(state):
    with pytest.raises(TypeError, match=r"state must be a pair \(h, c\) of arrays, got"):
        detach_state(state)


# ------------------------------------------------- 6. every combination, gradient checks
COMBINATIONS = list(itertools.product([1, 2, 3], [False, True], [False, True], [False, True], [False, True]))


def combination_id(combination):
    layers, bidirectional, batch_first, projected, with_lengths = combination
    return "-".join([f"L{layers}", "bi" if bidirectional else "uni", "bf" if batch_first else "tf",
                     "proj" if projected else "noproj", "lengths" if with_lengths else "full"])


@pytest.mark.parametrize("combination", COMBINATIONS, ids=[combination_id(c) for c in COMBINATIONS])
@settings(max_examples=3, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_combination_matches_torch(torch, combination, data, engine):
    num_layers, bidirectional, batch_first, projected, with_lengths = combination
    config = data.draw(lstm_configs(bidirectional=bidirectional, proj=None if projected else 0))
    if projected and config["proj_size"] == 0:
        config["proj_size"] = data.draw(st.integers(1, config["hidden_size"] - 1))
    config.update(num_layers=num_layers, batch_first=batch_first)
    T, N = data.draw(sequence_shapes())
    lengths = data.draw(lengths_for(T, N)) if with_lengths else None
    lstm = LSTM(**config, engine=engine)
    rng = np.random.default_rng(config["seed"])
    x, state = random_input(rng, lstm, T, N), random_state(rng, lstm, N)
    assert_below(torch_errors(lstm, x, state, lengths, rng, torch), PARITY_TOLERANCE)


GRADCHECK_CASES = {
    "bi-proj-lengths-2layers": (dict(num_layers=2, bidirectional=True, proj_size=2), [3, 1, 4]),
    "bi-proj-lengths-2layers-batch-first": (dict(num_layers=2, bidirectional=True, proj_size=2, batch_first=True),
                                            [4, 4, 2]),
    "bi-3layers-lengths": (dict(num_layers=3, bidirectional=True), [2, 4, 3]),
    "uni-proj-lengths-2layers": (dict(num_layers=2, proj_size=1), [1, 3, 4]),
}


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=list(GRADCHECK_CASES))
def test_gradients_match_finite_differences(case, engine):
    options, lengths = GRADCHECK_CASES[case]
    lstm = LSTM(2, 3, seed=14, **options, engine=engine)
    rng = np.random.default_rng(15)
    x, state = random_input(rng, lstm, 4, 3), random_state(rng, lstm, 3)
    report = check_gradients(lstm, (x, state), lengths=lengths)
    assert report.passed, str(report)
    assert {"input", "h0", "c0"} <= {check.name for check in report.checks}


def test_gradient_check_catches_swapped_direction_caches(monkeypatch, engine):
    """The backward pass must pair each direction with its own forward cache and weights."""
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2, seed=16, engine=engine)
    x = np.random.default_rng(0).standard_normal((3, 2, 2))

    def swap_first_layer(cache):
        layers = list(cache.layers)
        layers[0], layers[1] = layers[1], layers[0]
        return cache._replace(layers=layers)

    plant(monkeypatch, lstm, swap_first_layer)
    failed = failed_names(check_gradients(lstm, (x,)))
    assert {"input", "weight_ih_l0", "weight_ih_l0_reverse"} <= failed and "weight_ih_l1" not in failed


# ============================================================ the modules
def copy_cell_weights_into_lstm(cell, lstm):
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(lstm, f"{name}_l0").data[...] = getattr(cell, name).data


def test_cell_stepped_equals_lstm_forward_and_backward(rng, engine):
    """T calls of the cell, then T backward calls newest first, are one LSTM pass."""
    T, N, I, H = 5, 3, 4, 6
    cell, lstm = LSTMCell(I, H, seed=1), LSTM(I, H, seed=2, engine=engine)
    copy_cell_weights_into_lstm(cell, lstm)
    x, h0, c0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    out, (h_n, c_n) = lstm(x, (h0[None], c0[None]))
    h, c, hs = h0, c0, []
    for t in range(T):
        h, c = cell(x[t], (h, c))
        hs.append(h)
    np.testing.assert_allclose(np.stack(hs), out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, c_n[0], rtol=1e-12, atol=1e-14)

    d_out, dh_n, dc_n = rng.standard_normal(out.shape), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dx_lstm, (dh0_lstm, dc0_lstm) = lstm.backward(d_out, (dh_n[None], dc_n[None]))
    dh, dc, dxs = dh_n, dc_n, []
    for t in reversed(range(T)):
        dx_t, (dh, dc) = cell.backward(dh + d_out[t], dc)
        dxs.append(dx_t)
    np.testing.assert_allclose(np.stack(dxs[::-1]), dx_lstm, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(dh, dh0_lstm[0], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(dc, dc0_lstm[0], rtol=1e-11, atol=1e-13)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert rel_error(getattr(cell, name).grad, getattr(lstm, f"{name}_l0").grad) < 1e-12, name


@given(config=lstm_configs(bidirectional=False, proj=0), shape=sequence_shapes(), seed=seeds)
def test_batched_equals_one_example_at_a_time(config, shape, seed, engine):
    rng = np.random.default_rng(seed)
    T, N = shape
    config["batch_first"] = False
    batched, single = LSTM(**config, engine=engine), LSTM(**config, engine=engine)
    x = rng.standard_normal((T, N, config["input_size"]))
    out, (h_n, c_n) = batched(x)
    d_out = rng.standard_normal(out.shape)
    dx, _ = batched.backward(d_out)
    for n in range(N):
        out_n, (h_n_n, c_n_n) = single(x[:, n:n + 1])
        np.testing.assert_allclose(out_n[:, 0], out[:, n], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h_n_n[:, 0], h_n[:, n], rtol=1e-12, atol=1e-14)
        dx_n, _ = single.backward(d_out[:, n:n + 1])
        np.testing.assert_allclose(dx_n[:, 0], dx[:, n], rtol=1e-11, atol=1e-13)
    for (name, p_batched), (_, p_single) in zip(batched.named_parameters(), single.named_parameters()):
        assert rel_error(p_batched.grad, p_single.grad) < 1e-11, name  # per-example grads add up


def test_unbatched_input_equals_a_batch_of_one(rng, engine):
    lstm = LSTM(3, 4, num_layers=2, seed=0, engine=engine)
    x = rng.standard_normal((5, 3))
    out, (h_n, c_n) = lstm(x)
    out_b, (h_b, c_b) = lstm(x[:, None])
    assert out.shape == (5, 4) and h_n.shape == c_n.shape == (2, 4)
    np.testing.assert_array_equal(out, out_b[:, 0])
    np.testing.assert_array_equal(h_n, h_b[:, 0])


def test_batch_first_is_a_transpose(rng, engine):
    a, b = LSTM(3, 4, seed=0, engine=engine), LSTM(3, 4, batch_first=True, seed=0, engine=engine)
    x = rng.standard_normal((5, 2, 3))
    out_a, _ = a(x)
    out_b, _ = b(x.transpose(1, 0, 2))
    assert out_b.shape == (2, 5, 4)
    np.testing.assert_array_equal(out_b, out_a.transpose(1, 0, 2))


def test_parameters_are_named_and_shaped_as_in_pytorch(engine):
    lstm = LSTM(3, 5, num_layers=2, engine=engine)
    assert [(n, p.shape) for n, p in lstm.named_parameters()] == [
        ("weight_ih_l0", (20, 3)), ("weight_hh_l0", (20, 5)), ("bias_ih_l0", (20,)), ("bias_hh_l0", (20,)),
        ("weight_ih_l1", (20, 5)), ("weight_hh_l1", (20, 5)), ("bias_ih_l1", (20,)), ("bias_hh_l1", (20,)),
    ]
    assert [n for n, _ in LSTMCell(3, 5).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def test_initialisation_is_seeded_and_within_pytorch_bounds(engine):
    a, b, c = LSTM(3, 16, seed=1, engine=engine), LSTM(3, 16, seed=1, engine=engine), LSTM(3, 16, seed=2, engine=engine)
    bound = 1 / np.sqrt(16)
    for (name, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert not np.array_equal(p.data, r.data), name
        assert np.all(np.abs(p.data) <= bound) and np.abs(p.data).max() > 0.8 * bound, name


@pytest.mark.parametrize("module", [LSTM(3, 4), LSTMCell(3, 4)], ids=["LSTM", "LSTMCell"])
def test_backward_without_forward_is_a_clear_error(module):
    with pytest.raises(RuntimeError, match="without a matching forward"):
        module.backward(np.zeros((2, 4)))


def test_backward_twice_for_one_forward_is_a_clear_error(rng, engine):
    lstm = LSTM(3, 4, engine=engine)
    out, _ = lstm(rng.standard_normal((2, 1, 3)))
    lstm.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        lstm.backward(np.ones_like(out))


def test_eval_mode_records_no_cache(rng, engine):
    lstm = LSTM(3, 4, engine=engine).eval()
    for _ in range(3):
        lstm(rng.standard_normal((2, 1, 3)))
    assert lstm._caches == []
    lstm.train()
    lstm(rng.standard_normal((2, 1, 3)))
    assert len(lstm._caches) == 1


@pytest.mark.parametrize("call, error, words", [
    (lambda m: m(np.zeros((2, 3, 5))), ValueError, ["input_size=3", "(2, 3, 5)"]),
    (lambda m: m(np.zeros((2, 3, 3, 1))), ValueError, ["input", "(2, 3, 3, 1)"]),
    (lambda m: m(np.zeros((0, 3, 3))), ValueError, ["at least one time step", "(0, 3, 3)"]),
    (lambda m: m(np.zeros((2, 3, 3), dtype=int)), TypeError, ["input", "int64"]),
    (lambda m: m(np.zeros((2, 3, 3)), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4)))), ValueError,
     ["c0", "(1, 3, 4)", "(1, 2, 4)"]),
    (lambda m: m(np.zeros((2, 3, 3)), np.zeros((1, 3, 4))), TypeError, ["state", "pair"]),
    (lambda m: (m(np.zeros((2, 3, 3))), m.backward(np.zeros((2, 3, 5)))), ValueError,
     ["d_out", "(2, 3, 4)", "(2, 3, 5)"]),
], ids=["feature size", "rank", "empty", "integer dtype", "state shape", "state not a pair", "d_out shape"])
def test_bad_input_names_the_argument_and_the_shapes(call, error, words, engine):
    raises_naming(error, lambda: call(LSTM(3, 4, engine=engine)), *words)


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(input_size=0, hidden_size=4), ValueError, "input_size"),
    (dict(input_size=3, hidden_size=2.5), TypeError, "hidden_size"),
    (dict(input_size=3, hidden_size=4, num_layers=0), ValueError, "num_layers"),
    (dict(input_size=3, hidden_size=4, num_layers=2, dropout=1.5), ValueError, "dropout"),
    (dict(input_size=3, hidden_size=4, proj_size=4), ValueError, "proj_size"),
    (dict(input_size=3, hidden_size=4, dtype=np.int32), TypeError, "dtype"),
])
def test_bad_constructor_arguments_are_named(kwargs, error, word, engine):
    with pytest.raises(error, match=word):
        LSTM(**kwargs, engine=engine)


def test_float32_module_runs_in_float32_and_agrees_with_float64(rng, engine):
    lstm64, lstm32 = LSTM(3, 4, num_layers=2, seed=0, engine=engine), LSTM(3, 4, num_layers=2, seed=0, dtype=np.float32, engine=engine)
    x = rng.standard_normal((6, 2, 3))
    out64, _ = lstm64(x)
    out32, _ = lstm32(x)      # float64 input is converted to the module's dtype
    assert out32.dtype == np.float32
    assert rel_error(out32, out64) < 1e-5
    dx64, _ = lstm64.backward(np.ones_like(out64))
    dx32, _ = lstm32.backward(np.ones_like(out32))
    assert dx32.dtype == np.float32 and rel_error(dx32, dx64) < 1e-5
    assert rel_error(lstm32.weight_hh_l1.grad, lstm64.weight_hh_l1.grad) < 1e-5


def test_eval_forward_keeps_no_cache_and_gives_the_training_numbers(rng, monkeypatch, engine):
    """Eval mode runs the kernel without a cache (less memory); the numbers must not change."""
    import numpylstm.fast as fast
    monkeypatch.setattr(fast, "BLOCK_VALUES", 5 * 3 * 16)   # blocks of 5 steps: eval reuses one block's buffer
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, seed=0, engine=engine)
    x, lengths = rng.standard_normal((13, 3, 3)), np.array([13, 7, 4])
    out_train, (h_train, c_train) = lstm(x, lengths=lengths)
    out_eval, (h_eval, c_eval) = lstm.eval()(x, lengths=lengths)
    np.testing.assert_array_equal(out_eval, out_train)
    np.testing.assert_array_equal(h_eval, h_train)
    np.testing.assert_array_equal(c_eval, c_train)


def test_unbatched_state_errors_describe_the_unbatched_layout(engine):
    with pytest.raises(ValueError, match=r"\(num_layers \* num_directions, hidden_size\)"):
        LSTM(3, 4, engine=engine)(np.zeros((5, 3)), (np.zeros((1, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match=r"\(hidden_size,\) for unbatched input"):
        LSTMCell(3, 4)(np.zeros(3), (np.zeros(5), np.zeros(4)))


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_an_empty_batch_gives_empty_outputs_as_torch_does(torch, engine, batch_first):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=batch_first, seed=0, engine=engine)
    x = np.zeros((0, 5, 3) if batch_first else (5, 0, 3))
    out, (h_n, c_n) = lstm(x)
    twin_out, (twin_h, twin_c) = torch_twin(lstm, torch)(torch.tensor(x))
    assert (out.shape, h_n.shape, c_n.shape) == (tuple(twin_out.shape), tuple(twin_h.shape), tuple(twin_c.shape))
    dx, (dh0, dc0) = lstm.backward(np.zeros_like(out))
    assert dx.shape == x.shape and dh0.shape == h_n.shape and dc0.shape == c_n.shape
    assert not any(p.grad.any() for p in lstm.parameters())


def test_a_cell_takes_an_empty_batch():
    h1, c1 = LSTMCell(3, 4)(np.zeros((0, 3)))
    assert h1.shape == c1.shape == (0, 4)


def lstm_layout(config, T, N):
    """Shapes of a valid call: x, h0, c0, out (D directions, P = proj_size or hidden_size)."""
    D = 2 if config["bidirectional"] else 1
    P, H, L = config["proj_size"] or config["hidden_size"], config["hidden_size"], config["num_layers"]
    x = (N, T, config["input_size"]) if config["batch_first"] else (T, N, config["input_size"])
    out = (N, T, D * P) if config["batch_first"] else (T, N, D * P)
    return x, (L * D, N, P), (L * D, N, H), out


LSTM_MISTAKES = ["input rank", "input features", "input dtype", "empty input", "h0 shape", "c0 shape", "h0 dtype",
                 "state not a pair", "lengths count", "lengths range", "lengths dtype", "d_out shape", "d_out dtype",
                 "dh_n shape", "dc_n shape", "backward twice"]


@given(config=lstm_configs(), sizes=sequence_shapes(), mistake=st.sampled_from(LSTM_MISTAKES), data=st.data())
def test_malformed_lstm_calls_raise_naming_the_argument(config, sizes, mistake, data, engine):
    T, N = sizes
    x_shape, h_shape, c_shape, out_shape = lstm_layout(config, T, N)
    lstm = LSTM(**config, engine=engine)
    x, h0, c0 = np.ones(x_shape), np.zeros(h_shape), np.zeros(c_shape)

    def forward_then_backward(*grads):
        lstm(x)
        return lstm.backward(*grads)

    I = config["input_size"]
    if mistake == "input rank":
        bad = np.ones(data.draw(st.sampled_from([(), (I,), (1,) + x_shape])))
        call, error, words = lambda: lstm(bad), ValueError, ["input", f"(T, {I}) unbatched", str(bad.shape)]
    elif mistake == "input features":
        bad = np.ones(data.draw(wrong_shapes(x_shape, axes=[2])))
        call, error, words = lambda: lstm(bad), ValueError, ["input", f"input_size={I}", str(bad.shape)]
    elif mistake == "input dtype":
        bad = array_of_dtype(x_shape, data.draw(refused_dtypes))
        call, error, words = lambda: lstm(bad), TypeError, ["input", str(bad.dtype)]
    elif mistake == "empty input":   # no time step (an empty batch is allowed, as in PyTorch)
        emptied = 1 if config["batch_first"] else 0
        bad = np.ones(tuple(0 if k == emptied else size for k, size in enumerate(x_shape)))
        call, error, words = lambda: lstm(bad), ValueError, ["input", "at least one time step", str(bad.shape)]
    elif mistake in ("h0 shape", "c0 shape"):
        good, name = (h_shape, "h0 (state[0])") if mistake == "h0 shape" else (c_shape, "c0 (state[1])")
        bad = np.zeros(data.draw(wrong_shapes(good)))
        state = (bad, c0) if mistake == "h0 shape" else (h0, bad)
        call, error, words = lambda: lstm(x, state), ValueError, [name, str(good), str(bad.shape)]
    elif mistake == "h0 dtype":
        bad = array_of_dtype(h_shape, data.draw(refused_dtypes))
        call, error, words = lambda: lstm(x, (bad, c0)), TypeError, ["h0 (state[0])", str(bad.dtype)]
    elif mistake == "state not a pair":
        bad = data.draw(st.sampled_from([h0, (h0,), (h0, c0, c0), [h0]]))
        call, error, words = lambda: lstm(x, bad), TypeError, ["state", "pair (h, c)"]
    elif mistake == "lengths count":
        count = data.draw(st.integers(0, N + 3).filter(lambda k: k != N))
        call, error, words = lambda: lstm(x, lengths=np.ones(count, int)), ValueError, ["lengths", f"({N},)"]
    elif mistake == "lengths range":
        lengths = data.draw(lengths_for(T, N))
        lengths[data.draw(st.integers(0, N - 1))] = data.draw(st.sampled_from([0, -1, T + 1, T + 5]))
        call, error, words = lambda: lstm(x, lengths=lengths), ValueError, ["lengths", f"T={T}"]
    elif mistake == "lengths dtype":
        bad = data.draw(lengths_for(T, N)).astype(data.draw(st.sampled_from([np.float64, np.bool_])))
        call, error, words = lambda: lstm(x, lengths=bad), TypeError, ["lengths", str(bad.dtype)]
    elif mistake == "d_out shape":
        bad = np.ones(data.draw(wrong_shapes(out_shape)))
        call, error, words = lambda: forward_then_backward(bad), ValueError, ["d_out", str(out_shape), str(bad.shape)]
    elif mistake == "d_out dtype":
        bad = array_of_dtype(out_shape, data.draw(refused_dtypes))
        call, error, words = lambda: forward_then_backward(bad), TypeError, ["d_out", str(bad.dtype)]
    elif mistake in ("dh_n shape", "dc_n shape"):
        good, name = (h_shape, "dh_n (d_state[0])") if mistake == "dh_n shape" else (c_shape, "dc_n (d_state[1])")
        bad = np.ones(data.draw(wrong_shapes(good)))
        d_state = (bad, None) if mistake == "dh_n shape" else (None, bad)
        call, error, words = (lambda: forward_then_backward(np.ones(out_shape), d_state), ValueError,
                              [name, str(good), str(bad.shape)])
    else:  # backward twice for one forward
        forward_then_backward(np.ones(out_shape))
        call, error, words = lambda: lstm.backward(np.ones(out_shape)), MissingForwardError, ["LSTM.backward()"]
    raises_naming(error, call, *words)
    if mistake.startswith(("input", "empty", "h0", "c0", "state", "lengths")):
        assert lstm._caches == []       # a refused forward records nothing


CELL_MISTAKES = ["input rank", "input features", "input dtype", "empty input", "state shape", "state dtype",
                 "output gradient shape", "second gradient shape"]


@given(kind=st.sampled_from(["LSTMCell", "RNNCell"]), I=small_sizes, H=small_sizes, N=small_sizes,
       mistake=st.sampled_from(CELL_MISTAKES), data=st.data())
def test_malformed_cell_calls_raise_naming_the_argument(kind, I, H, N, mistake, data):
    lstm = kind == "LSTMCell"
    cell = LSTMCell(I, H) if lstm else RNNCell(I, H)
    x, h = np.ones((N, I)), np.zeros((N, H))
    state = (h, h) if lstm else h
    h_name = "h0 (state[0])" if lstm else "h0"
    if mistake == "input rank":
        bad = np.ones(data.draw(st.sampled_from([(), (1, N, I)])))
        call, error, words = lambda: cell(bad), ValueError, ["input", f"(N, {I})", str(bad.shape)]
    elif mistake == "input features":
        bad = np.ones(data.draw(wrong_shapes((N, I), axes=[1])))
        call, error, words = lambda: cell(bad), ValueError, ["input", f"input_size={I}", str(bad.shape)]
    elif mistake == "input dtype":
        bad = array_of_dtype((N, I), data.draw(refused_dtypes))
        call, error, words = lambda: cell(bad), TypeError, ["input", str(bad.dtype)]
    elif mistake == "empty input":
        call, error, words = lambda: cell(np.ones((0, I))), ValueError, ["input", "empty", f"(0, {I})"]
    elif mistake == "state shape":
        bad = np.zeros(data.draw(wrong_shapes((N, H))))
        call, error, words = (lambda: cell(x, (bad, h) if lstm else bad), ValueError,
                              [h_name, str((N, H)), str(bad.shape)])
    elif mistake == "state dtype":
        bad = array_of_dtype((N, H), data.draw(refused_dtypes))
        call, error, words = lambda: cell(x, (bad, h) if lstm else bad), TypeError, [h_name, str(bad.dtype)]
    elif mistake == "output gradient shape":
        bad = np.ones(data.draw(wrong_shapes((N, H))))
        cell(x, state)
        call, error, words = lambda: cell.backward(bad), ValueError, ["dh1", str((N, H)), str(bad.shape)]
    else:   # LSTMCell: dc1 of the wrong shape; RNNCell has no second gradient, so backward twice
        cell(x, state)
        if lstm:
            bad = np.ones(data.draw(wrong_shapes((N, H))))
            call, error, words = lambda: cell.backward(h, bad), ValueError, ["dc1", str((N, H)), str(bad.shape)]
        else:
            cell.backward(h)
            call, error, words = lambda: cell.backward(h), MissingForwardError, ["RNNCell.backward()"]
    raises_naming(error, call, *words)


@pytest.mark.filterwarnings("error")     # no overflow or invalid-value warnings either
@given(config=lstm_configs(), sizes=sequence_shapes(), dtype=float_dtypes, scale=input_scales, seed=seeds,
       unbatched=st.booleans(), with_state=st.booleans(), with_lengths=st.booleans(), data=st.data())
def test_well_formed_lstm_calls_return_finite_values_of_the_documented_shapes(
        config, sizes, dtype, scale, seed, unbatched, with_state, with_lengths, data, engine):
    T, N = sizes
    rng = np.random.default_rng(seed)
    lstm = LSTM(dtype=dtype, **config, engine=engine)
    x_shape, h_shape, c_shape, out_shape = lstm_layout(config, T, N)
    if unbatched:   # no batch axis anywhere, and no lengths
        x_shape, out_shape = (T, x_shape[-1]), (T, out_shape[-1])
        h_shape, c_shape = (h_shape[0], h_shape[2]), (c_shape[0], c_shape[2])
    state = (random_array(rng, h_shape, 1.0), random_array(rng, c_shape, 1.0)) if with_state else None
    lengths = data.draw(lengths_for(T, N)) if with_lengths and not unbatched else None
    x = random_array(rng, x_shape, scale)
    out, (h_n, c_n) = lstm(x, state, lengths=lengths)
    assert (out.shape, h_n.shape, c_n.shape) == (out_shape, h_shape, c_shape)
    assert out.dtype == h_n.dtype == c_n.dtype == dtype
    assert_finite(out, h_n, c_n)
    dx, (dh0, dc0) = lstm.backward(random_array(rng, out_shape, 1.0),
                                   (random_array(rng, h_shape, 1.0), random_array(rng, c_shape, 1.0)))
    assert (dx.shape, dh0.shape, dc0.shape) == (x_shape, h_shape, c_shape)
    assert_finite(dx, dh0, dc0, *(p.grad for p in lstm.parameters()))
    assert lstm._caches == []


@pytest.mark.filterwarnings("error")
@given(kind=st.sampled_from(["LSTMCell", "RNNCell"]), I=small_sizes, H=small_sizes, N=small_sizes,
       unbatched=st.booleans(), with_state=st.booleans(), steps=st.integers(1, 4), dtype=float_dtypes,
       scale=input_scales, seed=seeds, nonlinearity=st.sampled_from(["tanh", "relu"]), bias=st.booleans())
def test_well_formed_cell_calls_step_and_step_back(kind, I, H, N, unbatched, with_state, steps, dtype, scale, seed,
                                                   nonlinearity, bias):
    rng = np.random.default_rng(seed)
    lstm = kind == "LSTMCell"
    cell = LSTMCell(I, H, bias=bias, dtype=dtype, seed=seed) if lstm else \
        RNNCell(I, H, bias=bias, nonlinearity=nonlinearity, dtype=dtype, seed=seed)
    batch = () if unbatched else (N,)
    h = random_array(rng, batch + (H,), 1.0) if with_state else None
    state = (h, random_array(rng, batch + (H,), 1.0)) if lstm and with_state else h
    for _ in range(steps):
        result = cell(random_array(rng, batch + (I,), scale), state)
        for array in (result if lstm else (result,)):
            assert array.shape == batch + (H,) and array.dtype == dtype
            assert_finite(array)
        state = result
    for _ in range(steps):
        grads = cell.backward(*((random_array(rng, batch + (H,), 1.0),) * (2 if lstm else 1)))
        dx, d_state = grads
        assert dx.shape == batch + (I,)
        for array in (d_state if lstm else (d_state,)):
            assert array.shape == batch + (H,)
            assert_finite(array)
    assert_finite(*(p.grad for p in cell.parameters()))


@pytest.mark.parametrize("build, flag", [
    (lambda v: LSTM(2, 3, batch_first=v), "batch_first"), (lambda v: LSTM(2, 3, bidirectional=v), "bidirectional"),
    (lambda v: LSTM(2, 3, bias=v), "bias"), (lambda v: LSTMCell(2, 3, bias=v), "bias"),
], ids=["LSTM batch_first", "LSTM bidirectional", "LSTM bias", "LSTMCell bias"])
def test_lstm_flags_must_be_booleans(build, flag):
    raises_naming(TypeError, lambda: build("no"), flag, "True or False", "'no'")


@pytest.mark.parametrize("build", [lambda s: LSTM(2, 3, seed=s), lambda s: LSTMCell(2, 3, seed=s)],
                         ids=["LSTM", "LSTMCell"])
def test_lstm_seeds_are_named(build):
    raises_naming(TypeError, lambda: build("x"), "seed", "non-negative integer", "'x'")


def test_detach_state_names_a_state_that_is_not_two_arrays():
    raises_naming(TypeError, lambda: detach_state((1, 2)), "state[0]")


@pytest.mark.parametrize("make", [
    lambda rng, engine: (LSTM(3, 4, engine=engine), rng.standard_normal((5, 2, 3)), np.ones((5, 2, 4))),
    lambda rng, engine: (LSTMCell(3, 4), rng.standard_normal((2, 3)), np.ones((2, 4))),
], ids=["LSTM", "LSTMCell"])
def test_a_refused_lstm_backward_can_be_corrected_and_retried(make, rng, engine):
    module, x, grad = make(rng, engine)
    module(x)
    with pytest.raises(ValueError, match="must have shape"):
        module.backward(grad[..., :3])
    module.backward(grad)


@pytest.mark.parametrize("bad, error", [("slow", ValueError), (None, TypeError), (1, TypeError)])
def test_an_unknown_engine_is_refused_naming_the_choices(bad, error):
    raises_naming(error, lambda: LSTM(2, 3, engine=bad), "engine", "'fast'", "'reference'")
    lstm = LSTM(2, 3)
    raises_naming(error, lambda: setattr(lstm, "engine", bad), "engine")
    assert lstm.engine == "fast"


def test_the_engine_can_change_between_forward_and_backward(rng):
    """A forward's caches belong to the engine that made them: backward uses that engine."""
    lstm, twin = LSTM(3, 4, seed=0), LSTM(3, 4, seed=0, engine="reference")
    x, d_out = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))
    lstm(x)
    lstm.engine = "reference"
    dx, _ = lstm.backward(d_out)
    twin(x)
    twin_dx, _ = twin.backward(d_out)
    assert rel_error(dx, twin_dx) < 1e-12


# ------------------------------------------------------------------ sizes bounded by memory
def refuse_allocation(monkeypatch):
    """A parameter drawn after this fails the test: sizes must be refused before anything is allocated."""
    import numpylstm.recurrent as recurrent

    def allocated(*args):
        raise AssertionError("a parameter was allocated before the size was refused")
    monkeypatch.setattr(recurrent, "uniform_parameter", allocated)


@pytest.mark.parametrize("build, fragments", [
    (lambda: LSTM(4, 10 ** 19), ["LSTM(4, 10000000000000000000", "EiB", "more than any array can address"]),
    (lambda: LSTM(4, 3, num_layers=10 ** 12), ["num_layers=1000000000000", "PiB"]),
    (lambda: LSTM(1, 10 ** 7, bidirectional=True), ["LSTM(1, 10000000", "bidirectional=True", "11.4 PiB"]),
    (lambda: LSTMCell(4, 10 ** 7), ["LSTMCell(4, 10000000", "5.7 PiB"]),
])
def test_sizes_that_cannot_fit_are_refused_before_allocating(monkeypatch, build, fragments):
    refuse_allocation(monkeypatch)
    raises_naming(ValueError, build, "needs", "for its parameters and their gradients", *fragments)


def test_the_message_gives_the_estimate_and_the_memory_available(monkeypatch):
    memory_of(monkeypatch, int(23.1 * 2 ** 30))
    refuse_allocation(monkeypatch)
    # 4H*I + 4H*H + 8H = 160,000 + 6,400,000,000 + 320,000 values, twice (gradients), 8 bytes each
    with pytest.raises(MemoryError) as info:
        LSTM(1, 40000)
    assert str(info.value) == ("LSTM(1, 40000, num_layers=1) needs 95.4 GiB for its parameters and their "
                               "gradients (6,400,480,000 values of float64 each); this machine has 23.1 GiB "
                               "available")


@given(config=lstm_configs(), bias=st.booleans())
def test_the_parameter_count_is_the_count_of_the_parameters_made(config, bias):
    lstm = LSTM(**config, bias=bias)
    assert lstm._parameter_count() == sum(p.data.size for p in lstm.parameters())


def cache_values(lstm):
    """The values the forward caches of ``lstm`` hold (the fast engine's gates, cells and outputs, and the input)."""
    cache = lstm._caches[-1]
    layers = sum(c.gates.size + c.cells.size + c.out.size for c in cache.layers)
    return layers + cache.layers[0].x.size + sum(m.size for m in cache.dropout_masks)


@given(config=lstm_configs(), shape=sequence_shapes(), dropout=st.sampled_from([0.0, 0.5]))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_the_forward_estimate_is_a_lower_bound_of_what_the_fast_engine_keeps(config, shape, dropout):
    if config["num_layers"] == 1:
        dropout = 0.0
    lstm = LSTM(**config, dropout=dropout)
    T, N = shape
    x = np.zeros((N, T, config["input_size"]) if config["batch_first"] else (T, N, config["input_size"]))
    lstm(x)
    assert lstm._forward_buffer_values(T, N) <= cache_values(lstm)
    assert lstm._forward_buffer_values(T, N) >= 0.9 * cache_values(lstm) - T * N * config["input_size"]


@pytest.mark.parametrize("training", [True, False])
def test_a_forward_whose_buffers_cannot_fit_is_refused_and_records_nothing(monkeypatch, rng, training, engine):
    lstm = LSTM(3, 4, num_layers=2, seed=0, engine=engine).train(training)
    x = rng.standard_normal((50, 8, 3))
    needed = lstm._forward_buffer_values(50, 8) * 8
    memory_of(monkeypatch, needed - 1)
    advice = "truncated BPTT" if training else "smaller batches"
    raises_naming(MemoryError, lambda: lstm(x), "LSTM.forward on 50 steps of 8 sequences", "needs", advice,
                  f"has {needed - 1} B available" if needed < 1024 else "available")
    assert not lstm._caches
    memory_of(monkeypatch, needed)
    lstm(x)                                        # exactly enough: it runs


# ------------------------------------------------------------------ types (issue 14)
def test_a_float32_lstm_refuses_float64_values_beyond_float32_naming_the_argument(engine):
    lstm = LSTM(2, 3, dtype=np.float32, engine=engine)
    huge = np.full((2, 1, 2), 1e39)
    raises_naming(ValueError, lambda: lstm(huge), "input holds values up to 1e+39", "float32")
    state = (np.full((1, 1, 3), -1e39), np.zeros((1, 1, 3)))
    raises_naming(ValueError, lambda: lstm(np.zeros((2, 1, 2)), state), "h0 (state[0])", "1e+39")
    assert not lstm._caches
    out, _ = lstm(np.full((2, 1, 2), 1e37))        # large, but float32 holds it
    assert_finite(out)


@pytest.mark.parametrize("call, name", [
    (lambda lstm: lstm(np.ma.masked_array(np.zeros((2, 1, 2)))), "input"),
    (lambda lstm: lstm(np.zeros((2, 1, 2)), lengths=np.ma.masked_array([2], [True])), "lengths"),
    (lambda lstm: LSTMCell(2, 3)(np.ma.masked_array(np.zeros((1, 2)))), "input"),
])
def test_masked_arrays_are_refused_naming_the_argument(call, name):
    raises_naming(TypeError, lambda: call(LSTM(2, 3)), f"{name} must be a plain array", "MaskedArray")

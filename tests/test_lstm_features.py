"""Issue 4: full ``nn.LSTM`` parity beyond the basic unidirectional layer.

Bidirectional layers, dropout between layers, projections (``proj_size``),
variable-length batches (``lengths``) and truncated BPTT, each checked three
ways where it applies: against PyTorch (float64, outputs, final states and
every gradient), against finite differences (``check_gradients``), and against
an explicit construction from simpler pieces that does not need torch (one
sequence at a time, one layer and one direction at a time). Each new gradient
also has a negative test: a planted mistake that the gradient check must catch.
"""
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numpylstm import LSTM, check_gradients, detach_state, numerical_gradient, rel_error
from strategies import lengths_for, lstm_configs, sequence_shapes
from torch_reference import PARITY_TOLERANCE, assert_distinct_biases, torch_twin

GRADCHECK_TOLERANCE = 1e-6
EXACT = 1e-12  # the same arithmetic in another arrangement: only round-off may differ


# ----------------------------------------------------------------------- helpers
def random_state(rng, lstm, batch):
    """``(h0, c0)`` of PyTorch's shapes; ``batch`` None for unbatched input."""
    lead = (lstm.num_layers * lstm.num_directions,) + (() if batch is None else (batch,))
    return rng.standard_normal(lead + (lstm.output_size,)), rng.standard_normal(lead + (lstm.hidden_size,))


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
    part = LSTM(input_size, lstm.hidden_size, proj_size=lstm.proj_size, bias=lstm.bias).eval()
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
def test_parameter_names_and_shapes_match_torch(torch, proj_size):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=proj_size)
    twin = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=proj_size)
    ours = [(name, tuple(p.shape)) for name, p in lstm.named_parameters()]
    assert ours == [(name, tuple(p.shape)) for name, p in twin.named_parameters()]
    assert "weight_hh_l1_reverse" in dict(ours)


@pytest.mark.parametrize("lengths", [None, [2, 5, 1]], ids=["full", "lengths"])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_bidirectional_output_is_forward_then_reverse(rng, num_layers, lengths):
    """Output concat order (forward, reverse) and the (layer * 2 + direction) state layout,
    against the layers and directions run one at a time and one sequence at a time."""
    lstm = LSTM(2, 3, num_layers=num_layers, bidirectional=True, seed=3)
    x = rng.standard_normal((5, 3, 2))
    h0, c0 = random_state(rng, lstm, 3)
    out, (h_n, c_n) = lstm(x, (h0, c0), lengths=lengths)
    expected = forward_by_hand(lstm, x, h0, c0, lengths)
    for name, ours, theirs in zip(("out", "h_n", "c_n"), (out, h_n, c_n), expected):
        assert rel_error(ours, theirs) < EXACT, name


@pytest.mark.parametrize("layout", ["time-first", "batch-first", "unbatched"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_bidirectional_matches_torch(torch, rng, num_layers, layout):
    lstm = LSTM(3, 4, num_layers=num_layers, bidirectional=True, batch_first=layout == "batch-first", seed=11)
    N = None if layout == "unbatched" else 3
    x = random_input(rng, lstm, 5, N)
    assert_below(torch_errors(lstm, x, random_state(rng, lstm, N), None, rng, torch), PARITY_TOLERANCE)


def test_bidirectional_final_states_sit_at_each_end(rng):
    """h_n[-2] is the forward direction's last output, h_n[-1] the reverse one's output at t = 0."""
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, seed=5)
    out, (h_n, _) = lstm(rng.standard_normal((4, 2, 2)))
    assert h_n.shape == (4, 2, 3)
    np.testing.assert_array_equal(h_n[-2], out[-1, :, :3])
    np.testing.assert_array_equal(h_n[-1], out[0, :, 3:])


# --------------------------------------------------------------------- 2. dropout
def dropout_lstm(p=0.4, seed=2, **options):
    options = dict(dict(num_layers=3, bidirectional=True), **options)
    return LSTM(2, 3, dropout=p, seed=seed, **options)


def last_masks(lstm):
    return lstm._caches[-1].dropout_masks


def test_dropout_masks_sit_between_layers_with_inverted_scaling(rng):
    """Layer k + 1 reads layer k's output times a mask of 0 and 1 / (1 - p); none after the last layer."""
    p = 0.4
    lstm = dropout_lstm(p)
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


def test_dropout_is_active_in_train_and_identity_in_eval(rng):
    lstm = dropout_lstm(0.5)
    x = rng.standard_normal((5, 3, 2))
    train_out, _ = lstm(x)
    lstm.eval()
    eval_out, _ = lstm(x)
    again, _ = lstm(x)
    np.testing.assert_array_equal(eval_out, again)
    assert rel_error(train_out, eval_out) > 1e-3
    no_dropout = LSTM(2, 3, num_layers=3, bidirectional=True)
    no_dropout.load_state_dict(lstm.state_dict())
    np.testing.assert_array_equal(no_dropout(x)[0], eval_out)


def test_dropout_in_eval_mode_matches_torch(torch, rng):
    lstm = dropout_lstm(0.5, proj_size=2).eval()
    x, state = rng.standard_normal((5, 3, 2)), random_state(rng, lstm, 3)
    twin = torch_twin(lstm, torch).eval()
    ours = lstm(x, state, lengths=[5, 2, 4])
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    packed = pack_padded_sequence(torch.tensor(x), torch.tensor([5, 2, 4]), enforce_sorted=False)
    packed_out, (h_n, c_n) = twin(packed, tuple(torch.tensor(s) for s in state))
    out = pad_packed_sequence(packed_out, total_length=5)[0]
    for name, a, b in zip(("out", "h_n", "c_n"), (ours[0], *ours[1]), (out, h_n, c_n)):
        assert rel_error(a, b.detach().numpy()) < PARITY_TOLERANCE, name


def test_dropout_zero_in_training_matches_torch(torch, rng):
    lstm = LSTM(2, 4, num_layers=3, bidirectional=True, proj_size=3, dropout=0.0, seed=8)
    x, state = rng.standard_normal((5, 3, 2)), random_state(rng, lstm, 3)
    assert_below(torch_errors(lstm, x, state, [3, 5, 1], rng, torch), PARITY_TOLERANCE)


def test_dropout_masks_are_seeded_and_fresh_on_every_call(rng):
    x = rng.standard_normal((5, 3, 2))
    first, twin, other = dropout_lstm(seed=1), dropout_lstm(seed=1), dropout_lstm(seed=2)
    other.load_state_dict(first.state_dict())  # same weights, another seed
    outputs = [module(x)[0] for module in (first, twin, other)]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert rel_error(outputs[0], outputs[2]) > 1e-3, "a different seed must give different masks"
    masks_before = [m.copy() for m in last_masks(first)]
    first(x)
    assert any(np.any(a != b) for a, b in zip(masks_before, last_masks(first))), "masks must change per call"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_about_p_of_the_entries(p):
    """Over n mask entries the zeroed fraction is Binomial(n, p) / n: within 5 standard deviations of p.

    Each entry is drawn on its own, as in PyTorch: a mask shared over time steps
    would change between consecutive steps far less often than 2 p (1 - p).
    """
    lstm = LSTM(1, 2, num_layers=2, dropout=p, seed=4)
    lstm(np.ones((60, 100, 1)))
    (mask,) = last_masks(lstm)
    n = mask.size
    bound = 5 * np.sqrt(p * (1 - p) / n)
    assert abs(np.mean(mask == 0) - p) < bound
    changes = np.mean((mask[1:] == 0) != (mask[:-1] == 0))
    assert abs(changes - 2 * p * (1 - p)) < 5 * np.sqrt(0.25 / mask[1:].size)


def test_dropout_gradients_match_finite_differences_with_the_mask_fixed():
    """check_gradients rewinds the module's random generator before each forward, so the
    finite differences see the same masks as the backward pass, which must reuse them."""
    lstm = dropout_lstm(0.4, proj_size=2)
    x, state = np.random.default_rng(0).standard_normal((4, 3, 2)), random_state(np.random.default_rng(1), lstm, 3)
    lstm(x, state)
    assert all(np.any(mask == 0) for mask in last_masks(lstm)), "the check must see dropped entries"
    lstm.clear_caches()
    report = check_gradients(lstm, (x, state), lengths=[4, 1, 3])
    assert report.passed, str(report)


def test_gradient_check_catches_a_backward_with_a_fresh_mask(monkeypatch):
    lstm = dropout_lstm(0.4)
    x = np.random.default_rng(0).standard_normal((4, 2, 2))
    fresh = np.random.default_rng(99)
    plant(monkeypatch, lstm, lambda cache: cache._replace(dropout_masks=[
        (fresh.random(m.shape) >= 0.4) / 0.6 for m in cache.dropout_masks]))
    report = check_gradients(lstm, (x,))
    assert "weight_ih_l0" in failed_names(report) and "input" in failed_names(report)
    assert "weight_ih_l2" not in failed_names(report), "the last layer's inputs carry no new mask"


def test_dropout_with_one_layer_warns_as_torch_does(torch):
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        torch.nn.LSTM(2, 3, num_layers=1, dropout=0.5)
    with pytest.warns(UserWarning, match=r"num_layers greater than 1.*dropout=0.5 and num_layers=1"):
        LSTM(2, 3, num_layers=1, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LSTM(2, 3, num_layers=2, dropout=0.5)
        LSTM(2, 3, num_layers=1, dropout=0.0)


@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.5, ValueError), ("0.5", TypeError), (True, TypeError)])
def test_bad_dropout_is_a_clear_error(p, error):
    with pytest.raises(error, match=r"dropout must be .*\[0, 1\].*got"):
        LSTM(2, 3, num_layers=2, dropout=p)
    lstm = LSTM(2, 3, num_layers=2)
    with pytest.raises(error, match=r"dropout must be .*\[0, 1\].*got"):
        lstm.dropout = p       # checked also when changed after construction
    assert lstm.dropout == 0.0


@pytest.mark.parametrize("set_later", [False, True], ids=["constructor", "set later"])
def test_dropout_of_one_drops_everything_as_torch_does(torch, rng, set_later):
    """p = 1 zeroes every output of the lower layers (not 0/0 = NaN), also when set after construction."""
    lstm = LSTM(3, 4, num_layers=2, dropout=0.0 if set_later else 1.0, seed=3)
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
def test_projection_shapes_match_torch(torch, rng, batch):
    lstm = LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
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
def test_projection_matches_torch(torch, rng, num_layers, bidirectional):
    lstm = LSTM(3, 5, num_layers=num_layers, bidirectional=bidirectional, proj_size=3, seed=21)
    x, state = random_input(rng, lstm, 5, 2), random_state(rng, lstm, 2)
    assert_below(torch_errors(lstm, x, state, None, rng, torch), PARITY_TOLERANCE)


@pytest.mark.parametrize("proj_size", [4, 5])
def test_proj_size_not_below_hidden_size_is_a_clear_error(proj_size):
    with pytest.raises(ValueError, match=f"proj_size must be smaller than hidden_size.*proj_size={proj_size}"
                                         r".*hidden_size=4"):
        LSTM(3, 4, proj_size=proj_size)


@pytest.mark.parametrize("proj_size, error", [(-1, ValueError), (1.5, TypeError)])
def test_bad_proj_size_is_a_clear_error(proj_size, error):
    with pytest.raises(error, match=r"proj_size must be a non-negative integer, got"):
        LSTM(3, 4, proj_size=proj_size)


def test_h0_of_hidden_size_with_a_projection_is_a_clear_error(rng):
    lstm = LSTM(3, 4, num_layers=2, proj_size=2)
    h0_too_wide = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"h0 \(state\[0\]\) must have shape \(2, 3, 2\).*got \(2, 3, 4\)"):
        lstm(rng.standard_normal((5, 3, 3)), (h0_too_wide, np.zeros((2, 3, 4))))


def test_gradient_check_catches_a_wrong_projection_gradient(monkeypatch):
    """A 1e-4 relative error in dW_hr alone, far below anything visible in a loss curve, is caught."""
    import numpylstm.recurrent as recurrent

    real_forward, real_backward = recurrent.ENGINES["fast"]

    def slightly_wrong(*args):
        dx, dh0, dc0, grads = real_backward(*args)
        return dx, dh0, dc0, grads._replace(W_hr=grads.W_hr * (1 + 1e-4))

    monkeypatch.setitem(recurrent.ENGINES, "fast", (real_forward, slightly_wrong))
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2, seed=1)
    report = check_gradients(lstm, (np.random.default_rng(0).standard_normal((3, 2, 2)),))
    assert failed_names(report) == {"weight_hr_l0", "weight_hr_l0_reverse", "weight_hr_l1", "weight_hr_l1_reverse"}


# -------------------------------------------------------------------- 4. lengths
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_match_torch_packed_sequences(torch, rng, bidirectional, batch_first):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first, proj_size=2, seed=6)
    x, state = random_input(rng, lstm, 6, 5), random_state(rng, lstm, 5)
    lengths = np.array([3, 6, 1, 6, 4])  # unsorted, with repeats, the shortest and the longest possible
    assert_below(torch_errors(lstm, x, state, lengths, rng, torch), PARITY_TOLERANCE)


def test_lengths_act_like_each_sequence_run_alone(rng):
    """Outputs past a length are zero, h_n/c_n are at each sequence's own last step, and the
    reverse direction starts there: the same as running each sequence alone, cut to its length."""
    lstm = LSTM(2, 4, num_layers=2, bidirectional=True, proj_size=3, seed=9)
    x, (h0, c0) = rng.standard_normal((6, 4, 2)), random_state(rng, lstm, 4)
    lengths = np.array([4, 6, 1, 3])
    out, (h_n, c_n) = lstm(x, (h0, c0), lengths=lengths)
    for n, length in enumerate(lengths):
        assert np.all(out[length:, n] == 0)
    expected = forward_by_hand(lstm, x, h0, c0, lengths)
    for name, ours, theirs in zip(("out", "h_n", "c_n"), (out, h_n, c_n), expected):
        assert rel_error(ours, theirs) < EXACT, name


def test_padded_positions_neither_affect_outputs_nor_receive_gradient(rng):
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, seed=10)
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


def test_lengths_gradients_match_finite_differences_and_catch_a_misaligned_reverse(monkeypatch):
    """The reverse direction's backward must reverse within each length; plain x[::-1] is caught."""
    lstm = LSTM(2, 3, bidirectional=True, seed=12)
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
def test_bad_lengths_are_clear_errors(rng, case):
    lengths, error, message = LENGTH_ERRORS[case]
    with pytest.raises(error, match=message):
        LSTM(2, 3)(rng.standard_normal((4, 3, 2)), lengths=lengths)


def test_lengths_with_unbatched_input_is_a_clear_error(rng):
    with pytest.raises(ValueError, match=r"lengths needs batched input .* got unbatched input"):
        LSTM(2, 3)(rng.standard_normal((4, 2)), lengths=[4])


# --------------------------------------------------------- 5. truncated BPTT
CHUNK_STARTS = [4, 6]  # a 9-step sequence in chunks of 4, 2 and 3 steps


def chunked_setup(rng):
    lstm = LSTM(2, 3, num_layers=2, proj_size=2, seed=13)
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


def test_chunked_forward_equals_whole_sequence_forward(rng):
    lstm, x, state, _, _ = chunked_setup(rng)
    out, (h_n, c_n) = lstm(x, state)
    chunked_out, (chunked_h, chunked_c), _ = forward_chunks(lstm, x, state)
    for name, a, b in (("out", chunked_out, out), ("h_n", chunked_h, h_n), ("c_n", chunked_c, c_n)):
        assert rel_error(a, b) < EXACT, name


def test_chunked_backward_carrying_state_gradients_equals_whole_sequence_backward(rng):
    lstm, x, state, d_out, d_state = chunked_setup(rng)
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
def test_truncated_backward_is_each_chunks_own_gradient(rng, loss_on):
    """Dropping the carried gradients differentiates each chunk's loss with its starting state
    held constant: compared with finite differences of exactly that function."""
    lstm, x, state, d_out, d_state = chunked_setup(rng)
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


def test_truncated_backward_matches_torch_with_detach(torch, rng):
    """PyTorch's truncated BPTT: ``state = (h.detach(), c.detach())`` between chunks."""
    lstm, x, state, d_out, d_state = chunked_setup(rng)
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
def test_every_combination_matches_torch(torch, combination, data):
    num_layers, bidirectional, batch_first, projected, with_lengths = combination
    config = data.draw(lstm_configs(bidirectional=bidirectional, proj=None if projected else 0))
    if projected and config["proj_size"] == 0:
        config["proj_size"] = data.draw(st.integers(1, config["hidden_size"] - 1))
    config.update(num_layers=num_layers, batch_first=batch_first)
    T, N = data.draw(sequence_shapes())
    lengths = data.draw(lengths_for(T, N)) if with_lengths else None
    lstm = LSTM(**config)
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
def test_gradients_match_finite_differences(case):
    options, lengths = GRADCHECK_CASES[case]
    lstm = LSTM(2, 3, seed=14, **options)
    rng = np.random.default_rng(15)
    x, state = random_input(rng, lstm, 4, 3), random_state(rng, lstm, 3)
    report = check_gradients(lstm, (x, state), lengths=lengths)
    assert report.passed, str(report)
    assert {"input", "h0", "c0"} <= {check.name for check in report.checks}


def test_gradient_check_catches_swapped_direction_caches(monkeypatch):
    """The backward pass must pair each direction with its own forward cache and weights."""
    lstm = LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2, seed=16)
    x = np.random.default_rng(0).standard_normal((3, 2, 2))

    def swap_first_layer(cache):
        layers = list(cache.layers)
        layers[0], layers[1] = layers[1], layers[0]
        return cache._replace(layers=layers)

    plant(monkeypatch, lstm, swap_first_layer)
    failed = failed_names(check_gradients(lstm, (x,)))
    assert {"input", "weight_ih_l0", "weight_ih_l0_reverse"} <= failed and "weight_ih_l1" not in failed

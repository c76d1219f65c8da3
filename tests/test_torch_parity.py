"""numpylstm against PyTorch: outputs, final states and every gradient, float64.

Skipped where torch is not installed; CI installs it and sets
NUMPYLSTM_REQUIRE_TORCH=1, which turns the skip into a failure.
"""
import numpy as np
import pytest

from numpylstm import LSTM, LSTMCell
from torch_reference import PARITY_TOLERANCE, worst_parity_error


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
def test_lstm_matches_torch(torch, rng, num_layers, layout):
    lstm = LSTM(3, 5, num_layers=num_layers, batch_first=layout == "batch-first", seed=num_layers)
    T, N = 6, 4
    shape = {"time-first": (T, N, 3), "batch-first": (N, T, 3), "unbatched": (T, 3)}[layout]
    x = rng.standard_normal(shape)
    state = random_state(rng, lstm, None if layout == "unbatched" else N)
    error, where = worst_parity_error(lstm, (x, state), torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


def test_lstm_without_bias_or_state_matches_torch(torch, rng):
    lstm = LSTM(3, 4, num_layers=2, bias=False, seed=3)
    error, where = worst_parity_error(lstm, (rng.standard_normal((5, 2, 3)),), torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


def test_parity_check_catches_a_swapped_gate_block(torch, rng, monkeypatch):
    """The cross-check itself can fail: a kernel that reads the f and g blocks swapped must."""
    import numpylstm.recurrent as recurrent

    real_forward, real_backward = recurrent.ENGINES["fast"]

    def swapped_forward(x, h0, c0, W_ih, *rest, **kwargs):
        i, f, g, o = np.split(W_ih, 4)
        return real_forward(x, h0, c0, np.concatenate([i, g, f, o]), *rest, **kwargs)

    monkeypatch.setitem(recurrent.ENGINES, "fast", (swapped_forward, real_backward))
    lstm = LSTM(3, 4, seed=5)
    error, where = worst_parity_error(lstm, (rng.standard_normal((4, 2, 3)),), torch, rng)
    assert error > 1e-3, f"a swapped gate block went unnoticed (worst: {where}, {error:.1e})"

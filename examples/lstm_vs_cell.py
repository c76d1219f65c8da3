"""Program 4: an LSTM over a whole sequence equals an LSTMCell called step by step, with numpylstm.

The original, in PyTorch::

    lstm = nn.LSTM(input_size=8, hidden_size=16, batch_first=True)
    cell = nn.LSTMCell(input_size=8, hidden_size=16)
    cell.weight_ih, cell.weight_hh = lstm.weight_ih_l0, lstm.weight_hh_l0    # the same weights
    cell.bias_ih, cell.bias_hh = lstm.bias_ih_l0, lstm.bias_hh_l0

    x = torch.randn(4, 12, 8)
    out_lstm, _ = lstm(x)
    h, c = torch.zeros(4, 16), torch.zeros(4, 16)
    outputs = []
    for t in range(x.size(1)):
        h, c = cell(x[:, t, :], (h, c))          # carry (h, c) to the next step
        outputs.append(h)
    out_cell = torch.stack(outputs, dim=1)
    print(torch.allclose(out_lstm, out_cell))
"""
import numpy as np

from numpylstm import LSTM, LSTMCell

INPUT_SIZE, HIDDEN_SIZE = 8, 16


def build(seed=0):
    """An LSTM and an LSTMCell holding the same weights (the cell's names lack the layer suffix _l0)."""
    lstm = LSTM(INPUT_SIZE, HIDDEN_SIZE, batch_first=True, seed=seed)
    cell = LSTMCell(INPUT_SIZE, HIDDEN_SIZE)
    cell.load_state_dict({name.replace("_l0", ""): weight for name, weight in lstm.state_dict().items()})
    return lstm, cell


def run_cell(cell, x):
    """x (N, T, I) one step at a time, carrying (h, c); the outputs (N, T, H) and the final (h, c)."""
    h = c = np.zeros((x.shape[0], HIDDEN_SIZE))
    outputs = []
    for t in range(x.shape[1]):
        h, c = cell(x[:, t], (h, c))
        outputs.append(h)
    return np.stack(outputs, axis=1), (h, c)


def run_cell_backward(cell, d_outputs):
    """Backpropagation through time by hand: the steps in reverse, each adding the gradient that
    came back from the step after it (dh, dc). Returns dx (N, T, I); weight gradients go to .grad."""
    dh = dc = np.zeros((d_outputs.shape[0], HIDDEN_SIZE))
    dxs = []
    for t in reversed(range(d_outputs.shape[1])):       # the cell's caches are a stack: newest first
        dx, (dh, dc) = cell.backward(d_outputs[:, t] + dh, dc)
        dxs.append(dx)
    return np.stack(dxs[::-1], axis=1)


def main():
    lstm, cell = build()
    x = np.random.default_rng(0).standard_normal((4, 12, INPUT_SIZE))
    out_lstm, _ = lstm(x)
    out_cell, _ = run_cell(cell, x)
    print(np.allclose(out_lstm, out_cell))
    print(f"largest difference: {np.abs(out_lstm - out_cell).max():.1e}")

    # The backward passes agree too: LSTM.backward against the cell walked back step by step.
    d_out = np.ones_like(out_lstm)
    dx_lstm, _ = lstm.backward(d_out)
    dx_cell = run_cell_backward(cell, d_out)
    print("same gradients:", np.allclose(dx_lstm, dx_cell) and np.allclose(lstm.weight_hh_l0.grad, cell.weight_hh.grad))


if __name__ == "__main__":
    main()

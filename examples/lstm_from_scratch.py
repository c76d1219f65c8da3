"""Program 5: an LSTM written from scratch (one Linear for all four gates), with numpylstm.

The original, in PyTorch::

    class LSTMFromScratch(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.gates = nn.Linear(input_size + hidden_size, 4 * hidden_size)
            self.head = nn.Sequential(nn.Linear(hidden_size, hidden_size // 2), nn.ReLU(),
                                      nn.Linear(hidden_size // 2, output_size))
            for p in self.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        def forward(self, x):                        # x (N, T, input_size)
            h = c = torch.zeros(x.size(0), self.hidden_size)
            outputs = []
            for t in range(x.size(1)):
                f, i, o, g = self.gates(torch.cat([x[:, t], h], dim=1)).chunk(4, 1)
                f, i, o = torch.sigmoid(f), torch.sigmoid(i), torch.sigmoid(o)
                c = f * c + i * torch.tanh(g)
                h = o * torch.tanh(c)
                outputs.append(self.head(h))
            return torch.stack(outputs, dim=1), (h, c)
"""
import numpy as np

from numpylstm import LSTM, Linear, Module, init, interop, mlp


class LSTMFromScratch(Module):
    """numpylstm's LSTM holding the gate Linear's weights, and the MLP head on every step."""

    def __init__(self, input_size, hidden_size, output_size, seed=None):
        super().__init__()
        seeds = np.random.SeedSequence(seed).spawn(4)
        # Xavier on the one gate matrix (4H, I + H), as the original (the bias keeps Linear's default),
        # then split into PyTorch's layout: weight_ih (4H, I), weight_hh (4H, H), the gates reordered
        # from f, i, o, g to i, f, g, o. The bias goes to bias_ih; bias_hh is zero, and frozen, since
        # the original has one bias.
        gates = init.xavier_uniform_(Linear(input_size + hidden_size, 4 * hidden_size, seed=seeds[0]),
                                     seed=seeds[1])
        self.lstm = LSTM(input_size, hidden_size, batch_first=True)
        self.lstm.load_state_dict(interop.from_fused_gates(gates.weight.data, gates.bias.data, input_size,
                                                           order="fiog"))
        self.lstm.bias_hh_l0.requires_grad_(False)
        # Linear -> ReLU -> Linear, Xavier on both weights
        self.head = init.xavier_uniform_(mlp(hidden_size, hidden_size // 2, output_size, seed=seeds[2]),
                                         seed=seeds[3])

    def forward(self, x):
        """x (N, T, input_size) -> outputs (N, T, output_size), (h, c) each (N, hidden_size)."""
        out, (h_n, c_n) = self.lstm(x)           # h at every step, from a zero state
        return self.head(out), (h_n[0], c_n[0])   # the head on every step; the one layer's final state

    def backward(self, d_outputs):
        """dx (N, T, input_size) from the gradient of the outputs; weight gradients go to .grad."""
        dx, _ = self.lstm.backward(self.head.backward(d_outputs))
        return dx


def main():
    model = LSTMFromScratch(input_size=6, hidden_size=16, output_size=3, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 9, 6))
    outputs, (h, c) = model(x)
    print(outputs.shape, h.shape, c.shape)
    dx = model.backward(np.ones_like(outputs))
    print("gradient of x:", dx.shape, "of the gates:", model.lstm.weight_ih_l0.grad.shape)


if __name__ == "__main__":
    main()

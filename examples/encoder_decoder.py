"""Program 1: an LSTM encoder-decoder for continuous sequences, with numpylstm.

The original, in PyTorch (the decoder reads y as its input sequence)::

    class Encoder(nn.Module):
        def __init__(self, input_size, hidden_size, num_layers):
            super().__init__()
            self.hidden_size, self.num_layers = hidden_size, num_layers
            self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        def forward(self, x):
            h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
            c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
            out, (hn, cn) = self.lstm(x, (h0, c0))
            return out, hn, cn

    class Decoder(nn.Module):
        def __init__(self, hidden_size, output_size, num_layers):
            super().__init__()
            self.lstm = nn.LSTM(output_size, hidden_size, num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_size, output_size)
        def forward(self, x, hn, cn):
            out, (hn, cn) = self.lstm(x, (hn, cn))
            return self.fc(out), hn, cn

    class Seq2Seq(nn.Module):
        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder, self.decoder = encoder, decoder
        def forward(self, x, y):
            _, hn, cn = self.encoder(x)
            out, _, _ = self.decoder(y, hn, cn)
            return out

    model = Seq2Seq(Encoder(10, 32, 2), Decoder(32, 5, 2))
    output = model(torch.randn(16, 20, 10), torch.randn(16, 8, 5))
    print(output.shape)
"""
import numpy as np

from numpylstm import FeatureSeq2Seq
from numpylstm.losses import mse_loss

INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE, NUM_LAYERS = 10, 32, 5, 2


def build_model(seed=0):
    """The three classes above in one: an encoder LSTM from a zero state, a decoder LSTM started
    from the encoder's (h_n, c_n), and a Linear head on every decoder step."""
    return FeatureSeq2Seq(INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE, num_layers=NUM_LAYERS, batch_first=True, seed=seed)


def main():
    rng = np.random.default_rng(0)
    model = build_model()
    x = rng.standard_normal((16, 20, INPUT_SIZE))        # 16 sequences of 20 feature vectors
    y = rng.standard_normal((16, 8, OUTPUT_SIZE))         # and 8 frames of 5 numbers to decode from
    output = model(x, y)                                  # (N, T_out, output_size), as the original
    print(output.shape)

    # numpylstm writes the backward pass by hand: the loss's gradient goes back through the
    # decoder, and the decoder's (dh0, dc0) into the encoder's final state.
    loss, d_output = mse_loss(output, y)
    dx, dy = model.backward(d_output)
    print(f"loss {loss:.4f}, gradients: x {dx.shape}, y {dy.shape}")

    # Teacher forcing: the decoder reads the true previous frame, [start, y_1, ..., y_{T-1}] ...
    y_in = model.decoder_input(y)                         # start: a zero frame
    print("teacher forcing input:", y_in.shape, "first frame all zero:", not y_in[:, 0].any())
    # ... and free-running prediction feeds back its own outputs, frame after frame.
    print("predicted frames:", model.predict(x, steps=12).shape)


if __name__ == "__main__":
    main()

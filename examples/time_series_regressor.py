"""Program 3: an LSTM regressor trained on random batches, with numpylstm.

The original, in PyTorch::

    class LSTMModel(nn.Module):
        def __init__(self, input_size, hidden_size, num_layers, output_size):
            super().__init__()
            self.hidden_size, self.num_layers = hidden_size, num_layers
            self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_size, output_size)
        def forward(self, x):
            h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
            c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size)
            out, _ = self.lstm(x, (h0, c0))
            return self.fc(out[:, -1, :])

    model = LSTMModel(input_size=10, hidden_size=20, num_layers=2, output_size=1)
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for epoch in range(100):
        x, y = torch.randn(32, 5, 10), torch.randn(32, 1)
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (epoch + 1) % 10 == 0:
            print(f"Epoch [{epoch + 1}/100], Loss: {loss.item():.4f}")
"""
import numpy as np

from numpylstm import SequenceRegressor
from numpylstm.losses import mse_loss
from numpylstm.optim import Adam
from numpylstm.threads import limit_blas_threads


def build_model(seed=0):
    # A 2-layer LSTM(10 -> 20) from a zero state and Linear(20 -> 1) on the top layer's last step
    # (its h_n, which is out[:, -1, :] for sequences without padding).
    return SequenceRegressor(10, 20, output_size=1, num_layers=2, batch_first=True, seed=seed)


def build_optimizer(model):
    # torch.optim.Adam's defaults: betas (0.9, 0.999), eps 1e-8 added after the bias correction.
    return Adam(model.parameters(), lr=0.001)


def train_step(model, optimizer, x, y):
    """One Adam step on the batch (x, y); returns the loss before the step, as loss.item()."""
    optimizer.zero_grad()                   # backward adds into .grad, as in PyTorch
    loss, d_pred = mse_loss(model(x), y)    # the loss and its gradient with respect to the prediction
    model.backward(d_pred)                  # backpropagation through time, by hand
    optimizer.step()
    return loss


def main():
    rng = np.random.default_rng(0)
    model = build_model()
    optimizer = build_optimizer(model)
    with limit_blas_threads(1):             # small matrices: one BLAS thread is faster
        for epoch in range(100):
            x, y = rng.standard_normal((32, 5, 10)), rng.standard_normal((32, 1))   # a fresh random batch
            loss = train_step(model, optimizer, x, y)
            if (epoch + 1) % 10 == 0:
                print(f"Epoch [{epoch + 1}/100], Loss: {loss:.4f}")


if __name__ == "__main__":
    main()

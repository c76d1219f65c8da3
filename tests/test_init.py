"""Initializers: the properties each promises (bounds, orthogonality, forget-gate sums), seeding, input checks."""
import math

import numpy as np
import pytest

from numpylstm import LSTM, LSTMCell
from numpylstm.init import forget_gate_bias_, orthogonal_, orthogonal_matrix, uniform_default_, xavier_uniform_
from numpylstm.layers import Embedding, Linear, mlp
from numpylstm.module import Parameter
from numpylstm.seq2seq import Seq2Seq


def zeroed(module):
    for param in module.parameters():
        param.data[...] = 0
    return module


def assert_fills_uniform_range(values, bound):
    """Inside [-bound, bound], and spread over it (a narrower range would also pass a bounds check)."""
    assert np.abs(values).max() <= bound
    assert values.max() > 0.8 * bound and values.min() < -0.8 * bound


# ------------------------------------------------------------- PyTorch's defaults
def test_uniform_default_uses_each_modules_pytorch_bound():
    lstm, linear = zeroed(LSTM(3, 25, num_layers=2, seed=0)), zeroed(Linear(64, 30, seed=0))
    uniform_default_(lstm, seed=1)
    uniform_default_(linear, seed=1)
    for name, param in lstm.named_parameters():
        assert_fills_uniform_range(param.data, 1 / math.sqrt(25))
    for name, param in linear.named_parameters():
        assert_fills_uniform_range(param.data, 1 / math.sqrt(64))


def test_uniform_default_draws_embeddings_from_a_standard_normal_with_zero_padding():
    embedding = zeroed(Embedding(300, 40, padding_idx=0, seed=0))
    uniform_default_(embedding, seed=2)
    rows = embedding.weight.data[1:]
    assert rows.std() == pytest.approx(1.0, abs=0.03)
    np.testing.assert_array_equal(embedding.weight.data[0], 0)


def test_uniform_default_walks_children_and_is_seeded():
    a, b = zeroed(Seq2Seq(6, 4, 5, seed=0)), zeroed(Seq2Seq(6, 4, 5, seed=0))
    uniform_default_(a, seed=3)
    uniform_default_(b, seed=3)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert np.all(pa.data != 0), name
        np.testing.assert_array_equal(pa.data, pb.data)


def test_uniform_default_keeps_dtype_and_array():
    linear = Linear(4, 3, dtype=np.float32, seed=0)
    array = linear.weight.data
    uniform_default_(linear, seed=0)
    assert linear.weight.data is array and array.dtype == np.float32


# ------------------------------------------------------------------------- Xavier
def test_xavier_uniform_bound_on_a_parameter():
    param = Parameter(np.zeros((60, 40)))
    xavier_uniform_(param, gain=2.0, seed=0)
    assert_fills_uniform_range(param.data, 2.0 * math.sqrt(6 / (40 + 60)))


def test_xavier_uniform_on_a_module_sets_weights_and_leaves_biases():
    lstm = zeroed(LSTM(10, 20, seed=0))
    xavier_uniform_(lstm, seed=1)
    assert_fills_uniform_range(lstm.weight_ih_l0.data, math.sqrt(6 / (10 + 80)))
    assert_fills_uniform_range(lstm.weight_hh_l0.data, math.sqrt(6 / (20 + 80)))
    np.testing.assert_array_equal(lstm.bias_ih_l0.data, 0)


def test_xavier_uniform_matches_torch_bound(torch):
    torch.manual_seed(0)
    tensor = torch.empty(50, 30, dtype=torch.float64)
    torch.nn.init.xavier_uniform_(tensor)
    param = Parameter(np.zeros((50, 30)))
    xavier_uniform_(param, seed=0)
    # different random numbers, the same distribution: the same range to within a few percent
    assert np.abs(param.data).max() == pytest.approx(tensor.abs().max().item(), rel=0.05)


def test_xavier_uniform_refuses_vectors_and_bad_gain():
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*shape \(5,\)"):
        xavier_uniform_(Parameter(np.zeros(5)))
    with pytest.raises(ValueError, match="gain must be a finite number > 0, got -1"):
        xavier_uniform_(Parameter(np.zeros((2, 2))), gain=-1)
    with pytest.raises(TypeError, match="takes a Parameter or a Module, got ndarray"):
        xavier_uniform_(np.zeros((2, 2)))


# --------------------------------------------------------------------- orthogonal
def test_orthogonal_recurrent_weights_per_gate_block():
    H = 6
    lstm = LSTM(3, H, num_layers=2, bidirectional=True, seed=0)
    orthogonal_(lstm, seed=1)
    names = [name for name, _ in lstm.named_parameters() if name.startswith("weight_hh")]
    assert len(names) == 4
    for name in names:
        weight = getattr(lstm, name).data
        blocks = np.split(weight, 4)
        for block in blocks:
            np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
            np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-12)
        # The whole (4H, H) matrix is not one orthogonal matrix: each gate has its own.
        assert not np.allclose(blocks[0], blocks[1])
    assert not np.allclose(lstm.weight_ih_l0.data.T @ lstm.weight_ih_l0.data, np.eye(3), atol=1e-3)


def test_orthogonal_with_projection_gives_orthonormal_columns():
    lstm = LSTM(3, 6, proj_size=2, seed=0)
    orthogonal_(lstm, gain=0.5, seed=1)
    for block in np.split(lstm.weight_hh_l0.data, 4):          # (6, 2) blocks
        np.testing.assert_allclose(block.T @ block, 0.25 * np.eye(2), atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 7), (7, 4), (5, 5)])
def test_orthogonal_matrix_rows_or_columns_are_orthonormal(shape):
    q = orthogonal_matrix(*shape, np.random.default_rng(0))
    assert q.shape == shape
    small = min(shape)
    gram = q @ q.T if shape[0] <= shape[1] else q.T @ q
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_orthogonal_on_a_parameter_with_blocks():
    param = Parameter(np.zeros((8, 4)))
    orthogonal_(param, seed=0)                      # the whole 8 x 4 matrix
    np.testing.assert_allclose(param.data.T @ param.data, np.eye(4), atol=1e-12)
    orthogonal_(param, blocks=2, seed=0)            # two 4 x 4 blocks
    for block in np.split(param.data, 2):
        np.testing.assert_allclose(block.T @ block, np.eye(4), atol=1e-12)


def test_orthogonal_is_seeded_and_refuses_bad_blocks():
    a, b = LSTMCell(2, 3, seed=0), LSTMCell(2, 3, seed=0)
    np.testing.assert_array_equal(orthogonal_(a, seed=4).weight_hh.data, orthogonal_(b, seed=4).weight_hh.data)
    with pytest.raises(ValueError, match="blocks must be a positive integer dividing the 8 rows.*got 3"):
        orthogonal_(Parameter(np.zeros((8, 4))), blocks=3)
    with pytest.raises(ValueError, match="Linear has no parameters that orthogonal_ applies to"):
        orthogonal_(Linear(2, 2))


# ---------------------------------------------------------------- forget-gate bias
@pytest.mark.parametrize("value", [1.0, -2.5])
def test_forget_gate_bias_sums_to_value_in_every_layer(value):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    before = lstm.state_dict()
    forget_gate_bias_(lstm, value)
    H = 4
    for name, param in lstm.named_parameters():
        if name.startswith("bias_ih"):
            total = param.data + getattr(lstm, name.replace("bias_ih", "bias_hh")).data
            np.testing.assert_array_equal(total[H:2 * H], value)
            for rows in (slice(0, H), slice(2 * H, 4 * H)):    # i, g, o untouched
                np.testing.assert_array_equal(param.data[rows], before[name][rows])
        elif name.startswith("weight"):
            np.testing.assert_array_equal(param.data, before[name])


def test_forget_gate_bias_opens_the_forget_gate():
    cell = forget_gate_bias_(zeroed(LSTMCell(2, 3, seed=0)), 2.0)
    c0 = np.ones((1, 3))
    _, c1 = cell(np.zeros((1, 2)), (np.zeros((1, 3)), c0))
    # with zero input, zero weights and g = tanh(0) = 0: c1 = f * c0 = sigmoid(2) * c0
    np.testing.assert_allclose(c1, c0 / (1 + math.exp(-2.0)), rtol=1e-15)


def test_forget_gate_bias_reaches_lstms_inside_a_model():
    model = forget_gate_bias_(Seq2Seq(5, 3, 4, seed=0), 1.0)
    for lstm in (model.encoder.lstm, model.decoder.lstm):
        np.testing.assert_array_equal((lstm.bias_ih_l0.data + lstm.bias_hh_l0.data)[4:8], 1.0)


def test_forget_gate_bias_refuses_modules_without_lstm_biases():
    with pytest.raises(ValueError, match="no LSTM biases in LSTM"):
        forget_gate_bias_(LSTM(2, 3, bias=False))
    with pytest.raises(ValueError, match="no LSTM biases in Sequential"):
        forget_gate_bias_(mlp(2, 3, 1))
    with pytest.raises(TypeError, match="value must be a number, got '1'"):
        forget_gate_bias_(LSTM(2, 3), value="1")
    with pytest.raises(TypeError, match="takes an LSTM, LSTMCell or a Module holding them, got ndarray"):
        forget_gate_bias_(np.zeros(3))
    with pytest.raises(ValueError, match="value must be a finite number, got inf"):
        forget_gate_bias_(LSTM(2, 3), float("inf"))


def test_orthogonal_makes_an_rnn_recurrent_matrix_orthogonal_whole():
    from numpylstm import RNN
    rnn = RNN(2, 6, seed=0)
    orthogonal_(rnn, seed=1)
    W = rnn.weight_hh_l0.data
    np.testing.assert_allclose(W @ W.T, np.eye(6), atol=1e-12)


def test_xavier_leaves_embedding_tables_alone():
    from numpylstm import Embedding, Linear, Sequential
    model = Sequential(Embedding(5, 3, padding_idx=0, seed=0), Linear(3, 2, seed=0))
    table = model[0].weight.data.copy()
    xavier_uniform_(model, seed=1)
    np.testing.assert_array_equal(model[0].weight.data, table)
    assert np.all(model[0].weight.data[0] == 0)

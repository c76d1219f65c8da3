"""numpylstm.interop and torch tensors as inputs: checked against real Keras and PyTorch, float64.

Keras runs on its torch backend (KERAS_BACKEND=torch, set before the import by the ``keras`` fixture
of conftest.py); without Keras or torch these tests skip (CI sets NUMPYLSTM_REQUIRE_KERAS=1 and
NUMPYLSTM_REQUIRE_TORCH=1, which turns the skips into failures).
"""
import itertools

import numpy as np
import pytest

from assertions import raises_naming
from catalog import CATALOG, leaves, output_grads
from numpylstm import LSTM, RNN, Embedding, Linear, LSTMCell, RNNCell, interop, mlp
from numpylstm.gradcheck import rel_error
from numpylstm.interop import (
    from_fused_gates, from_keras_dense, from_keras_lstm, from_torch_state_dict, to_fused_gates,
    to_keras_dense, to_keras_lstm, to_torch_state_dict,
)
from torch_reference import assert_distinct_biases

EXACT = 1e-12     # the same arithmetic in float64 on both sides: only rounding differs
ALL_GATE_ORDERS = ["".join(p) for p in itertools.permutations("ifgo")]


def loaded(module, state_dict):
    """``module`` after ``load_state_dict(state_dict)`` (strict: every name must match)."""
    module.load_state_dict(state_dict)
    return module


def keras_outputs(layer, x, keras):
    """``layer(x)`` as a list of NumPy arrays."""
    outputs = layer(x)
    return [keras.ops.convert_to_numpy(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def random_keras_weights(layer, rng):
    """Non-zero random weights of every shape ``layer`` holds (its own init leaves the bias at 0 and 1)."""
    layer.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in layer.get_weights()])


# ============================================================================ Keras
def keras_lstm(keras, N, T, I, H, use_bias=True):
    layer = keras.layers.LSTM(H, return_sequences=True, return_state=True, use_bias=use_bias)
    layer.build((N, T, I))
    return layer


@pytest.mark.parametrize("use_bias", [True, False])
def test_a_keras_lstm_loaded_into_numpylstm_gives_its_outputs(use_bias, keras, rng):
    N, T, I, H = 3, 7, 4, 5
    layer = keras_lstm(keras, N, T, I, H, use_bias)
    random_keras_weights(layer, rng)
    x = rng.standard_normal((N, T, I))
    sequence, h, c = keras_outputs(layer, x, keras)
    lstm = LSTM(I, H, bias=use_bias, batch_first=True)
    lstm.load_state_dict(from_keras_lstm(*layer.weights))    # Keras variables, read as arrays
    out, (h_n, c_n) = lstm(x)
    assert rel_error(out, sequence) < EXACT
    assert rel_error(h_n[0], h) < EXACT and rel_error(c_n[0], c) < EXACT


@pytest.mark.parametrize("use_bias", [True, False])
def test_a_numpylstm_lstm_loaded_into_keras_gives_its_outputs(use_bias, keras, rng):
    N, T, I, H = 2, 6, 3, 4
    lstm = LSTM(I, H, bias=use_bias, batch_first=True, seed=5)
    if use_bias:
        assert_distinct_biases(lstm)     # to_keras_lstm must add them: a swap or a dropped one would show
    layer = keras_lstm(keras, N, T, I, H, use_bias)
    layer.set_weights(to_keras_lstm(lstm))
    x = rng.standard_normal((N, T, I))
    sequence, h, c = keras_outputs(layer, x, keras)
    out, (h_n, c_n) = lstm(x)
    assert rel_error(out, sequence) < EXACT
    assert rel_error(h_n[0], h) < EXACT and rel_error(c_n[0], c) < EXACT


def test_a_numpylstm_cell_loaded_into_keras_gives_its_step(keras, rng):
    # one step of Keras's LSTM layer from a given state (its LSTMCell computes its products in float32,
    # see test_keras_dense_and_linear_give_the_same_outputs_both_ways)
    cell = LSTMCell(3, 4, seed=2)
    layer = keras_lstm(keras, 2, 1, 3, 4)
    layer.set_weights(to_keras_lstm(cell))
    x, h0, c0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    _, h, c = (keras.ops.convert_to_numpy(o) for o in layer(x[:, None], initial_state=[h0, c0]))
    h1, c1 = cell(x, (h0, c0))
    assert rel_error(h1, h) < EXACT and rel_error(c1, c) < EXACT


def test_a_keras_lstm_loaded_with_the_bias_in_both_slots_is_caught(keras, rng):
    # the parity check above can fail: the one mistake Keras's layout invites, its bias added twice
    N, T, I, H = 3, 5, 4, 5
    layer = keras_lstm(keras, N, T, I, H)
    random_keras_weights(layer, rng)
    x = rng.standard_normal((N, T, I))
    state = from_keras_lstm(*layer.get_weights())
    state["bias_hh_l0"] = state["bias_ih_l0"]
    lstm = loaded(LSTM(I, H, batch_first=True), state)
    assert rel_error(lstm(x)[0], keras_outputs(layer, x, keras)[0]) > 1e-2


def exact_in_float32(rng, shape, denominator):
    """Random multiples of 1/denominator in [-1, 1]: their products and short sums are exact in float32."""
    return rng.integers(-denominator, denominator + 1, size=shape) / denominator


@pytest.mark.parametrize("use_bias", [True, False])
def test_keras_dense_and_linear_give_the_same_outputs_both_ways(use_bias, keras, rng):
    # Keras 3 (3.15) computes ops.matmul in float32 even in float64 on its torch and numpy backends
    # (keras-team/keras#23704): with weights and inputs of few bits every product and sum is exact,
    # so Keras's float32 arithmetic and numpylstm's float64 give the same numbers, and only the layout
    # of the weights is left to differ.
    x = exact_in_float32(rng, (4, 3, 6), 8)          # Dense and Linear both act on the last axis
    dense = keras.layers.Dense(5, use_bias=use_bias)
    dense.build(x.shape)
    dense.set_weights([exact_in_float32(rng, w.shape, 64) for w in dense.get_weights()])
    linear = loaded(Linear(6, 5, bias=use_bias), from_keras_dense(*dense.get_weights()))
    assert rel_error(linear(x), keras_outputs(dense, x, keras)[0]) < EXACT

    linear = Linear(6, 5, bias=use_bias)
    linear.load_state_dict({name: exact_in_float32(rng, p.shape, 64) for name, p in linear.named_parameters()})
    dense.set_weights(to_keras_dense(linear))
    assert rel_error(linear(x), keras_outputs(dense, x, keras)[0]) < EXACT


def test_keras_converters_lay_the_weights_out_as_keras_does():
    # without Keras: the layout itself, on weights whose every entry says where it belongs
    I, H = 2, 3
    kernel = np.arange(I * 4 * H, dtype=float).reshape(I, 4 * H)
    recurrent_kernel = 100 + np.arange(H * 4 * H, dtype=float).reshape(H, 4 * H)
    state = from_keras_lstm(kernel, recurrent_kernel, np.arange(4 * H, dtype=float))
    np.testing.assert_array_equal(state["weight_ih_l0"], kernel.T)
    np.testing.assert_array_equal(state["weight_hh_l0"], recurrent_kernel.T)
    np.testing.assert_array_equal(state["bias_ih_l0"], np.arange(4 * H))
    np.testing.assert_array_equal(state["bias_hh_l0"], np.zeros(4 * H))
    assert list(state) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    lstm = loaded(LSTM(I, H), state)
    lstm.bias_hh_l0.data[:] = 1.0
    back_kernel, back_recurrent, back_bias = to_keras_lstm(lstm)
    np.testing.assert_array_equal(back_kernel, kernel)
    np.testing.assert_array_equal(back_recurrent, recurrent_kernel)
    np.testing.assert_array_equal(back_bias, np.arange(4 * H) + 1.0)      # Keras's one bias: the sum


def test_converters_keep_float32():
    state = from_keras_lstm(np.ones((2, 8), np.float32), np.ones((2, 8), np.float32), np.ones(8, np.float32))
    assert {a.dtype for a in state.values()} == {np.dtype(np.float32)}
    kernels = to_keras_lstm(LSTM(2, 2, dtype=np.float32))
    assert {a.dtype for a in kernels} == {np.dtype(np.float32)}


@pytest.mark.parametrize("options, reason", [
    (dict(num_layers=2), "num_layers=2"),
    (dict(bidirectional=True), "bidirectional=True"),
    (dict(proj_size=2), "proj_size=2"),
])
def test_lstms_that_keras_and_a_fused_linear_cannot_hold_are_refused(options, reason):
    lstm = LSTM(3, 4, **options)
    raises_naming(ValueError, lambda: to_keras_lstm(lstm), "to_keras_lstm", "one-layer, one-direction",
                  "without projection", "Keras's LSTM", reason)
    raises_naming(ValueError, lambda: to_fused_gates(lstm), "to_fused_gates", reason)


def test_keras_converters_name_bad_arguments():
    k, rk, b = np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)
    raises_naming(ValueError, lambda: from_keras_lstm(np.zeros((3, 6)), rk, b), "kernel", "4 * units", "(3, 6)")
    raises_naming(ValueError, lambda: from_keras_lstm(k, np.zeros((8, 2)), b), "recurrent_kernel", "(2, 8)",
                  "(8, 2)")
    raises_naming(ValueError, lambda: from_keras_lstm(k, rk, np.zeros(6)), "bias", "(8,)", "(6,)")
    raises_naming(ValueError, lambda: from_keras_lstm(np.zeros(8), rk, b), "kernel", "2-D", "(8,)")
    raises_naming(TypeError, lambda: from_keras_lstm(k.astype(int), rk, b), "kernel", "int64")
    raises_naming(ValueError, lambda: from_keras_dense(np.zeros((3, 4)), np.zeros(3)), "bias", "(4,)", "(3,)")
    raises_naming(TypeError, lambda: to_keras_dense(LSTM(2, 2)), "linear", "Linear", "LSTM")
    raises_naming(TypeError, lambda: to_keras_lstm(Linear(2, 2)), "lstm", "LSTM or LSTMCell", "Linear")


# ================================================================ fused gate Linear
def scratch_lstm(torch, linear, x, h, c):
    """The from-scratch program: one Linear over [x_t, h], gates chunked f, i, o, g."""
    outputs = []
    for x_t in x:
        f, i, o, g = linear(torch.cat([x_t, h], dim=1)).chunk(4, 1)
        f, i, o, g = torch.sigmoid(f), torch.sigmoid(i), torch.sigmoid(o), torch.tanh(g)
        c = f * c + i * g
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs), h, c


def scratch_run(torch, linear, x, h0, c0, grads):
    """Forward and backward of ``scratch_lstm``; ``(outputs, input_grads)`` as NumPy lists."""
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    outputs = scratch_lstm(torch, linear, *leaves)
    sum((o * torch.tensor(g)).sum() for o, g in zip(outputs, grads)).backward()
    return [o.detach().numpy() for o in outputs], [leaf.grad.numpy() for leaf in leaves]


def numpylstm_run(lstm, x, h0, c0, grads):
    """The same forward and backward through a numpylstm LSTM (one layer: state axis 0 of size 1)."""
    out, (h_n, c_n) = lstm(x, (h0[None], c0[None]))
    dx, (dh0, dc0) = lstm.backward(grads[0], (grads[1][None], grads[2][None]))
    return [out, h_n[0], c_n[0]], [dx, dh0[0], dc0[0]]


def fused_problem(rng, T=6, N=3, I=4, H=5):
    x, h0, c0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    grads = [rng.standard_normal((T, N, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))]
    return (x, h0, c0, grads), (I, H)


def test_a_from_scratch_lstm_converts_with_its_outputs_and_gradients(torch, rng):
    (x, h0, c0, grads), (I, H) = fused_problem(rng)
    torch.manual_seed(0)
    linear = torch.nn.Linear(I + H, 4 * H, dtype=torch.float64)
    t_outputs, t_input_grads = scratch_run(torch, linear, x, h0, c0, grads)
    weight, bias = linear.weight.detach().numpy(), linear.bias.detach().numpy()
    lstm = loaded(LSTM(I, H), from_fused_gates(weight, bias, I, order="fiog"))
    outputs, input_grads = numpylstm_run(lstm, x, h0, c0, grads)
    for ours, theirs in zip(outputs + input_grads, t_outputs + t_input_grads):
        assert rel_error(ours, theirs) < EXACT
    # the Linear's gradients, in the LSTM's layout: its bias feeds both bias_ih and bias_hh
    t_grads = from_fused_gates(linear.weight.grad.numpy(), linear.bias.grad.numpy(), I, order="fiog")
    t_grads["bias_hh_l0"] = t_grads["bias_ih_l0"]
    for name, param in lstm.named_parameters():
        assert rel_error(param.grad, t_grads[name]) < EXACT, name


def test_a_from_scratch_lstm_converted_in_the_wrong_gate_order_is_caught(torch, rng):
    (x, h0, c0, grads), (I, H) = fused_problem(rng)
    linear = torch.nn.Linear(I + H, 4 * H, dtype=torch.float64)
    t_outputs, _ = scratch_run(torch, linear, x, h0, c0, grads)
    weight, bias = linear.weight.detach().numpy(), linear.bias.detach().numpy()
    for wrong in ("ifgo", "ifog", "figo"):     # PyTorch's order, and single swaps of the right one
        lstm = loaded(LSTM(I, H), from_fused_gates(weight, bias, I, order=wrong))
        assert rel_error(numpylstm_run(lstm, x, h0, c0, grads)[0][0], t_outputs[0]) > 1e-2, wrong


def test_a_numpylstm_lstm_runs_as_the_from_scratch_program(torch, rng):
    (x, h0, c0, grads), (I, H) = fused_problem(rng)
    lstm = LSTM(I, H, seed=7)
    assert_distinct_biases(lstm)
    weight, bias = to_fused_gates(lstm, order="fiog")
    linear = torch.nn.Linear(I + H, 4 * H, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight))
        linear.bias.copy_(torch.tensor(bias))
    t_outputs, t_input_grads = scratch_run(torch, linear, x, h0, c0, grads)
    outputs, input_grads = numpylstm_run(lstm, x, h0, c0, grads)
    for ours, theirs in zip(outputs + input_grads, t_outputs + t_input_grads):
        assert rel_error(ours, theirs) < EXACT


@pytest.mark.parametrize("order", ALL_GATE_ORDERS)
def test_fused_gates_round_trip_in_every_gate_order(order, rng):
    lstm = LSTM(3, 4, seed=1)
    weight, bias = to_fused_gates(lstm, order)
    rebuilt = loaded(LSTM(3, 4), from_fused_gates(weight, bias, 3, order))
    np.testing.assert_array_equal(rebuilt.weight_ih_l0.data, lstm.weight_ih_l0.data)
    np.testing.assert_array_equal(rebuilt.weight_hh_l0.data, lstm.weight_hh_l0.data)
    x = rng.standard_normal((5, 2, 3))
    assert rel_error(rebuilt(x)[0], lstm(x)[0]) < 1e-15    # bias_ih + bias_hh moved into bias_ih
    # the rows are the gates named by order: the candidate block g of weight_ih sits at order.index("g")
    H = 4
    g_rows = weight[order.index("g") * H:(order.index("g") + 1) * H, :3]
    np.testing.assert_array_equal(g_rows, lstm.weight_ih_l0.data[2 * H:3 * H])


def test_fused_gates_without_bias():
    lstm = LSTM(2, 3, bias=False, seed=0)
    weight, bias = to_fused_gates(lstm)
    assert bias is None and weight.shape == (12, 5)
    state = from_fused_gates(weight, None, 2)
    assert list(state) == ["weight_ih_l0", "weight_hh_l0"]
    loaded(LSTM(2, 3, bias=False), state)
    assert to_fused_gates(LSTMCell(2, 3, seed=0))[0].shape == (12, 5)


def test_fused_gate_converters_name_bad_arguments():
    weight, bias = np.zeros((12, 5)), np.zeros(12)
    raises_naming(ValueError, lambda: from_fused_gates(weight, bias, 2, order="fiox"), "order",
                  "permutation of 'ifgo'", "'fiox'")
    raises_naming(ValueError, lambda: from_fused_gates(weight, bias, 2, order="fio"), "order", "'fio'")
    raises_naming(TypeError, lambda: from_fused_gates(weight, bias, 2, order=None), "order", "None")
    raises_naming(ValueError, lambda: from_fused_gates(weight, bias, 3), "weight", "input_size=3", "(12, 5)")
    raises_naming(ValueError, lambda: from_fused_gates(weight, np.zeros(5), 2), "bias", "(12,)", "(5,)")
    raises_naming(ValueError, lambda: from_fused_gates(weight, bias, 0), "input_size", "positive")
    raises_naming(ValueError, lambda: to_fused_gates(LSTM(2, 3), order="abcd"), "order", "'abcd'")


# ===================================================================== torch modules
# (numpylstm module, the torch module of the same options, its forward inputs)
TORCH_CASES = {
    "LSTM 2 layers, bidirectional, projected": (
        lambda: LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, seed=1),
        lambda torch: torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2),
        lambda rng: (rng.standard_normal((6, 2, 3)),)),
    "LSTMCell": (
        lambda: LSTMCell(3, 4, seed=2),
        lambda torch: torch.nn.LSTMCell(3, 4),
        lambda rng: (rng.standard_normal((2, 3)), (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))))),
    "Linear": (
        lambda: Linear(4, 3, seed=3),
        lambda torch: torch.nn.Linear(4, 3),
        lambda rng: (rng.standard_normal((5, 2, 4)),)),
    "Embedding": (
        lambda: Embedding(10, 4, seed=4),
        lambda torch: torch.nn.Embedding(10, 4),
        lambda rng: (rng.integers(0, 10, size=(5, 3)),)),
    "RNN 2 layers, relu": (
        lambda: RNN(3, 4, num_layers=2, nonlinearity="relu", seed=5),
        lambda torch: torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu"),
        lambda rng: (rng.standard_normal((6, 2, 3)), rng.standard_normal((2, 2, 4)))),
    "RNNCell": (
        lambda: RNNCell(3, 4, seed=6),
        lambda torch: torch.nn.RNNCell(3, 4),
        lambda rng: (rng.standard_normal((2, 3)), rng.standard_normal((2, 4)))),
    "mlp (Sequential)": (
        lambda: mlp(4, 6, 2, seed=7),
        lambda torch: torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2)),
        lambda rng: (rng.standard_normal((5, 4)),)),
}


def flat_numpy(outputs):
    """Nested tuples of arrays or tensors as a flat list of NumPy arrays."""
    if isinstance(outputs, (tuple, list)):
        return [leaf for item in outputs for leaf in flat_numpy(item)]
    return [outputs.detach().numpy() if hasattr(outputs, "detach") else np.asarray(outputs)]


def torch_forward(module, inputs, torch):
    as_tensor = lambda a: tuple(map(as_tensor, a)) if isinstance(a, tuple) else torch.tensor(a)  # noqa: E731
    with torch.no_grad():
        return flat_numpy(module(*as_tensor(inputs)))


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_a_torch_module_loads_a_numpylstm_state_dict_and_gives_its_outputs(case, torch, rng):
    make_ours, make_theirs, make_inputs = TORCH_CASES[case]
    ours, theirs, inputs = make_ours(), make_theirs(torch), make_inputs(rng)
    converted = to_torch_state_dict(ours)
    assert list(converted) == list(theirs.state_dict())
    theirs.load_state_dict(converted)          # strict: every name and shape must match
    got, expected = torch_forward(theirs, inputs, torch), flat_numpy(ours(*inputs))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert rel_error(a, b) < EXACT


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_a_torch_state_dict_loads_into_numpylstm_and_gives_its_outputs(case, torch, rng):
    make_ours, make_theirs, make_inputs = TORCH_CASES[case]
    ours, theirs, inputs = make_ours(), make_theirs(torch), make_inputs(rng)
    ours.load_state_dict(from_torch_state_dict(dict(theirs.named_parameters())))   # tensors that require grad
    for a, b in zip(flat_numpy(ours(*inputs)), torch_forward(theirs, inputs, torch)):
        assert rel_error(a, b) < EXACT


def test_the_torch_check_above_can_fail(torch, rng):
    make_ours, make_theirs, make_inputs = TORCH_CASES["LSTM 2 layers, bidirectional, projected"]
    ours, theirs, inputs = make_ours(), make_theirs(torch), make_inputs(rng)
    converted = to_torch_state_dict(ours)
    converted["bias_hh_l1_reverse"] = converted["bias_hh_l1_reverse"].flip(0)   # one vector out of place
    theirs.load_state_dict(converted)
    assert rel_error(torch_forward(theirs, inputs, torch)[0], flat_numpy(ours(*inputs))[0]) > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_state_dicts_keep_the_dtype_and_are_copies(dtype, torch):
    lstm = LSTM(2, 3, dtype=dtype, seed=0)
    converted = to_torch_state_dict(lstm)
    assert {t.dtype for t in converted.values()} == {torch.float32 if dtype == np.float32 else torch.float64}
    converted["weight_ih_l0"][0, 0] = 99.0
    assert lstm.weight_ih_l0.data[0, 0] != 99.0
    back = from_torch_state_dict(converted)
    assert all(isinstance(a, np.ndarray) and a.dtype == dtype for a in back.values())
    back["weight_hh_l0"][0, 0] = 99.0
    assert converted["weight_hh_l0"][0, 0] != 99.0
    # a state dict of arrays (as numpylstm.io loads) converts as the module does
    assert all(torch.equal(a, b) for a, b in zip(to_torch_state_dict(lstm.state_dict()).values(),
                                                  to_torch_state_dict(lstm).values()))


def test_numpylstm_loads_a_torch_state_dict_as_it_is(torch, rng):
    theirs = torch.nn.LSTM(3, 4, num_layers=2)
    ours = loaded(LSTM(3, 4, num_layers=2), theirs.state_dict())
    x = rng.standard_normal((5, 2, 3))
    assert rel_error(ours(x)[0], torch_forward(theirs, (x,), torch)[0]) < EXACT


def test_torch_state_dict_converters_name_bad_arguments(torch):
    raises_naming(TypeError, lambda: to_torch_state_dict([1, 2]), "module", "Module", "list")
    raises_naming(TypeError, lambda: to_torch_state_dict({"w": np.zeros(2, dtype=int)}), "'w'", "int64")
    raises_naming(TypeError, lambda: from_torch_state_dict([torch.zeros(2)]), "state_dict", "mapping", "list")
    raises_naming(TypeError, lambda: from_torch_state_dict({"w": torch.zeros(2, dtype=torch.bfloat16)}),
                  "'w'", "BFloat16", ".float()")


# ================================================================ torch tensors as inputs
def as_tensors(torch, *arrays, requires_grad=False):
    return [torch.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f") for a in arrays]


def test_lstm_takes_tensors_for_input_state_and_output_gradients(torch, rng):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    x, h0, c0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4))
    d_out, dh, dc = rng.standard_normal((5, 2, 8)), rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4))
    expected = flat_numpy((lstm(x, (h0, c0)), lstm.backward(d_out, (dh, dc))))
    tx, th0, tc0 = as_tensors(torch, x, h0, c0, requires_grad=True)
    t_out, t_dh, t_dc = as_tensors(torch, d_out, dh, dc)
    got = flat_numpy((lstm(tx, (th0, tc0)), lstm.backward(t_out, (t_dh, t_dc))))
    assert all(isinstance(a, np.ndarray) for a in got)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    lstm.eval()
    with_lengths = lstm(tx, lengths=torch.tensor([5, 3]))[0]
    np.testing.assert_array_equal(with_lengths, lstm(x, lengths=np.array([5, 3]))[0])


def tensors_like(structure, torch):
    """Nested tuples of arrays as CPU tensors; the floating ones require grad (they are read detached)."""
    if isinstance(structure, tuple):
        return tuple(tensors_like(item, torch) for item in structure)
    if structure is None:
        return None
    return torch.tensor(structure, requires_grad=structure.dtype.kind == "f")


def forward_and_backward(module, inputs, grads):
    """Outputs, input gradients and parameter gradients of one training call, as NumPy arrays."""
    module.zero_grad()
    outputs = leaves(module(*inputs))
    returned = leaves(module.backward(*grads))
    return outputs + returned + [p.grad.copy() for p in module.parameters()]


@pytest.mark.parametrize("case", list(CATALOG))
def test_every_module_takes_tensors_as_it_takes_arrays(case, torch, rng):
    # inputs, states, lengths, token ids and output gradients, all as tensors
    build, inputs = CATALOG[case].build, CATALOG[case].inputs(rng)
    grads = output_grads(build().eval()(*inputs), rng)
    expected = forward_and_backward(build(), inputs, grads)       # a fresh module each: Dropout draws masks
    got = forward_and_backward(build(), tensors_like(inputs, torch), tensors_like(grads, torch))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert isinstance(a, np.ndarray)
        np.testing.assert_array_equal(a, b)


def test_tensors_are_converted_to_the_module_dtype(torch, rng):
    lstm = LSTM(3, 4, seed=0)
    x = rng.standard_normal((5, 2, 3))
    out, _ = lstm(torch.tensor(x, dtype=torch.float32))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, lstm(x.astype(np.float32))[0])
    raises_naming(TypeError, lambda: lstm(torch.zeros((5, 2, 3), dtype=torch.int64)), "input", "int64")
    raises_naming(TypeError, lambda: Embedding(5, 2)(torch.zeros(3, dtype=torch.float32)), "input", "integer token ids",
                  "float32")


def test_anything_with_array_is_an_array(rng):
    class ArrayLike:                 # as pandas, xarray, JAX or a user's own container
        def __init__(self, values):
            self.values = values

        def __array__(self, dtype=None, copy=None):
            return np.asarray(self.values, dtype=dtype)

    lstm, x = LSTM(3, 4, seed=0), rng.standard_normal((5, 2, 3))
    np.testing.assert_array_equal(lstm(ArrayLike(x))[0], lstm(x)[0])
    np.testing.assert_array_equal(Embedding(5, 2, seed=0)(ArrayLike([1, 4])), Embedding(5, 2, seed=0)([1, 4]))


def test_tensors_off_the_cpu_are_refused_naming_the_argument_and_cpu(torch):
    lstm = LSTM(3, 4)
    off_cpu = torch.zeros((5, 2, 3), device="meta")       # no GPU here: the meta device is off the CPU too
    raises_naming(TypeError, lambda: lstm(off_cpu), "input", "on the CPU", "'meta'", ".cpu()")
    raises_naming(TypeError, lambda: lstm(np.zeros((5, 2, 3)), (torch.zeros((1, 2, 4), device="meta"),
                                                                 np.zeros((1, 2, 4)))), "h0 (state[0])", ".cpu()")
    raises_naming(TypeError, lambda: Embedding(5, 2)(torch.zeros(3, dtype=torch.int64, device="meta")),
                  "input", "integer token ids", ".cpu()")


def test_cuda_tensors_are_refused_naming_cpu(torch):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for torch")
    raises_naming(TypeError, lambda: LSTM(3, 4)(torch.zeros((5, 2, 3), device="cuda")), "input", "'cuda'",
                  ".cpu()")


def test_interop_is_exported():
    import numpylstm
    assert numpylstm.interop is interop and "interop" in numpylstm.__all__


def test_ragged_lists_and_unreadable_tensors_are_refused_naming_the_argument(torch):
    ragged = [[[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
    raises_naming(ValueError, lambda: LSTM(3, 4)(ragged), "input", "rectangular array of floats", "ragged list")
    bfloat16 = torch.zeros((5, 2, 3), dtype=torch.bfloat16)       # a dtype NumPy does not have
    raises_naming(TypeError, lambda: LSTM(3, 4)(bfloat16), "input", "array of floats", "Tensor", "BFloat16")


def test_load_state_dict_takes_torch_parameters_that_require_grad(torch):
    """``dict(module.named_parameters())`` holds tensors with requires_grad: they load as their values."""
    twin = torch.nn.LSTM(3, 4, num_layers=2, dtype=torch.float64)
    lstm = LSTM(3, 4, num_layers=2, seed=0)
    assert lstm.load_state_dict(dict(twin.named_parameters())) == ([], [])
    for name, param in twin.named_parameters():
        np.testing.assert_array_equal(lstm.state_dict()[name], param.detach().numpy())

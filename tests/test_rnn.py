"""The vanilla RNN modules (``RNNCell``, ``RNN``): gradient checks, PyTorch parity, behaviour and errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import numpylstm.functional_rnn as functional_rnn
import numpylstm.rnn as rnn
from numpylstm import check_gradients, rel_error
from numpylstm.rnn import RNN, RNNCell

from assertions import assert_finite, memory_of, raises_naming, random_array
from strategies import (array_of_dtype, float_dtypes, input_scales, refused_dtypes, rnn_configs, sequence_shapes,
                        wrong_shapes)
from torch_reference import assert_distinct_biases, PARITY_TOLERANCE, run_torch

NONLINEARITIES = ["tanh", "relu"]
# check_gradients names a pair (h0, c0) given as second input "h0"/"c0"; a single array there is
# named "inputs[1]". Both names are accepted so the test keeps working if gradcheck learns "h0".
H0_NAMES = ("h0", "inputs[1]")


def make_biases_distinct(module, rng):
    """Random, non-zero, different bias_ih / bias_hh (PyTorch's init could in principle tie them)."""
    for name, param in module.named_parameters():
        if name.startswith("bias_ih"):
            param.data[...] = rng.uniform(0.1, 1.0, param.shape)
        elif name.startswith("bias_hh"):
            param.data[...] = rng.uniform(-1.0, -0.1, param.shape)
    assert_distinct_biases(module)
    return module


# ----------------------------------------------------------- gradient checks of modules
@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("batch_first", [False, True])
def test_rnn_gradients_pass(rng, nonlinearity, num_layers, batch_first):
    net = make_biases_distinct(RNN(3, 4, num_layers=num_layers, nonlinearity=nonlinearity,
                                   batch_first=batch_first, seed=num_layers), rng)
    T, N = 4, 2
    x = rng.standard_normal((N, T, 3) if batch_first else (T, N, 3))
    h0 = rng.standard_normal((num_layers, N, 4))
    report = check_gradients(net, (x, h0))
    assert report.passed, str(report)
    names = [c.name for c in report.checks]
    assert names[0] == "input" and names[1] in H0_NAMES and report.checks[1].shape == h0.shape
    assert names[2:] == [name for name, _ in net.named_parameters()]
    assert report.worst.rel_error < 1e-6


def test_rnn_gradients_pass_unbatched_without_state_or_bias(rng):
    net = RNN(2, 3, num_layers=2, bias=False, seed=4)
    report = check_gradients(net, (rng.standard_normal((5, 2)),))
    assert report.passed, str(report)
    assert [c.name for c in report.checks] == ["input", "weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("batched", [True, False])
def test_rnn_cell_gradients_pass(rng, nonlinearity, batched):
    cell = make_biases_distinct(RNNCell(3, 4, nonlinearity=nonlinearity, seed=0), rng)
    lead = (2,) if batched else ()
    h0 = rng.standard_normal(lead + (4,))
    report = check_gradients(cell, (rng.standard_normal(lead + (3,)), h0))
    assert report.passed, str(report)
    names = [c.name for c in report.checks]
    assert names[1] in H0_NAMES and report.checks[1].shape == h0.shape
    assert names[2:] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def test_a_wrong_recurrent_weight_gradient_is_caught_and_named(rng, monkeypatch):
    """Plant a bug in the sequence backward: dW_hh forgets step 0's term da_0.T @ h0."""
    real_backward = rnn.rnn_backward

    def buggy_backward(d_out, dh_n, cache):
        dx, dh0, grads = real_backward(d_out, dh_n, cache)
        # h0 enters the weight gradients only as step 0's h_prev, so zeroing it drops exactly the term
        first = cache.steps[0]._replace(h_prev=np.zeros_like(cache.steps[0].h_prev))
        _, _, without_h0 = real_backward(d_out, dh_n, cache._replace(steps=[first] + cache.steps[1:]))
        return dx, dh0, grads._replace(W_hh=without_h0.W_hh)

    monkeypatch.setattr(rnn, "rnn_backward", buggy_backward)
    net = RNN(3, 4, seed=1)
    report = check_gradients(net, (rng.standard_normal((4, 2, 3)), rng.standard_normal((1, 2, 4))))
    assert not report.passed
    assert [c.name for c in report.failures()] == ["weight_hh_l0"]
    assert report["weight_hh_l0"].rel_error > 1e-3
    assert "1 of 6 gradients are wrong" in str(report) and "weight_hh_l0: relative error" in str(report)


# -------------------------------------------------------------------- PyTorch parity
def torch_rnn_twin(module, torch):
    """``torch.nn.RNN``/``RNNCell`` in float64 with ``module``'s options and weights."""
    if isinstance(module, RNNCell):
        twin = torch.nn.RNNCell(module.input_size, module.hidden_size, bias=module.bias,
                                nonlinearity=module.nonlinearity, dtype=torch.float64)
    else:
        twin = torch.nn.RNN(module.input_size, module.hidden_size, num_layers=module.num_layers,
                            nonlinearity=module.nonlinearity, bias=module.bias,
                            batch_first=module.batch_first, dtype=torch.float64)
    twin.load_state_dict({name: torch.tensor(value) for name, value in module.state_dict().items()})
    return twin


def worst_rnn_parity_error(module, inputs, torch, rng):
    """Largest relative error against torch over the outputs, the input gradients and every weight gradient."""
    if module.bias:
        assert_distinct_biases(module)
    outputs = module(*inputs)
    outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
    output_grads = [rng.standard_normal(o.shape) for o in outputs]
    module.zero_grad()
    input_grads = module.backward(*output_grads)
    input_grads = list(input_grads)[:len(inputs)]
    t_outputs, t_input_grads, t_param_grads = run_torch(torch_rnn_twin(module, torch), inputs, output_grads, torch)
    assert len(t_outputs) == len(outputs) and len(t_input_grads) == len(inputs)
    errors = {f"output[{k}]": rel_error(a, b) for k, (a, b) in enumerate(zip(outputs, t_outputs))}
    errors.update({f"input_grad[{k}]": rel_error(a, b) for k, (a, b) in enumerate(zip(input_grads, t_input_grads))})
    errors.update({name: rel_error(p.grad, t_param_grads[name]) for name, p in module.named_parameters()})
    assert set(t_param_grads) == {name for name, _ in module.named_parameters()}
    worst = max(errors, key=errors.get)
    return errors[worst], worst


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("layout", ["time-first", "batch-first", "unbatched"])
def test_rnn_matches_torch(torch, rng, nonlinearity, num_layers, layout):
    net = make_biases_distinct(RNN(3, 5, num_layers=num_layers, nonlinearity=nonlinearity,
                                   batch_first=layout == "batch-first", seed=num_layers), rng)
    T, N = 6, 4
    shape = {"time-first": (T, N, 3), "batch-first": (N, T, 3), "unbatched": (T, 3)}[layout]
    h0 = rng.standard_normal((num_layers, 5) if layout == "unbatched" else (num_layers, N, 5))
    error, where = worst_rnn_parity_error(net, (rng.standard_normal(shape), h0), torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


def test_rnn_without_bias_or_state_matches_torch(torch, rng):
    net = RNN(3, 4, num_layers=2, bias=False, seed=3)
    error, where = worst_rnn_parity_error(net, (rng.standard_normal((5, 2, 3)),), torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("batch", [3, None], ids=["batched", "unbatched"])
def test_rnn_cell_matches_torch(torch, rng, nonlinearity, batch):
    cell = make_biases_distinct(RNNCell(4, 5, nonlinearity=nonlinearity, seed=7), rng)
    lead = () if batch is None else (batch,)
    inputs = (rng.standard_normal(lead + (4,)), rng.standard_normal(lead + (5,)))
    error, where = worst_rnn_parity_error(cell, inputs, torch, rng)
    assert error < PARITY_TOLERANCE, f"{where}: relative error {error:.2e}"


def test_parity_check_catches_a_wrong_relu_slope(torch, rng, monkeypatch):
    """The cross-check itself can fail: relu given tanh's slope must be caught."""
    real_slope = functional_rnn.activation_slope
    monkeypatch.setattr(functional_rnn, "activation_slope", lambda h, nonlinearity: real_slope(h, "tanh"))
    net = make_biases_distinct(RNN(3, 4, nonlinearity="relu", seed=5), rng)
    error, where = worst_rnn_parity_error(net, (rng.standard_normal((4, 2, 3)),), torch, rng)
    assert error > 1e-3, f"a wrong relu slope went unnoticed (worst: {where}, {error:.1e})"


# ------------------------------------------------------------------ module behaviour
def test_cell_stepped_equals_rnn_forward_and_backward(rng):
    T, N, I, H = 4, 3, 2, 5
    cell, net = RNNCell(I, H, nonlinearity="relu", seed=1), RNN(I, H, nonlinearity="relu", seed=2)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(net, f"{name}_l0").data[...] = getattr(cell, name).data
    x, h0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, H))
    out, h_n = net(x, h0[None])
    h, hs = h0, []
    for t in range(T):
        h = cell(x[t], h)
        hs.append(h)
    np.testing.assert_allclose(np.stack(hs), out, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h, h_n[0], rtol=1e-13, atol=1e-15)
    d_out = rng.standard_normal(out.shape)
    dx_net, dh0_net = net.backward(d_out)
    dh, dxs = np.zeros((N, H)), []
    for t in reversed(range(T)):
        dx_t, dh = cell.backward(dh + d_out[t])
        dxs.append(dx_t)
    assert rel_error(np.stack(dxs[::-1]), dx_net) < 1e-12
    assert rel_error(dh, dh0_net[0]) < 1e-12
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert rel_error(getattr(cell, name).grad, getattr(net, f"{name}_l0").grad) < 1e-12, name


@pytest.mark.parametrize("module", [RNN(3, 4, num_layers=2, seed=0), RNNCell(3, 4, seed=0)], ids=["RNN", "RNNCell"])
def test_backward_adds_into_the_gradients(rng, module):
    """Two passes, two backward calls: each grad is the sum of the two passes' gradients, as in PyTorch."""
    x1, x2 = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 3))
    if isinstance(module, RNNCell):
        x1, x2 = x1[0], x2[0]
    singles = []
    for x in (x1, x2):
        module.zero_grad()
        out = module(x)
        module.backward(*(out if isinstance(out, tuple) else (out,)))
        singles.append({name: p.grad.copy() for name, p in module.named_parameters()})
    module.zero_grad()
    outs = [module(x1), module(x2)]
    for out in reversed(outs):
        module.backward(*(out if isinstance(out, tuple) else (out,)))
    for name, p in module.named_parameters():
        assert rel_error(p.grad, singles[0][name] + singles[1][name]) < 1e-13, name


def test_shapes_of_every_layout(rng):
    net = RNN(3, 4, num_layers=2, seed=0)
    out, h_n = net(rng.standard_normal((5, 2, 3)))
    assert out.shape == (5, 2, 4) and h_n.shape == (2, 2, 4)
    dx, dh0 = net.backward(np.ones(out.shape), np.ones(h_n.shape))
    assert dx.shape == (5, 2, 3) and dh0.shape == (2, 2, 4)
    out, h_n = net(rng.standard_normal((5, 3)))
    assert out.shape == (5, 4) and h_n.shape == (2, 4)
    dx, dh0 = net.backward(np.ones(out.shape))
    assert dx.shape == (5, 3) and dh0.shape == (2, 4)
    first = RNN(3, 4, batch_first=True, seed=0)
    out, h_n = first(rng.standard_normal((2, 5, 3)))
    assert out.shape == (2, 5, 4) and h_n.shape == (1, 2, 4)
    cell = RNNCell(3, 4, seed=0)
    assert cell(rng.standard_normal(3)).shape == (4,)
    dx, dh0 = cell.backward(np.ones(4))
    assert dx.shape == (3,) and dh0.shape == (4,)


def test_batch_first_is_a_transpose(rng):
    time_first, batch_first = RNN(3, 4, num_layers=2, seed=6), RNN(3, 4, num_layers=2, batch_first=True, seed=6)
    x = rng.standard_normal((5, 2, 3))
    out_t, h_t = time_first(x)
    out_b, h_b = batch_first(x.transpose(1, 0, 2))
    np.testing.assert_array_equal(out_b, out_t.transpose(1, 0, 2))
    np.testing.assert_array_equal(h_b, h_t)


def test_parameters_are_named_shaped_and_initialised_as_in_pytorch(torch):
    ours = RNN(3, 16, num_layers=2, seed=0)
    theirs = torch.nn.RNN(3, 16, num_layers=2)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
           [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    cell, torch_cell = RNNCell(3, 16, seed=0), torch.nn.RNNCell(3, 16)
    assert [(n, tuple(p.shape)) for n, p in cell.named_parameters()] == \
           [(n, tuple(p.shape)) for n, p in torch_cell.named_parameters()]
    bound = 1 / np.sqrt(16)
    for module in (ours, cell):
        values = np.concatenate([v.ravel() for v in module.state_dict().values()])
        assert np.all(np.abs(values) <= bound) and values.std() > bound / 3   # U(-b, b) has std b/sqrt(3)


def test_initialisation_is_seeded():
    a, b, c = RNN(2, 3, seed=1), RNN(2, 3, seed=1), RNN(2, 3, seed=2)
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[name])
    assert not np.array_equal(a.weight_hh_l0.data, c.weight_hh_l0.data)


def test_float32_module_runs_in_float32_and_agrees_with_float64(rng):
    single, double = RNN(3, 4, dtype=np.float32, seed=3), RNN(3, 4, seed=3)
    x = rng.standard_normal((4, 2, 3))
    out32, h32 = single(x)
    out64, _ = double(x)
    assert out32.dtype == np.float32 and h32.dtype == np.float32
    assert rel_error(out32, out64) < 1e-6
    dx32, _ = single.backward(np.ones(out32.shape))
    assert dx32.dtype == np.float32 and single.weight_hh_l0.grad.dtype == np.float32


def test_rnn_runs_on_every_device(device, xp, rng):
    net = RNN(3, 4, seed=0)
    x = rng.standard_normal((4, 2, 3))
    out_cpu, _ = net(x)
    dx_cpu, _ = net.backward(np.ones(out_cpu.shape))
    net.zero_grad()
    net.to(device)
    out, h_n = net(xp.asarray(x))
    dx, dh0 = net.backward(xp.ones(out.shape))
    assert type(out) is type(xp.asarray(x)) and type(dx) is type(out)
    assert rel_error(out, out_cpu) < 1e-12 and rel_error(dx, dx_cpu) < 1e-12


def test_backward_without_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="without a matching forward"):
        RNN(2, 3).backward(np.zeros((1, 1, 3)))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        RNNCell(2, 3).backward(np.zeros((1, 3)))


def test_eval_mode_records_no_cache(rng):
    net = RNN(2, 3, seed=0).eval()
    net(rng.standard_normal((3, 1, 2)))
    with pytest.raises(RuntimeError):
        net.backward(np.zeros((3, 1, 3)))


@pytest.mark.parametrize("call, error, words", [
    (lambda: RNN(3, 4)(np.zeros((5, 2, 2))), ValueError, ["input", "input_size=3", "(5, 2, 2)"]),
    (lambda: RNN(3, 4)(np.zeros(3)), ValueError, ["input", "(T, N, 3)", "(3,)"]),
    (lambda: RNN(3, 4)(np.zeros((5, 2, 3), dtype=np.int64)), TypeError, ["input", "int64"]),
    (lambda: RNN(3, 4, num_layers=2)(np.zeros((5, 2, 3)), np.zeros((1, 2, 4))), ValueError,
     ["h0", "(2, 2, 4)", "(1, 2, 4)"]),
    (lambda: RNNCell(3, 4)(np.zeros((2, 3)), np.zeros((2, 5))), ValueError, ["h0", "(2, 4)", "(2, 5)"]),
    (lambda: RNNCell(3, 4)(np.zeros((2, 4))), ValueError, ["input", "input_size=3", "(2, 4)"]),
])
def test_bad_input_names_the_argument_and_the_shapes(call, error, words):
    raises_naming(error, call, *words)


def test_bad_output_gradients_name_the_argument_and_the_shapes(rng):
    net = RNN(3, 4)
    net(rng.standard_normal((5, 2, 3)))
    with pytest.raises(ValueError, match=r"d_out.*\(5, 2, 4\).*\(5, 2, 3\)"):
        net.backward(np.zeros((5, 2, 3)))
    net(rng.standard_normal((5, 2, 3)))
    with pytest.raises(ValueError, match=r"dh_n.*\(1, 2, 4\).*\(2, 4\)"):
        net.backward(np.zeros((5, 2, 4)), np.zeros((2, 4)))
    cell = RNNCell(3, 4)
    cell(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"dh1.*\(2, 4\).*\(4,\)"):
        cell.backward(np.zeros(4))


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(nonlinearity="sigmoid"), ValueError, ["nonlinearity", "'tanh' or 'relu'", "'sigmoid'"]),
    (dict(nonlinearity=None), TypeError, ["nonlinearity", "'tanh' or 'relu'", "None"]),
    (dict(hidden_size=0), ValueError, ["hidden_size", "positive", "0"]),
    (dict(num_layers=1.5), TypeError, ["num_layers", "1.5"]),
    (dict(dropout=0.5), NotImplementedError, ["dropout=0.5", "dropout=0.0"]),
    (dict(bidirectional=True), NotImplementedError, ["bidirectional=True", "bidirectional=False"]),
])
def test_bad_or_unsupported_constructor_arguments_are_named(kwargs, error, words):
    arguments = dict(input_size=2, hidden_size=3, **kwargs) if "hidden_size" not in kwargs \
        else dict(input_size=2, **kwargs)
    raises_naming(error, lambda: RNN(**arguments), *words)


def test_rnn_cell_refuses_an_unknown_nonlinearity():
    with pytest.raises(ValueError, match=r"nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        RNNCell(2, 3, nonlinearity="gelu")


RNN_MISTAKES = ["input rank", "input features", "input dtype", "h0 shape", "h0 dtype", "d_out shape", "dh_n shape"]


@given(config=rnn_configs(), sizes=sequence_shapes(), mistake=st.sampled_from(RNN_MISTAKES), data=st.data())
def test_malformed_rnn_calls_raise_naming_the_argument(config, sizes, mistake, data):
    T, N = sizes
    I, H, L = config["input_size"], config["hidden_size"], config["num_layers"]
    x_shape = (N, T, I) if config["batch_first"] else (T, N, I)
    out_shape, h_shape = x_shape[:2] + (H,), (L, N, H)
    net, x = RNN(**config), np.ones(x_shape)
    if mistake == "input rank":
        bad = np.ones(data.draw(st.sampled_from([(I,), (1,) + x_shape])))
        call, error, words = lambda: net(bad), ValueError, ["input", str(bad.shape)]
    elif mistake == "input features":
        bad = np.ones(data.draw(wrong_shapes(x_shape, axes=[2])))
        call, error, words = lambda: net(bad), ValueError, ["input", f"input_size={I}", str(bad.shape)]
    elif mistake == "input dtype":
        bad = array_of_dtype(x_shape, data.draw(refused_dtypes))
        call, error, words = lambda: net(bad), TypeError, ["input", str(bad.dtype)]
    elif mistake == "h0 shape":
        bad = np.zeros(data.draw(wrong_shapes(h_shape)))
        call, error, words = lambda: net(x, bad), ValueError, ["h0", str(h_shape), str(bad.shape)]
    elif mistake == "h0 dtype":
        bad = array_of_dtype(h_shape, data.draw(refused_dtypes))
        call, error, words = lambda: net(x, bad), TypeError, ["h0", str(bad.dtype)]
    elif mistake == "d_out shape":
        bad = np.ones(data.draw(wrong_shapes(out_shape)))
        net(x)
        call, error, words = lambda: net.backward(bad), ValueError, ["d_out", str(out_shape), str(bad.shape)]
    else:
        bad = np.ones(data.draw(wrong_shapes(h_shape)))
        net(x)
        call, error, words = (lambda: net.backward(np.ones(out_shape), bad), ValueError,
                              ["dh_n", str(h_shape), str(bad.shape)])
    raises_naming(error, call, *words)


@pytest.mark.filterwarnings("error")
@given(config=rnn_configs(), sizes=sequence_shapes(), dtype=float_dtypes, scale=input_scales,
       unbatched=st.booleans(), with_state=st.booleans())
def test_well_formed_rnn_calls_return_finite_values_of_the_documented_shapes(config, sizes, dtype, scale, unbatched,
                                                                            with_state):
    T, N = sizes
    rng = np.random.default_rng(config["seed"])
    I, H, L = config["input_size"], config["hidden_size"], config["num_layers"]
    if unbatched:
        x_shape, h_shape = (T, I), (L, H)
    else:
        x_shape, h_shape = ((N, T, I) if config["batch_first"] else (T, N, I)), (L, N, H)
    net = RNN(dtype=dtype, **config)
    out, h_n = net(random_array(rng, x_shape, scale), random_array(rng, h_shape, 1.0) if with_state else None)
    assert (out.shape, h_n.shape) == (x_shape[:-1] + (H,), h_shape) and out.dtype == h_n.dtype == dtype
    assert_finite(out, h_n)
    dx, dh0 = net.backward(random_array(rng, out.shape, 1.0), random_array(rng, h_shape, 1.0))
    assert (dx.shape, dh0.shape) == (x_shape, h_shape)
    assert_finite(dx, dh0, *(p.grad for p in net.parameters()))


# ------------------------------------------------------------------ sizes bounded by memory
@pytest.mark.parametrize("build, fragments", [
    (lambda: RNN(4, 10 ** 10), ["RNN(4, 10000000000", "more than any array can address"]),
    (lambda: RNN(4, 3, num_layers=10 ** 13), ["num_layers=10000000000000", "PiB"]),
    (lambda: RNNCell(4, 10 ** 7), ["RNNCell(4, 10000000", "1.4 PiB"]),
])
def test_sizes_that_cannot_fit_are_refused_before_allocating(monkeypatch, build, fragments):
    def allocated(*args):
        raise AssertionError("a parameter was allocated before the size was refused")
    monkeypatch.setattr(rnn, "uniform_parameter", allocated)
    monkeypatch.setattr("numpylstm.recurrent.uniform_parameter", allocated)
    raises_naming(ValueError, build, "needs", "for its parameters and their gradients", *fragments)


@given(config=rnn_configs())
def test_the_parameter_count_is_the_count_of_the_parameters_made(config):
    module = RNN(**config)
    assert module._parameter_count() == sum(p.data.size for p in module.parameters())


@pytest.mark.parametrize("training", [True, False])
def test_a_forward_whose_buffers_cannot_fit_is_refused_and_records_nothing(monkeypatch, rng, training):
    module = RNN(3, 4, num_layers=2, seed=0).train(training)
    x = rng.standard_normal((50, 8, 3))
    # each layer's 50 x 8 outputs of 4 values, stacked from the steps (twice), and in training the input copy
    needed = 8 * (2 * 50 * 8 * 4 * (2 if training else 1) + (50 * 8 * 3 if training else 0))
    memory_of(monkeypatch, needed - 1)
    raises_naming(MemoryError, lambda: module(x), "RNN.forward on 50 steps of 8 sequences", "needs")
    assert not module._caches
    memory_of(monkeypatch, needed)
    module(x)

"""The vanilla RNN: kernels against finite differences, modules against PyTorch, gradient norms in time."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpylstm.rnn as rnn
from numpylstm import LSTM, LSTMCell, check_gradients, numerical_gradient, rel_error
from numpylstm.rnn import RNN, RNNCell, hidden_gradient_norms
from assertions import raises_naming
from strategies import seeds, small_sizes
from torch_reference import PARITY_TOLERANCE, assert_distinct_biases, run_torch

NONLINEARITIES = ["tanh", "relu"]
# check_gradients names a pair (h0, c0) given as second input "h0"/"c0"; a single array there is
# named "inputs[1]". Both names are accepted so the test keeps working if gradcheck learns "h0".
H0_NAMES = ("h0", "inputs[1]")


def random_step_inputs(rng, N, I, H):
    """x, h, W_ih, W_hh, b_ih, b_hh for one step, with distinct non-zero biases."""
    return (rng.standard_normal((N, I)), rng.standard_normal((N, H)),
            rng.standard_normal((H, I)) * 0.6, rng.standard_normal((H, H)) * 0.6,
            rng.uniform(0.1, 1.0, H), rng.uniform(-1.0, -0.1, H))


def make_biases_distinct(module, rng):
    """Random, non-zero, different bias_ih / bias_hh (PyTorch's init could in principle tie them)."""
    for name, param in module.named_parameters():
        if name.startswith("bias_ih"):
            param.data[...] = rng.uniform(0.1, 1.0, param.shape)
        elif name.startswith("bias_hh"):
            param.data[...] = rng.uniform(-1.0, -0.1, param.shape)
    assert_distinct_biases(module)
    return module


# ------------------------------------------------------------------------- kernels
def test_step_shapes_match_the_docstring(rng):
    N, I, H = 3, 4, 5
    h1, cache = rnn.rnn_step_forward(*random_step_inputs(rng, N, I, H))
    assert h1.shape == (N, H) and cache.x.shape == (N, I) and cache.h_prev.shape == (N, H)
    grads = rnn.rnn_step_backward(np.ones((N, H)), cache)
    assert [g.shape for g in grads] == [(N, I), (N, H), (H, I), (H, H), (H,), (H,)]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_step_forward_follows_the_equation(rng, nonlinearity):
    x, h, W_ih, W_hh, b_ih, b_hh = random_step_inputs(rng, 2, 3, 4)
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    expected = np.tanh(a) if nonlinearity == "tanh" else np.where(a > 0, a, 0.0)
    h1, _ = rnn.rnn_step_forward(x, h, W_ih, W_hh, b_ih, b_hh, nonlinearity=nonlinearity)
    np.testing.assert_allclose(h1, expected, rtol=1e-14, atol=1e-15)
    assert nonlinearity == "tanh" or np.any(expected == 0)   # relu really clipped something


def step_gradient_errors(rng, N, I, H, nonlinearity, backward=rnn.rnn_step_backward):
    """Relative error of every step gradient against central finite differences."""
    args = list(random_step_inputs(rng, N, I, H))
    dh_next = rng.standard_normal((N, H))

    def loss():
        return np.sum(rnn.rnn_step_forward(*args, nonlinearity=nonlinearity)[0] * dh_next)

    _, cache = rnn.rnn_step_forward(*args, nonlinearity=nonlinearity)
    analytic = backward(dh_next, cache)   # (dx, dh, dW_ih, dW_hh, db_ih, db_hh): the order of args
    names = ["x", "h", "W_ih", "W_hh", "b_ih", "b_hh"]
    return {name: rel_error(grad, numerical_gradient(loss, arg)) for name, arg, grad in zip(names, args, analytic)}


@settings(max_examples=15)
@given(N=small_sizes, I=small_sizes, H=small_sizes, seed=seeds, nonlinearity=st.sampled_from(NONLINEARITIES))
def test_step_backward_matches_finite_differences(N, I, H, seed, nonlinearity):
    errors = step_gradient_errors(np.random.default_rng(seed), N, I, H, nonlinearity)
    assert max(errors.values()) < 1e-6, errors


def test_a_wrong_slope_in_the_step_backward_is_caught(rng):
    """Plant a classic bug: the sigmoid's slope h(1-h) instead of tanh's 1-h^2."""
    def buggy_backward(dh_next, cache):
        da = dh_next * cache.h_next * (1 - cache.h_next)
        db = da.sum(axis=0)
        return da @ cache.W_ih, da @ cache.W_hh, da.T @ cache.x, da.T @ cache.h_prev, db, db

    errors = step_gradient_errors(rng, 3, 2, 4, "tanh", backward=buggy_backward)
    assert min(errors.values()) > 1e-2, errors


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_sequence_kernels_equal_the_step_kernels_chained(rng, nonlinearity):
    T, N, I, H = 5, 3, 2, 4
    _, h0, W_ih, W_hh, b_ih, b_hh = random_step_inputs(rng, N, I, H)
    x = rng.standard_normal((T, N, I))
    out, h_n, cache = rnn.rnn_sequence_forward(x, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity)
    assert out.shape == (T, N, H) and h_n.shape == (N, H)
    h, caches = h0, []
    for t in range(T):
        h, step_cache = rnn.rnn_step_forward(x[t], h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
        np.testing.assert_allclose(out[t], h, rtol=1e-13, atol=1e-15)
        caches.append(step_cache)
    np.testing.assert_allclose(h_n, h, rtol=1e-13, atol=1e-15)

    d_out, dh_n = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    dx, dh0, grads = rnn.rnn_sequence_backward(d_out, dh_n, cache)
    assert dx.shape == (T, N, I) and dh0.shape == (N, H)
    dh, totals, dxs = dh_n, [0, 0, 0, 0], []
    for t in reversed(range(T)):
        dx_t, dh, *step_grads = rnn.rnn_step_backward(dh + d_out[t], caches[t])
        dxs.append(dx_t)
        totals = [total + g for total, g in zip(totals, step_grads)]
    assert rel_error(dx, np.stack(dxs[::-1])) < 1e-12
    assert rel_error(dh0, dh) < 1e-12
    for name, ours, chained in zip(grads._fields, grads, totals):
        assert rel_error(ours, chained) < 1e-12, name


def test_sequence_forward_leaves_its_inputs_alone(rng):
    _, h0, W_ih, W_hh, b_ih, b_hh = random_step_inputs(rng, 2, 3, 4)
    x = rng.standard_normal((3, 2, 3))
    before = [a.copy() for a in (x, h0, W_ih, W_hh)]
    out, h_n, cache = rnn.rnn_sequence_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
    rnn.rnn_sequence_backward(np.ones_like(out), np.ones_like(h_n), cache)
    for a, b in zip((x, h0, W_ih, W_hh), before):
        np.testing.assert_array_equal(a, b)


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
    real_backward = rnn.rnn_sequence_backward

    def buggy_backward(d_out, dh_n, cache):
        dx, dh0, grads = real_backward(d_out, dh_n, cache)
        # h0 enters the backward pass only through that term, so zeroing it drops exactly the term
        _, _, without_h0 = real_backward(d_out, dh_n, cache._replace(h0=np.zeros_like(cache.h0)))
        return dx, dh0, grads._replace(W_hh=without_h0.W_hh)

    monkeypatch.setattr(rnn, "rnn_sequence_backward", buggy_backward)
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
    real_slope = rnn.activation_slope
    monkeypatch.setattr(rnn, "activation_slope", lambda h, nonlinearity: real_slope(h, "tanh"))
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


# ---------------------------------------------------------- gradient norms through time
def chained_rnn_norms(net, x, d_last):
    """||dL/dh_t|| by chaining the step kernel backward through the steps (single layer, time first)."""
    args = [p.data for p in net._layer_parameters(0)]
    h, caches = np.zeros((x.shape[1], net.hidden_size)), []
    for t in range(len(x)):
        h, cache = rnn.rnn_step_forward(x[t], h, *args, nonlinearity=net.nonlinearity)
        caches.append(cache)
    dh, norms = d_last, [np.linalg.norm(d_last)]
    for t in range(len(x) - 1, 0, -1):
        _, dh, *_ = rnn.rnn_step_backward(dh, caches[t])
        norms.append(np.linalg.norm(dh))
    return np.array(norms[::-1])


def chained_lstm_norms(lstm, x, d_last):
    """||dL/dh_t|| by running an LSTMCell with the LSTM's weights step by step, then backward step by step."""
    cell = LSTMCell(lstm.input_size, lstm.hidden_size, seed=0)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data[...] = getattr(lstm, f"{name}_l0").data
    state = None
    for t in range(len(x)):
        state = cell(x[t], state)
    dh, dc, norms = d_last, None, [np.linalg.norm(d_last)]
    for t in range(len(x) - 1, 0, -1):
        _, (dh, dc) = cell.backward(dh, dc)
        norms.append(np.linalg.norm(dh))
    return np.array(norms[::-1])


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_rnn_gradient_norms_equal_the_chained_step_kernels(rng, nonlinearity):
    net = RNN(2, 5, nonlinearity=nonlinearity, seed=3)
    x, d_last = rng.standard_normal((8, 3, 2)), rng.standard_normal((3, 5))
    norms = hidden_gradient_norms(net, x, d_last=d_last)
    assert norms.shape == (8,)
    np.testing.assert_allclose(norms, chained_rnn_norms(net, x, d_last), rtol=1e-10, atol=1e-300)


def test_lstm_gradient_norms_equal_the_stepped_cell(rng):
    lstm = LSTM(2, 5, seed=4)
    x, d_last = rng.standard_normal((8, 3, 2)), rng.standard_normal((3, 5))
    norms = hidden_gradient_norms(lstm, x, d_last=d_last)
    np.testing.assert_allclose(norms, chained_lstm_norms(lstm, x, d_last), rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_gradient_norms_of_a_stack_match_finite_differences(rng, kind):
    """For 2 layers: perturb the top layer's h_t and rerun the rest of the sequence, forward only."""
    module = RNN(2, 3, num_layers=2, seed=5) if kind == "rnn" else LSTM(2, 3, num_layers=2, seed=5)
    T, N = 5, 2
    x, d_last = rng.standard_normal((T, N, 2)), rng.standard_normal((N, 3))
    norms = hidden_gradient_norms(module, x, d_last=d_last)
    module.eval()
    for t in (0, 2):
        state = None
        for s in range(t + 1):
            _, state = module(x[s:s + 1], state)
        h = (state[0] if kind == "lstm" else state).copy()

        def loss():
            rest = (h, state[1]) if kind == "lstm" else h
            out, _ = module(x[t + 1:], rest)
            return np.sum(out[-1] * d_last)

        numeric = numerical_gradient(loss, h)[-1]     # the top layer's h_t
        assert abs(norms[t] - np.linalg.norm(numeric)) < 1e-7 * max(1.0, norms[t]), (t, norms[t])
    assert norms[-1] == pytest.approx(np.linalg.norm(d_last), rel=1e-15)


def test_gradient_norms_follow_the_layout_and_leave_the_module_as_it_was(rng):
    net = RNN(2, 4, batch_first=True, seed=6)
    x = rng.standard_normal((3, 6, 2))
    net(x)                                   # a pending forward whose cache must survive
    net.weight_hh_l0.grad[...] = 7.0
    norms = hidden_gradient_norms(net, x)
    time_first = RNN(2, 4, seed=6)
    np.testing.assert_allclose(norms, hidden_gradient_norms(time_first, x.transpose(1, 0, 2)), rtol=1e-13)
    assert norms[-1] == pytest.approx(np.sqrt(3 * 4))   # default d_last: ones of shape (N, H)
    assert np.all(net.weight_hh_l0.grad == 7.0) and net.training
    net.backward(np.zeros((3, 6, 4)))                    # the pending forward's cache is still there
    unbatched = hidden_gradient_norms(net, x[0])
    assert unbatched.shape == (6,) and unbatched[-1] == pytest.approx(2.0)


def test_rnn_gradient_vanishes_at_the_rate_its_weights_allow(rng):
    """||W_hh||_2 = 0.5 and |tanh'| <= 1: each step back shrinks the gradient by at least half."""
    net = RNN(2, 6, seed=7)
    W = rng.standard_normal((6, 6))
    net.weight_hh_l0.data[...] = 0.5 * W / np.linalg.norm(W, 2)
    norms = hidden_gradient_norms(net, rng.standard_normal((10, 2, 2)))
    assert np.all(norms[:-1] <= 0.5 * norms[1:] * (1 + 1e-12))
    assert norms[0] < norms[-1] * 0.5 ** 9 * (1 + 1e-12)


def test_gradient_norms_refuse_modules_they_cannot_measure():
    with pytest.raises(TypeError, match="module must be an RNN or an LSTM, got RNNCell"):
        hidden_gradient_norms(RNNCell(2, 3), np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match="bidirectional"):
        hidden_gradient_norms(LSTM(2, 3, bidirectional=True), np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match=r"d_last.*\(1, 3\).*\(3,\)"):
        hidden_gradient_norms(RNN(2, 3), np.zeros((3, 1, 2)), d_last=np.ones(3))

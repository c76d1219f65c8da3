"""LSTMCell and LSTM as modules: agreement between paths, the cache stack, input checks."""
import numpy as np
import pytest
from hypothesis import given

from numpylstm import LSTM, LSTMCell
from numpylstm.gradcheck import rel_error
from assertions import raises_naming
from strategies import lstm_configs, seeds, sequence_shapes
from torch_reference import torch_twin


def copy_cell_weights_into_lstm(cell, lstm):
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(lstm, f"{name}_l0").data[...] = getattr(cell, name).data


def test_cell_stepped_equals_lstm_forward_and_backward(rng):
    """T calls of the cell, then T backward calls newest first, are one LSTM pass."""
    T, N, I, H = 5, 3, 4, 6
    cell, lstm = LSTMCell(I, H, seed=1), LSTM(I, H, seed=2)
    copy_cell_weights_into_lstm(cell, lstm)
    x, h0, c0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    out, (h_n, c_n) = lstm(x, (h0[None], c0[None]))
    h, c, hs = h0, c0, []
    for t in range(T):
        h, c = cell(x[t], (h, c))
        hs.append(h)
    np.testing.assert_allclose(np.stack(hs), out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, c_n[0], rtol=1e-12, atol=1e-14)

    d_out, dh_n, dc_n = rng.standard_normal(out.shape), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dx_lstm, (dh0_lstm, dc0_lstm) = lstm.backward(d_out, (dh_n[None], dc_n[None]))
    dh, dc, dxs = dh_n, dc_n, []
    for t in reversed(range(T)):
        dx_t, (dh, dc) = cell.backward(dh + d_out[t], dc)
        dxs.append(dx_t)
    np.testing.assert_allclose(np.stack(dxs[::-1]), dx_lstm, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(dh, dh0_lstm[0], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(dc, dc0_lstm[0], rtol=1e-11, atol=1e-13)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert rel_error(getattr(cell, name).grad, getattr(lstm, f"{name}_l0").grad) < 1e-12, name


@given(config=lstm_configs(bidirectional=False, proj=0), shape=sequence_shapes(), seed=seeds)
def test_batched_equals_one_example_at_a_time(config, shape, seed):
    rng = np.random.default_rng(seed)
    T, N = shape
    config["batch_first"] = False
    batched, single = LSTM(**config), LSTM(**config)
    x = rng.standard_normal((T, N, config["input_size"]))
    out, (h_n, c_n) = batched(x)
    d_out = rng.standard_normal(out.shape)
    dx, _ = batched.backward(d_out)
    for n in range(N):
        out_n, (h_n_n, c_n_n) = single(x[:, n:n + 1])
        np.testing.assert_allclose(out_n[:, 0], out[:, n], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h_n_n[:, 0], h_n[:, n], rtol=1e-12, atol=1e-14)
        dx_n, _ = single.backward(d_out[:, n:n + 1])
        np.testing.assert_allclose(dx_n[:, 0], dx[:, n], rtol=1e-11, atol=1e-13)
    for (name, p_batched), (_, p_single) in zip(batched.named_parameters(), single.named_parameters()):
        assert rel_error(p_batched.grad, p_single.grad) < 1e-11, name  # per-example grads add up


def test_unbatched_input_equals_a_batch_of_one(rng):
    lstm = LSTM(3, 4, num_layers=2, seed=0)
    x = rng.standard_normal((5, 3))
    out, (h_n, c_n) = lstm(x)
    out_b, (h_b, c_b) = lstm(x[:, None])
    assert out.shape == (5, 4) and h_n.shape == c_n.shape == (2, 4)
    np.testing.assert_array_equal(out, out_b[:, 0])
    np.testing.assert_array_equal(h_n, h_b[:, 0])


def test_batch_first_is_a_transpose(rng):
    a, b = LSTM(3, 4, seed=0), LSTM(3, 4, batch_first=True, seed=0)
    x = rng.standard_normal((5, 2, 3))
    out_a, _ = a(x)
    out_b, _ = b(x.transpose(1, 0, 2))
    assert out_b.shape == (2, 5, 4)
    np.testing.assert_array_equal(out_b, out_a.transpose(1, 0, 2))


def test_parameters_are_named_and_shaped_as_in_pytorch():
    lstm = LSTM(3, 5, num_layers=2)
    assert [(n, p.shape) for n, p in lstm.named_parameters()] == [
        ("weight_ih_l0", (20, 3)), ("weight_hh_l0", (20, 5)), ("bias_ih_l0", (20,)), ("bias_hh_l0", (20,)),
        ("weight_ih_l1", (20, 5)), ("weight_hh_l1", (20, 5)), ("bias_ih_l1", (20,)), ("bias_hh_l1", (20,)),
    ]
    assert [n for n, _ in LSTMCell(3, 5).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def test_initialisation_is_seeded_and_within_pytorch_bounds():
    a, b, c = LSTM(3, 16, seed=1), LSTM(3, 16, seed=1), LSTM(3, 16, seed=2)
    bound = 1 / np.sqrt(16)
    for (name, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert not np.array_equal(p.data, r.data), name
        assert np.all(np.abs(p.data) <= bound) and np.abs(p.data).max() > 0.8 * bound, name


@pytest.mark.parametrize("module", [LSTM(3, 4), LSTMCell(3, 4)], ids=["LSTM", "LSTMCell"])
def test_backward_without_forward_is_a_clear_error(module):
    with pytest.raises(RuntimeError, match="without a matching forward"):
        module.backward(np.zeros((2, 4)))


def test_backward_twice_for_one_forward_is_a_clear_error(rng):
    lstm = LSTM(3, 4)
    out, _ = lstm(rng.standard_normal((2, 1, 3)))
    lstm.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match="without a matching forward"):
        lstm.backward(np.ones_like(out))


def test_eval_mode_records_no_cache(rng):
    lstm = LSTM(3, 4).eval()
    for _ in range(3):
        lstm(rng.standard_normal((2, 1, 3)))
    assert lstm._caches == []
    lstm.train()
    lstm(rng.standard_normal((2, 1, 3)))
    assert len(lstm._caches) == 1


@pytest.mark.parametrize("call, error, words", [
    (lambda m: m(np.zeros((2, 3, 5))), ValueError, ["input_size=3", "(2, 3, 5)"]),
    (lambda m: m(np.zeros((2, 3, 3, 1))), ValueError, ["input", "(2, 3, 3, 1)"]),
    (lambda m: m(np.zeros((0, 3, 3))), ValueError, ["at least one time step", "(0, 3, 3)"]),
    (lambda m: m(np.zeros((2, 3, 3), dtype=int)), TypeError, ["input", "int64"]),
    (lambda m: m(np.zeros((2, 3, 3)), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4)))), ValueError,
     ["c0", "(1, 3, 4)", "(1, 2, 4)"]),
    (lambda m: m(np.zeros((2, 3, 3)), np.zeros((1, 3, 4))), TypeError, ["state", "pair"]),
    (lambda m: (m(np.zeros((2, 3, 3))), m.backward(np.zeros((2, 3, 5)))), ValueError,
     ["d_out", "(2, 3, 4)", "(2, 3, 5)"]),
], ids=["feature size", "rank", "empty", "integer dtype", "state shape", "state not a pair", "d_out shape"])
def test_bad_input_names_the_argument_and_the_shapes(call, error, words):
    raises_naming(error, lambda: call(LSTM(3, 4)), *words)


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(input_size=0, hidden_size=4), ValueError, "input_size"),
    (dict(input_size=3, hidden_size=2.5), TypeError, "hidden_size"),
    (dict(input_size=3, hidden_size=4, num_layers=0), ValueError, "num_layers"),
    (dict(input_size=3, hidden_size=4, num_layers=2, dropout=1.5), ValueError, "dropout"),
    (dict(input_size=3, hidden_size=4, proj_size=4), ValueError, "proj_size"),
    (dict(input_size=3, hidden_size=4, dtype=np.int32), TypeError, "dtype"),
])
def test_bad_constructor_arguments_are_named(kwargs, error, word):
    with pytest.raises(error, match=word):
        LSTM(**kwargs)


def test_float32_module_runs_in_float32_and_agrees_with_float64(rng):
    lstm64, lstm32 = LSTM(3, 4, num_layers=2, seed=0), LSTM(3, 4, num_layers=2, seed=0, dtype=np.float32)
    x = rng.standard_normal((6, 2, 3))
    out64, _ = lstm64(x)
    out32, _ = lstm32(x)      # float64 input is converted to the module's dtype
    assert out32.dtype == np.float32
    assert rel_error(out32, out64) < 1e-5
    dx64, _ = lstm64.backward(np.ones_like(out64))
    dx32, _ = lstm32.backward(np.ones_like(out32))
    assert dx32.dtype == np.float32 and rel_error(dx32, dx64) < 1e-5
    assert rel_error(lstm32.weight_hh_l1.grad, lstm64.weight_hh_l1.grad) < 1e-5


def test_eval_forward_keeps_no_cache_and_gives_the_training_numbers(rng, monkeypatch):
    """Eval mode runs the kernel without a cache (less memory); the numbers must not change."""
    import numpylstm.fast as fast
    monkeypatch.setattr(fast, "BLOCK_VALUES", 5 * 3 * 16)   # blocks of 5 steps: eval reuses one block's buffer
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, seed=0)
    x, lengths = rng.standard_normal((13, 3, 3)), np.array([13, 7, 4])
    out_train, (h_train, c_train) = lstm(x, lengths=lengths)
    out_eval, (h_eval, c_eval) = lstm.eval()(x, lengths=lengths)
    np.testing.assert_array_equal(out_eval, out_train)
    np.testing.assert_array_equal(h_eval, h_train)
    np.testing.assert_array_equal(c_eval, c_train)


def test_unbatched_state_errors_describe_the_unbatched_layout():
    with pytest.raises(ValueError, match=r"\(num_layers \* num_directions, hidden_size\)"):
        LSTM(3, 4)(np.zeros((5, 3)), (np.zeros((1, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match=r"\(hidden_size,\) for unbatched input"):
        LSTMCell(3, 4)(np.zeros(3), (np.zeros(5), np.zeros(4)))


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_an_empty_batch_gives_empty_outputs_as_torch_does(torch, engine, batch_first):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=batch_first, seed=0, engine=engine)
    x = np.zeros((0, 5, 3) if batch_first else (5, 0, 3))
    out, (h_n, c_n) = lstm(x)
    twin_out, (twin_h, twin_c) = torch_twin(lstm, torch)(torch.tensor(x))
    assert (out.shape, h_n.shape, c_n.shape) == (tuple(twin_out.shape), tuple(twin_h.shape), tuple(twin_c.shape))
    dx, (dh0, dc0) = lstm.backward(np.zeros_like(out))
    assert dx.shape == x.shape and dh0.shape == h_n.shape and dc0.shape == c_n.shape
    assert not any(p.grad.any() for p in lstm.parameters())


def test_a_cell_takes_an_empty_batch():
    h1, c1 = LSTMCell(3, 4)(np.zeros((0, 3)))
    assert h1.shape == c1.shape == (0, 4)

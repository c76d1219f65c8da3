"""The Module base: registry, modes, state dicts."""
import numpy as np
import pytest

from numpylstm import LSTM, Module, Parameter, backend


class Affine(Module):
    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.arange(6.0).reshape(2, 3))
        self.bias = Parameter(np.zeros(2))


class Stack(Module):
    def __init__(self):
        super().__init__()
        self.first = Affine()
        self.second = Affine()
        self.scale = Parameter(np.ones(1))


def test_named_parameters_follow_assignment_order_with_dotted_children():
    assert [n for n, _ in Stack().named_parameters()] == [
        "scale", "first.weight", "first.bias", "second.weight", "second.bias"]
    assert [n for n, _ in Stack().named_modules()] == ["", "first", "second"]


def test_train_and_eval_reach_every_child():
    stack = Stack().eval()
    assert not any(m.training for m in stack.modules())
    stack.train()
    assert all(m.training for m in stack.modules())


def test_zero_grad_clears_every_gradient():
    stack = Stack()
    for p in stack.parameters():
        p.grad += 1.0
    stack.zero_grad()
    assert all(np.all(p.grad == 0) for p in stack.parameters())


def test_state_dict_is_a_copy_and_round_trips():
    a, b = LSTM(2, 3, seed=0), LSTM(2, 3, seed=1)
    state = a.state_dict()
    state["weight_ih_l0"][...] = 7.0
    assert not np.any(a.weight_ih_l0.data == 7.0)     # a copy, not a view
    b.load_state_dict(a.state_dict())
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    lstm = LSTM(2, 3, seed=0)
    before = lstm.state_dict()
    state = lstm.state_dict()
    del state["bias_hh_l0"]
    state["weight_ih_l9"] = np.zeros(1)
    state["weight_hh_l0"] = np.zeros((5, 5))
    with pytest.raises(ValueError) as info:
        lstm.load_state_dict(state)
    message = str(info.value)
    for words in ("missing entries: ['bias_hh_l0']", "unexpected entries: ['weight_ih_l9']",
                  "'weight_hh_l0' has shape (5, 5), the model expects (12, 3)"):
        assert words in message, message
    for name, value in lstm.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_non_strict_loading_ignores_names_but_not_shapes():
    lstm = LSTM(2, 3, seed=0)
    lstm.load_state_dict({"bias_ih_l0": np.ones(12), "extra": np.zeros(2)}, strict=False)
    np.testing.assert_array_equal(lstm.bias_ih_l0.data, np.ones(12))
    with pytest.raises(ValueError, match="bias_ih_l0"):
        lstm.load_state_dict({"bias_ih_l0": np.ones(11)}, strict=False)


def test_to_cpu_keeps_values_and_refuses_unknown_devices():
    lstm = LSTM(2, 3, seed=0)
    before = lstm.state_dict()
    lstm.to("cpu")
    for name, value in lstm.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    with pytest.raises(ValueError, match="'tpu'"):
        lstm.to("tpu")


@pytest.mark.skipif(backend.cupy_available(), reason="this machine has CuPy and a GPU")
def test_without_cupy_the_gpu_paths_say_what_is_missing():
    with pytest.raises(RuntimeError, match=r"needs CuPy .*pip install numpylstm\[cupy\]"):
        LSTM(2, 3).to("cuda")
    with pytest.raises(RuntimeError, match="'numpylstm_step_forward'.* needs CuPy"):
        backend.elementwise_kernel("numpylstm_step_forward", "T x", "T y", "y = x")

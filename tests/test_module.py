"""The Module base: registry, modes, state dicts, and the one template every call runs in."""
import numpy as np
import pytest

from numpylstm import (backend, CharLM, Embedding, init, Linear, LSTM, LSTMCell, Module, Parameter, ReLU, RNN, 
                       RNNCell, Seq2Seq, SequenceClassifier, Sequential, Sigmoid, Tanh)
from numpylstm.layers import Dropout, mlp
from numpylstm.module import MissingForwardError
from numpylstm.seq2seq import Encoder

from assertions import raises_naming
from catalog import CATALOG, leaves, output_grads
from strategies import array_of_dtype, REFUSED_DTYPES


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


# --------------------------------------------------- one template: all or nothing
def gradients_after(module, args, grads):
    """Forward, backward; every parameter gradient and every returned input gradient (copies)."""
    module.zero_grad()
    module(*args)
    returned = module.backward(*grads)
    return [p.grad.copy() for p in module.parameters()] + [np.array(g) for g in leaves(returned)]


def assert_same_arrays(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def cache_counts(module):
    return [len(m._caches) for m in module.modules()]


@pytest.mark.parametrize("name", list(CATALOG))
def test_in_place_changes_between_forward_and_backward_cannot_change_the_gradients(name):
    """Caches hold their own copies: changing the inputs or outputs after forward changes nothing."""
    case = CATALOG[name]

    def run(change_in_place):
        module, rng = case.build(), np.random.default_rng(0)
        args = case.inputs(rng)
        outputs = module(*args)
        grads = output_grads(outputs, np.random.default_rng(1))
        if change_in_place:
            for array in leaves(args) + leaves(outputs):
                array[...] = 0 if array.dtype.kind in "iu" else array * -3.0 + 1.0
        returned = module.backward(*grads)
        return [p.grad.copy() for p in module.parameters()] + [np.array(g) for g in leaves(returned)]

    assert_same_arrays(run(change_in_place=True), run(change_in_place=False))


class _CachesItsInput(Module):
    """A module written without the copy: its cache is the caller's array."""

    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.ones(3))

    def forward(self, x):
        self._push_cache(x)
        return x * self.weight.data

    def backward(self, dy):
        x = self._pop_cache()
        self.weight.accumulate((dy * x).sum(axis=0))
        return dy * self.weight.data


def test_the_in_place_check_catches_a_cache_that_shares_the_callers_array():
    module, x = _CachesItsInput(), np.ones((2, 3))
    module(x)
    x *= 5.0
    module.backward(np.ones((2, 3)))
    assert module.weight.grad[0] == 10.0      # 5 * 2 rows: the change leaked into the gradient


REFUSED_FORWARDS = {
    "Seq2Seq with a negative target id": (
        lambda: Seq2Seq(7, 3, 4, num_layers=2, dropout=0.5, seed=0),
        lambda rng: (rng.integers(0, 7, (5, 2)), -np.ones((4, 2), dtype=int))),
    "Seq2Seq with lengths longer than T": (
        lambda: Seq2Seq(7, 3, 4, num_layers=2, dropout=0.5, seed=0),
        lambda rng: (rng.integers(0, 7, (5, 2)), rng.integers(0, 7, (4, 2)), np.array([9, 2]))),
    "CharLM with a bad state": (
        lambda: CharLM(7, 3, 4, seed=0),
        lambda rng: (rng.integers(0, 7, (5, 2)), (np.zeros((1, 2, 4)), np.zeros((1, 3, 4))))),
    "SequenceClassifier with bad lengths": (
        lambda: SequenceClassifier(3, 4, 3, vocab_size=7, seed=0),
        lambda rng: (rng.integers(0, 7, (5, 2)), np.array([0, 2]))),
    "Sequential whose second layer refuses": (
        lambda: Sequential(Linear(3, 5, seed=0), Linear(4, 2, seed=1)), lambda rng: (rng.standard_normal((4, 3)),)),
}
GOOD_CALLS = {   # a valid call for each model above, to train after the refused ones
    "Seq2Seq": lambda rng: (rng.integers(0, 7, (5, 2)), rng.integers(0, 7, (4, 2))),
    "CharLM": lambda rng: (rng.integers(0, 7, (5, 2)),),
    "SequenceClassifier": lambda rng: (rng.integers(0, 7, (5, 2)),),
    "Sequential": lambda rng: (rng.standard_normal((4, 3)),),
}


@pytest.mark.parametrize("name", list(REFUSED_FORWARDS))
def test_a_refused_forward_records_nothing_and_the_next_step_is_exact(name):
    build, bad_call = REFUSED_FORWARDS[name]
    model, fresh = build(), build()
    for _ in range(100):
        with pytest.raises((ValueError, TypeError)):
            model(*bad_call(np.random.default_rng(0)))
    assert not any(cache_counts(model)), "a refused forward left a cache behind"
    if name.startswith("Sequential"):
        return                                    # this model cannot make a good call
    good = GOOD_CALLS[name.split()[0]](np.random.default_rng(1))
    outputs = fresh(*good)
    grads = output_grads(outputs, np.random.default_rng(2))
    fresh.zero_grad()
    fresh.backward(*grads)
    expected = [p.grad.copy() for p in fresh.parameters()]
    assert_same_arrays(gradients_after(model, good, grads)[:len(expected)], expected)


class _FailsAfterItsChildAdded(Module):
    """A user's composite whose backward raises after its first child has added its gradients."""

    def __init__(self):
        super().__init__()
        self.first, self.second = Linear(3, 3, seed=0), Linear(3, 3, seed=1)

    def forward(self, x):
        self._push_cache(None)
        return self.second(self.first(x))

    def backward(self, dy):
        self._pop_cache()
        self.second.backward(dy)
        raise RuntimeError("refused halfway, after self.second added its gradients")


def test_a_refused_backward_changes_nothing_in_any_module():
    model = _FailsAfterItsChildAdded()
    model(np.ones((2, 3)))
    before_counts, before_grads = cache_counts(model), [p.grad.copy() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="halfway"):
        model.backward(np.ones((2, 3)))
    assert cache_counts(model) == before_counts == [1, 1, 1]
    assert_same_arrays([p.grad for p in model.parameters()], before_grads)


def test_a_refused_model_backward_can_be_corrected_and_retried():
    """CharLM refuses a bad d_state after its head has run: nothing is added, and the retry is exact."""
    rng = np.random.default_rng(0)
    model, fresh, ids = CharLM(7, 3, 4, seed=0), CharLM(7, 3, 4, seed=0), rng.integers(0, 7, (5, 2))
    logits, _ = model(ids)
    d_logits = rng.standard_normal(logits.shape)
    with pytest.raises(ValueError, match="dh_n"):
        model.backward(d_logits, (np.zeros((1, 3, 4)), None))
    assert not any(p.grad.any() for p in model.parameters())
    model.backward(d_logits)
    fresh(ids)
    fresh.backward(d_logits)
    assert_same_arrays([p.grad for p in model.parameters()], [p.grad for p in fresh.parameters()])


# ------------------------------------------------------------ PyTorch's habits
def test_frozen_parameters_receive_no_gradient():
    lstm = LSTM(3, 4, seed=0)
    lstm.bias_hh_l0.requires_grad_(False)
    assert lstm.bias_hh_l0.requires_grad is False and "requires_grad=False" in repr(lstm.bias_hh_l0)
    out, _ = lstm(np.ones((2, 1, 3)))
    lstm.backward(np.ones_like(out))
    assert not lstm.bias_hh_l0.grad.any() and lstm.bias_ih_l0.grad.any()
    assert lstm.requires_grad_(False) is lstm and not any(p.requires_grad for p in lstm.parameters())


@pytest.mark.parametrize("data, fragment", [
    (np.arange(3), "int64"), ([1.0, 2.0], "list"), ("abc", "str"), (np.ones(2, dtype=np.float16), "float16"),
    (3, "int"), (np.ma.masked_array(np.ones(2)), "MaskedArray")])
def test_a_parameter_holds_a_float32_or_float64_array(data, fragment):
    with pytest.raises(TypeError, match=f"data must be a (float32 or float64|plain) array, got.*{fragment}"):
        Parameter(data)


def test_load_state_dict_returns_missing_and_unexpected_keys_like_torch():
    lstm = LSTM(3, 4)
    missing, unexpected = lstm.load_state_dict({"bias_ih_l0": np.ones(16), "extra": np.zeros(2)}, strict=False)
    assert missing == ["weight_ih_l0", "weight_hh_l0", "bias_hh_l0"] and unexpected == ["extra"]
    assert lstm.load_state_dict(lstm.state_dict()) == ([], [])


def test_a_shared_parameter_is_listed_once():
    shared = Linear(3, 3, seed=0)
    model = Sequential(shared, Tanh(), shared)
    assert len(model.parameters()) == 2
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]


@pytest.mark.parametrize("build, flag", [
    (lambda v: Linear(2, 3, bias=v), "bias"),
    (lambda v: RNN(2, 3, bias=v), "bias"),
    (lambda v: RNN(2, 3, batch_first=v), "batch_first"),
    (lambda v: RNN(2, 3, bidirectional=v), "bidirectional"),
    (lambda v: RNNCell(2, 3, bias=v), "bias"),
    (lambda v: Seq2Seq(5, 2, 3, batch_first=v), "batch_first"),
], ids=["Linear bias", "RNN bias", "RNN batch_first", "RNN bidirectional", "RNNCell bias", "Seq2Seq batch_first"])
def test_flags_must_be_booleans(build, flag):
    # bool("no") is True: accepting strings would turn batch_first="no" into batch-first.
    raises_naming(TypeError, lambda: build("no"), flag, "True or False", "'no'")
    build(np.bool_(False))


@pytest.mark.parametrize("build", [
    lambda s: Linear(2, 3, seed=s), lambda s: Embedding(4, 2, seed=s), lambda s: Dropout(0.5, seed=s),
    lambda s: RNN(2, 3, seed=s), lambda s: RNNCell(2, 3, seed=s), lambda s: mlp(2, 3, 1, seed=s),
    lambda s: Seq2Seq(5, 2, 3, seed=s), lambda s: Encoder(5, 2, 3, seed=s),
    lambda s: init.xavier_uniform_(Linear(2, 3), seed=s), lambda s: init.orthogonal_(LSTM(2, 3), seed=s),
    lambda s: init.uniform_default_(Linear(2, 3), seed=s),
], ids=["Linear", "Embedding", "Dropout", "RNN", "RNNCell", "mlp", "Seq2Seq", "Encoder", "xavier_uniform_",
        "orthogonal_", "uniform_default_"])
def test_bad_seeds_are_named(build):
    raises_naming(TypeError, lambda: build("x"), "seed", "non-negative integer", "'x'")
    raises_naming(ValueError, lambda: build(-1), "seed", "-1")


def test_a_model_made_of_several_modules_refuses_a_generator_as_seed():
    raises_naming(TypeError, lambda: Seq2Seq(5, 2, 3, seed=np.random.default_rng(0)), "seed", "Generator")


def test_train_mode_must_be_a_boolean():
    model = Sequential(Linear(2, 2), ReLU())
    raises_naming(TypeError, lambda: model.train("eval"), "mode", "True or False", "'eval'")
    assert model.training and all(m.training for m in model.modules())


@pytest.mark.parametrize("state_dict", [None, [("weight", np.zeros((2, 3)))], np.zeros(3)])
def test_load_state_dict_refuses_anything_but_a_mapping(state_dict):
    raises_naming(TypeError, lambda: Linear(3, 2).load_state_dict(state_dict), "state_dict", "mapping",
                  type(state_dict).__name__)


def test_load_state_dict_lists_non_float_entries_with_the_other_problems_and_changes_nothing():
    linear = Linear(3, 2, seed=0)
    before = linear.state_dict()
    bad = {"weight": np.ones((2, 3), dtype=np.int64), "bias": np.ones(2, dtype=np.complex128), "extra": np.ones(1)}
    message = raises_naming(ValueError, lambda: linear.load_state_dict(bad), "'weight'", "int64", "'bias'",
                            "complex128", "unexpected entries: ['extra']")
    assert message.count("\n") == 3      # three problems, one line each, in one message
    for name, value in linear.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    raises_naming(ValueError, lambda: linear.load_state_dict({"weight": np.full((2, 3), "a"), "bias": np.ones(2)}),
                  "'weight'", "<U1")


def test_load_state_dict_casts_float_entries_and_lists():
    linear = Linear(3, 2, dtype=np.float32)
    linear.load_state_dict({"weight": np.ones((2, 3)), "bias": [0.5, 0.25]})
    assert linear.weight.data.dtype == np.float32 and linear.bias.data.tolist() == [0.5, 0.25]
    raises_naming(TypeError, lambda: linear.load_state_dict(linear.state_dict(), strict="no"), "strict")


def test_missing_forward_is_a_runtime_error_and_a_value_error():
    linear = Linear(3, 2)
    for error in (RuntimeError, ValueError, MissingForwardError):
        with pytest.raises(error, match=r"Linear.backward\(\) was called without a matching forward"):
            linear.backward(np.zeros((1, 2)))


def make_rnn_call(rng):
    module = RNN(3, 4)
    return module, (rng.standard_normal((5, 2, 3)),), lambda: np.zeros((5, 2, 9)), lambda: np.ones((5, 2, 4))


@pytest.mark.parametrize("make", [
    lambda rng: (Linear(3, 4), (rng.standard_normal((2, 3)),), lambda: np.zeros((2, 3)), lambda: np.ones((2, 4))),
    lambda rng: (Sequential(Linear(3, 4), Tanh(), Linear(4, 2)), (rng.standard_normal((2, 3)),),
                 lambda: np.zeros((2, 4)), lambda: np.ones((2, 2))),
    lambda rng: (Embedding(5, 2), (np.array([1, 4]),), lambda: np.zeros((2, 3)), lambda: np.ones((2, 2))),
    lambda rng: (Dropout(0.5, seed=0), (rng.standard_normal((2, 3)),), lambda: np.zeros(3), lambda: np.ones((2, 3))),
    lambda rng: (RNNCell(3, 4), (rng.standard_normal((2, 3)),), lambda: np.zeros(4), lambda: np.ones((2, 4))),
    make_rnn_call,
    lambda rng: (Seq2Seq(5, 2, 3, seed=0), (np.array([[1, 2]]), np.array([[3, 4]])), lambda: np.zeros((1, 2, 4)),
                 lambda: np.ones((1, 2, 5))),
], ids=["Linear", "Sequential", "Embedding", "Dropout", "RNNCell", "RNN", "Seq2Seq"])
def test_a_refused_backward_can_be_corrected_and_retried(make, rng):
    module, inputs, wrong_grad, right_grad = make(rng)
    module(*inputs)
    with pytest.raises(ValueError, match="must have shape"):
        module.backward(wrong_grad())
    module.backward(right_grad())                       # the forward's cache is still there
    assert all(not m._caches for m in module.modules())
    with pytest.raises(MissingForwardError):            # and it is used by one backward only
        module.backward(right_grad())


MODULES_WITH_PARAMETERS = {
    "Linear": (lambda dtype: Linear(3, 2, dtype=dtype, seed=0), (4, 3), lambda out: out),
    "LSTM": (lambda dtype: LSTM(3, 2, dtype=dtype, seed=0), (5, 4, 3), lambda out: out[0]),
    "LSTMCell": (lambda dtype: LSTMCell(3, 2, dtype=dtype, seed=0), (4, 3), lambda out: out[0]),
    "RNN": (lambda dtype: RNN(3, 2, dtype=dtype, seed=0), (5, 4, 3), lambda out: out[0]),
    "RNNCell": (lambda dtype: RNNCell(3, 2, dtype=dtype, seed=0), (4, 3), lambda out: out),
}


@pytest.mark.parametrize("name", MODULES_WITH_PARAMETERS)
@pytest.mark.parametrize("module_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_dtype", [np.float16, np.float32, np.float64])
def test_float_input_is_converted_to_the_dtype_of_the_parameters(name, module_dtype, input_dtype, rng):
    build, shape, first_output = MODULES_WITH_PARAMETERS[name]
    x = rng.standard_normal(shape).astype(input_dtype)
    module = build(module_dtype)
    out = first_output(module(x))
    assert out.dtype == module_dtype
    np.testing.assert_array_equal(out, first_output(build(module_dtype)(x.astype(module_dtype))))
    grad = module.backward(np.ones(out.shape, dtype=input_dtype))      # gradients follow the same rule
    dx = grad if name == "Linear" else grad[0]
    assert dx.dtype == module_dtype and dx.shape == shape


@pytest.mark.parametrize("name", MODULES_WITH_PARAMETERS)
@pytest.mark.parametrize("dtype", REFUSED_DTYPES)
def test_non_float_input_is_refused_naming_the_dtype(name, dtype):
    build, shape, _ = MODULES_WITH_PARAMETERS[name]
    bad = array_of_dtype(shape, dtype)
    raises_naming(TypeError, lambda: build(np.float64)(bad), "input", "floating-point", str(bad.dtype))


@pytest.mark.parametrize("module", [ReLU(), Tanh(), Sigmoid(), Dropout(0.3, seed=0)],
                         ids=["ReLU", "Tanh", "Sigmoid", "Dropout"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_modules_without_parameters_keep_the_input_dtype_and_refuse_the_rest(module, dtype):
    assert module(np.ones((2, 3), dtype=dtype)).dtype == dtype
    raises_naming(TypeError, lambda: module(np.ones((2, 3), dtype=np.int64)), "input", "int64")

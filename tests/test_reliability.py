"""Issue 7, reliability: every bad input is a clear error, and random calls behave.

1. The argument checks of ``numpylstm._validate`` on their own.
2. Gaps closed for issue 7, one test each: flags that must be booleans, seeds,
   empty inputs, state dicts, retrying a refused backward, kernels that must not
   broadcast, token ids named after the argument, data, training and gradcheck.
3. The dtype rule (``_validate.float_array``), module by module.
4. Fuzzing malformed calls: hypothesis builds a valid call, then breaks one
   thing (rank, size, dtype, state, lengths, gradient); the error must have the
   right type and a message naming the argument, what was expected and what was given.
5. Fuzzing well-formed calls with random shapes and options: they must not raise
   or warn, and must return finite values of the documented shapes.
6. The same for the recurrent modules, the models and the step kernels.

Other files already cover ``load_state_dict`` messages (test_module), weight files
(test_io), the NaN guard and clipping (test_train) and the constructor checks of
each layer; they are not repeated here.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpylstm import (LSTM, RNN, Embedding, Linear, LSTMCell, ReLU, RNNCell, Seq2Seq, Sequential, Sigmoid,
                       Tanh, check_gradients, detach_state, functional, init, numerical_gradient)
from numpylstm import _validate as check
from numpylstm import data, fast, functional, functional_rnn, io, rnn, train
from numpylstm.layers import Dropout, mlp
from numpylstm.losses import cross_entropy, mse_loss
from numpylstm.module import MissingForwardError
from numpylstm.optim import SGD
from numpylstm.seq2seq import Decoder, Encoder
from assertions import raises_naming
from strategies import (REFUSED_DTYPES, array_of_dtype, float_dtypes, input_scales, lengths_for, lstm_configs,
                        refused_dtypes, rnn_configs, seeds, sequence_shapes, small_sizes, wrong_shapes)


# ============================================================ 1. the argument checks
@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_boolean_accepts_python_and_numpy_booleans(value):
    assert check.boolean(value, "flag") is bool(value)


@pytest.mark.parametrize("value, shown", [("no", "'no'"), (1, "1"), (None, "None"), (0.0, "0.0")])
def test_boolean_refuses_everything_else_naming_the_argument(value, shown):
    raises_naming(TypeError, lambda: check.boolean(value, "batch_first"), "batch_first", "True or False", shown)


@pytest.mark.parametrize("value", [None, 0, 7, np.int64(3), np.random.SeedSequence(1), np.random.default_rng(2)])
def test_seed_accepts_what_default_rng_takes(value):
    assert check.seed(value) == value
    np.random.default_rng(check.seed(value))


@pytest.mark.parametrize("value, error, shown", [
    ("x", TypeError, "'x'"), (1.5, TypeError, "1.5"), (True, TypeError, "True"), (-1, ValueError, "-1"),
])
def test_seed_refuses_bad_seeds_naming_the_argument(value, error, shown):
    raises_naming(error, lambda: check.seed(value, "seed"), "seed", "non-negative integer", shown)


def test_kernel_shapes_names_kernel_argument_expected_and_actual():
    h = np.zeros((1, 4))
    raises_naming(ValueError, lambda: check.kernel_shapes("k", ("h", h, (3, 4))), "k: h", "(3, 4)", "(1, 4)")
    raises_naming(ValueError, lambda: check.kernel_shapes("k", ("x", h, ("T", "N", "I"))), "x", "(T, N, I)",
                  "(1, 4)")
    raises_naming(ValueError, lambda: check.kernel_shapes("k", ("b", np.zeros(3), (4,))), "(4,)", "(3,)")
    raises_naming(TypeError, lambda: check.kernel_shapes("k", ("h", [[0.0]], (1, 1))), "h", "list")
    check.kernel_shapes("k", ("x", np.zeros((5, 2, 3)), ("T", "N", 3)), ("b", None, (4,)))  # passes


def test_bias_pair_refuses_one_bias_alone():
    raises_naming(ValueError, lambda: check.bias_pair("k", np.zeros(4), None), "k:", "b_ih without b_hh")
    raises_naming(ValueError, lambda: check.bias_pair("k", None, np.zeros(4)), "b_hh without b_ih")
    check.bias_pair("k", None, None)
    check.bias_pair("k", np.zeros(4), np.zeros(4))


# ================================================================ 2. gaps closed
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


@pytest.mark.parametrize("module, shape", [
    (Linear(3, 2), (0, 3)), (ReLU(), (0, 4)), (Tanh(), (2, 0)), (Sigmoid(), (0,)), (Dropout(0.5), (0, 2)),
], ids=["Linear", "ReLU", "Tanh", "Sigmoid", "Dropout"])
def test_layers_refuse_empty_input(module, shape):
    raises_naming(ValueError, lambda: module(np.zeros(shape)), "input", "empty", str(shape))
    assert module._caches == []


def test_embedding_refuses_empty_ids():
    raises_naming(ValueError, lambda: Embedding(4, 2)(np.zeros((3, 0), dtype=np.int64)), "input", "empty",
                  "(3, 0)")


@pytest.mark.parametrize("hidden, error, fragments", [
    (2.5, TypeError, ["hidden", "2.5"]), ("8", TypeError, ["hidden", "'8'"]),
    ([4, 0], ValueError, ["hidden[1]", "0"]), (0, ValueError, ["hidden", "0"]),
])
def test_mlp_names_a_bad_hidden_width(hidden, error, fragments):
    raises_naming(error, lambda: mlp(3, hidden, 1), *fragments)


# ------------------------------------------------------------------ module.py
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


# ------------------------------------------------------------------ rnn kernels
def rnn_kernel_arrays(rng, N=3, I=2, H=4, T=5):
    return dict(x=rng.standard_normal((N, I)), h=rng.standard_normal((N, H)), W_ih=rng.standard_normal((H, I)),
                W_hh=rng.standard_normal((H, H)), b=rng.standard_normal(H), X=rng.standard_normal((T, N, I)))


@pytest.mark.parametrize("call, fragments", [
    (lambda a: functional_rnn.rnn_step_forward(a["x"], a["h"][:1], a["W_ih"], a["W_hh"]), ["rnn_step_forward: h", "(3, 4)",
                                                                               "(1, 4)"]),
    (lambda a: functional_rnn.rnn_step_forward(a["x"][0], a["h"], a["W_ih"], a["W_hh"]), ["x", "(N, I)", "(2,)"]),
    (lambda a: functional_rnn.rnn_step_forward(a["x"], a["h"], a["W_ih"], a["W_hh"][:, :3]), ["W_hh", "(4, 4)", "(4, 3)"]),
    (lambda a: functional_rnn.rnn_step_forward(a["x"], a["h"], a["W_ih"], a["W_hh"], a["b"][:1], a["b"][:1]),
     ["b_ih", "(4,)", "(1,)"]),
    (lambda a: functional_rnn.rnn_step_forward(a["x"], a["h"], a["W_ih"], a["W_hh"], a["b"], None), ["b_ih without b_hh"]),
    (lambda a: functional_rnn.rnn_forward(a["X"], a["h"][0], a["W_ih"], a["W_hh"]), ["rnn_forward: h0",
                                                                                  "(3, 4)", "(4,)"]),
    (lambda a: functional_rnn.rnn_forward(a["X"][0], a["h"], a["W_ih"], a["W_hh"]), ["x", "(T, N, I)", "(3, 2)"]),
    (lambda a: functional_rnn.rnn_step_backward(a["h"][:1], functional_rnn.rnn_step_forward(a["x"], a["h"], a["W_ih"], a["W_hh"])[1]),
     ["rnn_step_backward: dh_next", "(3, 4)", "(1, 4)"]),
    (lambda a: functional_rnn.rnn_backward(np.zeros((5, 1, 4)), None,
                                         functional_rnn.rnn_forward(a["X"], a["h"], a["W_ih"], a["W_hh"])[2]),
     ["rnn_backward: d_out", "(5, 3, 4)", "(5, 1, 4)"]),
    (lambda a: functional_rnn.rnn_backward(np.zeros((5, 3, 4)), np.zeros((1, 4)),
                                         functional_rnn.rnn_forward(a["X"], a["h"], a["W_ih"], a["W_hh"])[2]),
     ["dh_n", "(3, 4)", "(1, 4)"]),
], ids=["h of one row", "x rank", "W_hh", "bias size", "one bias", "h0 without batch", "X rank",
        "step dh_next", "sequence d_out", "sequence dh_n"])
def test_rnn_kernels_refuse_shapes_they_would_broadcast(call, fragments, rng):
    raises_naming(ValueError, lambda: call(rnn_kernel_arrays(rng)), *fragments)


# ------------------------------------------------------------------ seq2seq.py
@pytest.mark.parametrize("change, error, fragments", [
    (dict(vocab_size=0), ValueError, ["vocab_size", "0"]),
    (dict(tgt_vocab_size="7"), TypeError, ["tgt_vocab_size", "'7'"]),
    (dict(embedding_dim=-2), ValueError, ["embedding_dim", "-2"]),
])
def test_seq2seq_constructor_errors_use_its_own_argument_names(change, error, fragments):
    arguments = {**dict(vocab_size=5, embedding_dim=2, hidden_size=3), **change}
    raises_naming(error, lambda: Seq2Seq(**arguments), *fragments)


def test_seq2seq_names_src_and_tgt_in():
    model = Seq2Seq(5, 2, 3, tgt_vocab_size=4, seed=0)
    src, tgt_in = np.array([[1, 2], [3, 4]]), np.array([[0, 1]])
    raises_naming(ValueError, lambda: model(src + 3, tgt_in), "src", "[0, 4]", "from 4 to 7")
    raises_naming(ValueError, lambda: model(src, tgt_in + 3), "tgt_in", "[0, 3]", "from 3 to 4")
    raises_naming(ValueError, lambda: model(src[:0], tgt_in), "src", "empty", "(0, 2)")
    raises_naming(TypeError, lambda: model(src, tgt_in.astype(float)), "tgt_in", "float64")
    model(src, tgt_in)
    raises_naming(ValueError, lambda: model.backward(np.zeros((1, 2, 5))), "d_logits", "(1, 2, 4)", "(1, 2, 5)")


def test_encoder_and_decoder_name_their_gradients():
    encoder, decoder = Encoder(5, 2, 3, seed=0), Decoder(5, 2, 3, seed=1)
    ids = np.array([[1, 2, 3]])
    encoder(ids)
    raises_naming(ValueError, lambda: encoder.backward(np.zeros((1, 3, 2))), "d_out", "(1, 3, 3)", "(1, 3, 2)")
    decoder(ids)
    raises_naming(ValueError, lambda: decoder.backward(np.zeros((1, 3, 4))), "d_logits", "(1, 3, 5)", "(1, 3, 4)")


# --------------------------------------------------------------------- data.py
def test_minibatches_refuse_lists_naming_the_position():
    raises_naming(TypeError, lambda: list(data.minibatches(np.zeros(3), [1, 2, 3], batch_size=2)), "arrays[1]",
                  "list")


def test_last_value_baseline_takes_array_likes_and_refuses_bad_ones():
    np.testing.assert_array_equal(data.last_value_baseline([[[1.0], [2.0]]]), [[2.0]])
    raises_naming(TypeError, lambda: data.last_value_baseline(np.zeros((2, 3, 1), dtype=int)), "X", "int64")
    raises_naming(ValueError, lambda: data.last_value_baseline(np.zeros((0, 3, 1))), "X", "empty")


def test_unigram_entropy_refuses_negative_ids_and_a_too_small_vocabulary():
    raises_naming(ValueError, lambda: data.unigram_entropy(np.array([-1, 2])), "ids", ">= 0", "-1")
    raises_naming(ValueError, lambda: data.unigram_entropy(np.array([1, 5]), n_tokens=3), "n_tokens=3", "5")
    raises_naming(TypeError, lambda: data.unigram_entropy(np.array([1, 2]), n_tokens="3"), "n_tokens")
    assert data.unigram_entropy(np.array([0, 1]), n_tokens=4) == pytest.approx(np.log(2))


# ------------------------------------------------------------------- io.py
def test_io_load_strict_must_be_a_boolean(tmp_path):
    linear = Linear(3, 2)
    path = io.save(linear, tmp_path / "linear")
    raises_naming(TypeError, lambda: io.load(linear, path, strict="false"), "strict", "'false'")


# ------------------------------------------------------------------ train.py
def test_fit_refuses_an_optimizer_of_another_model():
    model, other = Linear(3, 1, seed=0), Linear(3, 1, seed=1)
    X, y = np.ones((4, 3)), np.ones((4, 1))
    raises_naming(ValueError, lambda: train.fit(model, mse_loss, SGD(other.parameters(), lr=0.1), (X, y), epochs=1,
                                                quiet=True), "optimizer", "none of them", "model.parameters()")


def test_fit_accepts_an_optimizer_over_some_of_the_parameters():
    model = Sequential(Linear(3, 4, seed=0), Tanh(), Linear(4, 1, seed=1))
    frozen = model[0].weight.data.copy()
    train.fit(model, mse_loss, SGD(model[2].parameters(), lr=0.1), (np.ones((4, 3)), np.zeros((4, 1))), epochs=2,
              quiet=True)
    np.testing.assert_array_equal(model[0].weight.data, frozen)


@pytest.mark.parametrize("target, mask, error, fragments", [
    (np.array([0.0, 1.0]), None, TypeError, ["target", "float64"]),
    (np.array([0, 1, 2]), None, ValueError, ["target", "(2,)", "(3,)"]),
    (np.array([0, 1]), np.array([0.5, 1.0]), ValueError, ["mask", "0 and 1"]),
    (np.array([0, 1]), np.zeros(2, dtype=bool), ValueError, ["mask", "at least one"]),
])
def test_accuracy_names_bad_targets_and_masks(target, mask, error, fragments):
    raises_naming(error, lambda: train.accuracy(np.eye(2, 3), target, mask), *fragments)


def test_accuracy_refuses_empty_logits_and_takes_lists():
    raises_naming(ValueError, lambda: train.accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int)), "logits", "empty")
    assert train.accuracy(np.eye(2, 3), [0, 0]) == 0.5


# --------------------------------------------------------------- gradcheck.py
def test_numerical_gradient_refuses_integer_arrays_it_would_truncate():
    x = np.arange(3)
    raises_naming(TypeError, lambda: numerical_gradient(lambda: float((x ** 2).sum()), x), "x", "int64")
    raises_naming(ValueError, lambda: numerical_gradient(lambda: 0.0, np.zeros(2), eps=0), "eps", "0")
    raises_naming(TypeError, lambda: numerical_gradient(3.0, np.zeros(2)), "f", "callable", "float")


def test_check_gradients_refuses_non_modules_and_bad_tolerances():
    raises_naming(TypeError, lambda: check_gradients(np.tanh, (np.zeros(2),)), "module", "Module", "ufunc")
    raises_naming(ValueError, lambda: check_gradients(Linear(2, 2), (np.zeros((1, 2)),), tolerance=-1e-6),
                  "tolerance", "-1e-06")


# ===================================================================== 3. the dtype rule
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


def test_losses_follow_the_dtype_of_the_prediction():
    loss, dpred = mse_loss(np.ones(3, dtype=np.float32), np.zeros(3))
    assert dpred.dtype == np.float32 and loss == 1.0
    _, dlogits = cross_entropy(np.zeros((2, 3), dtype=np.float32), np.array([0, 2]))
    assert dlogits.dtype == np.float32
    raises_naming(TypeError, lambda: mse_loss(np.ones(3), np.ones(3, dtype=np.complex128)), "target", "complex128")
    raises_naming(TypeError, lambda: cross_entropy(np.ones((2, 3), dtype=bool), np.array([0, 2])), "logits", "bool")


# ============================================================= 4. fuzzing malformed calls
def lstm_layout(config, T, N):
    """Shapes of a valid call: x, h0, c0, out (D directions, P = proj_size or hidden_size)."""
    D = 2 if config["bidirectional"] else 1
    P, H, L = config["proj_size"] or config["hidden_size"], config["hidden_size"], config["num_layers"]
    x = (N, T, config["input_size"]) if config["batch_first"] else (T, N, config["input_size"])
    out = (N, T, D * P) if config["batch_first"] else (T, N, D * P)
    return x, (L * D, N, P), (L * D, N, H), out


LSTM_MISTAKES = ["input rank", "input features", "input dtype", "empty input", "h0 shape", "c0 shape", "h0 dtype",
                 "state not a pair", "lengths count", "lengths range", "lengths dtype", "d_out shape", "d_out dtype",
                 "dh_n shape", "dc_n shape", "backward twice"]


@given(config=lstm_configs(), sizes=sequence_shapes(), mistake=st.sampled_from(LSTM_MISTAKES), data=st.data())
def test_malformed_lstm_calls_raise_naming_the_argument(config, sizes, mistake, data):
    T, N = sizes
    x_shape, h_shape, c_shape, out_shape = lstm_layout(config, T, N)
    lstm = LSTM(**config)
    x, h0, c0 = np.ones(x_shape), np.zeros(h_shape), np.zeros(c_shape)

    def forward_then_backward(*grads):
        lstm(x)
        return lstm.backward(*grads)

    I = config["input_size"]
    if mistake == "input rank":
        bad = np.ones(data.draw(st.sampled_from([(), (I,), (1,) + x_shape])))
        call, error, words = lambda: lstm(bad), ValueError, ["input", f"(T, {I}) unbatched", str(bad.shape)]
    elif mistake == "input features":
        bad = np.ones(data.draw(wrong_shapes(x_shape, axes=[2])))
        call, error, words = lambda: lstm(bad), ValueError, ["input", f"input_size={I}", str(bad.shape)]
    elif mistake == "input dtype":
        bad = array_of_dtype(x_shape, data.draw(refused_dtypes))
        call, error, words = lambda: lstm(bad), TypeError, ["input", str(bad.dtype)]
    elif mistake == "empty input":   # no time step (an empty batch is allowed, as in PyTorch)
        emptied = 1 if config["batch_first"] else 0
        bad = np.ones(tuple(0 if k == emptied else size for k, size in enumerate(x_shape)))
        call, error, words = lambda: lstm(bad), ValueError, ["input", "at least one time step", str(bad.shape)]
    elif mistake in ("h0 shape", "c0 shape"):
        good, name = (h_shape, "h0 (state[0])") if mistake == "h0 shape" else (c_shape, "c0 (state[1])")
        bad = np.zeros(data.draw(wrong_shapes(good)))
        state = (bad, c0) if mistake == "h0 shape" else (h0, bad)
        call, error, words = lambda: lstm(x, state), ValueError, [name, str(good), str(bad.shape)]
    elif mistake == "h0 dtype":
        bad = array_of_dtype(h_shape, data.draw(refused_dtypes))
        call, error, words = lambda: lstm(x, (bad, c0)), TypeError, ["h0 (state[0])", str(bad.dtype)]
    elif mistake == "state not a pair":
        bad = data.draw(st.sampled_from([h0, (h0,), (h0, c0, c0), [h0]]))
        call, error, words = lambda: lstm(x, bad), TypeError, ["state", "pair (h, c)"]
    elif mistake == "lengths count":
        count = data.draw(st.integers(0, N + 3).filter(lambda k: k != N))
        call, error, words = lambda: lstm(x, lengths=np.ones(count, int)), ValueError, ["lengths", f"({N},)"]
    elif mistake == "lengths range":
        lengths = data.draw(lengths_for(T, N))
        lengths[data.draw(st.integers(0, N - 1))] = data.draw(st.sampled_from([0, -1, T + 1, T + 5]))
        call, error, words = lambda: lstm(x, lengths=lengths), ValueError, ["lengths", f"T={T}"]
    elif mistake == "lengths dtype":
        bad = data.draw(lengths_for(T, N)).astype(data.draw(st.sampled_from([np.float64, np.bool_])))
        call, error, words = lambda: lstm(x, lengths=bad), TypeError, ["lengths", str(bad.dtype)]
    elif mistake == "d_out shape":
        bad = np.ones(data.draw(wrong_shapes(out_shape)))
        call, error, words = lambda: forward_then_backward(bad), ValueError, ["d_out", str(out_shape), str(bad.shape)]
    elif mistake == "d_out dtype":
        bad = array_of_dtype(out_shape, data.draw(refused_dtypes))
        call, error, words = lambda: forward_then_backward(bad), TypeError, ["d_out", str(bad.dtype)]
    elif mistake in ("dh_n shape", "dc_n shape"):
        good, name = (h_shape, "dh_n (d_state[0])") if mistake == "dh_n shape" else (c_shape, "dc_n (d_state[1])")
        bad = np.ones(data.draw(wrong_shapes(good)))
        d_state = (bad, None) if mistake == "dh_n shape" else (None, bad)
        call, error, words = (lambda: forward_then_backward(np.ones(out_shape), d_state), ValueError,
                              [name, str(good), str(bad.shape)])
    else:  # backward twice for one forward
        forward_then_backward(np.ones(out_shape))
        call, error, words = lambda: lstm.backward(np.ones(out_shape)), MissingForwardError, ["LSTM.backward()"]
    raises_naming(error, call, *words)
    if mistake.startswith(("input", "empty", "h0", "c0", "state", "lengths")):
        assert lstm._caches == []       # a refused forward records nothing


CELL_MISTAKES = ["input rank", "input features", "input dtype", "empty input", "state shape", "state dtype",
                 "output gradient shape", "second gradient shape"]


@given(kind=st.sampled_from(["LSTMCell", "RNNCell"]), I=small_sizes, H=small_sizes, N=small_sizes,
       mistake=st.sampled_from(CELL_MISTAKES), data=st.data())
def test_malformed_cell_calls_raise_naming_the_argument(kind, I, H, N, mistake, data):
    lstm = kind == "LSTMCell"
    cell = LSTMCell(I, H) if lstm else RNNCell(I, H)
    x, h = np.ones((N, I)), np.zeros((N, H))
    state = (h, h) if lstm else h
    h_name = "h0 (state[0])" if lstm else "h0"
    if mistake == "input rank":
        bad = np.ones(data.draw(st.sampled_from([(), (1, N, I)])))
        call, error, words = lambda: cell(bad), ValueError, ["input", f"(N, {I})", str(bad.shape)]
    elif mistake == "input features":
        bad = np.ones(data.draw(wrong_shapes((N, I), axes=[1])))
        call, error, words = lambda: cell(bad), ValueError, ["input", f"input_size={I}", str(bad.shape)]
    elif mistake == "input dtype":
        bad = array_of_dtype((N, I), data.draw(refused_dtypes))
        call, error, words = lambda: cell(bad), TypeError, ["input", str(bad.dtype)]
    elif mistake == "empty input":
        call, error, words = lambda: cell(np.ones((0, I))), ValueError, ["input", "empty", f"(0, {I})"]
    elif mistake == "state shape":
        bad = np.zeros(data.draw(wrong_shapes((N, H))))
        call, error, words = (lambda: cell(x, (bad, h) if lstm else bad), ValueError,
                              [h_name, str((N, H)), str(bad.shape)])
    elif mistake == "state dtype":
        bad = array_of_dtype((N, H), data.draw(refused_dtypes))
        call, error, words = lambda: cell(x, (bad, h) if lstm else bad), TypeError, [h_name, str(bad.dtype)]
    elif mistake == "output gradient shape":
        bad = np.ones(data.draw(wrong_shapes((N, H))))
        cell(x, state)
        call, error, words = lambda: cell.backward(bad), ValueError, ["dh1", str((N, H)), str(bad.shape)]
    else:   # LSTMCell: dc1 of the wrong shape; RNNCell has no second gradient, so backward twice
        cell(x, state)
        if lstm:
            bad = np.ones(data.draw(wrong_shapes((N, H))))
            call, error, words = lambda: cell.backward(h, bad), ValueError, ["dc1", str((N, H)), str(bad.shape)]
        else:
            cell.backward(h)
            call, error, words = lambda: cell.backward(h), MissingForwardError, ["RNNCell.backward()"]
    raises_naming(error, call, *words)


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


@given(leading=st.lists(small_sizes, min_size=0, max_size=3), fan_in=small_sizes, fan_out=small_sizes,
       mistake=st.sampled_from(["features", "dtype", "dy shape", "dy dtype"]), data=st.data())
def test_malformed_linear_calls_raise_naming_the_argument(leading, fan_in, fan_out, mistake, data):
    linear, shape = Linear(fan_in, fan_out), tuple(leading) + (fan_in,)
    out_shape = tuple(leading) + (fan_out,)
    if mistake == "features":
        bad = np.ones(data.draw(wrong_shapes(shape, axes=[len(shape) - 1])))
        call, error, words = lambda: linear(bad), ValueError, ["input", f"in_features={fan_in}", str(bad.shape)]
    elif mistake == "dtype":
        bad = array_of_dtype(shape, data.draw(refused_dtypes))
        call, error, words = lambda: linear(bad), TypeError, ["input", str(bad.dtype)]
    else:
        linear(np.ones(shape))
        if mistake == "dy shape":
            bad = np.ones(data.draw(wrong_shapes(out_shape)))
            call, error, words = lambda: linear.backward(bad), ValueError, ["dy", str(out_shape), str(bad.shape)]
        else:
            bad = array_of_dtype(out_shape, data.draw(refused_dtypes))
            call, error, words = lambda: linear.backward(bad), TypeError, ["dy", str(bad.dtype)]
    raises_naming(error, call, *words)


@given(vocab=small_sizes, dim=small_sizes, ids_shape=st.lists(small_sizes, min_size=1, max_size=3),
       mistake=st.sampled_from(["float ids", "id too large", "negative id", "dy shape"]), data=st.data())
def test_malformed_embedding_calls_raise_naming_the_argument(vocab, dim, ids_shape, mistake, data):
    embedding, ids = Embedding(vocab, dim), np.zeros(ids_shape, dtype=np.int64)
    if mistake == "float ids":
        bad = ids.astype(data.draw(st.sampled_from([np.float32, np.float64, np.bool_])))
        call, error, words = lambda: embedding(bad), TypeError, ["input", "integer token ids", str(bad.dtype)]
    elif mistake in ("id too large", "negative id"):
        bad = ids.copy()
        bad.flat[data.draw(st.integers(0, bad.size - 1))] = vocab + 2 if mistake == "id too large" else -3
        call, error, words = lambda: embedding(bad), ValueError, ["input", f"[0, {vocab - 1}]"]
    else:
        embedding(ids)
        good = tuple(ids_shape) + (dim,)
        bad = np.ones(data.draw(wrong_shapes(good)))
        call, error, words = lambda: embedding.backward(bad), ValueError, ["dy", str(good), str(bad.shape)]
    raises_naming(error, call, *words)


@given(shape=st.lists(small_sizes, min_size=1, max_size=3), data=st.data(),
       mistake=st.sampled_from(["mse target shape", "mse dtype", "ce target shape", "ce target dtype",
                                "ce target range", "ce mask shape"]))
def test_malformed_loss_calls_raise_naming_the_argument(shape, mistake, data):
    shape = tuple(shape)
    pred, leading, C = np.ones(shape), shape[:-1], shape[-1]
    target = np.zeros(leading, dtype=np.int64)
    if mistake == "mse target shape":
        bad = np.ones(data.draw(wrong_shapes(shape)))
        call, error, words = lambda: mse_loss(pred, bad), ValueError, ["target", str(shape), str(bad.shape)]
    elif mistake == "mse dtype":
        which = data.draw(st.sampled_from(["pred", "target"]))
        bad = array_of_dtype(shape, data.draw(refused_dtypes))
        args = (bad, pred) if which == "pred" else (pred, bad)
        call, error, words = lambda: mse_loss(*args), TypeError, [which, str(bad.dtype)]
    elif mistake == "ce target shape":
        bad = np.zeros(data.draw(wrong_shapes(leading)), dtype=np.int64)
        call, error, words = lambda: cross_entropy(pred, bad), ValueError, ["target", str(leading), str(bad.shape)]
    elif mistake == "ce target dtype":
        bad = target.astype(data.draw(st.sampled_from([np.float64, np.bool_, np.complex128])))
        call, error, words = lambda: cross_entropy(pred, bad), TypeError, ["target", str(bad.dtype)]
    elif mistake == "ce target range":
        bad = target.copy()
        bad.flat[data.draw(st.integers(0, bad.size - 1))] = data.draw(st.sampled_from([-1, C, C + 4]))
        call, error, words = lambda: cross_entropy(pred, bad), ValueError, ["target", f"[0, {C - 1}]"]
    else:
        bad = np.ones(data.draw(wrong_shapes(leading)))
        call, error, words = lambda: cross_entropy(pred, target, bad), ValueError, ["mask", str(leading),
                                                                                   str(bad.shape)]
    raises_naming(error, call, *words)


# ============================================================ 5. fuzzing well-formed calls
def random_array(rng, shape, scale, dtype=np.float64):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def assert_finite(*arrays):
    for array in arrays:
        assert np.all(np.isfinite(array)), "a well-formed call returned nan or inf"


@pytest.mark.filterwarnings("error")     # no overflow or invalid-value warnings either
@given(config=lstm_configs(), sizes=sequence_shapes(), dtype=float_dtypes, scale=input_scales, seed=seeds,
       unbatched=st.booleans(), with_state=st.booleans(), with_lengths=st.booleans(), data=st.data())
def test_well_formed_lstm_calls_return_finite_values_of_the_documented_shapes(
        config, sizes, dtype, scale, seed, unbatched, with_state, with_lengths, data):
    T, N = sizes
    rng = np.random.default_rng(seed)
    lstm = LSTM(dtype=dtype, **config)
    x_shape, h_shape, c_shape, out_shape = lstm_layout(config, T, N)
    if unbatched:   # no batch axis anywhere, and no lengths
        x_shape, out_shape = (T, x_shape[-1]), (T, out_shape[-1])
        h_shape, c_shape = (h_shape[0], h_shape[2]), (c_shape[0], c_shape[2])
    state = (random_array(rng, h_shape, 1.0), random_array(rng, c_shape, 1.0)) if with_state else None
    lengths = data.draw(lengths_for(T, N)) if with_lengths and not unbatched else None
    x = random_array(rng, x_shape, scale)
    out, (h_n, c_n) = lstm(x, state, lengths=lengths)
    assert (out.shape, h_n.shape, c_n.shape) == (out_shape, h_shape, c_shape)
    assert out.dtype == h_n.dtype == c_n.dtype == dtype
    assert_finite(out, h_n, c_n)
    dx, (dh0, dc0) = lstm.backward(random_array(rng, out_shape, 1.0),
                                   (random_array(rng, h_shape, 1.0), random_array(rng, c_shape, 1.0)))
    assert (dx.shape, dh0.shape, dc0.shape) == (x_shape, h_shape, c_shape)
    assert_finite(dx, dh0, dc0, *(p.grad for p in lstm.parameters()))
    assert lstm._caches == []


@pytest.mark.filterwarnings("error")
@given(kind=st.sampled_from(["LSTMCell", "RNNCell"]), I=small_sizes, H=small_sizes, N=small_sizes,
       unbatched=st.booleans(), with_state=st.booleans(), steps=st.integers(1, 4), dtype=float_dtypes,
       scale=input_scales, seed=seeds, nonlinearity=st.sampled_from(["tanh", "relu"]), bias=st.booleans())
def test_well_formed_cell_calls_step_and_step_back(kind, I, H, N, unbatched, with_state, steps, dtype, scale, seed,
                                                   nonlinearity, bias):
    rng = np.random.default_rng(seed)
    lstm = kind == "LSTMCell"
    cell = LSTMCell(I, H, bias=bias, dtype=dtype, seed=seed) if lstm else \
        RNNCell(I, H, bias=bias, nonlinearity=nonlinearity, dtype=dtype, seed=seed)
    batch = () if unbatched else (N,)
    h = random_array(rng, batch + (H,), 1.0) if with_state else None
    state = (h, random_array(rng, batch + (H,), 1.0)) if lstm and with_state else h
    for _ in range(steps):
        result = cell(random_array(rng, batch + (I,), scale), state)
        for array in (result if lstm else (result,)):
            assert array.shape == batch + (H,) and array.dtype == dtype
            assert_finite(array)
        state = result
    for _ in range(steps):
        grads = cell.backward(*((random_array(rng, batch + (H,), 1.0),) * (2 if lstm else 1)))
        dx, d_state = grads
        assert dx.shape == batch + (I,)
        for array in (d_state if lstm else (d_state,)):
            assert array.shape == batch + (H,)
            assert_finite(array)
    assert_finite(*(p.grad for p in cell.parameters()))


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


@pytest.mark.filterwarnings("error")
@given(leading=st.lists(small_sizes, min_size=0, max_size=3), fan_in=small_sizes, fan_out=small_sizes,
       bias=st.booleans(), dtype=float_dtypes, scale=input_scales, seed=seeds)
def test_well_formed_linear_calls(leading, fan_in, fan_out, bias, dtype, scale, seed):
    rng = np.random.default_rng(seed)
    linear = Linear(fan_in, fan_out, bias=bias, dtype=dtype, seed=seed)
    x = random_array(rng, tuple(leading) + (fan_in,), scale)
    y = linear(x)
    assert y.shape == tuple(leading) + (fan_out,) and y.dtype == dtype
    dx = linear.backward(random_array(rng, y.shape, 1.0))
    assert dx.shape == x.shape and dx.dtype == dtype
    assert_finite(y, dx, *(p.grad for p in linear.parameters()))


@pytest.mark.filterwarnings("error")
@given(vocab=small_sizes, dim=small_sizes, ids_shape=st.lists(small_sizes, min_size=0, max_size=3),
       padding=st.booleans(), dtype=float_dtypes, seed=seeds, data=st.data())
def test_well_formed_embedding_calls(vocab, dim, ids_shape, padding, dtype, seed, data):
    embedding = Embedding(vocab, dim, padding_idx=0 if padding else None, dtype=dtype, seed=seed)
    ids = np.array(data.draw(st.lists(st.integers(0, vocab - 1), min_size=int(np.prod(ids_shape)),
                                      max_size=int(np.prod(ids_shape))))).reshape(ids_shape).astype(np.int64)
    y = embedding(ids)
    assert y.shape == tuple(ids_shape) + (dim,) and y.dtype == dtype
    assert embedding.backward(np.ones(y.shape)) is None
    assert_finite(y, embedding.weight.grad)
    if padding:
        assert not np.any(embedding.weight.grad[0])


@pytest.mark.filterwarnings("error")
@given(shape=st.lists(small_sizes, min_size=1, max_size=3), dtype=float_dtypes, scale=input_scales, seed=seeds,
       masked=st.booleans(), data=st.data())
def test_well_formed_loss_calls(shape, dtype, scale, seed, masked, data):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    pred = random_array(rng, shape, scale, dtype)
    loss, dpred = mse_loss(pred, random_array(rng, shape, scale))
    assert np.isfinite(loss) and loss >= 0 and dpred.shape == shape and dpred.dtype == dtype
    target = rng.integers(0, shape[-1], shape[:-1])
    mask = None
    if masked:
        mask = np.asarray(rng.random(shape[:-1]) < 0.5)
        mask.flat[data.draw(st.integers(0, mask.size - 1))] = True     # at least one position is kept
    loss, dlogits = cross_entropy(pred, target, mask)
    assert np.isfinite(loss) and loss >= 0 and dlogits.shape == shape and dlogits.dtype == dtype
    assert_finite(dpred, dlogits)


# ============================================== 6. recurrent modules, models and kernels


@pytest.mark.parametrize("build, flag", [
    (lambda v: LSTM(2, 3, batch_first=v), "batch_first"), (lambda v: LSTM(2, 3, bidirectional=v), "bidirectional"),
    (lambda v: LSTM(2, 3, bias=v), "bias"), (lambda v: LSTMCell(2, 3, bias=v), "bias"),
], ids=["LSTM batch_first", "LSTM bidirectional", "LSTM bias", "LSTMCell bias"])
def test_lstm_flags_must_be_booleans(build, flag):
    raises_naming(TypeError, lambda: build("no"), flag, "True or False", "'no'")


@pytest.mark.parametrize("build", [lambda s: LSTM(2, 3, seed=s), lambda s: LSTMCell(2, 3, seed=s)],
                         ids=["LSTM", "LSTMCell"])
def test_lstm_seeds_are_named(build):
    raises_naming(TypeError, lambda: build("x"), "seed", "non-negative integer", "'x'")


def test_detach_state_names_a_state_that_is_not_two_arrays():
    raises_naming(TypeError, lambda: detach_state((1, 2)), "state[0]")


@pytest.mark.parametrize("make", [
    lambda rng: (LSTM(3, 4), rng.standard_normal((5, 2, 3)), np.ones((5, 2, 4))),
    lambda rng: (LSTMCell(3, 4), rng.standard_normal((2, 3)), np.ones((2, 4))),
], ids=["LSTM", "LSTMCell"])
def test_a_refused_lstm_backward_can_be_corrected_and_retried(make, rng):
    module, x, grad = make(rng)
    module(x)
    with pytest.raises(ValueError, match="must have shape"):
        module.backward(grad[..., :3])
    module.backward(grad)


def test_char_lm_sample_names_a_bad_seed():
    from numpylstm.models import CharLM
    raises_naming(TypeError, lambda: CharLM(5, 3, 4, seed=0).sample([1], 3, seed="x"), "seed", "'x'")


def lstm_kernel_arrays(rng, N=3, I=2, H=4, T=5):
    return dict(x=rng.standard_normal((N, I)), h=rng.standard_normal((N, H)), c=rng.standard_normal((N, H)),
                W_ih=rng.standard_normal((4 * H, I)), W_hh=rng.standard_normal((4 * H, H)),
                b=rng.standard_normal(4 * H), X=rng.standard_normal((T, N, I)))


def step_forward(a, **changes):
    args = dict(x=a["x"], h=a["h"], c=a["c"], W_ih=a["W_ih"], W_hh=a["W_hh"], b_ih=a["b"], b_hh=a["b"])
    return functional.lstm_step_forward(**{**args, **changes})


def sequence_forward(a, kernels=functional, **changes):
    args = dict(x=a["X"], h0=a["h"], c0=a["c"], W_ih=a["W_ih"], W_hh=a["W_hh"], b_ih=a["b"], b_hh=a["b"])
    return kernels.lstm_forward(**{**args, **changes})


@pytest.mark.parametrize("call, fragments", [
    (lambda a: step_forward(a, h=a["h"][:1]), ["lstm_step_forward: h", "(3, 4)", "(1, 4)"]),
    (lambda a: step_forward(a, c=a["c"][0]), ["lstm_step_forward: c", "(3, 4)", "(4,)"]),
    (lambda a: step_forward(a, b_ih=a["b"][:1], b_hh=a["b"][:1]), ["b_ih", "(16,)", "(1,)"]),
    (lambda a: step_forward(a, b_hh=None), ["b_ih without b_hh"]),
    (lambda a: functional.lstm_step_backward(a["h"][:1], None, step_forward(a)[2]),
     ["lstm_step_backward: dh_next", "(3, 4)", "(1, 4)"]),
    (lambda a: functional.lstm_step_backward(a["h"], a["c"][:1], step_forward(a)[2]), ["dc_next", "(1, 4)"]),
], ids=["h", "c", "bias size", "one bias", "dh_next", "dc_next"])
def test_lstm_step_kernels_refuse_shapes_they_would_broadcast(call, fragments, rng):
    raises_naming(ValueError, lambda: call(lstm_kernel_arrays(rng)), *fragments)


# test_fast covers the other arguments of the sequence kernels (x, h0, c0, weights, biases, d_out).
@pytest.mark.parametrize("kernels", [functional, fast], ids=["definition", "fast"])
@pytest.mark.parametrize("call, fragments", [
    (lambda k, a: sequence_forward(a, k, lengths=np.array([2, 3])), ["lstm_forward: lengths", "(3,)", "(2,)"]),
    (lambda k, a: k.lstm_backward(np.zeros((5, 3, 4)), np.zeros((1, 4)), None, sequence_forward(a, k)[3]),
     ["lstm_backward: dh_n", "(3, 4)", "(1, 4)"]),
    (lambda k, a: k.lstm_backward(np.zeros((5, 3, 4)), None, np.zeros(4), sequence_forward(a, k)[3]),
     ["lstm_backward: dc_n", "(3, 4)", "(4,)"]),
], ids=["lengths", "dh_n", "dc_n"])
def test_lstm_sequence_kernels_refuse_lengths_and_state_gradients_they_would_broadcast(kernels, call, fragments,
                                                                                       rng):
    raises_naming(ValueError, lambda: call(kernels, lstm_kernel_arrays(rng)), *fragments)

"""The models: shapes, gradients against finite differences and PyTorch, planted bugs, sampling."""
import numpy as np
import pytest

import numpylstm.models as models
from numpylstm import check_gradients
from numpylstm.gradcheck import rel_error
from numpylstm.layers import Embedding
from numpylstm.models import CharLM, last_hidden, SequenceClassifier, SequenceRegressor, softmax

from assertions import fuzzed_arguments_test, raises_naming

PARITY_TOLERANCE = 1e-9


def parameter_names(model):
    return {name for name, _ in model.named_parameters()}


def assert_distinct_biases(model):
    """Equal or zero biases hide bugs (a swapped bias_ih/bias_hh passes): refuse them."""
    for name, value in model.state_dict().items():
        if ".bias_ih" in name:
            twin = model.state_dict()[name.replace("bias_ih", "bias_hh")]
            assert np.all(value != 0) and np.all(twin != 0) and not np.allclose(value, twin), name


# ------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_regressor_shapes(rng, batch_first, bidirectional):
    T, N = 6, 3
    x = rng.standard_normal((N, T, 2) if batch_first else (T, N, 2))
    last = SequenceRegressor(2, 5, output_size=4, bidirectional=bidirectional, batch_first=batch_first, seed=0)
    every = SequenceRegressor(2, 5, output_size=4, head="every", bidirectional=bidirectional,
                              batch_first=batch_first, seed=0)
    assert last(x).shape == (N, 4)
    assert last.backward(np.ones((N, 4))).shape == x.shape
    assert every(x).shape == x.shape[:2] + (4,)
    assert every.backward(np.ones(x.shape[:2] + (4,))).shape == x.shape
    assert last.head.in_features == (2 if bidirectional else 1) * 5


def test_classifier_and_char_lm_shapes(rng):
    classifier = SequenceClassifier(3, 5, num_classes=4, head_hidden=7, seed=0)
    assert classifier(rng.standard_normal((6, 2, 3))).shape == (2, 4)
    assert classifier.head[0].weight.shape == (7, 5)
    tokens = SequenceClassifier(3, 5, num_classes=4, vocab_size=9, batch_first=True, seed=0)
    assert tokens(rng.integers(0, 9, (2, 6))).shape == (2, 4)
    assert tokens.backward(np.ones((2, 4))) is None
    lm = CharLM(vocab_size=11, embedding_dim=3, hidden_size=5, num_layers=2, seed=0)
    logits, (h_n, c_n) = lm(rng.integers(0, 11, (7, 2)))
    assert logits.shape == (7, 2, 11) and h_n.shape == (2, 2, 5) and c_n.shape == (2, 2, 5)
    none, (dh0, dc0) = lm.backward(np.ones_like(logits))
    assert none is None and dh0.shape == (2, 2, 5) and dc0.shape == (2, 2, 5)


def test_last_hidden_is_the_last_valid_output_of_each_direction(rng):
    """The summary equals out at each sequence's last step (forward) and out at step 0 (reverse)."""
    model = SequenceRegressor(2, 3, bidirectional=True, seed=4)
    x, lengths = rng.standard_normal((5, 3, 2)), np.array([5, 2, 4])
    out, (h_n, _) = model.lstm(x, lengths=lengths)
    model.lstm.clear_caches()
    summary = last_hidden(h_n, 2)
    for n, length in enumerate(lengths):
        np.testing.assert_array_equal(summary[n, :3], out[length - 1, n, :3])
        np.testing.assert_array_equal(summary[n, 3:], out[0, n, 3:])


def test_seeds_make_models_reproducible_and_layers_independent():
    a, b = SequenceRegressor(2, 3, seed=7), SequenceRegressor(2, 3, seed=7)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    c = SequenceRegressor(2, 3, seed=8)
    assert not np.array_equal(a.head.weight.data, c.head.weight.data)


# ------------------------------------------------------- finite-difference checks
@pytest.mark.parametrize("head", ["last", "every"])
@pytest.mark.parametrize("bidirectional, num_layers, batch_first",
                         [(False, 1, False), (True, 2, True), (False, 2, False)])
def test_regressor_gradients(rng, head, bidirectional, num_layers, batch_first):
    model = SequenceRegressor(2, 3, output_size=2, num_layers=num_layers, head=head,
                              bidirectional=bidirectional, batch_first=batch_first, seed=1)
    T, N = 4, 3
    x = rng.standard_normal((N, T, 2) if batch_first else (T, N, 2))
    report = check_gradients(model, (x,))
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == {"input"} | parameter_names(model)


@pytest.mark.parametrize("head", ["last", "every"])
def test_regressor_gradients_with_lengths(rng, head):
    model = SequenceRegressor(2, 3, num_layers=2, head=head, bidirectional=True, seed=2)
    report = check_gradients(model, (rng.standard_normal((5, 3, 2)),), lengths=np.array([2, 5, 3]))
    assert report.passed, str(report)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_gradients(rng, bidirectional):
    model = SequenceClassifier(2, 3, num_classes=4, head_hidden=5, num_layers=2,
                               bidirectional=bidirectional, seed=3)
    report = check_gradients(model, (rng.standard_normal((4, 3, 2)),), lengths=np.array([4, 1, 3]))
    assert report.passed, str(report)
    assert {"head.0.weight", "head.2.bias"} <= {c.name for c in report.checks}


def test_token_classifier_gradients(rng):
    model = SequenceClassifier(3, 4, num_classes=3, vocab_size=6, seed=5)
    report = check_gradients(model, (rng.integers(0, 6, (5, 2)),))
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == parameter_names(model)  # token ids have no gradient


def test_char_lm_gradients(rng):
    model = CharLM(vocab_size=5, embedding_dim=3, hidden_size=4, num_layers=2, seed=6)
    ids = rng.integers(0, 5, (4, 2))
    # repeated ids make the embedding's scatter-add matter
    assert len(np.unique(ids)) < ids.size
    state = (rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4)))
    report = check_gradients(model, (ids, state))
    assert report.passed, str(report)
    assert {c.name for c in report.checks} == {"h0", "c0"} | parameter_names(model)


# ---------------------------------------------------------------- planted bugs
def test_a_gradient_sent_to_the_wrong_layer_is_caught(rng, monkeypatch):
    """Plant a bug in the summary's backward: the head's gradient goes into layer 0's dh_n."""
    real = models.last_hidden_backward

    def wrong_layer(d_summary, h_n_shape, num_directions):
        dh_n = real(d_summary, h_n_shape, num_directions)
        return dh_n[::-1].copy()

    monkeypatch.setattr(models, "last_hidden_backward", wrong_layer)
    model = SequenceRegressor(2, 3, num_layers=2, seed=1)
    report = check_gradients(model, (rng.standard_normal((4, 2, 2)),))
    failed = {c.name for c in report.failures()}
    assert "input" in failed and "lstm.weight_hh_l1" in failed
    assert report["head.weight"].passed and report["head.bias"].passed  # the head itself is right


def test_swapped_directions_are_caught(rng, monkeypatch):
    real = models.last_hidden_backward
    monkeypatch.setattr(models, "last_hidden_backward",
                        lambda d, shape, D: real(d[..., ::-1].copy(), shape, D))
    model = SequenceClassifier(2, 3, num_classes=2, bidirectional=True, seed=2)
    report = check_gradients(model, (rng.standard_normal((4, 2, 2)),))
    assert not report.passed
    assert not report["lstm.weight_ih_l0_reverse"].passed


def test_a_forgotten_embedding_backward_is_caught(rng, monkeypatch):
    monkeypatch.setattr(Embedding, "backward", lambda self, dy: self._pop_cache())
    model = CharLM(vocab_size=4, embedding_dim=2, hidden_size=3, seed=0)
    report = check_gradients(model, (rng.integers(0, 4, (3, 2)),))
    assert [c.name for c in report.failures()] == ["embedding.weight"]


# ---------------------------------------------------------- PyTorch cross-checks
def torch_tensor(torch, array, grad=False):
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=grad)


def torch_lstm(torch, lstm):
    twin = torch.nn.LSTM(lstm.input_size, lstm.hidden_size, num_layers=lstm.num_layers,
                         batch_first=lstm.batch_first, bidirectional=lstm.bidirectional, dtype=torch.float64)
    twin.load_state_dict({k: torch.tensor(v) for k, v in lstm.state_dict().items()})
    return twin


def load_twin(torch, twin, module):
    twin.load_state_dict({k: torch.tensor(v) for k, v in module.state_dict().items()})
    return twin.to(torch.float64)


def assert_grads_match(torch_modules, model):
    """Every parameter gradient of ``model`` against its twin's (prefix -> torch module)."""
    checked = set()
    for prefix, twin in torch_modules.items():
        for name, param in twin.named_parameters():
            ours = dict(model.named_parameters())[f"{prefix}.{name}"].grad
            assert rel_error(ours, param.grad.numpy()) < PARITY_TOLERANCE, f"{prefix}.{name}"
            checked.add(f"{prefix}.{name}")
    assert checked == parameter_names(model)


def test_classifier_matches_torch_with_lengths_and_both_directions(torch, rng):
    model = SequenceClassifier(3, 4, num_classes=3, head_hidden=5, num_layers=2, bidirectional=True, seed=11)
    assert_distinct_biases(model)
    x, lengths = rng.standard_normal((6, 4, 3)), np.array([6, 2, 5, 3])
    d_logits = rng.standard_normal((4, 3))
    logits = model(x, lengths=lengths)
    model.zero_grad()
    dx = model.backward(d_logits)

    lstm = torch_lstm(torch, model.lstm)
    head = load_twin(torch, torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)),
                     model.head)
    tx = torch_tensor(torch, x, grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), enforce_sorted=False)
    _, (h_n, _) = lstm(packed)
    t_logits = head(torch.cat([h_n[-2], h_n[-1]], dim=-1))
    (t_logits * torch.tensor(d_logits)).sum().backward()

    assert rel_error(logits, t_logits.detach().numpy()) < PARITY_TOLERANCE
    assert rel_error(dx, tx.grad.numpy()) < PARITY_TOLERANCE
    assert_grads_match({"lstm": lstm, "head": head}, model)


def test_every_step_regressor_matches_torch(torch, rng):
    model = SequenceRegressor(2, 4, output_size=3, num_layers=2, head="every", batch_first=True, seed=12)
    assert_distinct_biases(model)
    x, dy = rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 5, 3))
    y = model(x)
    model.zero_grad()
    dx = model.backward(dy)

    lstm, head = torch_lstm(torch, model.lstm), load_twin(torch, torch.nn.Linear(4, 3), model.head)
    tx = torch_tensor(torch, x, grad=True)
    t_y = head(lstm(tx)[0])
    (t_y * torch.tensor(dy)).sum().backward()

    assert rel_error(y, t_y.detach().numpy()) < PARITY_TOLERANCE
    assert rel_error(dx, tx.grad.numpy()) < PARITY_TOLERANCE
    assert_grads_match({"lstm": lstm, "head": head}, model)


def test_char_lm_matches_torch(torch, rng):
    model = CharLM(vocab_size=7, embedding_dim=3, hidden_size=4, num_layers=2, seed=13)
    assert_distinct_biases(model)
    ids = rng.integers(0, 7, (5, 2))
    h0, c0 = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4))
    d_logits, dh_n = rng.standard_normal((5, 2, 7)), rng.standard_normal((2, 2, 4))
    logits, (h_n, _) = model(ids, (h0, c0))
    model.zero_grad()
    _, (dh0, dc0) = model.backward(d_logits, (dh_n, None))

    embedding = load_twin(torch, torch.nn.Embedding(7, 3), model.embedding)
    lstm, head = torch_lstm(torch, model.lstm), load_twin(torch, torch.nn.Linear(4, 7), model.head)
    th0, tc0 = torch_tensor(torch, h0, grad=True), torch_tensor(torch, c0, grad=True)
    out, (t_h_n, _) = lstm(embedding(torch.tensor(ids)), (th0, tc0))
    t_logits = head(out)
    ((t_logits * torch.tensor(d_logits)).sum() + (t_h_n * torch.tensor(dh_n)).sum()).backward()

    assert rel_error(logits, t_logits.detach().numpy()) < PARITY_TOLERANCE
    assert rel_error(h_n, t_h_n.detach().numpy()) < PARITY_TOLERANCE
    assert rel_error(dh0, th0.grad.numpy()) < PARITY_TOLERANCE
    assert rel_error(dc0, tc0.grad.numpy()) < PARITY_TOLERANCE
    assert_grads_match({"embedding": embedding, "lstm": lstm, "head": head}, model)


# ---------------------------------------------------------------------- sampling
def greedy_continuation(model, prefix, length):
    """The most likely next id at every step, by running the whole text so far each time."""
    ids = list(prefix)
    for _ in range(length):
        logits, _ = model(np.array(ids)[:, None])
        ids.append(int(np.argmax(logits[-1, 0])))
    model.clear_caches()
    return ids[len(prefix):]


def test_sample_at_a_tiny_temperature_is_greedy_and_leaves_no_caches():
    model = CharLM(vocab_size=6, embedding_dim=4, hidden_size=8, seed=3)
    sample = model.sample([1, 4, 2], length=12, temperature=1e-4, seed=0)
    assert sample.dtype == np.int64 and sample.shape == (12,)
    assert sample.tolist() == greedy_continuation(model, [1, 4, 2], 12)
    assert all(len(m._caches) == 0 for m in model.modules())
    assert model.training  # the mode it had before sampling


def test_sample_is_reproducible_in_range_and_restores_eval_mode():
    model = CharLM(vocab_size=5, embedding_dim=2, hidden_size=3, seed=1).eval()
    a = model.sample([0], length=200, temperature=1.0, seed=42)
    b = model.sample([0], length=200, temperature=1.0, seed=42)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < 5
    assert len(set(a.tolist())) > 1  # temperature 1 samples, it does not just repeat the argmax
    assert not model.training


def test_temperature_sharpens_the_distribution():
    model = CharLM(vocab_size=8, embedding_dim=4, hidden_size=8, seed=2)
    hot = model.sample([3], length=400, temperature=5.0, seed=0)
    cold = model.sample([3], length=400, temperature=0.2, seed=0)
    # the same draws (one seed) concentrate on the likeliest ids when cold, spread out when hot
    assert np.bincount(cold).max() > 1.5 * np.bincount(hot).max()


def test_softmax_is_stable_and_normalised():
    p = softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(3.0), -np.inf]]))
    np.testing.assert_allclose(p, [[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]], rtol=1e-15)


# -------------------------------------------------------------------- bad input
def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"head must be one of \['last', 'every'\], got 'first'"):
        SequenceRegressor(1, 2, head="first")
    with pytest.raises(ValueError, match="output_size must be a positive integer, got 0"):
        SequenceRegressor(1, 2, output_size=0)
    with pytest.raises(TypeError, match="num_classes must be a positive integer, got 2.0"):
        SequenceClassifier(1, 2, num_classes=2.0)
    with pytest.raises(ValueError, match="vocab_size must be a positive integer, got -3"):
        CharLM(-3, 2, 2)
    model = CharLM(4, 2, 3, seed=0)
    with pytest.raises(ValueError, match=r"ids must be \(T, N\) integer token ids, got an array of shape \(5,\)"):
        model(np.arange(4).repeat(2)[:5])
    with pytest.raises(TypeError, match="ids must be an array of integer token ids, got dtype float64"):
        model(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"prefix must be a non-empty 1-D sequence of token ids, got shape \(0,\)"):
        model.sample([], 3)
    with pytest.raises(TypeError, match="prefix must be an array of integer token ids, got dtype float64"):
        model.sample([1.0], 3)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        model.sample([1], 3, temperature=0)
    with pytest.raises(ValueError, match="length must be a positive integer, got 0"):
        model.sample([1], 0)


def test_backward_without_forward_names_the_model():
    with pytest.raises(RuntimeError, match="SequenceRegressor.backward"):
        SequenceRegressor(1, 2).backward(np.zeros((1, 1)))
    with pytest.raises(RuntimeError, match="CharLM.backward"):
        CharLM(3, 2, 2).backward(np.zeros((1, 1, 3)))


def test_batch_first_char_lm_samples_like_the_time_major_one():
    time_major = CharLM(vocab_size=6, embedding_dim=3, hidden_size=5, seed=9)
    batch_first = CharLM(vocab_size=6, embedding_dim=3, hidden_size=5, batch_first=True, seed=9)
    ids = np.array([[1, 2, 3], [4, 5, 0]])
    np.testing.assert_array_equal(batch_first(ids)[0], time_major(ids.T)[0].transpose(1, 0, 2))
    np.testing.assert_array_equal(batch_first.sample([2, 3], 30, temperature=0.7, seed=5),
                                  time_major.sample([2, 3], 30, temperature=0.7, seed=5))


# ----------------------------------------------------------------- saving
@pytest.mark.parametrize("model", [
    SequenceRegressor(2, 3, output_size=2, num_layers=2, head="every", bidirectional=True, batch_first=True, seed=1),
    SequenceClassifier(3, 4, num_classes=5, head_hidden=6, vocab_size=7, seed=2),
    CharLM(vocab_size=6, embedding_dim=3, hidden_size=4, num_layers=2, dtype=np.float32, seed=3),
], ids=lambda model: type(model).__name__)
def test_a_saved_model_is_rebuilt_from_its_stored_configuration(tmp_path, model):
    from numpylstm import io
    path = io.save(model, tmp_path / "model")
    config = io.read_info(path)["config"]
    assert config["class"] == type(model).__name__
    rebuilt = type(model)(**config["args"], seed=99)   # other initial weights ...
    io.load(rebuilt, path)                              # ... replaced by the saved ones
    for (name, saved), (_, loaded) in zip(model.named_parameters(), rebuilt.named_parameters()):
        assert loaded.data.dtype == saved.data.dtype
        np.testing.assert_array_equal(loaded.data, saved.data, err_msg=name)


def test_a_refused_model_backward_changes_nothing_and_can_be_retried(rng):
    """A wrong gradient is refused before any layer adds into .grad or drops its cache."""
    regressor = SequenceRegressor(2, 3, seed=0)
    x = rng.standard_normal((4, 5, 2)) if regressor.lstm.batch_first else rng.standard_normal((5, 4, 2))
    y = regressor(x)
    with pytest.raises(ValueError, match="dy"):
        regressor.backward(np.ones(y.shape[:-1] + (2,)))
    regressor.backward(np.ones_like(y))          # the corrected call works
    assert all(m._caches == [] for m in regressor.modules())

    lm = CharLM(6, 3, 4, seed=0)
    ids = rng.integers(0, 6, size=(5, 2))
    logits, _ = lm(ids)
    with pytest.raises(ValueError, match="dh_n"):
        lm.backward(np.ones_like(logits), (np.ones((1, 2, 5)), None))
    assert all(np.all(p.grad == 0) for p in lm.parameters())
    lm.backward(np.ones_like(logits), (np.ones((1, 2, 4)), None))
    assert all(m._caches == [] for m in lm.modules())


def test_char_lm_sample_names_a_bad_seed():
    from numpylstm.models import CharLM
    raises_naming(TypeError, lambda: CharLM(5, 3, 4, seed=0).sample([1], 3, seed="x"), "seed", "'x'")


# ------------------------------------------------------- issue 14: names, types, temperatures
def test_char_lm_names_its_ids_and_its_logits_gradient(rng):
    model = CharLM(5, 3, 4, seed=0)
    raises_naming(ValueError, lambda: model([[1, 2], [3]]), "ids must be a rectangular", "ragged")
    raises_naming(ValueError, lambda: model(np.array([[1, 7]])), "ids must hold integer token ids in [0, 4]",
                  "from 1 to 7")
    logits, _ = model(rng.integers(0, 5, (3, 2)))
    raises_naming(ValueError, lambda: model.backward(np.zeros((3, 2, 4))), "d_logits", "(3, 2, 5)", "(3, 2, 4)")
    raises_naming(TypeError, lambda: model.backward(np.zeros((3, 2, 5), dtype=int)), "d_logits", "int64")
    model.backward(np.zeros_like(logits))        # the refused calls left the cache for this one


def test_sequence_classifier_names_its_arguments(rng):
    raises_naming(TypeError, lambda: SequenceClassifier(3, 4, 2, vocab_size="7"), "vocab_size", "'7'")
    raises_naming(ValueError, lambda: SequenceClassifier(0, 4, 2, vocab_size=7), "input_size", "got 0")
    tokens = SequenceClassifier(3, 4, 2, vocab_size=7, seed=0)
    raises_naming(ValueError, lambda: tokens(np.array([[1, 9]])), "x must hold integer token ids", "9")
    floats = SequenceClassifier(3, 4, 2, seed=0)
    logits = floats(rng.standard_normal((5, 2, 3)))
    raises_naming(ValueError, lambda: floats.backward(np.zeros((2, 3))), "d_logits", "(2, 2)", "(2, 3)")
    floats.backward(np.zeros_like(logits))


def test_a_head_that_is_not_a_string_is_a_type_error():
    raises_naming(TypeError, lambda: SequenceRegressor(1, 2, head=["last"]), "head", "['last']", "list")


@pytest.mark.parametrize("temperature", [5e-324, 1e-310, 1e-300])
def test_sample_at_a_subnormal_temperature_is_the_greedy_limit(temperature):
    model = CharLM(vocab_size=6, embedding_dim=4, hidden_size=8, seed=3)
    sample = model.sample([1, 4, 2], length=8, temperature=temperature, seed=0)
    assert sample.tolist() == greedy_continuation(model, [1, 4, 2], 8)


def test_sample_refuses_a_length_that_cannot_fit_before_running_the_model(monkeypatch):
    model = CharLM(5, 3, 4, seed=0)

    def ran(*args, **kwargs):
        raise AssertionError("the model ran before the length was refused")
    monkeypatch.setattr(CharLM, "_sample", ran)
    raises_naming(MemoryError, lambda: model.sample([1], 10 ** 19), "CharLM.sample(length=10000000000000000000)",
                  "EiB")


def test_sample_names_logits_that_are_not_finite():
    model = CharLM(5, 3, 4, seed=0)
    model.head.bias.data[2] = np.inf
    raises_naming(ValueError, lambda: model.sample([1], 3), "logits at sampling step 0 are not finite")


def test_models_refuse_masked_input_naming_it():
    x = np.ma.masked_array(np.zeros((5, 2, 1)), mask=np.zeros((5, 2, 1), bool))
    raises_naming(TypeError, lambda: SequenceRegressor(1, 3)(x), "input must be a plain array", "MaskedArray")


# ------------------------------------------------------------- issue 14: fuzzed arguments
MODEL_CALLS = {
    "SequenceRegressor": (SequenceRegressor, dict(input_size=1, hidden_size=3, output_size=1, num_layers=1, head="last",
                                                  bidirectional=False, dropout=0.0, batch_first=False,
                                                  dtype=np.float64, seed=0)),
    "SequenceRegressor.forward": (lambda **kw: SequenceRegressor(1, 3, seed=0)(**kw),
                                  dict(x=np.zeros((4, 2, 1)), lengths=np.array([4, 2]))),
    "SequenceClassifier": (SequenceClassifier, dict(input_size=1, hidden_size=3, num_classes=2, num_layers=1,
                                                    head_hidden=None, vocab_size=None, bidirectional=False,
                                                    dropout=0.0, batch_first=False, dtype=np.float64, seed=0)),
    "SequenceClassifier.forward": (lambda **kw: SequenceClassifier(2, 3, 2, vocab_size=5, seed=0)(**kw),
                                   dict(x=np.zeros((4, 2), int), lengths=None)),
    "CharLM": (CharLM, dict(vocab_size=5, embedding_dim=2, hidden_size=3, num_layers=1, dropout=0.0,
                            batch_first=False, dtype=np.float64, seed=0)),
    "CharLM.forward": (lambda **kw: CharLM(5, 2, 3, seed=0)(**kw), dict(ids=np.zeros((3, 2), int), state=None)),
    "CharLM.backward": (lambda **kw: forward_then(CharLM(5, 2, 3, seed=0), np.zeros((3, 2), int)).backward(**kw),
                        dict(d_logits=np.zeros((3, 2, 5)), d_state=None)),
    "CharLM.sample": (lambda **kw: CharLM(5, 2, 3, seed=0).sample(**kw),
                      dict(prefix=[1], length=3, temperature=1.0, seed=0)),
}
# (the float input x of the models is the LSTM's input, named as PyTorch names it)


def forward_then(model, *inputs):
    model(*inputs)
    return model


test_fuzzed_arguments_are_refused_naming_them = fuzzed_arguments_test(MODEL_CALLS, 300, names={"x": ("x", "input")})

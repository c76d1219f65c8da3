"""Seq2Seq and FeatureSeq2Seq: end-to-end gradient checks, PyTorch parity, greedy decoding and free-running
prediction, small training runs, input checks."""
import numpy as np
import pytest

from numpylstm import io
from numpylstm.gradcheck import check_gradients, rel_error
from numpylstm.interop import to_torch_state_dict
from numpylstm.losses import cross_entropy, mse_loss
from numpylstm.optim import Adam
from numpylstm.seq2seq import Decoder, Encoder, FeatureDecoder, FeatureEncoder, FeatureSeq2Seq, Seq2Seq

from assertions import fuzzed_arguments_test, raises_naming
from torch_reference import assert_distinct_biases

PARITY = 1e-9
VOCAB = 6


def random_ids(rng, shape, vocab=VOCAB):
    return rng.integers(0, vocab, size=shape)


# ------------------------------------------------------------------ gradient check
@pytest.mark.parametrize("options", [dict(), dict(num_layers=2), dict(batch_first=True)], ids=str)
def test_seq2seq_gradients_match_finite_differences_end_to_end(options, rng):
    model = Seq2Seq(VOCAB, 3, 3, seed=0, **options)
    src, tgt_in = random_ids(rng, (4, 2)), random_ids(rng, (3, 2))
    if options.get("batch_first"):
        src, tgt_in = src.T, tgt_in.T
    report = check_gradients(model, (), src=src, tgt_in=tgt_in)   # ids go as keywords: they have no gradient
    assert report.passed, str(report)
    names = {c.name for c in report.checks}
    assert {"encoder.embedding.weight", "decoder.embedding.weight", "decoder.head.weight",
            "encoder.lstm.weight_hh_l0"} <= names
    assert len(names) == len(model.parameters())


def test_seq2seq_gradients_with_padded_sources(rng):
    model = Seq2Seq(VOCAB, 3, 3, seed=1)
    report = check_gradients(model, (), src=random_ids(rng, (4, 3)), tgt_in=random_ids(rng, (2, 3)),
                             src_lengths=np.array([4, 1, 2]))
    assert report.passed, str(report)


class Seq2SeqDroppingTheStateGradient(Seq2Seq):
    def backward(self, d_logits):
        self._pop_cache()
        self.decoder.backward(d_logits)
        self.encoder.backward(None, None)       # planted bug: (dh0, dc0) never reach the encoder
        return None, None


def test_gradient_check_catches_a_backward_that_does_not_reach_the_encoder(rng):
    model = Seq2SeqDroppingTheStateGradient(VOCAB, 3, 3, seed=0)
    report = check_gradients(model, (), src=random_ids(rng, (4, 2)), tgt_in=random_ids(rng, (3, 2)))
    failed = {c.name for c in report.failures()}
    assert failed == {name for name, _ in model.named_parameters() if name.startswith("encoder.")}


# ---------------------------------------------------------------------- PyTorch
def torch_twin(model, torch):
    """The same network from torch.nn pieces, named so that ``model.state_dict()`` loads into it."""
    nn = torch.nn
    E, H = model.encoder.embedding.embedding_dim, model.encoder.lstm.hidden_size
    layers, V_src, V_tgt = model.encoder.lstm.num_layers, model.encoder.embedding.num_embeddings, model.tgt_vocab_size
    twin = nn.ModuleDict({
        "encoder": nn.ModuleDict({"embedding": nn.Embedding(V_src, E), "lstm": nn.LSTM(E, H, layers)}),
        "decoder": nn.ModuleDict({"embedding": nn.Embedding(V_tgt, E), "lstm": nn.LSTM(E, H, layers),
                                  "head": nn.Linear(H, V_tgt)}),
    }).double()
    twin.load_state_dict({name: torch.tensor(value) for name, value in model.state_dict().items()})
    return twin


def torch_forward(twin, src, tgt_in, src_lengths, torch):
    embedded = twin["encoder"]["embedding"](torch.tensor(src))
    if src_lengths is not None:
        embedded = torch.nn.utils.rnn.pack_padded_sequence(embedded, torch.tensor(src_lengths), enforce_sorted=False)
    _, state = twin["encoder"]["lstm"](embedded)
    hidden, _ = twin["decoder"]["lstm"](twin["decoder"]["embedding"](torch.tensor(tgt_in)), state)
    return twin["decoder"]["head"](hidden)


@pytest.mark.parametrize("num_layers, src_lengths", [(1, None), (2, [5, 2, 3])], ids=["plain", "2-layers-padded"])
def test_seq2seq_matches_torch(num_layers, src_lengths, torch, rng):
    model = Seq2Seq(VOCAB, 4, 5, num_layers=num_layers, tgt_vocab_size=VOCAB + 2, seed=3)
    for name, param in model.named_parameters():   # random, non-zero, and different b_ih / b_hh
        if "bias_ih" in name:
            twin_bias = model.state_dict()[name.replace("bias_ih", "bias_hh")]
            assert np.all(param.data != 0) and not np.allclose(param.data, twin_bias)
    src, tgt_in = random_ids(rng, (5, 3)), random_ids(rng, (4, 3), VOCAB + 2)
    lengths = None if src_lengths is None else np.array(src_lengths)
    twin = torch_twin(model, torch)
    logits_t = torch_forward(twin, src, tgt_in, lengths, torch)
    d_logits = rng.standard_normal(tuple(logits_t.shape))
    (logits_t * torch.tensor(d_logits)).sum().backward()

    logits = model(src, tgt_in, src_lengths=lengths)
    assert logits.shape == (4, 3, VOCAB + 2)
    assert rel_error(logits, logits_t.detach().numpy()) < PARITY
    model.backward(d_logits)
    torch_grads = {name: p.grad.numpy() for name, p in twin.named_parameters()}
    assert set(torch_grads) == {name for name, _ in model.named_parameters()}
    for name, param in model.named_parameters():
        assert rel_error(param.grad, torch_grads[name]) < PARITY, name


def test_batch_first_is_the_same_model_transposed(rng):
    time_major, batch_first = Seq2Seq(VOCAB, 3, 4, seed=5), Seq2Seq(VOCAB, 3, 4, batch_first=True, seed=5)
    src, tgt_in = random_ids(rng, (4, 2)), random_ids(rng, (3, 2))
    np.testing.assert_allclose(batch_first(src.T, tgt_in.T), time_major(src, tgt_in).transpose(1, 0, 2), rtol=1e-14)
    tokens, lengths = time_major.greedy_decode(src, 0, 1, 5)
    tokens_bf, lengths_bf = batch_first.greedy_decode(src.T, 0, 1, 5)
    np.testing.assert_array_equal(tokens_bf, tokens.T)
    np.testing.assert_array_equal(lengths_bf, lengths)


def test_decoder_returns_the_gradient_of_its_initial_state(rng):
    """Decoder.backward's (dh0, dc0) against finite differences (the ids are fixed inside the wrapper)."""
    decoder = Decoder(VOCAB, 3, 4, num_layers=2, seed=2)
    tgt_in = random_ids(rng, (3, 2))

    class DecoderFromState(Decoder):
        def forward(self, no_ids, state):   # check_gradients passes None where tgt_in goes
            return super().forward(tgt_in, state)

    wrapped = DecoderFromState(VOCAB, 3, 4, num_layers=2, seed=2)
    state = (rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4)))
    report = check_gradients(wrapped, (None, state))
    assert report.passed, str(report)
    assert {"h0", "c0"} <= {c.name for c in report.checks}
    assert decoder(tgt_in, state)[0].shape == (3, 2, VOCAB)


# ------------------------------------------------------------------ greedy decoding
def test_greedy_decode_stops_at_the_end_token_or_max_len(rng):
    model = Seq2Seq(VOCAB, 3, 4, seed=0)
    src = random_ids(rng, (3, 5))
    model.decoder.head.bias.data[:] = 0
    model.decoder.head.bias.data[1] = 100.0                # the end token always wins
    tokens, lengths = model.greedy_decode(src, start_token=0, end_token=1, max_len=7)
    np.testing.assert_array_equal(tokens, np.ones((1, 5)))
    np.testing.assert_array_equal(lengths, 0)
    model.decoder.head.bias.data[1] = 0
    model.decoder.head.bias.data[3] = 100.0                # token 3 always wins: never ends
    tokens, lengths = model.greedy_decode(src, start_token=0, end_token=1, max_len=7)
    np.testing.assert_array_equal(tokens, np.full((7, 5), 3))
    np.testing.assert_array_equal(lengths, 7)


def test_greedy_decode_records_no_caches_and_restores_the_mode(rng):
    model = Seq2Seq(VOCAB, 3, 4, seed=0)
    model.greedy_decode(random_ids(rng, (3, 2)), 0, 1, 10)
    assert model.training and all(m.training for m in model.modules())
    assert all(m._caches == [] for m in model.modules())
    model.eval().greedy_decode(random_ids(rng, (3, 2)), 0, 1, 10)
    assert not model.training


# -------------------------------------------------------------------- training
SYMBOLS, START, END = 4, 5, 6      # symbols 1..4, 0 pads the sources


def reversal_batch(rng, N, min_len, max_len, pad=0):
    """Sources of symbols 1..SYMBOLS (padded with ``pad``), targets reversed and closed by END."""
    lengths = rng.integers(min_len, max_len + 1, size=N)
    src = np.full((max_len, N), pad)
    tgt_in, tgt_out = np.full((max_len + 1, N), pad), np.full((max_len + 1, N), pad)
    for n, length in enumerate(lengths):
        seq = rng.integers(1, SYMBOLS + 1, size=length)
        src[:length, n] = seq
        tgt_in[:length + 1, n] = np.concatenate([[START], seq[::-1]])
        tgt_out[:length + 1, n] = np.concatenate([seq[::-1], [END]])
    mask = np.arange(max_len + 1)[:, None] <= lengths[None, :]
    return src, lengths, tgt_in, tgt_out, mask


def adam_losses(model, lr, steps, loss_and_gradient):
    """``steps`` Adam steps on one batch; ``loss_and_gradient()`` runs the forward and the loss."""
    optimizer = Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss, d_output = loss_and_gradient()
        model.backward(d_output)
        optimizer.step()
        losses.append(loss)
    return losses


@pytest.fixture(scope="module")
def reverser():
    """A Seq2Seq trained (in well under a second) to reverse 16 fixed sequences of lengths 2-4."""
    rng = np.random.default_rng(0)
    src, lengths, tgt_in, tgt_out, mask = reversal_batch(rng, 16, 2, 4)
    model = Seq2Seq(END + 1, 8, 24, seed=0)
    losses = adam_losses(model, 0.03, 120, lambda: cross_entropy(model(src, tgt_in, src_lengths=lengths), tgt_out,
                                                                  mask))
    return model, src, lengths, losses


def test_seq2seq_learns_to_reverse_a_small_set_of_sequences(reverser):
    model, src, lengths, losses = reverser
    assert losses[-1] < 0.05 * losses[0]
    tokens, decoded_lengths = model.greedy_decode(src, START, END, max_len=6, src_lengths=lengths)
    exact = [decoded_lengths[n] == lengths[n] and np.array_equal(tokens[:lengths[n], n], src[:lengths[n], n][::-1])
             for n in range(len(lengths))]
    assert np.mean(exact) >= 0.9


def test_greedy_decode_agrees_with_teacher_forcing_on_its_own_output(reverser):
    """Feeding the decoded tokens back as tgt_in must reproduce them as the argmax at every step."""
    model, _, _, _ = reverser
    src, lengths, _, _, _ = reversal_batch(np.random.default_rng(1), 12, 1, 6)   # some unseen lengths
    max_len = 5
    tokens, decoded_lengths = model.greedy_decode(src, START, END, max_len, src_lengths=lengths)
    N = src.shape[1]
    assert tokens.dtype == np.int64 and tokens.shape[1] == N and tokens.shape[0] <= max_len
    assert len(set(decoded_lengths.tolist())) > 1        # sequences stopped at different steps
    tgt_in = np.concatenate([np.full((1, N), START), tokens[:-1]])
    predicted = model.eval()(src, tgt_in, src_lengths=lengths).argmax(axis=-1)
    model.train()
    for n in range(N):
        produced = min(decoded_lengths[n] + 1, max_len)   # the tokens actually generated for sequence n
        np.testing.assert_array_equal(tokens[:produced, n], predicted[:produced, n])
        assert np.all(tokens[produced:, n] == END)
        if decoded_lengths[n] < max_len:
            assert tokens[decoded_lengths[n], n] == END and END not in tokens[:decoded_lengths[n], n]


# ------------------------------------------------------------------ input checks
def test_backward_without_forward_names_seq2seq():
    with pytest.raises(RuntimeError, match=r"Seq2Seq.backward\(\) was called without"):
        Seq2Seq(VOCAB, 3, 3).backward(np.zeros((2, 1, VOCAB)))


def test_seq2seq_refuses_bad_input(rng):
    model = Seq2Seq(VOCAB, 3, 3, seed=0)
    with pytest.raises(ValueError, match=r"same number of sequences N, got N=2 in src and N=3 in tgt_in"):
        model(random_ids(rng, (4, 2)), random_ids(rng, (3, 3)))
    with pytest.raises(ValueError, match=r"src must be a 2-D array of token ids \(T, N\), got .* shape \(4,\)"):
        model(random_ids(rng, (4,)), random_ids(rng, (3, 1)))
    with pytest.raises(TypeError, match="integer token ids, got dtype float64"):
        model(rng.standard_normal((4, 2)), random_ids(rng, (3, 2)))
    with pytest.raises(ValueError, match=r"token ids in \[0, 5\].*from 0 to 6"):
        model(np.array([[0, 6]]), random_ids(rng, (3, 2)))
    src = random_ids(rng, (4, 2))
    with pytest.raises(ValueError, match=r"end_token must be an integer in \[0, 5\] \(a token id.*got 6"):
        model.greedy_decode(src, 0, 6, 5)
    with pytest.raises(TypeError, match=r"start_token must be an integer in \[0, 5\]"):
        model.greedy_decode(src, 0.0, 1, 5)
    with pytest.raises(ValueError, match="max_len must be a positive integer, got 0"):
        model.greedy_decode(src, 0, 1, 0)
    assert model.training and all(m._caches == [] for m in model.modules())


def test_encoder_alone_returns_lstm_outputs_and_state(rng):
    encoder = Encoder(VOCAB, 3, 5, num_layers=2, seed=0)
    out, (h_n, c_n) = encoder(random_ids(rng, (4, 3)))
    assert out.shape == (4, 3, 5) and h_n.shape == (2, 3, 5) and c_n.shape == (2, 3, 5)
    np.testing.assert_array_equal(out[-1], h_n[-1])
    assert encoder.backward(np.ones(out.shape), None) is None
    assert np.any(encoder.embedding.weight.grad != 0)


def test_seq2seq_on_device_matches_the_cpu(device, xp, rng):
    from numpylstm.backend import to_numpy
    src, tgt_in = random_ids(rng, (4, 3)), random_ids(rng, (3, 3))
    results = {}
    for where in ("cpu", device):
        array = xp if where == device else np
        model = Seq2Seq(VOCAB, 3, 4, seed=0).to(where)
        logits = model(array.asarray(src), array.asarray(tgt_in))
        _, d_logits = cross_entropy(logits, array.asarray(tgt_in))
        model.backward(d_logits)
        tokens, lengths = model.greedy_decode(array.asarray(src), 0, 1, 4)
        results[where] = [to_numpy(a) for a in (logits, model.encoder.embedding.weight.grad, tokens, lengths)]
    for cpu, other in zip(results["cpu"], results[device]):
        np.testing.assert_allclose(other, cpu, rtol=1e-12, atol=1e-14)


def test_weights_saved_under_the_decoders_old_head_name_still_load():
    """Before 0.2 the decoder's Linear was named ``out``: such state dicts load into ``head``."""
    model = Seq2Seq(6, 3, 4, seed=0)
    old = {name.replace("decoder.head.", "decoder.out."): value for name, value in model.state_dict().items()}
    assert "decoder.out.weight" in old
    other = Seq2Seq(6, 3, 4, seed=1)
    assert other.load_state_dict(old) == ([], [])
    np.testing.assert_array_equal(other.decoder.head.weight.data, model.decoder.head.weight.data)


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


# ------------------------------------------------------------------- issue 14: names and sizes
@pytest.mark.parametrize("call, fragments", [
    (lambda m: m([[1, 2], [3]], np.zeros((2, 2), int)), ["src must be a rectangular", "ragged"]),
    (lambda m: m(np.zeros((2, 2), int), [[1], [2, 3]]), ["tgt_in must be a rectangular", "ragged"]),
    (lambda m: m.greedy_decode([[1, 2], [3]], 1, 2, 5), ["src must be a rectangular", "ragged"]),
    (lambda m: m(np.zeros((3, 2), int), np.zeros((2, 2), int), src_lengths=[[1], [2, 3]]),
     ["src_lengths must be a rectangular", "ragged"]),
    (lambda m: m(np.zeros((3, 2), int), np.zeros((2, 2), int), src_lengths=[1, 4]),
     ["src_lengths must hold values in [1, 3]", "T=3"]),
    (lambda m: m(np.zeros((3, 2), int), np.zeros((2, 2), int), src_lengths=[1.0, 2.0]), ["src_lengths", "float64"]),
    (lambda m: m.greedy_decode(np.zeros((3, 2), int), 1, 2, 5, src_lengths=[1, 2, 3]), ["src_lengths", "(2,)"]),
])
def test_ids_and_lengths_are_named_as_seq2seq_calls_them(call, fragments):
    model = Seq2Seq(VOCAB, 3, 4, seed=0)
    error = TypeError if "float64" in fragments else ValueError
    raises_naming(error, lambda: call(model), *fragments)
    assert all(not m._caches for m in model.modules())


def test_greedy_decode_refuses_a_max_len_that_cannot_fit(monkeypatch):
    model = Seq2Seq(VOCAB, 3, 4, seed=0)

    def ran(*args):
        raise AssertionError("decoding started before max_len was refused")
    monkeypatch.setattr(Seq2Seq, "_greedy_steps", ran)
    raises_naming(MemoryError, lambda: model.greedy_decode(np.zeros((3, 2), int), 1, 2, 10 ** 18),
                  "greedy_decode(max_len=1000000000000000000) of 2 sequences", "EiB")


SEQ2SEQ_CALLS = {
    "Seq2Seq": (Seq2Seq, dict(vocab_size=5, embedding_dim=2, hidden_size=3, num_layers=1, tgt_vocab_size=None,
                              dropout=0.0, batch_first=False, dtype=np.float64, seed=0)),
    "Seq2Seq.forward": (lambda **kw: Seq2Seq(5, 2, 3, seed=0)(**kw),
                        dict(src=np.zeros((3, 2), int), tgt_in=np.zeros((2, 2), int), src_lengths=np.array([3, 1]))),
    "greedy_decode": (lambda **kw: Seq2Seq(5, 2, 3, seed=0).greedy_decode(**kw),
                      dict(src=np.zeros((3, 2), int), start_token=1, end_token=2, max_len=4, src_lengths=None)),
    "Encoder": (Encoder, dict(vocab_size=5, embedding_dim=2, hidden_size=3, num_layers=1, dropout=0.0,
                              batch_first=False, dtype=np.float64, seed=0)),
    "Decoder.forward": (lambda **kw: Decoder(5, 2, 3, seed=0)(**kw), dict(tgt_in=np.zeros((2, 2), int), state=None)),
    "FeatureSeq2Seq": (FeatureSeq2Seq, dict(input_size=3, hidden_size=4, output_size=2, num_layers=1, dropout=0.0,
                                            batch_first=False, dtype=np.float64, seed=0)),
    "FeatureSeq2Seq.forward": (lambda **kw: FeatureSeq2Seq(3, 4, 2, seed=0)(**kw),
                               dict(x=np.zeros((4, 2, 3)), y_in=np.zeros((3, 2, 2)), lengths=np.array([4, 2]))),
    "FeatureSeq2Seq.predict": (lambda **kw: FeatureSeq2Seq(3, 4, 2, seed=0).predict(**kw),
                               dict(x=np.zeros((4, 2, 3)), steps=3, start=np.ones(2), lengths=None)),
    "FeatureSeq2Seq.decoder_input": (lambda **kw: FeatureSeq2Seq(3, 4, 2, seed=0).decoder_input(**kw),
                                     dict(y=np.zeros((3, 2, 2)), start=None)),
}


test_fuzzed_arguments_are_refused_naming_them = fuzzed_arguments_test(SEQ2SEQ_CALLS, 200)


@pytest.mark.parametrize("call, name", [
    (lambda: Decoder(VOCAB, 3, 4, seed=0)(0), "tgt_in"),
    (lambda: Encoder(VOCAB, 3, 4, seed=0)(np.zeros((2, 2, 2), int)), "src"),
])
def test_encoder_and_decoder_name_ids_of_the_wrong_rank(call, name):
    raises_naming(ValueError, call, f"{name} must be token ids (T, N), or (T,) unbatched")


# ==================================================== FeatureSeq2Seq: continuous inputs
def feature_problem(rng, batch_first=False, T_src=4, T_out=3, N=2, input_size=3, output_size=2):
    """x and y_in in the model's layout."""
    x, y_in = rng.standard_normal((T_src, N, input_size)), rng.standard_normal((T_out, N, output_size))
    return (x.transpose(1, 0, 2), y_in.transpose(1, 0, 2)) if batch_first else (x, y_in)


@pytest.mark.parametrize("options", [dict(), dict(num_layers=2), dict(batch_first=True)], ids=str)
def test_feature_seq2seq_gradients_match_finite_differences_end_to_end(options, rng):
    model = FeatureSeq2Seq(3, 3, 2, seed=0, **options)
    report = check_gradients(model, feature_problem(rng, options.get("batch_first", False)))
    assert report.passed, str(report)
    names = {c.name for c in report.checks}
    assert {name for name, _ in model.named_parameters()} <= names
    assert len(names) == len(model.parameters()) + 2          # and both inputs, x and y_in ("input", "h0")


def test_feature_seq2seq_gradients_with_padded_sources(rng):
    model = FeatureSeq2Seq(3, 3, 2, seed=1)
    report = check_gradients(model, feature_problem(rng, N=3), lengths=np.array([4, 1, 2]))
    assert report.passed, str(report)


class FeatureSeq2SeqDroppingTheStateGradient(FeatureSeq2Seq):
    def backward(self, d_pred):
        self._pop_cache()
        d_y_in, _ = self.decoder.backward(d_pred)
        dx = self.encoder.backward(None, None)     # planted bug: (dh0, dc0) never reach the encoder
        return dx, d_y_in


def test_gradient_check_catches_a_feature_backward_that_does_not_reach_the_encoder(rng):
    model = FeatureSeq2SeqDroppingTheStateGradient(3, 3, 2, seed=0)
    report = check_gradients(model, feature_problem(rng))
    failed = {c.name for c in report.failures()}
    # x's gradient ("input") is wrong too; y_in's (which check_gradients labels "h0") is right
    assert failed == {name for name, _ in model.named_parameters() if name.startswith("encoder.")} | {"input"}


def test_feature_decoder_returns_the_gradients_of_its_input_and_initial_state(rng):
    decoder = FeatureDecoder(2, 4, num_layers=2, seed=2)
    state = (rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)))
    report = check_gradients(decoder, (rng.standard_normal((5, 3, 2)), state))
    assert report.passed, str(report)
    assert {"input", "h0", "c0"} <= {c.name for c in report.checks}


def torch_feature_twin(model, torch):
    """The same network from torch.nn pieces, named so that ``to_torch_state_dict(model)`` loads into it."""
    nn, lstm = torch.nn, model.encoder.lstm
    options = dict(num_layers=lstm.num_layers, batch_first=lstm.batch_first, dtype=torch.float64)
    twin = nn.ModuleDict({
        "encoder": nn.ModuleDict({"lstm": nn.LSTM(model.input_size, lstm.hidden_size, **options)}),
        "decoder": nn.ModuleDict({"lstm": nn.LSTM(model.output_size, lstm.hidden_size, **options),
                                  "head": nn.Linear(lstm.hidden_size, model.output_size, dtype=torch.float64)}),
    })
    twin.load_state_dict(to_torch_state_dict(model))
    return twin


def torch_feature_forward(twin, x, y_in, lengths, torch):
    if lengths is not None:
        x = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=twin["encoder"]["lstm"]
                                                    .batch_first, enforce_sorted=False)
    _, state = twin["encoder"]["lstm"](x)
    hidden, _ = twin["decoder"]["lstm"](y_in, state)
    return twin["decoder"]["head"](hidden)


@pytest.mark.parametrize("num_layers, batch_first, lengths", [(1, False, None), (2, True, [4, 2, 3])],
                         ids=["plain", "2-layers-batch-first-padded"])
def test_feature_seq2seq_matches_torch(num_layers, batch_first, lengths, torch, rng):
    model = FeatureSeq2Seq(3, 5, 2, num_layers=num_layers, batch_first=batch_first, seed=3)
    assert_distinct_biases(model.encoder.lstm), assert_distinct_biases(model.decoder.lstm)
    x, y_in = feature_problem(rng, batch_first, N=3)
    lengths = None if lengths is None else np.array(lengths)
    x_t, y_t = torch.tensor(x, requires_grad=True), torch.tensor(y_in, requires_grad=True)
    twin = torch_feature_twin(model, torch)
    pred_t = torch_feature_forward(twin, x_t, y_t, lengths, torch)
    d_pred = rng.standard_normal(tuple(pred_t.shape))
    (pred_t * torch.tensor(d_pred)).sum().backward()

    pred = model(x, y_in, lengths=lengths)
    dx, d_y_in = model.backward(d_pred)
    assert rel_error(pred, pred_t.detach().numpy()) < PARITY
    assert rel_error(dx, x_t.grad.numpy()) < PARITY and rel_error(d_y_in, y_t.grad.numpy()) < PARITY
    torch_grads = {name: p.grad.numpy() for name, p in twin.named_parameters()}
    assert set(torch_grads) == {name for name, _ in model.named_parameters()}
    for name, param in model.named_parameters():
        assert rel_error(param.grad, torch_grads[name]) < PARITY, name


def test_feature_batch_first_is_the_same_model_transposed(rng):
    time_major, batch_first = FeatureSeq2Seq(3, 4, 2, seed=5), FeatureSeq2Seq(3, 4, 2, batch_first=True, seed=5)
    x, y = feature_problem(rng)
    swap = lambda a: a.transpose(1, 0, 2)  # noqa: E731
    np.testing.assert_allclose(batch_first(swap(x), swap(y)), swap(time_major(x, y)), rtol=1e-14)
    np.testing.assert_array_equal(batch_first.decoder_input(swap(y)), swap(time_major.decoder_input(y)))
    np.testing.assert_allclose(batch_first.predict(swap(x), 4), swap(time_major.predict(x, 4)), rtol=1e-14)


# ------------------------------------------------------ teacher forcing and prediction
def test_decoder_input_is_the_target_shifted_behind_the_start_frame(rng):
    model = FeatureSeq2Seq(3, 4, 2, seed=0)
    y = rng.standard_normal((4, 3, 2))
    shifted = model.decoder_input(y)
    np.testing.assert_array_equal(shifted[1:], y[:-1])
    np.testing.assert_array_equal(shifted[0], np.zeros((3, 2)))
    np.testing.assert_array_equal(model.decoder_input(y, start=np.array([1.0, -2.0]))[0], [[1.0, -2.0]] * 3)
    start = rng.standard_normal((3, 2))
    np.testing.assert_array_equal(model.decoder_input(y, start=start)[0], start)
    np.testing.assert_array_equal(model.decoder_input(y[:1], start=start), start[None])   # T = 1: the start alone


@pytest.mark.parametrize("start", [None, "one frame", "per sequence"])
def test_predict_is_teacher_forcing_on_its_own_predictions(start, rng):
    """Fed back as y_in, the free-running frames must reproduce themselves at every step."""
    model = FeatureSeq2Seq(3, 4, 2, num_layers=2, dropout=0.5, seed=4)
    x = rng.standard_normal((5, 3, 3))
    start = {None: None, "one frame": rng.standard_normal(2), "per sequence": rng.standard_normal((3, 2))}[start]
    free = model.predict(x, 6, start=start)
    assert free.shape == (6, 3, 2)
    assert model.training and all(m._caches == [] for m in model.modules())   # eval inside, restored after
    forced = model.eval()(x, model.decoder_input(free, start=start))
    np.testing.assert_allclose(forced, free, rtol=1e-13, atol=1e-15)
    assert rel_error(model.predict(x, 6, start=None if start is not None else np.ones(2)), free) > 1e-3


def test_predict_with_padded_sources_reads_each_sequence_to_its_own_end(rng):
    model = FeatureSeq2Seq(3, 4, 2, seed=2)
    x = rng.standard_normal((5, 2, 3))
    padded = model.predict(x, 3, lengths=np.array([5, 2]))
    np.testing.assert_allclose(padded[:, 1], model.predict(x[:2, 1:], 3)[:, 0], rtol=1e-13)


@pytest.fixture(scope="module")
def sine_continuer():
    """A FeatureSeq2Seq trained with teacher forcing to continue 32 sine waves (about a second)."""
    rng = np.random.default_rng(0)
    phase, frequency = rng.uniform(0, 2 * np.pi, 32), rng.uniform(0.3, 0.6, 32)
    series = np.sin(frequency * np.arange(18)[:, None] + phase)[..., None]      # (T, N, 1)
    x, y = series[:12], series[12:]
    model = FeatureSeq2Seq(1, 16, 1, seed=0)
    losses = adam_losses(model, 0.02, 150, lambda: mse_loss(model(x, model.decoder_input(y, start=x[-1])), y))
    return model, x, y, losses


def test_feature_seq2seq_learns_to_continue_sine_waves(sine_continuer):
    model, x, y, losses = sine_continuer
    assert losses[-1] < 0.01 * losses[0]
    free_running_error, _ = mse_loss(model.predict(x, 6, start=x[-1]), y)
    assert free_running_error < 0.05 * float(np.mean(y ** 2))     # far better than predicting zeros


# ------------------------------------------------------------------ input checks
def test_feature_seq2seq_names_bad_inputs(rng):
    model = FeatureSeq2Seq(3, 4, 2, seed=0)
    x, y_in = feature_problem(rng)
    raises_naming(ValueError, lambda: model(x, y_in[:, :1]), "x and y_in", "N=2 in x", "N=1 in y_in")
    raises_naming(ValueError, lambda: model(x[..., :2], y_in), "x", "3 features", "(T, N, 3)", "(4, 2, 2)")
    raises_naming(ValueError, lambda: model(x, x), "y_in", "2 features", "(T, N, 2)", "(4, 2, 3)")
    raises_naming(ValueError, lambda: model(x[0], y_in), "x", "3-D", "(2, 3)")
    raises_naming(TypeError, lambda: model(x.astype(int), y_in), "x", "int64")
    raises_naming(ValueError, lambda: model.predict(x, 0), "steps", "positive", "0")
    raises_naming(ValueError, lambda: model.predict(x, 2, start=np.zeros((3, 2))), "start", "(2, 2)", "(2,)", "(3, 2)")
    raises_naming(ValueError, lambda: model.decoder_input(x), "y", "2 features")
    raises_naming(ValueError, lambda: FeatureSeq2Seq(3, 4, 2, batch_first=True)(x[..., :1], y_in), "x", "(N, T, 3)")
    assert all(m._caches == [] for m in model.modules())
    model(x, y_in)
    raises_naming(ValueError, lambda: model.backward(np.zeros((2, 2, 2))), "d_pred", "(3, 2, 2)", "(2, 2, 2)")
    model.backward(np.zeros((3, 2, 2)))           # the refused backward kept the forward's cache
    raises_naming(RuntimeError, lambda: model.backward(np.zeros((3, 2, 2))), "FeatureSeq2Seq.backward()")


@pytest.mark.parametrize("change, error, fragments", [
    (dict(input_size=0), ValueError, ["input_size", "0"]),
    (dict(output_size="2"), TypeError, ["output_size", "'2'"]),
    (dict(hidden_size=-1), ValueError, ["hidden_size", "-1"]),
    (dict(batch_first="yes"), TypeError, ["batch_first", "'yes'"]),
])
def test_feature_seq2seq_constructor_errors_use_its_own_argument_names(change, error, fragments):
    arguments = {**dict(input_size=3, hidden_size=4, output_size=2), **change}
    raises_naming(error, lambda: FeatureSeq2Seq(**arguments), *fragments)


def test_feature_encoder_and_decoder_name_their_arguments(rng):
    encoder, decoder = FeatureEncoder(3, 4, seed=0), FeatureDecoder(2, 4, seed=1)
    raises_naming(ValueError, lambda: encoder(np.zeros((5, 2, 2))), "x", "3 features")
    raises_naming(ValueError, lambda: decoder(np.zeros((5, 2, 3))), "y_in", "2 features")
    out, (h_n, c_n) = encoder(rng.standard_normal((5, 2, 3)))
    np.testing.assert_array_equal(out[-1], h_n[-1])
    assert encoder.backward(None, (np.ones((1, 2, 4)), None)).shape == (5, 2, 3)


# ------------------------------------------------------------ saving, devices, dtypes
@pytest.mark.parametrize("build", [lambda: FeatureSeq2Seq(3, 4, 2, num_layers=2, dropout=0.25, batch_first=True,
                                                          dtype=np.float32, seed=0),
                                   lambda: FeatureEncoder(3, 4, seed=1), lambda: FeatureDecoder(2, 5, seed=2)],
                         ids=["FeatureSeq2Seq", "FeatureEncoder", "FeatureDecoder"])
def test_load_model_rebuilds_the_feature_models(build, tmp_path):
    model = build()
    rebuilt = io.load_model(io.save(model, tmp_path / "model"))
    assert type(rebuilt) is type(model) and repr(rebuilt) == repr(model)
    assert io.module_config(rebuilt) == io.module_config(model)
    for (name, a), (_, b) in zip(model.state_dict().items(), rebuilt.state_dict().items()):
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b)


def test_feature_seq2seq_in_float32_matches_float64(rng):
    x, y_in = feature_problem(rng)
    wide, narrow = FeatureSeq2Seq(3, 4, 2, seed=0), FeatureSeq2Seq(3, 4, 2, dtype=np.float32, seed=0)
    pred = narrow(x, y_in)
    assert pred.dtype == np.float32 and narrow.predict(x, 2).dtype == np.float32
    assert rel_error(pred, wide(x, y_in)) < 1e-6


def test_feature_seq2seq_on_device_matches_the_cpu(device, xp, rng):
    from numpylstm.backend import to_numpy
    x, y = feature_problem(rng)
    results = {}
    for where in ("cpu", device):
        array = xp if where == device else np
        model = FeatureSeq2Seq(3, 4, 2, seed=0).to(where)
        pred = model(array.asarray(x), model.decoder_input(array.asarray(y)))
        _, d_pred = mse_loss(pred, array.asarray(y))
        dx, _ = model.backward(d_pred)
        results[where] = [to_numpy(a) for a in (pred, dx, model.encoder.lstm.weight_ih_l0.grad,
                                                model.predict(array.asarray(x), 3))]
    for cpu, other in zip(results["cpu"], results[device]):
        np.testing.assert_allclose(other, cpu, rtol=1e-12, atol=1e-14)


def test_feature_predict_refuses_steps_whose_frames_cannot_fit(monkeypatch):
    model = FeatureSeq2Seq(3, 4, 2, seed=0)

    def ran(*args, **kwargs):
        raise AssertionError("the encoder ran before steps was refused")
    monkeypatch.setattr(model.encoder, "forward", ran)
    raises_naming(MemoryError, lambda: model.predict(np.zeros((4, 2, 3)), 10 ** 18),
                  "predict(steps=1000000000000000000) of 2 sequences", "EiB")

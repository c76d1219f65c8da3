r"""Small models people build with LSTMs, each a ``Module`` with a hand-written backward.

- ``SequenceRegressor``: LSTM + Linear head, on the last step (one number per
  sequence: the value after a sine window, the adding problem's sum) or on
  every step (a prediction at each time step).
- ``SequenceClassifier``: LSTM + MLP head (Linear -> ReLU -> Linear) on the
  last step, giving class logits.
- ``CharLM``: Embedding + LSTM + Linear, logits for the next character at every
  step, and ``sample`` to generate text at a temperature.

"The last step" is read from the LSTM's final hidden state ``h_n`` of the top
layer, not from ``out[-1]``: with ``lengths`` that is each sequence's own last
step, and with ``bidirectional=True`` it joins the forward direction's last
step with the reverse direction's (which has read the whole sequence)::

    summary = concat(h_n[-D], ..., h_n[-1])     # (N, D*P), D = 1 or 2 directions

Its backward puts the gradient back into ``dh_n`` (zero for the lower layers)
and lets ``LSTM.backward`` carry it through time.

Every model follows ``numpylstm.module``: ``forward`` records a cache in
training mode, ``backward`` pops it, adds into every ``Parameter.grad`` and
returns the gradient with respect to the (float) input.
"""

import numpy as np

from . import _validate as check
from .backend import get_array_module, to_numpy
from .layers import Embedding, Linear, mlp, spawn_seeds
from .losses import log_softmax
from .module import Module, eval_mode
from .recurrent import LSTM

HEADS = ("last", "every")


# ------------------------------------------------------- the last step of an LSTM
def last_hidden(h_n, num_directions):
    """The top layer's final hidden state, directions joined: (N, D*P) from h_n (L*D, N, P).

    Unbatched h_n (L*D, P) gives (D*P,).
    """
    xp = get_array_module(h_n)
    return xp.concatenate([h_n[k] for k in range(-num_directions, 0)], axis=-1)


def last_hidden_backward(d_summary, h_n_shape, num_directions):
    """``dh_n`` of shape ``h_n_shape`` from ``d_summary`` (..., D*P): zeros except the top layer."""
    xp = get_array_module(d_summary)
    dh_n = xp.zeros(h_n_shape, dtype=d_summary.dtype)
    for k, d_direction in enumerate(xp.split(d_summary, num_directions, axis=-1)):
        dh_n[k - num_directions] = d_direction
    return dh_n


class _LSTMBody(Module):
    """Shared by the models: an ``LSTM``, the bookkeeping of its last-step summary, and ``config``."""

    def config(self):
        """The constructor arguments that rebuild this model (``numpylstm.io.save`` stores them)."""
        return dict(self._config)

    def _build_lstm(self, input_size, hidden_size, num_layers, bidirectional, dropout, batch_first,
                    dtype, seed):
        self.lstm = LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=batch_first,
                         dropout=dropout, bidirectional=bidirectional, dtype=dtype, seed=seed)
        return self.lstm.num_directions * self.lstm.output_size

    def _summary_forward(self, x, lengths):
        """The top layer's last step (N, D*P), and the shapes its backward needs."""
        out, (h_n, _) = self.lstm(x, lengths=lengths)
        return last_hidden(h_n, self.lstm.num_directions), (h_n.shape, out.shape)

    def _summary_backward(self, d_summary, shapes):
        """``dx`` from the gradient of the summary; the outputs at every step get no gradient."""
        h_n_shape, out_shape = shapes
        xp = get_array_module(d_summary)
        dh_n = last_hidden_backward(d_summary, h_n_shape, self.lstm.num_directions)
        dx, _ = self.lstm.backward(xp.zeros(out_shape, dtype=d_summary.dtype), (dh_n, None))
        return dx


# ----------------------------------------------------------------- regression
class SequenceRegressor(_LSTMBody):
    r"""An LSTM with a Linear head: ``y = W h + b`` on the last step or on every step.

    Parameters
    ----------
    input_size : int
        Features per time step (1 for a univariate series, 2 for the adding problem).
    hidden_size : int
    output_size : int
        Numbers predicted per sequence (``head="last"``) or per step (``head="every"``).
    num_layers, bidirectional, dropout, batch_first : as ``LSTM``
    head : "last" or "every"
        ``"last"``: one prediction per sequence, from the top layer's final hidden
        state (each sequence's own last step with ``lengths``).
        ``"every"``: a prediction at every step, from the LSTM output.
    dtype : float32 or float64
    seed : int or None
        Seeds the LSTM and the head.

    Shapes
    ------
    ``y = model(x, lengths=None)``, x (T, N, input_size) ((N, T, input_size) with batch_first):

    - ``head="last"``: y (N, output_size)
    - ``head="every"``: y (T, N, output_size) ((N, T, output_size) with batch_first). With
      ``lengths``, predictions past a sequence's end are the head's bias: mask them in the loss.

    ``dx = model.backward(dy)``: dy of y's shape, dx of x's shape.

    Example
    -------
    >>> model = SequenceRegressor(1, 32, seed=0)          # the next value of a series
    >>> model(np.zeros((20, 8, 1))).shape                # 8 windows of 20 steps
    (8, 1)
    >>> SequenceRegressor(1, 32, head="every")(np.zeros((20, 8, 1))).shape
    (20, 8, 1)
    """

    def __init__(self, input_size, hidden_size, output_size=1, num_layers=1, head="last",
                 bidirectional=False, dropout=0.0, batch_first=False, dtype=np.float64, seed=None):
        super().__init__()
        self.predict_at = check.one_of(head, "head", HEADS)   # which steps the head reads: "last" or "every"
        lstm_seed, head_seed = spawn_seeds(seed, 2)
        features = self._build_lstm(input_size, hidden_size, num_layers, bidirectional, dropout,
                                    batch_first, dtype, lstm_seed)
        self.head = Linear(features, check.positive_int(output_size, "output_size"), dtype=dtype,
                           seed=head_seed)
        self._config = dict(input_size=input_size, hidden_size=hidden_size, output_size=output_size,
                            num_layers=num_layers, head=head, bidirectional=bool(bidirectional),
                            dropout=float(dropout), batch_first=bool(batch_first), dtype=str(self.dtype))

    def extra_repr(self):
        return f"head={self.predict_at!r}"

    def forward(self, x, lengths=None):
        if self.predict_at == "every":
            out, _ = self.lstm(x, lengths=lengths)
            self._push_cache(None)  # one cache per forward, so backward pairs with it
            return self.head(out)
        summary, shapes = self._summary_forward(x, lengths)
        y = self.head(summary)
        self._push_cache(shapes)
        return y

    def backward(self, dy):
        shapes = self._pop_cache()
        d_features = self.head.backward(dy)
        if self.predict_at == "every":
            dx, _ = self.lstm.backward(d_features)
            return dx
        return self._summary_backward(d_features, shapes)


# ------------------------------------------------------------- classification
class SequenceClassifier(_LSTMBody):
    r"""An LSTM whose last step feeds an MLP head (Linear -> ReLU -> Linear) giving class logits.

    Parameters
    ----------
    input_size : int
        Features per time step (with ``vocab_size``: the width of the token embedding).
    hidden_size : int
    num_classes : int
    num_layers, bidirectional, dropout, batch_first : as ``LSTM``
    head_hidden : int or None
        Width of the MLP's hidden layer (default: hidden_size).
    vocab_size : int or None
        If given, inputs are integer token ids, embedded by an ``Embedding(vocab_size,
        input_size)`` first; otherwise inputs are float features.
    dtype : float32 or float64
    seed : int or None

    Shapes
    ------
    ``logits = model(x, lengths=None)``: x (T, N, input_size) floats, or (T, N) token ids with
    ``vocab_size`` ((N, T, ...) with batch_first); logits (N, num_classes).
    ``probabilities = softmax(logits)``; train with ``cross_entropy(logits, labels)``.

    ``dx = model.backward(d_logits)``: dx of x's shape (None for token ids).
    """

    def __init__(self, input_size, hidden_size, num_classes, num_layers=1, head_hidden=None,
                 vocab_size=None, bidirectional=False, dropout=0.0, batch_first=False,
                 dtype=np.float64, seed=None):
        super().__init__()
        embed_seed, lstm_seed, head_seed = spawn_seeds(seed, 3)
        input_size = check.positive_int(input_size, "input_size")   # named here: the Embedding calls it embedding_dim
        if vocab_size is not None:
            vocab_size = check.positive_int(vocab_size, "vocab_size")
            self.embedding = Embedding(vocab_size, input_size, dtype=dtype, seed=embed_seed)
        else:
            self.embedding = None
        features = self._build_lstm(input_size, hidden_size, num_layers, bidirectional, dropout,
                                    batch_first, dtype, lstm_seed)
        head_hidden = hidden_size if head_hidden is None else head_hidden
        self.head = mlp(features, check.positive_int(head_hidden, "head_hidden"),
                        check.positive_int(num_classes, "num_classes"), dtype=dtype, seed=head_seed)
        self._config = dict(input_size=input_size, hidden_size=hidden_size, num_classes=num_classes,
                            num_layers=num_layers, head_hidden=head_hidden, vocab_size=vocab_size,
                            bidirectional=bool(bidirectional), dropout=float(dropout),
                            batch_first=bool(batch_first), dtype=str(self.dtype))

    def forward(self, x, lengths=None):
        if self.embedding is not None:
            x = self.embedding(x, name="x")
        summary, shapes = self._summary_forward(x, lengths)
        logits = self.head(summary)
        self._push_cache((shapes, logits.shape))
        return logits

    def backward(self, d_logits):
        shapes, logits_shape = self._pop_cache()
        d_logits = check.output_grad(d_logits, "d_logits", logits_shape, self.dtype)
        d_summary = self.head.backward(d_logits)
        dx = self._summary_backward(d_summary, shapes)
        if self.embedding is not None:
            return self.embedding.backward(dx)  # None: token ids have no gradient
        return dx


# ---------------------------------------------------------- character language model
class CharLM(_LSTMBody):
    r"""A character-level language model: Embedding -> LSTM -> Linear, logits at every step.

    At step t it reads character ``ids[t]`` and scores every character as the
    next one: ``logits[t] = W_out h_t + b_out``, ``p(ids[t+1] | ids[..t]) =
    softmax(logits[t])``. Train it with ``cross_entropy(logits, next_ids)``
    (``numpylstm.data.char_windows`` makes the pairs).

    Parameters
    ----------
    vocab_size : int
        Number of distinct characters; ids run from 0 to vocab_size - 1.
    embedding_dim : int
    hidden_size : int
    num_layers, dropout, batch_first : as ``LSTM``
    dtype : float32 or float64
    seed : int or None

    Shapes
    ------
    ``logits, (h_n, c_n) = model(ids, state=None)``: ids (T, N) integers ((N, T) with
    batch_first), logits (T, N, vocab_size) ((N, T, vocab_size)); state and (h_n, c_n) as
    ``LSTM``'s, (num_layers, N, hidden_size), so a long text can be read in chunks by
    passing each chunk's final state to the next.

    ``_, (dh0, dc0) = model.backward(d_logits, d_state=None)``: the first item is None
    (integer ids have no gradient), in the place of ``LSTM.backward``'s ``dx``.
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0,
                 batch_first=False, dtype=np.float64, seed=None):
        super().__init__()
        embed_seed, lstm_seed, head_seed = spawn_seeds(seed, 3)
        self.vocab_size = check.positive_int(vocab_size, "vocab_size")
        self.embedding = Embedding(self.vocab_size, embedding_dim, dtype=dtype, seed=embed_seed)
        self.lstm = LSTM(self.embedding.embedding_dim, hidden_size, num_layers=num_layers,
                         dropout=dropout, batch_first=batch_first, dtype=dtype, seed=lstm_seed)
        self.head = Linear(self.lstm.hidden_size, self.vocab_size, dtype=dtype, seed=head_seed)
        self._config = dict(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size,
                            num_layers=num_layers, dropout=float(dropout), batch_first=bool(batch_first),
                            dtype=str(self.dtype))

    def forward(self, ids, state=None):
        ids = self._check_ids(ids)
        out, state = self.lstm(self.embedding(ids, name="ids"), state)
        logits = self.head(out)
        self._push_cache(logits.shape)  # also a marker, so a stray backward names CharLM
        return logits, state

    def backward(self, d_logits, d_state=None):
        d_logits = check.output_grad(d_logits, "d_logits", self._pop_cache(), self.dtype)
        d_out = self.head.backward(d_logits)
        d_embedded, d_state0 = self.lstm.backward(d_out, d_state)
        self.embedding.backward(d_embedded)
        return None, d_state0

    def _check_ids(self, ids):
        ids = check.integer_array(ids, "ids", what="integer token ids")
        layout = "(N, T)" if self.lstm.batch_first else "(T, N)"
        check.ndim_in(ids, "ids", (2,), f"{layout} integer token ids")
        return ids

    def sample(self, prefix, length, temperature=1.0, seed=None):
        r"""Generate ``length`` characters after ``prefix``, one at a time.

        Each step draws the next id from ``softmax(logits / temperature)`` and feeds
        it back in. Temperature 1 samples the model's own distribution; below 1 it
        sharpens towards the most likely character (repetitive, safe), above 1 it
        flattens towards uniform (inventive, misspelled). Any temperature > 0 works:
        the logits are shifted by their maximum before the division, so a tiny one
        (even a subnormal 5e-324) gives the limit, always the most likely character.

        Runs in ``eval()`` mode (no dropout, no caches recorded, so nothing piles up)
        and restores the previous mode afterwards.

        Parameters
        ----------
        prefix : sequence of int, length >= 1
            Ids to read first (the prompt), e.g. ``vocab.encode("Shall I ")``.
        length : int >= 1
            Number of ids to generate.
        temperature : float > 0
        seed : int or None
            Seeds the draws, so a sample is reproducible.

        Returns
        -------
        ndarray of int64, shape (length,): the generated ids (without the prefix)
        """
        prefix = self._check_prefix(prefix)
        length = check.positive_int(length, "length")
        check.fits_in_memory(length, np.int64, f"CharLM.sample(length={length})", "the ids it generates")
        temperature = check.positive_real(temperature, "temperature")
        rng = np.random.default_rng(check.seed(seed))
        with eval_mode(self):
            return self._sample(prefix, length, temperature, rng)

    def _sample(self, prefix, length, temperature, rng):
        xp = get_array_module(self.head.weight.data)
        column = (lambda ids: xp.asarray(ids)[None, :]) if self.lstm.batch_first else \
                 (lambda ids: xp.asarray(ids)[:, None])
        logits, state = self(column(prefix))
        generated = np.empty(length, dtype=np.int64)
        for t in range(length):
            last = logits[0, -1] if self.lstm.batch_first else logits[-1, 0]
            generated[t] = rng.choice(self.vocab_size, p=tempered_softmax(to_numpy(last), temperature, t))
            logits, state = self(column(generated[t:t + 1]), state)
        return generated

    def _check_prefix(self, prefix):
        prefix = check.host_array(prefix, "prefix", "an array of integer token ids")
        if prefix.ndim != 1 or prefix.shape[0] == 0:   # before the dtype: [] is an array of floats
            raise ValueError(f"prefix must be a non-empty 1-D sequence of token ids, got shape {tuple(prefix.shape)}")
        prefix = check.integer_array(prefix, "prefix", 0, self.vocab_size - 1, what="integer token ids",
                                     context=f" (vocabulary of {self.vocab_size})")
        return to_numpy(prefix).astype(np.int64)


def tempered_softmax(logits, temperature, step):
    """``softmax(logits / temperature)`` for any temperature > 0, from (V,) logits.

    The logits are shifted by their maximum first, so every scaled value is <= 0:
    a tiny temperature sends the others to -inf (probability 0) and keeps the
    maximum at 0, instead of inf - inf = nan. Non-finite logits (a model whose
    weights diverged) are refused, naming the step.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if not np.isfinite(logits).all():
        raise ValueError(f"the model's logits at sampling step {step} are not finite ({logits.min()} to "
                         f"{logits.max()}): its weights hold nan or inf")
    with np.errstate(over="ignore"):   # (shifted / tiny temperature) -> -inf is the limit wanted
        return softmax((logits - logits.max()) / temperature)


def softmax(logits):
    """Probabilities over the last axis, computed stably (as ``exp(log_softmax(logits))``)."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64)))


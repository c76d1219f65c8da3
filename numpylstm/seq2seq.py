r"""Sequence-to-sequence encoder-decoders (Sutskever et al., 2014) built from LSTMs.

The encoder reads the source and hands its final state ``(h_n, c_n)`` to the
decoder as the decoder's initial state; the decoder predicts the target one
step at a time. Two models follow this plan.

``Seq2Seq`` (``Encoder`` + ``Decoder``) reads and writes token ids::

    src ──Embedding──LSTM──► (h_n, c_n) ──► LSTM──Linear──► logits (T_tgt, N, V)
                                          ▲
                    tgt_in ──Embedding────┘      tgt_in = [start, y_1, ..., y_{T-1}]

``FeatureSeq2Seq`` (``FeatureEncoder`` + ``FeatureDecoder``) reads feature
vectors (a multivariate time series, sensor frames) and predicts frames of
``output_size`` numbers::

    x ──LSTM──► (h_n, c_n) ──► LSTM──Linear──► y_pred (T_out, N, output_size)
                               ▲
                        y_in ──┘                 y_in = [start, y_1, ..., y_{T-1}]

Training uses *teacher forcing*: the decoder's input at step t is the true
previous target y_{t-1} (a token, or a frame), not its own guess, so one
forward pass covers the whole target. Prediction runs the decoder free: each
step reads back what the previous step produced (``Seq2Seq.greedy_decode``,
``FeatureSeq2Seq.predict``).

Backward runs the same path in reverse. The decoder's gradient with respect
to its initial state, ``(dh0, dc0)``, is the gradient with respect to the
encoder's final state, so it enters the encoder's backward as ``d_state``:
``encoder.lstm.backward(zeros, (dh0, dc0))`` (the encoder's per-step outputs
are not used, so their gradient is zero). This is the one line that lets the
loss on the target train the encoder.

Layout: time-major by default, like the rest of the library: token ids
(T, N), logits (T, N, V), feature vectors (T, N, features). With
``batch_first=True`` ids are (N, T), logits (N, T, V), features (N, T, features).
Token ids are integer arrays; token 0..V-1 are the vocabulary.
"""

import numpy as np

from . import _validate as check
from .backend import get_array_module
from .layers import Embedding, Linear, spawn_seeds
from .module import Module, eval_mode
from .recurrent import LSTM, checked_lengths


# ------------------------------------------------------------ what both kinds share
class _EncoderLSTM(Module):
    """An encoder's LSTM run: ``self.lstm`` over the (embedded) source, its gradient handed back."""

    def _encode(self, inputs, lengths):
        out, state = self.lstm(inputs, lengths=lengths)
        self._push_cache(out.shape)
        return out, state

    def _encode_backward(self, d_out, d_state):
        """The gradient with respect to the LSTM's input; ``d_out`` None stands for zeros."""
        out_shape = self._pop_cache()
        if d_out is None:   # a Seq2Seq uses only the final state, so its outputs have no gradient
            d_out = get_array_module(self.lstm.weight_ih_l0.data).zeros(out_shape, dtype=self.dtype)
        d_inputs, _ = self.lstm.backward(d_out, d_state)
        return d_inputs


class _DecoderLSTM(Module):
    """A decoder's LSTM run from a given state, then ``self.head`` on every step; and its backward."""

    def _decode(self, inputs, state):
        hidden, state = self.lstm(inputs, state)
        out = self.head(hidden)
        self._push_cache(out.shape)
        return out, state

    def _decode_backward(self, d_out, d_state, name, what):
        """``(d_inputs, (dh0, dc0))``; ``name`` and ``what`` name ``d_out`` and the output in messages."""
        d_out = check.float_array(d_out, name, self.dtype)
        check.shape_equal(d_out, name, self._pop_cache(), f"(the shape of the {what})")
        return self.lstm.backward(self.head.backward(d_out), d_state)


class _EncoderDecoder(Module):
    """An ``encoder`` whose final state starts a ``decoder``: forward, backward, the batch check."""

    def _encode_decode(self, src, tgt_in, src_lengths):
        _, encoder_state = self.encoder(src, lengths=src_lengths)
        out, _ = self.decoder(tgt_in, encoder_state)
        self._push_cache(None)  # a marker: backward-before-forward names the model
        return out

    def _backward(self, d_out):
        """``(d_src, d_tgt_in)``: the decoder's ``(dh0, dc0)`` is the gradient of the encoder's final state."""
        self._pop_cache()
        d_tgt_in, d_encoder_state = self.decoder.backward(d_out)
        d_src = self.encoder.backward(None, d_encoder_state)
        return d_src, d_tgt_in


def _same_batch(sizes, names):
    """Refuse a source and a target of different batch sizes N, naming both."""
    (n_src, n_tgt), (src, tgt) = sizes, names
    if n_src != n_tgt:
        raise ValueError(f"{src} and {tgt} must hold the same number of sequences N, got N={n_src} "
                         f"in {src} and N={n_tgt} in {tgt}")


# ------------------------------------------------------------------------- tokens
class Encoder(_EncoderLSTM):
    r"""Embedding + LSTM: ``out, (h_n, c_n) = encoder(src, lengths=None)``.

    Parameters
    ----------
    vocab_size, embedding_dim, hidden_size : int
    num_layers : int
    dropout : float in [0, 1), between LSTM layers (training mode only)
    batch_first : bool
        src (N, T) instead of (T, N).
    dtype : float32 or float64
    seed : int, SeedSequence or None

    Shapes
    ------
    src: integer ids (T, N) (batch_first: (N, T)); lengths: optional (N,) integers,
    the true length of each padded source sequence (h_n, c_n are then taken at each
    sequence's own last token). out: (T, N, H); h_n, c_n: (num_layers, N, H).

    ``encoder.backward(d_out, d_state)`` with d_out (the shape of out, or None for
    zeros) and d_state = (dh_n, dc_n) adds the gradients of the embedding and the
    LSTM; returns None (token ids have no gradient).
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0,
                 batch_first=False, dtype=np.float64, seed=None):
        super().__init__()
        embedding_seed, lstm_seed = spawn_seeds(seed, 2)
        vocab_size, embedding_dim = _sizes(vocab_size=vocab_size, embedding_dim=embedding_dim)
        self.embedding = Embedding(vocab_size, embedding_dim, dtype=dtype, seed=embedding_seed)
        self.lstm = LSTM(embedding_dim, hidden_size, num_layers=num_layers, dropout=dropout,
                         batch_first=batch_first, dtype=dtype, seed=lstm_seed)

    def forward(self, src, lengths=None):
        src = token_ids(src, "src", self.lstm.batch_first)
        return self._encode(self.embedding(src, name="src"), lengths)

    def backward(self, d_out=None, d_state=None):
        self.embedding.backward(self._encode_backward(d_out, d_state))
        return None


class Decoder(_DecoderLSTM):
    r"""Embedding + LSTM + Linear head: ``logits, (h_n, c_n) = decoder(tgt_in, state)``.

    The head was named ``out`` before version 0.2; weights saved under ``out.*`` still load.

    Parameters
    ----------
    vocab_size, embedding_dim, hidden_size : int
    num_layers : int
    dropout : float in [0, 1), between LSTM layers (training mode only)
    batch_first : bool
        tgt_in (N, T) instead of (T, N).
    dtype : float32 or float64
    seed : int, SeedSequence or None

    Shapes
    ------
    tgt_in: integer ids (T, N) (batch_first: (N, T)); state: (h0, c0), each
    (num_layers, N, H), or None for zeros. logits: (T, N, vocab_size) (batch_first:
    (N, T, vocab_size)); h_n, c_n: (num_layers, N, H).

    ``_, (dh0, dc0) = decoder.backward(d_logits, d_state=None)`` adds the gradients
    of the output layer, the LSTM and the embedding and returns the gradient with
    respect to the initial state (None for the token ids, which have none).
    """

    renamed_parameters = {"out.": "head."}   # old prefix -> new, for state dicts saved before 0.2

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0,
                 batch_first=False, dtype=np.float64, seed=None):
        super().__init__()
        embedding_seed, lstm_seed, head_seed = spawn_seeds(seed, 3)
        vocab_size, embedding_dim = _sizes(vocab_size=vocab_size, embedding_dim=embedding_dim)
        self.embedding = Embedding(vocab_size, embedding_dim, dtype=dtype, seed=embedding_seed)
        self.lstm = LSTM(embedding_dim, hidden_size, num_layers=num_layers, dropout=dropout,
                         batch_first=batch_first, dtype=dtype, seed=lstm_seed)
        self.head = Linear(hidden_size, vocab_size, dtype=dtype, seed=head_seed)

    def forward(self, tgt_in, state=None):
        tgt_in = token_ids(tgt_in, "tgt_in", self.lstm.batch_first)
        return self._decode(self.embedding(tgt_in, name="tgt_in"), state)

    def backward(self, d_logits, d_state=None):
        d_embedded, d_state0 = self._decode_backward(d_logits, d_state, "d_logits", "logits")
        self.embedding.backward(d_embedded)
        return None, d_state0


class Seq2Seq(_EncoderDecoder):
    r"""Encoder-decoder for token sequences, trained with teacher forcing.

    ``logits = model(src, tgt_in, src_lengths=None)``, then with a loss
    ``loss, d_logits = cross_entropy(logits, tgt_out, mask)``, ``model.backward(d_logits)``.

    Parameters
    ----------
    vocab_size : int
        Source vocabulary (and target vocabulary unless ``tgt_vocab_size`` is given).
    embedding_dim, hidden_size : int
        Shared by encoder and decoder (the encoder's state must fit the decoder).
    num_layers : int
    tgt_vocab_size : int or None
        Target vocabulary, including the start and end tokens.
    dropout : float in [0, 1), between LSTM layers
    batch_first : bool
        Token ids (N, T) and logits (N, T, V) instead of (T, N) and (T, N, V).
    dtype : float32 or float64
    seed : int or None
        One seed for the whole model; encoder and decoder draw from separate streams.

    Shapes (time-major; swap the first two axes with ``batch_first``)
    ------
    src: integer ids (T_src, N); src_lengths: optional (N,) in 1..T_src for padded sources;
    tgt_in: integer ids (T_tgt, N), the target shifted right behind a start token;
    logits: (T_tgt, N, tgt_vocab_size).
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, tgt_vocab_size=None,
                 dropout=0.0, batch_first=False, dtype=np.float64, seed=None):
        super().__init__()
        vocab_size = check.positive_int(vocab_size, "vocab_size")
        tgt_vocab_size = vocab_size if tgt_vocab_size is None else check.positive_int(tgt_vocab_size,
                                                                                      "tgt_vocab_size")
        encoder_seed, decoder_seed = spawn_seeds(seed, 2)
        self.batch_first = check.boolean(batch_first, "batch_first")
        options = dict(num_layers=num_layers, dropout=dropout, batch_first=batch_first, dtype=dtype)
        self.encoder = Encoder(vocab_size, embedding_dim, hidden_size, seed=encoder_seed, **options)
        self.decoder = Decoder(tgt_vocab_size, embedding_dim, hidden_size, seed=decoder_seed, **options)

    @property
    def tgt_vocab_size(self):
        return self.decoder.head.out_features

    def extra_repr(self):
        return f"batch_first={self.batch_first}"

    def _time_and_batch(self, ids, name):
        """``(T, N)`` of a 2-D, non-empty id array in this model's layout (ragged lists and floats refused)."""
        ids = check.integer_array(ids, name, what="integer token ids")
        layout = "(N, T)" if self.batch_first else "(T, N)"
        check.ndim_in(ids, name, (2,), f"a 2-D array of token ids {layout}")
        check.non_empty(ids, name)
        return (ids.shape[1], ids.shape[0]) if self.batch_first else ids.shape

    def _source(self, src, src_lengths):
        """N of ``src``, with ``src_lengths`` checked under its own name (the encoder calls it lengths)."""
        T, N = self._time_and_batch(src, "src")
        if src_lengths is not None:
            checked_lengths(src_lengths, T, N, "src_lengths")
        return N

    def forward(self, src, tgt_in, src_lengths=None):
        _same_batch((self._source(src, src_lengths), self._time_and_batch(tgt_in, "tgt_in")[1]), ("src", "tgt_in"))
        return self._encode_decode(src, tgt_in, src_lengths)

    def backward(self, d_logits):
        """Backpropagate ``d_logits`` (the shape of the logits) through decoder and encoder.

        Adds every parameter's gradient into ``.grad``. Returns ``(None, None)``:
        ``src`` and ``tgt_in`` are token ids and have no gradient.
        """
        return self._backward(d_logits)

    def greedy_decode(self, src, start_token, end_token, max_len, src_lengths=None):
        r"""Decode a batch greedily: at each step feed back the most likely token.

        Runs in eval mode (no caches are recorded, dropout is off) and restores
        the previous mode afterwards. Sequence n stops at its first
        ``end_token`` or after ``max_len`` tokens; the loop ends when every
        sequence has stopped.

        Parameters
        ----------
        src : integer ids (T_src, N) (batch_first: (N, T_src))
        start_token, end_token : int in [0, tgt_vocab_size)
        max_len : int >= 1, the most tokens generated per sequence (end token included)
        src_lengths : optional (N,) lengths of padded sources

        Returns
        -------
        tokens : int64 array (T_out, N) (batch_first: (N, T_out)), T_out <= max_len
            The generated tokens. A sequence's end token is kept, and the positions
            after it are filled with ``end_token``.
        lengths : int64 array (N,)
            The number of tokens before the end token (max_len when none came):
            ``tokens[:lengths[n], n]`` is sequence n's output.
        """
        N = self._source(src, src_lengths)
        V = self.tgt_vocab_size
        start_token = _token(start_token, "start_token", V)
        end_token = _token(end_token, "end_token", V)
        max_len = check.positive_int(max_len, "max_len")
        check.fits_in_memory(max_len * N, np.int64, f"greedy_decode(max_len={max_len}) of {N} sequences",
                             "the tokens it may generate")
        with eval_mode(self):
            tokens, lengths = self._greedy_steps(src, src_lengths, N, start_token, end_token, max_len)
        return (tokens.T if self.batch_first else tokens), lengths

    def _greedy_steps(self, src, src_lengths, N, start_token, end_token, max_len):
        xp = get_array_module(self.decoder.head.weight.data)
        _, state = self.encoder(src, lengths=src_lengths)
        token = xp.full((N,), start_token, dtype=xp.int64)
        finished = xp.zeros(N, dtype=bool)
        lengths = xp.full((N,), max_len, dtype=xp.int64)
        steps = []
        for t in range(max_len):
            step_in = token[:, None] if self.batch_first else token[None, :]
            logits, state = self.decoder(step_in, state)
            token = xp.where(finished, end_token, logits.reshape(N, -1).argmax(axis=-1))
            ends_now = (token == end_token) & ~finished
            lengths[ends_now] = t
            finished |= ends_now
            steps.append(token)
            if bool(finished.all()):
                break
        return xp.stack(steps), lengths


# ------------------------------------------------------------ continuous features
class FeatureEncoder(_EncoderLSTM):
    r"""An LSTM over feature vectors: ``out, (h_n, c_n) = encoder(x, lengths=None)``.

    PyTorch's ``nn.LSTM(input_size, hidden_size, num_layers)`` run from a zero state,
    whose final state starts a ``FeatureDecoder``.

    Parameters
    ----------
    input_size, hidden_size : int
    num_layers : int
    dropout : float in [0, 1], between LSTM layers (training mode only)
    batch_first : bool
        x (N, T, input_size) instead of (T, N, input_size).
    dtype : float32 or float64
    seed : int, SeedSequence or None

    Shapes
    ------
    x: floats (T, N, input_size) (batch_first: (N, T, input_size)); lengths: optional (N,)
    integers, each sequence's true length (h_n, c_n are then taken at its own last step).
    out: (T, N, H) (batch_first: (N, T, H)); h_n, c_n: (num_layers, N, H).

    ``dx = encoder.backward(d_out=None, d_state=None)``: d_out of out's shape (None: zeros),
    d_state = (dh_n, dc_n); dx has x's shape.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, batch_first=False,
                 dtype=np.float64, seed=None):
        super().__init__()
        self.lstm = LSTM(input_size, hidden_size, num_layers=num_layers, dropout=dropout,
                         batch_first=batch_first, dtype=dtype, seed=seed)

    def config(self):
        """The constructor arguments that rebuild this encoder (``numpylstm.io`` stores them)."""
        return _lstm_config(self.lstm, input_size=self.lstm.input_size)

    def forward(self, x, lengths=None):
        x, _ = _feature_sequences(x, "x", self.lstm.input_size, self.lstm.batch_first, self.dtype)
        return self._encode(x, lengths)

    def backward(self, d_out=None, d_state=None):
        return self._encode_backward(d_out, d_state)


class FeatureDecoder(_DecoderLSTM):
    r"""An LSTM over frames of ``output_size`` numbers, a Linear head on every step:
    ``y_pred, (h_n, c_n) = decoder(y_in, state)``.

    Step t reads frame ``y_in[t]`` and predicts the next one: ``y_pred[t] = W h_t + b``.
    PyTorch's ``nn.LSTM(output_size, hidden_size, num_layers)`` followed by
    ``nn.Linear(hidden_size, output_size)``.

    Parameters
    ----------
    output_size : int
        Numbers per frame, read and predicted.
    hidden_size, num_layers : int
    dropout : float in [0, 1], between LSTM layers (training mode only)
    batch_first : bool
        y_in and y_pred (N, T, output_size) instead of (T, N, output_size).
    dtype : float32 or float64
    seed : int, SeedSequence or None

    Shapes
    ------
    y_in: floats (T, N, output_size) (batch_first: (N, T, output_size)); state: (h0, c0),
    each (num_layers, N, H), or None for zeros. y_pred: the shape of y_in; h_n, c_n:
    (num_layers, N, H).

    ``d_y_in, (dh0, dc0) = decoder.backward(d_pred, d_state=None)``: d_pred of y_pred's shape.
    """

    def __init__(self, output_size, hidden_size, num_layers=1, dropout=0.0, batch_first=False,
                 dtype=np.float64, seed=None):
        super().__init__()
        lstm_seed, head_seed = spawn_seeds(seed, 2)
        (output_size,) = _sizes(output_size=output_size)
        self.lstm = LSTM(output_size, hidden_size, num_layers=num_layers, dropout=dropout,
                         batch_first=batch_first, dtype=dtype, seed=lstm_seed)
        self.head = Linear(self.lstm.hidden_size, output_size, dtype=dtype, seed=head_seed)

    @property
    def output_size(self):
        return self.head.out_features

    def config(self):
        """The constructor arguments that rebuild this decoder (``numpylstm.io`` stores them)."""
        return _lstm_config(self.lstm, output_size=self.output_size)

    def forward(self, y_in, state=None):
        y_in, _ = _feature_sequences(y_in, "y_in", self.output_size, self.lstm.batch_first, self.dtype)
        return self._decode(y_in, state)

    def backward(self, d_pred, d_state=None):
        return self._decode_backward(d_pred, d_state, "d_pred", "predictions")


class FeatureSeq2Seq(_EncoderDecoder):
    r"""Encoder-decoder for continuous sequences: feature vectors in, frames of numbers out.

    ``y_pred = model(x, y_in, lengths=None)``: the encoder reads x from a zero state,
    the decoder starts from the encoder's final state, reads y_in and predicts a frame
    at every step. As PyTorch's::

        _, (h_n, c_n) = encoder_lstm(x)                 # nn.LSTM(input_size, H, num_layers)
        out, _ = decoder_lstm(y_in, (h_n, c_n))         # nn.LSTM(output_size, H, num_layers)
        y_pred = fc(out)                                # nn.Linear(H, output_size)

    Training with teacher forcing: ``y_in = model.decoder_input(y)`` is the target
    shifted one step right behind a start frame, so ``y_pred[t]`` is predicted from
    the true ``y[t-1]``; then ``loss, d_pred = mse_loss(y_pred, y)`` and
    ``dx, d_y_in = model.backward(d_pred)``. ``model.predict(x, steps)`` runs the
    decoder free, feeding back its own predictions.

    Parameters
    ----------
    input_size : int
        Features per step of x.
    hidden_size : int
        Shared by encoder and decoder (the encoder's state must fit the decoder).
    output_size : int
        Numbers per frame of the target (the decoder reads and predicts frames).
    num_layers : int
    dropout : float in [0, 1], between LSTM layers
    batch_first : bool
        x (N, T, input_size), y_in and y_pred (N, T, output_size) instead of time first.
    dtype : float32 or float64
    seed : int or None
        One seed for the whole model; encoder and decoder draw from separate streams.

    Shapes (time-major; swap the first two axes with ``batch_first``)
    ------
    x: (T_src, N, input_size); lengths: optional (N,) in 1..T_src for padded sources;
    y_in: (T_out, N, output_size); y_pred: (T_out, N, output_size).
    ``dx, d_y_in = model.backward(d_pred)``: the gradients with respect to x and y_in.
    """

    def __init__(self, input_size, hidden_size, output_size, num_layers=1, dropout=0.0, batch_first=False,
                 dtype=np.float64, seed=None):
        super().__init__()
        encoder_seed, decoder_seed = spawn_seeds(seed, 2)
        self.batch_first = check.boolean(batch_first, "batch_first")
        options = dict(num_layers=num_layers, dropout=dropout, batch_first=batch_first, dtype=dtype)
        self.encoder = FeatureEncoder(input_size, hidden_size, seed=encoder_seed, **options)
        self.decoder = FeatureDecoder(output_size, hidden_size, seed=decoder_seed, **options)

    @property
    def input_size(self):
        return self.encoder.lstm.input_size

    @property
    def output_size(self):
        return self.decoder.output_size

    def config(self):
        """The constructor arguments that rebuild this model (``numpylstm.io`` stores them)."""
        return _lstm_config(self.encoder.lstm, input_size=self.input_size, output_size=self.output_size)

    def extra_repr(self):
        return f"batch_first={self.batch_first}"

    def forward(self, x, y_in, lengths=None):
        x, n_x = self._sequences(x, "x", self.input_size)             # converted once, here: the encoder
        y_in, n_y = self._sequences(y_in, "y_in", self.output_size)   # and decoder find them in their dtype
        _same_batch((n_x, n_y), ("x", "y_in"))
        return self._encode_decode(x, y_in, lengths)

    def backward(self, d_pred):
        """Backpropagate ``d_pred`` (y_pred's shape) through decoder and encoder.

        Adds every parameter's gradient into ``.grad``; returns ``(dx, d_y_in)``.
        """
        return self._backward(d_pred)

    def _sequences(self, array, name, features):
        return _feature_sequences(array, name, features, self.batch_first, self.dtype)

    def _time_axis(self):
        return 1 if self.batch_first else 0

    def decoder_input(self, y, start=None):
        r"""The teacher-forcing input for target ``y``: ``[start, y_1, ..., y_{T-1}]``.

        Parameters
        ----------
        y : floats (T, N, output_size) (batch_first: (N, T, output_size)), the true target
        start : None (zeros), (output_size,) for every sequence, or (N, output_size)
            The frame the decoder reads first (the same one ``predict`` starts from).

        Returns
        -------
        y_in : y's shape and the model's dtype; ``y_in[t] = y[t - 1]`` for t >= 1
        """
        y, N = self._sequences(y, "y", self.output_size)
        first = self._start_frame(start, N)
        axis = self._time_axis()
        kept = y[:, :-1] if self.batch_first else y[:-1]
        return get_array_module(y).concatenate([first[:, None] if self.batch_first else first[None], kept],
                                               axis=axis)

    def predict(self, x, steps, start=None, lengths=None):
        r"""Free-running prediction: ``steps`` frames, each step reading back the previous prediction.

        The decoder starts from the encoder's final state and reads ``start``; the frame it
        predicts is its next input, and so on. Runs in eval mode (no caches, no dropout)
        and restores the previous mode afterwards.

        Parameters
        ----------
        x : floats (T_src, N, input_size) (batch_first: (N, T_src, input_size))
        steps : int >= 1, the number of frames to predict
        start : None (zeros), (output_size,) for every sequence, or (N, output_size)
        lengths : optional (N,) lengths of padded sources

        Returns
        -------
        y_pred : (steps, N, output_size) (batch_first: (N, steps, output_size))
        """
        x, N = self._sequences(x, "x", self.input_size)
        steps = check.positive_int(steps, "steps")
        check.fits_in_memory(steps * N * self.output_size, self.dtype, f"predict(steps={steps}) of {N} sequences",
                             "the frames it predicts")
        frame = self._start_frame(start, N)
        frames = []
        with eval_mode(self):
            _, state = self.encoder(x, lengths=lengths)
            for _ in range(steps):
                pred, state = self.decoder(get_array_module(frame).expand_dims(frame, self._time_axis()), state)
                frame = pred[:, 0] if self.batch_first else pred[0]
                frames.append(frame)
        return get_array_module(frame).stack(frames, axis=self._time_axis())

    def _start_frame(self, start, N):
        """The first decoder input, (N, output_size): zeros, or ``start`` repeated or as given."""
        xp = get_array_module(self.decoder.head.weight.data)
        if start is None:
            return xp.zeros((N, self.output_size), dtype=self.dtype)
        start = check.float_array(start, "start", self.dtype)
        if tuple(start.shape) == (self.output_size,):
            return xp.broadcast_to(start, (N, self.output_size)).copy()
        check.shape_equal(start, "start", (N, self.output_size),
                          f"(N, output_size), or ({self.output_size},) for every sequence")
        return start


def token_ids(ids, name, batch_first):
    """``ids`` as an integer array of token ids (T, N) ((N, T) with ``batch_first``) or (T,) unbatched,
    refused under its own name otherwise (the LSTM behind the embedding would call it ``input``)."""
    ids = check.integer_array(ids, name, what="integer token ids")
    layout = "(N, T)" if batch_first else "(T, N)"
    check.ndim_in(ids, name, (1, 2), f"token ids {layout}, or (T,) unbatched")
    return ids


def _feature_sequences(array, name, features, batch_first, dtype):
    """``array`` as floats of ``dtype`` checked to be 3-D with ``features`` on the last axis, and its N."""
    array = check.float_array(array, name, dtype)
    layout = f"(N, T, {features})" if batch_first else f"(T, N, {features})"
    check.ndim_in(array, name, (3,), f"a 3-D array of feature vectors {layout}")
    if array.shape[-1] != features:
        raise ValueError(f"{name} must have {features} features on its last axis {layout}, "
                         f"got shape {tuple(array.shape)}")
    return array, array.shape[0 if batch_first else 1]


def _lstm_config(lstm, **sizes):
    """A feature model's constructor arguments: ``sizes`` and the options of its (encoder's) LSTM."""
    return dict(sizes, hidden_size=lstm.hidden_size, num_layers=lstm.num_layers, dropout=float(lstm.dropout),
                batch_first=lstm.batch_first, dtype=str(lstm.dtype))


def _sizes(**sizes):
    """Each keyword argument as a positive int, named in the error (before a layer renames it)."""
    return [check.positive_int(value, name) for name, value in sizes.items()]


def _token(value, name, vocab_size):
    return check.integer(value, name, 0, vocab_size - 1, context=f" (a token id of the target vocabulary of "
                                                                 f"{vocab_size})")

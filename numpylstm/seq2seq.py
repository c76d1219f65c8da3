r"""A sequence-to-sequence encoder-decoder (Sutskever et al., 2014) built from LSTMs.

The encoder reads the source tokens and hands its final state ``(h_n, c_n)``
to the decoder as the decoder's initial state; the decoder predicts the
target one token at a time::

    src ──Embedding──LSTM──► (h_n, c_n) ──► LSTM──Linear──► logits (T_tgt, N, V)
                                          ▲
                    tgt_in ──Embedding────┘      tgt_in = [start, y_1, ..., y_{T-1}]

Training uses *teacher forcing*: the decoder's input at step t is the true
token y_{t-1}, not its own guess, so one forward pass covers the whole target.

Backward runs the same path in reverse. The decoder's gradient with respect
to its initial state, ``(dh0, dc0)``, is the gradient with respect to the
encoder's final state, so it enters the encoder's backward as ``d_state``:
``encoder.lstm.backward(zeros, (dh0, dc0))`` (the encoder's per-step outputs
are not used, so their gradient is zero). This is the one line that lets the
loss on the target train the encoder.

Layout: time-major by default, like the rest of the library: token ids
(T, N), logits (T, N, V). With ``batch_first=True`` ids are (N, T) and logits
(N, T, V). Token ids are integer arrays; token 0..V-1 are the vocabulary.
"""
import numpy as np

from . import _validate as check
from .backend import get_array_module
from .layers import Embedding, Linear, spawn_seeds
from .module import Module
from .recurrent import LSTM, checked_lengths


class Encoder(Module):
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
        out, state = self.lstm(self.embedding(src, name="src"), lengths=lengths)
        self._push_cache(out.shape)
        return out, state

    def backward(self, d_out=None, d_state=None):
        out_shape = self._pop_cache()
        if d_out is None:
            d_out = get_array_module(self.lstm.weight_ih_l0.data).zeros(out_shape, dtype=self.dtype)
        d_embedded, _ = self.lstm.backward(d_out, d_state)
        self.embedding.backward(d_embedded)
        return None


class Decoder(Module):
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
        hidden, state = self.lstm(self.embedding(tgt_in, name="tgt_in"), state)
        logits = self.head(hidden)
        self._push_cache(logits.shape)
        return logits, state

    def backward(self, d_logits, d_state=None):
        d_logits = check.float_array(d_logits, "d_logits", self.dtype)
        check.shape_equal(d_logits, "d_logits", self._pop_cache(), "(the shape of the logits)")
        d_hidden = self.head.backward(d_logits)
        d_embedded, d_state0 = self.lstm.backward(d_hidden, d_state)
        self.embedding.backward(d_embedded)
        return None, d_state0


class Seq2Seq(Module):
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
        n_src, (_, n_tgt) = self._source(src, src_lengths), self._time_and_batch(tgt_in, "tgt_in")
        if n_src != n_tgt:
            raise ValueError(f"src and tgt_in must hold the same number of sequences N, got N={n_src} "
                             f"in src and N={n_tgt} in tgt_in")
        _, encoder_state = self.encoder(src, lengths=src_lengths)
        logits, _ = self.decoder(tgt_in, encoder_state)
        self._push_cache(None)  # a marker: backward-before-forward names Seq2Seq
        return logits

    def backward(self, d_logits):
        """Backpropagate ``d_logits`` (the shape of the logits) through decoder and encoder.

        Adds every parameter's gradient into ``.grad``. Returns ``(None, None)``:
        ``src`` and ``tgt_in`` are token ids and have no gradient.
        """
        self._pop_cache()
        _, d_encoder_state = self.decoder.backward(d_logits)
        self.encoder.backward(None, d_encoder_state)
        return None, None

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
        was_training = self.training
        self.eval()
        try:
            tokens, lengths = self._greedy_steps(src, src_lengths, N, start_token, end_token, max_len)
        finally:
            self.train(was_training)
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


def token_ids(ids, name, batch_first):
    """``ids`` as an integer array of token ids (T, N) ((N, T) with ``batch_first``) or (T,) unbatched,
    refused under its own name otherwise (the LSTM behind the embedding would call it ``input``)."""
    ids = check.integer_array(ids, name, what="integer token ids")
    layout = "(N, T)" if batch_first else "(T, N)"
    check.ndim_in(ids, name, (1, 2), f"token ids {layout}, or (T,) unbatched")
    return ids


def _sizes(**sizes):
    """Each keyword argument as a positive int, named in the error (before a layer renames it)."""
    return [check.positive_int(value, name) for name, value in sizes.items()]


def _token(value, name, vocab_size):
    return check.integer(value, name, 0, vocab_size - 1, context=f" (a token id of the target vocabulary of "
                                                                 f"{vocab_size})")

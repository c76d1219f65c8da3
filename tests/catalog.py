"""Every module of the library, built small, with a valid call: for tests that must hold for all of them.

``CATALOG`` maps a name to a ``Case``: ``build()`` makes the module (float64, seeded),
``inputs(rng)`` makes the arguments of a valid forward call. ``output_grads(outputs, rng)``
makes random gradients in the structure ``backward`` takes: one positional argument per
output, a pair stays a pair (``LSTM.backward(d_out, (dh_n, dc_n))``).
"""
from typing import Callable, NamedTuple

import numpy as np

from numpylstm import (LSTM, RNN, CharLM, Decoder, Dropout, Embedding, Encoder, FeatureDecoder, FeatureEncoder,
                       FeatureSeq2Seq, Linear, LSTMCell, ReLU, RNNCell, Seq2Seq, Sequential, SequenceClassifier,
                       SequenceRegressor, Sigmoid, Tanh)


class Case(NamedTuple):
    build: Callable      # () -> Module
    inputs: Callable     # rng -> tuple of forward arguments


def _floats(*shape):
    return lambda rng: (rng.standard_normal(shape),)


def _ids(vocab, *shape):
    return lambda rng: (rng.integers(0, vocab, size=shape),)


CATALOG = {
    "LSTM": Case(lambda: LSTM(3, 4, num_layers=2, seed=0), _floats(5, 2, 3)),
    "LSTM reference engine": Case(lambda: LSTM(3, 4, num_layers=2, seed=0, engine="reference"), _floats(5, 2, 3)),
    "LSTM bidirectional projected": Case(lambda: LSTM(3, 4, bidirectional=True, proj_size=2, batch_first=True,
                                                      seed=0), _floats(2, 5, 3)),
    "LSTM with state and lengths": Case(
        lambda: LSTM(3, 4, seed=0),
        lambda rng: (rng.standard_normal((5, 3, 3)), (rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 3, 4))),
                     np.array([5, 2, 4]))),
    "LSTMCell": Case(lambda: LSTMCell(3, 4, seed=0),
                     lambda rng: (rng.standard_normal((2, 3)), (rng.standard_normal((2, 4)),
                                                                rng.standard_normal((2, 4))))),
    "RNN": Case(lambda: RNN(3, 4, num_layers=2, seed=0), _floats(5, 2, 3)),
    "RNNCell": Case(lambda: RNNCell(3, 4, seed=0), lambda rng: (rng.standard_normal((2, 3)),
                                                                rng.standard_normal((2, 4)))),
    "Linear": Case(lambda: Linear(3, 2, seed=0), _floats(4, 3)),
    "ReLU": Case(ReLU, _floats(4, 3)),
    "Tanh": Case(Tanh, _floats(4, 3)),
    "Sigmoid": Case(Sigmoid, _floats(4, 3)),
    "Dropout": Case(lambda: Dropout(0.5, seed=0), _floats(4, 3)),
    "Embedding": Case(lambda: Embedding(6, 3, seed=0), _ids(6, 4, 2)),
    "Sequential": Case(lambda: Sequential(Linear(3, 5, seed=0), Tanh(), Linear(5, 2, seed=1)), _floats(4, 3)),
    "SequenceRegressor": Case(lambda: SequenceRegressor(3, 4, num_layers=2, seed=0), _floats(5, 2, 3)),
    "SequenceRegressor every step": Case(lambda: SequenceRegressor(3, 4, head="every", seed=0), _floats(5, 2, 3)),
    "SequenceClassifier": Case(lambda: SequenceClassifier(3, 4, 3, bidirectional=True, seed=0), _floats(5, 2, 3)),
    "SequenceClassifier tokens": Case(lambda: SequenceClassifier(3, 4, 3, vocab_size=7, seed=0), _ids(7, 5, 2)),
    "CharLM": Case(lambda: CharLM(7, 3, 4, seed=0), _ids(7, 5, 2)),
    "Encoder": Case(lambda: Encoder(7, 3, 4, seed=0), _ids(7, 5, 2)),
    "Decoder": Case(lambda: Decoder(7, 3, 4, seed=0), _ids(7, 5, 2)),
    "Seq2Seq": Case(lambda: Seq2Seq(7, 3, 4, seed=0),
                    lambda rng: (rng.integers(0, 7, (5, 2)), rng.integers(0, 7, (4, 2)))),
    "FeatureEncoder": Case(lambda: FeatureEncoder(3, 4, num_layers=2, seed=0), _floats(5, 2, 3)),
    "FeatureDecoder": Case(lambda: FeatureDecoder(2, 4, seed=0),
                           lambda rng: (rng.standard_normal((4, 2, 2)), (rng.standard_normal((1, 2, 4)),
                                                                         rng.standard_normal((1, 2, 4))))),
    "FeatureSeq2Seq": Case(lambda: FeatureSeq2Seq(3, 4, 2, num_layers=2, batch_first=True, seed=0),
                           lambda rng: (rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 2)))),
}


def output_grads(outputs, rng):
    """Random gradients for ``outputs``, as the positional arguments of ``backward``."""
    def like(item):
        if isinstance(item, tuple):
            return tuple(like(part) for part in item)
        return rng.standard_normal(np.shape(item))
    return like(outputs) if isinstance(outputs, tuple) else (like(outputs),)


def leaves(structure):
    """The arrays of a nested tuple (None skipped), depth first."""
    if isinstance(structure, (tuple, list)):
        return [leaf for item in structure for leaf in leaves(item)]
    return [] if structure is None else [structure]

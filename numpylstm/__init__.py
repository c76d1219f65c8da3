"""numpylstm: a NumPy-only LSTM written to be read.

Every forward pass and every backward pass is written by hand; see
``numpylstm.functional`` for the gate equations and their derivatives.
"""
from .backend import available_devices, get_array_module, to_device, to_numpy
from . import fast, functional, functional_rnn
from .functional import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from . import analysis, data, init, interop, io, losses, optim, train
from .gradcheck import check_gradients, numerical_gradient, rel_error
from .layers import Dropout, Embedding, Linear, ReLU, Sequential, Sigmoid, Tanh, mlp
from .models import CharLM, SequenceClassifier, SequenceRegressor
from .module import MissingForwardError, Module, Parameter
from .recurrent import LSTM, LSTMCell, detach_state
from .analysis import hidden_gradient_norms
from .rnn import RNN, RNNCell
from .seq2seq import Decoder, Encoder, FeatureDecoder, FeatureEncoder, FeatureSeq2Seq, Seq2Seq

__version__ = "0.1.0"

__all__ = [
    "LSTM", "LSTMCell", "Module", "Parameter", "detach_state", "RNN", "RNNCell", "hidden_gradient_norms",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward", "fast", "functional", "functional_rnn",
    "Linear", "Embedding", "ReLU", "Tanh", "Sigmoid", "Dropout", "Sequential", "mlp",
    "Encoder", "Decoder", "Seq2Seq", "FeatureEncoder", "FeatureDecoder", "FeatureSeq2Seq",
    "SequenceRegressor", "SequenceClassifier", "CharLM",
    "MissingForwardError", "analysis", "data", "init", "interop", "io", "losses", "optim", "train",
    "check_gradients", "numerical_gradient", "rel_error",
    "available_devices", "get_array_module", "to_device", "to_numpy",
]

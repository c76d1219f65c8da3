"""Rebuilding a model from the configuration stored in a weight file, for ``io.load_model``.

A file names its model's class and constructor arguments (``io.module_config``). The class is
looked up among numpylstm's own modules only (``_REBUILDABLE``), and the arguments are used
only once the parameter count they imply (``_PARAMETER_COUNTS``, computed from the arguments
alone) equals what the file holds, so a hostile file cannot make a model allocate gigabytes.
This is the only part of the weight file code that knows the model classes.
"""
import math

from .layers import Dropout, Embedding, Linear, ReLU, Sequential, Sigmoid, Tanh
from .models import CharLM, SequenceClassifier, SequenceRegressor
from .recurrent import LSTM, LSTMCell, parameter_count
from .rnn import RNN, RNNCell
from .seq2seq import Decoder, Encoder, FeatureDecoder, FeatureEncoder, FeatureSeq2Seq, Seq2Seq

_REBUILDABLE = {cls.__name__: cls for cls in (
    LSTM, LSTMCell, RNN, RNNCell, Linear, Embedding, Sequential, ReLU, Tanh, Sigmoid, Dropout,
    SequenceRegressor, SequenceClassifier, CharLM, Encoder, Decoder, Seq2Seq, FeatureEncoder, FeatureDecoder,
    FeatureSeq2Seq)}


def rebuild(path, config, declared):
    """The model ``config`` describes, built only once its parameter count equals what the file holds
    (so hostile arguments such as hidden_size=10**9 allocate nothing). ``declared`` maps each parameter
    entry of the file at ``path`` to what its header says (its ``.shape`` is read); refusals are ValueErrors
    naming ``path``."""
    try:
        expected = sum(math.prod(entry.shape) for entry in declared.values())
        count = _parameter_count(config)
        if count != expected:
            raise ValueError(f"its arguments describe {count} parameter values but the file holds {expected}")
        return _build(config)
    except _UnknownClass as err:
        raise ValueError(f"{str(path)!r} holds a model of class {str(err)!r}, which numpylstm.io.load_model "
                         f"does not rebuild (it knows {', '.join(_REBUILDABLE)}); build the model yourself "
                         "and use numpylstm.io.load") from None
    except (TypeError, ValueError, NotImplementedError) as err:
        raise ValueError(f"{str(path)!r} cannot be rebuilt from the configuration stored in it "
                         f"({type(err).__name__}: {err})") from None


class _UnknownClass(Exception):
    pass


def _build(config):
    cls = _class_of(config)
    if cls is Sequential:
        return Sequential(*(_build(child) for child in _ordered_children(config)))
    return cls(**_rebuild_args(config))


def _class_of(config):
    cls = _REBUILDABLE.get(config["class"])
    if cls is None:
        raise _UnknownClass(config["class"][:100])
    return cls


def _ordered_children(config):
    """A Sequential's children, which are named "0", "1", ... in order."""
    children = config["children"]
    if list(children) != [str(k) for k in range(len(children))]:
        raise ValueError(f"a Sequential's children must be named '0', '1', ... in order, got {list(children)[:10]}")
    return list(children.values())


def _rebuild_args(config):
    """The constructor arguments for ``config``. Encoder, Decoder and Seq2Seq record their sizes in their
    children only (the embedding and the LSTM), so theirs are read from there."""
    args = dict(config["args"])
    if config["class"] in ("Encoder", "Decoder"):
        args.update(_encoder_args(config))
    elif config["class"] == "Seq2Seq":
        encoder, decoder = _encoder_args(_child(config, "encoder")), _encoder_args(_child(config, "decoder"))
        args.update(encoder, tgt_vocab_size=decoder["vocab_size"])
    elif config["class"] == "Linear" and args.get("bias", True) is None:
        args["bias"] = False  # module_config records a missing bias Parameter as None
    return args


def _encoder_args(config):
    embedding, lstm = _child(config, "embedding")["args"], _child(config, "lstm")["args"]
    return {"vocab_size": embedding.get("num_embeddings"), "embedding_dim": embedding.get("embedding_dim"),
            "hidden_size": lstm.get("hidden_size"),  # the options a file may not record keep their defaults
            **{name: lstm[name] for name in ("num_layers", "dropout", "batch_first") if name in lstm}}


def _child(config, name):
    if name not in config["children"]:
        raise ValueError(f"the {config['class']} has no recorded sub-module {name!r}")
    return config["children"][name]


def _parameter_count(config):
    """How many parameter values the constructor of ``config`` allocates, from its arguments alone."""
    cls = _class_of(config)
    if cls is Sequential:
        return sum(_parameter_count(child) for child in _ordered_children(config))
    counter = _PARAMETER_COUNTS.get(config["class"])
    return counter(_Arguments(_rebuild_args(config))) if counter else 0


class _Arguments:
    """Stored constructor arguments, read as sizes or flags; anything else is a ValueError naming it."""

    def __init__(self, args):
        self.args = args

    def size(self, name, default=None):
        value = self.args.get(name, default)
        if type(value) is not int or value < 0:
            raise ValueError(f"argument {name} is {repr(value)[:40]}, not a size")
        return value

    def flag(self, name, default):
        value = self.args.get(name, default)
        if type(value) is not bool:
            raise ValueError(f"argument {name} is {repr(value)[:40]}, not True or False")
        return value


def _linear_count(in_features, out_features, bias=True):
    return out_features * (in_features + bias)


def _lstm_count(a, input_name="input_size"):
    return parameter_count(4, a.size(input_name), a.size("hidden_size"), a.size("num_layers", 1),
                            a.flag("bias", True), a.flag("bidirectional", False), a.size("proj_size", 0))


def _rnn_count(a):
    return parameter_count(1, a.size("input_size"), a.size("hidden_size"), a.size("num_layers", 1),
                            a.flag("bias", True))


def _model_lstm_width(a):
    return (1 + a.flag("bidirectional", False)) * a.size("hidden_size")


def _classifier_count(a):
    head_hidden = a.size("head_hidden") if a.args.get("head_hidden") is not None else a.size("hidden_size")
    embedding = a.size("vocab_size") * a.size("input_size") if a.args.get("vocab_size") is not None else 0
    return (embedding + _lstm_count(a) + _linear_count(_model_lstm_width(a), head_hidden)
            + _linear_count(head_hidden, a.size("num_classes")))


def _encoder_count(a, vocab_name="vocab_size"):
    return a.size(vocab_name) * a.size("embedding_dim") + _lstm_count(a, "embedding_dim")


def _decoder_count(a, vocab_name="vocab_size"):
    return _encoder_count(a, vocab_name) + _linear_count(a.size("hidden_size"), a.size(vocab_name))


def _feature_decoder_count(a):
    return _lstm_count(a, "output_size") + _linear_count(a.size("hidden_size"), a.size("output_size"))


_PARAMETER_COUNTS = {
    "Linear": lambda a: _linear_count(a.size("in_features"), a.size("out_features"), a.flag("bias", True)),
    "Embedding": lambda a: a.size("num_embeddings") * a.size("embedding_dim"),
    "LSTM": _lstm_count,
    "LSTMCell": _lstm_count,
    "RNN": _rnn_count,
    "RNNCell": _rnn_count,
    "SequenceRegressor": lambda a: _lstm_count(a) + _linear_count(_model_lstm_width(a), a.size("output_size", 1)),
    "SequenceClassifier": _classifier_count,
    "CharLM": _decoder_count,
    "Encoder": _encoder_count,
    "Decoder": _decoder_count,
    "Seq2Seq": lambda a: _encoder_count(a) + _decoder_count(a, "tgt_vocab_size"),
    "FeatureEncoder": _lstm_count,
    "FeatureDecoder": _feature_decoder_count,
    "FeatureSeq2Seq": lambda a: _lstm_count(a) + _feature_decoder_count(a),
}

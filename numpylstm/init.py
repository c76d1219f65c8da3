r"""Initializers: overwrite parameters in place with seeded random values.

Every function takes a ``Parameter`` or a ``Module`` (then it walks the
module's parameters), draws with ``np.random.default_rng(seed)``, writes into
``.data`` keeping its dtype and device, and returns what it was given.

- ``uniform_default_(module)``: PyTorch's defaults again: U(-1/sqrt(H), 1/sqrt(H))
  for recurrent layers (H = hidden_size), U(-1/sqrt(in_features), 1/sqrt(in_features))
  for ``Linear``, N(0, 1) for ``Embedding`` (padding row zero).
- ``xavier_uniform_``: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``
  (Glorot & Bengio, 2010), which keeps the variance of activations and of
  gradients roughly equal from layer to layer.
- ``orthogonal_``: (semi-)orthogonal matrices (Saxe et al., 2014). For the
  recurrent weights ``weight_hh`` (4H, H) each gate block (H, H) is made
  orthogonal on its own, so that repeated multiplication by it neither grows
  nor shrinks the hidden state: a help against exploding and vanishing gradients.
- ``forget_gate_bias_``: start the forget gate open (Gers et al., 2000;
  Jozefowicz et al., 2015), so the cell remembers by default early in training.
"""
import math

import numpy as np

from . import _validate as check
from .backend import get_array_module
from .functional import GATES
from .module import Module, Parameter

_FORGET = GATES.index("f")


def _write(param, values):
    """Copy NumPy ``values`` into ``param.data`` in place, keeping its dtype and device."""
    xp = get_array_module(param.data)
    param.data[...] = xp.asarray(values, dtype=param.data.dtype)


def _targets(param_or_module, function, select):
    """``(name, Parameter)`` pairs to initialise: one Parameter, or a module's chosen parameters."""
    if isinstance(param_or_module, Parameter):
        return [("the parameter", param_or_module)]
    if isinstance(param_or_module, Module):
        chosen = [(n, p) for n, p in param_or_module.named_parameters() if select(n, p)]
        if not chosen:
            raise ValueError(f"{type(param_or_module).__name__} has no parameters that {function} applies to")
        return chosen
    raise TypeError(f"{function} takes a Parameter or a Module, got {type(param_or_module).__name__}")


def _owner(module, name):
    """The module (``module`` itself or a child) that holds the parameter called ``name``."""
    owner_name = name.rsplit(".", 1)[0] if "." in name else ""
    return dict(module.named_modules())[owner_name]


# ------------------------------------------------------------ PyTorch's defaults
def uniform_default_(module, seed=None):
    r"""Re-draw every parameter of ``module`` (and of its children) with PyTorch's default.

    Modules with a ``hidden_size`` (``LSTM``, ``LSTMCell``): U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
    for every weight and bias. ``Linear``: U(-1/sqrt(in_features), 1/sqrt(in_features)).
    ``Embedding``: N(0, 1), with the ``padding_idx`` row set to zero.

    Parameters
    ----------
    module : Module
    seed : int or None

    Returns
    -------
    module
    """
    if not isinstance(module, Module):
        raise TypeError(f"uniform_default_ takes a Module, got {type(module).__name__}")
    rng = np.random.default_rng(check.seed(seed))
    for owner in module.modules():
        for name, param in owner._parameters.items():
            _write(param, _default_draw(owner, name, param.shape, rng))
    return module


def _default_draw(owner, name, shape, rng):
    if hasattr(owner, "num_embeddings"):
        values = rng.standard_normal(shape)
        if getattr(owner, "padding_idx", None) is not None:
            values[owner.padding_idx] = 0
        return values
    if hasattr(owner, "hidden_size"):
        bound = 1.0 / math.sqrt(owner.hidden_size)
    elif hasattr(owner, "in_features"):
        bound = 1.0 / math.sqrt(owner.in_features)
    else:
        raise TypeError(f"uniform_default_ knows no PyTorch default for parameter {name!r} "
                        f"of {type(owner).__name__}")
    return rng.uniform(-bound, bound, shape)


# ------------------------------------------------------------------------ Xavier
def _fans(shape, name):
    """``(fan_in, fan_out)`` of a weight (out, in), as PyTorch computes them."""
    if len(shape) < 2:
        raise ValueError(f"xavier_uniform_ needs a weight with at least 2 dimensions (out, in) for "
                         f"fan_in and fan_out, got {name} of shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(param_or_module, gain=1.0, seed=None):
    r"""Glorot/Xavier uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    For a weight of shape (out, in), fan_in = in and fan_out = out, as
    ``torch.nn.init.xavier_uniform_`` (for an LSTM's ``weight_ih`` (4H, I) that
    is the whole matrix: fan_out = 4H).

    Parameters
    ----------
    param_or_module : Parameter with at least 2 dimensions, or a Module
        (then every parameter with 2 or more dimensions; biases are left alone)
    gain : float > 0
        Scale for the activation that follows (1 for tanh/sigmoid-like use).
    seed : int or None

    Returns
    -------
    param_or_module
    """
    gain = check.positive_real(gain, "gain")
    rng = np.random.default_rng(check.seed(seed))
    # Weight matrices only: an embedding table is a lookup, not a linear map (and has a padding row).
    is_matrix = lambda n, p: p.data.ndim >= 2 and not hasattr(_owner(param_or_module, n), "num_embeddings")  # noqa: E731
    for name, param in _targets(param_or_module, "xavier_uniform_", is_matrix):
        fan_in, fan_out = _fans(param.shape, name)
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        _write(param, rng.uniform(-bound, bound, param.shape))
    return param_or_module


# -------------------------------------------------------------------- orthogonal
def orthogonal_matrix(rows, cols, rng):
    r"""A (rows, cols) matrix with orthonormal rows (rows <= cols) or columns (rows >= cols).

    As ``torch.nn.init.orthogonal_``: the Q factor of the QR decomposition of a
    standard normal matrix, with the signs of R's diagonal folded in so that
    Q is uniformly distributed (Mezzadri, 2007) rather than biased by the QR routine.
    """
    tall = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(tall)
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def orthogonal_(param_or_module, gain=1.0, blocks=None, seed=None):
    r"""Fill 2-D weights with (semi-)orthogonal matrices, each row block on its own.

    Parameters
    ----------
    param_or_module : Parameter (2-D), or a Module
        A Module means its recurrent weights: every ``weight_hh*`` parameter, split
        into the 4 gate blocks i, f, g, o for an LSTM or LSTMCell, whole for an RNN.
    gain : float > 0
        Multiplies the result (W.T @ W = gain**2 I per block).
    blocks : int or None
        Number of equal row blocks to make orthogonal separately. Default: one per
        gate (4 for an LSTM's ``weight_hh``, 1 for an RNN's), 1 for a Parameter; pass
        ``blocks=4`` for a bare LSTM ``weight_hh`` Parameter.
    seed : int or None

    Each block of shape (H, P) gets orthonormal columns when H >= P (the usual
    square H x H case, or a projected LSTM with P < H), orthonormal rows otherwise.

    Returns
    -------
    param_or_module
    """
    gain = check.positive_real(gain, "gain")
    rng = np.random.default_rng(check.seed(seed))
    is_module = isinstance(param_or_module, Module)
    for name, param in _targets(param_or_module, "orthogonal_", lambda n, p: n.split(".")[-1].startswith("weight_hh")):
        gates = len(getattr(_owner(param_or_module, name), "gate_names", ())) if is_module else 0
        n_blocks = (gates or 1) if blocks is None else blocks   # 4 for an LSTM, 1 for an RNN
        if param.data.ndim != 2:
            raise ValueError(f"orthogonal_ needs a 2-D weight, got {name} of shape {tuple(param.shape)}")
        n_blocks = check.integer(n_blocks, "blocks", 1, context=f" dividing the {param.shape[0]} rows of {name}")
        if param.shape[0] % n_blocks:
            raise ValueError(f"blocks must be a positive integer dividing the {param.shape[0]} rows of "
                             f"{name}, got {n_blocks!r}")
        rows = param.shape[0] // n_blocks
        _write(param, gain * np.concatenate([orthogonal_matrix(rows, param.shape[1], rng)
                                             for _ in range(n_blocks)]))
    return param_or_module


# ----------------------------------------------------------------- forget bias
def forget_gate_bias_(lstm, value=1.0):
    r"""Set the forget-gate bias of every LSTM layer in ``lstm`` so that it totals ``value``.

    The forget gate sees the *sum* ``b_ih + b_hh`` (``f = sigmoid(... + b_ih_f + b_hh_f)``),
    so only the sum matters. This sets the f block (rows H..2H) of every
    ``bias_ih*`` to ``value`` and of every ``bias_hh*`` to 0, making the sum
    exactly ``value``; the i, g and o blocks are left alone. With value = 1 the
    forget gate starts at sigmoid(1) ~ 0.73 instead of ~0.5.

    Parameters
    ----------
    lstm : LSTM, LSTMCell, or any Module containing them (e.g. a Seq2Seq model);
        every recurrent layer with biases inside it is set
    value : float

    Returns
    -------
    lstm
    """
    if not isinstance(lstm, Module):
        raise TypeError(f"forget_gate_bias_ takes an LSTM, LSTMCell or a Module holding them, "
                        f"got {type(lstm).__name__}")
    value = check.real(value, "value")
    pairs = [(owner, name) for owner in lstm.modules() if getattr(owner, "gate_names", None) == GATES
             for name in owner._parameters if name.startswith("bias_ih")]
    if not pairs:
        raise ValueError(f"forget_gate_bias_ found no LSTM biases in {type(lstm).__name__} "
                         "(no LSTM/LSTMCell inside, or built with bias=False)")
    for owner, name in pairs:
        b_ih, b_hh = owner._parameters[name], owner._parameters[name.replace("bias_ih", "bias_hh")]
        H = b_ih.shape[0] // len(GATES)
        forget_rows = slice(_FORGET * H, (_FORGET + 1) * H)
        b_ih.data[forget_rows] = value
        b_hh.data[forget_rows] = 0
    return lstm

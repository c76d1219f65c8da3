r"""Moving weights to and from PyTorch and Keras.

numpylstm names and lays out its parameters as PyTorch does, so most of the
way is short; this module covers the rest. Nothing here imports Keras, and
PyTorch is imported only inside ``to_torch_state_dict``.

Moving weights to and from PyTorch and Keras
--------------------------------------------
**PyTorch.** A numpylstm ``state_dict()`` has PyTorch's names and shapes, but
holds NumPy arrays, which ``torch.nn.Module.load_state_dict`` refuses:
convert it with ``to_torch_state_dict`` (dtypes are kept)::

    torch_lstm = torch.nn.LSTM(8, 32, num_layers=2, dtype=torch.float64)
    torch_lstm.load_state_dict(interop.to_torch_state_dict(lstm))

The other way, ``lstm.load_state_dict(torch_lstm.state_dict())`` works as it
is; ``from_torch_state_dict`` gives a plain dict of NumPy arrays, for saving
with ``numpylstm.io`` or for tensors that require grad or sit on a GPU. This
holds for ``LSTM`` (layers, bidirectional, projection), ``LSTMCell``, ``RNN``,
``RNNCell``, ``Linear``, ``Embedding`` and ``Sequential``.

CPU tensors can also be passed wherever numpylstm takes an array (inputs,
states, output gradients, losses' predictions and targets, token ids);
numpylstm reads them with ``np.asarray`` (detached if they require grad) and
returns NumPy arrays. A tensor on a GPU is refused: call ``.cpu()`` first.

**Keras.** Keras stores an LSTM as ``kernel`` (I, 4H), ``recurrent_kernel``
(H, 4H) and one ``bias`` (4H,), gates in the order i, f, c, o (PyTorch's
i, f, g, o), and takes (N, T, I) input. With Keras's defaults (tanh,
recurrent sigmoid; ``unit_forget_bias`` only changes the initial bias) the
two compute the same function::

    lstm = LSTM(I, H, batch_first=True)
    lstm.load_state_dict(interop.from_keras_lstm(*keras_lstm.get_weights()))
    keras_lstm.set_weights(interop.to_keras_lstm(lstm))     # the two biases summed

``from_keras_dense`` and ``to_keras_dense`` do the same for ``Dense`` and
``Linear`` (Keras's kernel is (in, out), PyTorch's weight (out, in)). A Keras
layer with ``use_bias=False`` has no bias: use ``bias=False`` on the numpylstm
side. ``to_keras_lstm`` refuses what one Keras ``LSTM`` cannot hold: several
layers, both directions, a projection.

**An LSTM written from scratch.** Many tutorials compute all four gates with
one ``Linear(I + H, 4H)`` over ``concat([x_t, h_{t-1}])`` and chunk its output
in their own gate order. ``from_fused_gates(weight, bias, I, order="fiog")``
splits such a weight into ``weight_ih_l0`` and ``weight_hh_l0`` and puts the
gates in PyTorch's order; ``to_fused_gates(lstm, order)`` goes back. ``order``
names the chunks in the order the program unpacks them, with g the candidate
(tanh) gate: ``f, i, o, g = gates.chunk(4, 1)`` is ``order="fiog"``.
"""
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from . import _validate as check
from .backend import to_numpy
from .functional import GATES
from .layers import Linear
from .module import Module
from .recurrent import LSTM, LSTMCell

TORCH_GATE_ORDER = "".join(GATES)   # "ifgo": the row blocks of weight_ih, weight_hh, bias_ih, bias_hh
KERAS_GATE_ORDER = "ifgo"   # Keras's i, f, c, o: its c is PyTorch's g, the candidate


# ---------------------------------------------------------------- fused gate Linear
def from_fused_gates(weight, bias, input_size, order="fiog"):
    r"""A one-layer ``LSTM`` state dict from one gate Linear over ``concat([x_t, h_{t-1}])``.

    The program converted computes, at every step::

        gates = concat([x_t, h]) @ weight.T + bias        # (N, 4H), chunks in ``order``
        i, f, o = sigmoid(...), g = tanh(...)             # as the chunks are named
        c = f * c + i * g;  h = o * tanh(c)

    Parameters
    ----------
    weight : float array (4H, I + H)
        The Linear's weight; columns 0..I-1 multiply x_t, the other H multiply h.
    bias : float array (4H,), or None for a Linear without bias
    input_size : int, I
    order : str, a permutation of "ifgo"
        The gate of each row chunk of ``weight``, in order (g: the candidate).

    Returns
    -------
    OrderedDict for ``LSTM(I, H)`` (``bias=False`` when ``bias`` is None):
    ``weight_ih_l0`` (4H, I), ``weight_hh_l0`` (4H, H) and ``bias_ih_l0`` = the bias
    in PyTorch's gate order, ``bias_hh_l0`` = zeros (the LSTM adds the two).
    """
    order = _gate_order(order)
    input_size = check.positive_int(input_size, "input_size")
    weight = _float_matrix(weight, "weight")
    rows, columns = weight.shape
    hidden = columns - input_size
    if hidden < 1 or rows != 4 * hidden:
        raise ValueError(f"weight must have shape (4 * hidden_size, input_size + hidden_size) with "
                         f"input_size={input_size}, got {tuple(weight.shape)}")
    weight = _reorder_gates(weight, order, TORCH_GATE_ORDER)
    state = OrderedDict(weight_ih_l0=np.ascontiguousarray(weight[:, :input_size]),
                        weight_hh_l0=np.ascontiguousarray(weight[:, input_size:]))
    if bias is not None:
        bias = _float_vector(bias, "bias", rows, "(4 * hidden_size,), one entry per row of weight")
        state["bias_ih_l0"] = _reorder_gates(bias, order, TORCH_GATE_ORDER)
        state["bias_hh_l0"] = np.zeros_like(bias)
    return state


def to_fused_gates(lstm, order="fiog"):
    r"""``(weight, bias)`` of the one gate Linear over ``concat([x_t, h_{t-1}])`` that ``lstm`` is.

    The inverse of ``from_fused_gates``.

    Parameters
    ----------
    lstm : ``LSTM`` (one layer, one direction, no projection) or ``LSTMCell``
    order : str, a permutation of "ifgo": the gate order of the rows to produce

    Returns
    -------
    weight : (4H, I + H) array, ``[weight_ih | weight_hh]`` with rows in ``order``
    bias : (4H,) array, ``bias_ih + bias_hh`` in ``order``; None for ``bias=False``
    """
    return _fused(lstm, _gate_order(order), "to_fused_gates", "one fused gate Linear")


def _fused(lstm, order, caller, target):
    """``to_fused_gates``; ``caller`` and ``target`` name the conversion in its refusals."""
    w_ih, w_hh, b_ih, b_hh = _single_layer(lstm, caller, target)
    weight = _reorder_gates(np.concatenate([w_ih, w_hh], axis=1), TORCH_GATE_ORDER, order)
    bias = None if b_ih is None else _reorder_gates(b_ih + b_hh, TORCH_GATE_ORDER, order)
    return weight, bias


def _gate_order(order):
    """``order`` if it is a permutation of "ifgo"."""
    if not isinstance(order, str):
        raise TypeError(f"order must be a string such as 'fiog', got {order!r} ({type(order).__name__})")
    if sorted(order) != sorted(TORCH_GATE_ORDER):
        raise ValueError(f"order must be a permutation of 'ifgo' (input, forget, candidate g, output gate), "
                         f"got {order!r}")
    return order


def _reorder_gates(array, from_order, to_order):
    """``array``'s four row blocks (axis 0: 4H rows, H per gate), from one gate order to another."""
    blocks = dict(zip(from_order, np.split(array, 4, axis=0)))
    return np.concatenate([blocks[gate] for gate in to_order], axis=0)


def _single_layer(lstm, caller, target):
    """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of a one-layer LSTM as NumPy (biases None without)."""
    check.instance_of(lstm, (LSTM, LSTMCell), "lstm", "a numpylstm LSTM or LSTMCell")
    if isinstance(lstm, LSTM):
        for reason, refused in ((f"num_layers={lstm.num_layers}", lstm.num_layers > 1),
                                ("bidirectional=True", lstm.bidirectional),
                                (f"proj_size={lstm.proj_size}", lstm.proj_size > 0)):
            if refused:
                raise ValueError(f"{caller} converts a one-layer, one-direction LSTM without projection "
                                 f"(what {target} holds), got an LSTM with {reason}")
    params = dict(lstm.state_dict())
    suffix = "_l0" if isinstance(lstm, LSTM) else ""
    return tuple(params.get(f"{kind}{suffix}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


# ---------------------------------------------------------------------------- Keras
def from_keras_lstm(kernel, recurrent_kernel, bias=None):
    r"""A one-layer ``LSTM`` state dict from the weights of a Keras ``LSTM`` layer.

    Keras computes ``x @ kernel + h @ recurrent_kernel + bias``, gates in the
    order i, f, c, o (c is PyTorch's g), the same order as PyTorch.

    Parameters
    ----------
    kernel : float array (I, 4H)
    recurrent_kernel : float array (H, 4H)
    bias : float array (4H,), or None (a layer with ``use_bias=False``)
        ``layer.get_weights()`` gives the three in this order.

    Returns
    -------
    OrderedDict for ``LSTM(I, H, batch_first=True)`` (Keras's layout; ``bias=False``
    without a bias): ``weight_ih_l0 = kernel.T``, ``weight_hh_l0 = recurrent_kernel.T``,
    ``bias_ih_l0 = bias``, ``bias_hh_l0`` = zeros.
    """
    kernel = _float_matrix(kernel, "kernel")
    recurrent_kernel = _float_matrix(recurrent_kernel, "recurrent_kernel")
    columns = kernel.shape[1]
    if columns % 4 or columns == 0:
        raise ValueError(f"kernel must have shape (input_size, 4 * units), got {tuple(kernel.shape)}")
    check.shape_equal(recurrent_kernel, "recurrent_kernel", (columns // 4, columns), "(units, 4 * units)")
    fused = np.concatenate([kernel, recurrent_kernel], axis=0).T
    return from_fused_gates(fused, bias, kernel.shape[0], order=KERAS_GATE_ORDER)


def to_keras_lstm(lstm):
    r"""``[kernel, recurrent_kernel, bias]`` for ``keras_lstm.set_weights``, from a numpylstm LSTM.

    Parameters
    ----------
    lstm : ``LSTM`` with one layer, one direction and no projection (Keras's
        ``LSTM`` has none of these), or ``LSTMCell`` (for ``keras.layers.LSTMCell``)

    Returns
    -------
    list: kernel (I, 4H), recurrent_kernel (H, 4H) and bias (4H,) = ``bias_ih + bias_hh``
    (Keras has one bias); without the bias for ``bias=False`` (Keras's ``use_bias=False``).
    """
    weight, bias = _fused(lstm, KERAS_GATE_ORDER, "to_keras_lstm", "Keras's LSTM")
    kernel, recurrent_kernel = weight[:, :lstm.input_size].T, weight[:, lstm.input_size:].T
    kernels = [np.ascontiguousarray(kernel), np.ascontiguousarray(recurrent_kernel)]
    return kernels if bias is None else kernels + [bias]


def from_keras_dense(kernel, bias=None):
    r"""A ``Linear`` state dict from the weights of a Keras ``Dense`` layer.

    Parameters
    ----------
    kernel : float array (in_features, out_features)
    bias : float array (out_features,), or None (``use_bias=False``)

    Returns
    -------
    OrderedDict for ``Linear(in_features, out_features)`` (``bias=False`` without a bias):
    ``weight = kernel.T`` (out_features, in_features) and ``bias``.
    """
    kernel = _float_matrix(kernel, "kernel")
    state = OrderedDict(weight=np.ascontiguousarray(kernel.T))
    if bias is not None:
        state["bias"] = _float_vector(bias, "bias", kernel.shape[1], "(out_features,), kernel.shape[1]")
    return state


def to_keras_dense(linear):
    r"""``[kernel, bias]`` for ``keras_dense.set_weights``, from a numpylstm ``Linear``.

    Returns
    -------
    list: kernel = ``weight.T`` (in_features, out_features) and bias (out_features,);
    the kernel alone for ``Linear(..., bias=False)`` (Keras's ``use_bias=False``).
    """
    check.instance_of(linear, Linear, "linear", "a numpylstm Linear")
    kernel = np.ascontiguousarray(to_numpy(linear.weight.data).T)
    return [kernel] if linear.bias is None else [kernel, to_numpy(linear.bias.data).copy()]


def _float_matrix(value, name):
    """``value`` as a 2-D floating NumPy array of its own dtype."""
    value = to_numpy(check.float_array(value, name, None))
    check.ndim_in(value, name, (2,), "a 2-D array")
    return value


def _float_vector(value, name, size, meaning):
    """``value`` as a floating NumPy array of shape (size,), copied."""
    value = to_numpy(check.float_array(value, name, None))
    check.shape_equal(value, name, (size,), meaning)
    return value.copy()


# ------------------------------------------------------------------------- PyTorch
def to_torch_state_dict(module):
    r"""An OrderedDict of torch tensors that the matching ``torch.nn`` module's ``load_state_dict`` takes.

    Parameters
    ----------
    module : numpylstm ``Module``, or a state dict of arrays (as ``state_dict()`` or
        ``numpylstm.io`` give)

    Returns
    -------
    OrderedDict name -> CPU ``torch.Tensor``, the same names, shapes and dtypes
    (copies: changing one side later does not change the other).
    """
    try:
        import torch
    except ImportError:
        raise ImportError("to_torch_state_dict needs PyTorch: pip install torch") from None
    if isinstance(module, Module):
        arrays = module.state_dict()
    else:
        check.instance_of(module, Mapping, "module", "a numpylstm Module or a state dict of arrays")
        arrays = OrderedDict((name, to_numpy(check.float_array(value, f"entry {name!r}", None)).copy())
                             for name, value in module.items())
    return OrderedDict((name, torch.from_numpy(array)) for name, array in arrays.items())


def from_torch_state_dict(state_dict):
    r"""A PyTorch state dict as an OrderedDict of NumPy arrays, for ``load_state_dict`` or ``numpylstm.io``.

    Tensors are detached and copied to the CPU first, so a GPU model's
    ``state_dict()`` or ``dict(named_parameters())`` converts too.

    Parameters
    ----------
    state_dict : mapping name -> tensor (or array)

    Returns
    -------
    OrderedDict name -> NumPy array (a copy), names, shapes and dtypes unchanged
    """
    check.instance_of(state_dict, Mapping, "state_dict", "a mapping of names to tensors")
    return OrderedDict((name, _numpy_copy(value, name)) for name, value in state_dict.items())


def _numpy_copy(value, name):
    """One state-dict entry as a NumPy copy; a TypeError naming it when NumPy cannot hold it."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
    try:
        return np.asarray(value).copy()
    except (TypeError, ValueError, RuntimeError) as error:   # bfloat16 has no NumPy dtype
        raise TypeError(f"entry {name!r} cannot be read as a NumPy array ({error}); "
                        f"convert it first, e.g. with .float()") from None

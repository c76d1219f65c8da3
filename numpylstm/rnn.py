"""``RNNCell`` and ``RNN``: the vanilla (Elman) RNN as modules, around ``numpylstm.functional_rnn``.

Names, shapes, layouts and initialisation follow ``torch.nn.RNNCell`` and
``torch.nn.RNN``, so a ``state_dict`` moves between the two unchanged.
"""
import math
from typing import List, NamedTuple

import numpy as np

from . import _validate as check
from .backend import get_array_module
from .functional_rnn import RNNCache, check_nonlinearity, rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from .module import Module, kept_for_backward
from .recurrent import (accumulate_cell_grads, add_cell_parameters, buffers_fit, cell_input, parameter_count,
                        time_major_input, time_major_output_grad, uniform_parameter, user_layout)


# ------------------------------------------------------------------------- RNNCell
class RNNCell(Module):
    """One RNN step, as ``torch.nn.RNNCell``.

    ``h1 = cell(x, h0)`` with x (N, input_size) or (input_size,) unbatched
    and h0 of shape (N, hidden_size) or (hidden_size,), optional (zeros).
    Every call pushes a cache: after T calls, T calls of
    ``dx, dh0 = cell.backward(dh1)`` walk back through them, newest first,
    adding into the parameter grads.

    Parameters: ``weight_ih`` (H, I), ``weight_hh`` (H, H), ``bias_ih`` and
    ``bias_hh`` (H,), all U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=np.float64, seed=None):
        super().__init__()
        self.input_size = check.positive_int(input_size, "input_size")
        self.hidden_size = check.positive_int(hidden_size, "hidden_size")
        self.bias = check.boolean(bias, "bias")
        self.nonlinearity = check_nonlinearity(nonlinearity)
        add_cell_parameters(self, self.hidden_size, check.float_dtype(dtype), seed)

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text + f", nonlinearity={self.nonlinearity!r}"

    def _biases(self):
        return (self.bias_ih.data, self.bias_hh.data) if self.bias else (None, None)

    def forward(self, x, h0=None):
        x, unbatched = cell_input(x, self.input_size, self.dtype)
        h = self._initial_state(h0, x.shape[0], unbatched)
        x, h = kept_for_backward(self, x, h)
        h1, cache = rnn_step_forward(x, h, self.weight_ih.data, self.weight_hh.data, *self._biases(),
                                     nonlinearity=self.nonlinearity)
        self._push_cache((cache, unbatched))
        h1, = kept_for_backward(self, h1)   # the cache reads h1 (its slope): the caller gets a copy
        return h1[0] if unbatched else h1

    def _initial_state(self, h0, N, unbatched):
        if h0 is None:
            xp = get_array_module(self.weight_ih.data)
            return xp.zeros((N, self.hidden_size), dtype=self.dtype)
        h0 = check.float_array(h0, "h0", self.dtype)
        shape = (self.hidden_size,) if unbatched else (N, self.hidden_size)
        check.shape_equal(h0, "h0", shape, "(batch, hidden_size), or (hidden_size,) unbatched")
        return h0[None] if unbatched else h0

    def backward(self, dh1):
        cache, unbatched = self._pop_cache()
        N, H = cache.h_next.shape
        dh1 = check.output_grad(dh1, "dh1", (H,) if unbatched else (N, H), self.dtype)
        if unbatched:
            dh1 = dh1[None]
        dx, dh0, *weight_grads = rnn_step_backward(dh1, cache)
        accumulate_cell_grads(self, *weight_grads)
        return (dx[0], dh0[0]) if unbatched else (dx, dh0)


# ----------------------------------------------------------------------------- RNN
class RNNForwardCache(NamedTuple):
    """What ``RNN.backward`` needs from one ``RNN.forward``."""
    layers: List[RNNCache]          # one per layer
    unbatched: bool
    out_shape: tuple     # shape of the output as returned to the user


class RNN(Module):
    """A stacked Elman RNN, as ``torch.nn.RNN`` (one direction, no dropout).

    ``out, h_n = rnn(x, h0=None)``

    Shapes (L = num_layers, H = hidden_size):

    - x: (T, N, input_size), or (N, T, input_size) with ``batch_first``, or (T, input_size) unbatched
    - h0, h_n: (L, N, H), or (L, H) unbatched; h0 is optional (zeros)
    - out: (T, N, H) (batch_first: (N, T, H); unbatched: (T, H)), the last layer's h at every step

    ``dx, dh0 = rnn.backward(d_out, dh_n=None)`` returns the gradients with respect to
    x and h0 and adds every weight gradient into ``.grad``.

    Parameters are named and shaped as in PyTorch: ``weight_ih_l{k}`` (H, I_k),
    ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,), all drawn
    from U(-1/sqrt(H), 1/sqrt(H)) with ``seed``. ``dropout`` and ``bidirectional``
    are accepted for PyTorch's signature but only their defaults are implemented.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float64, seed=None):
        super().__init__()
        self.input_size = check.positive_int(input_size, "input_size")
        self.hidden_size = check.positive_int(hidden_size, "hidden_size")
        self.num_layers = check.positive_int(num_layers, "num_layers")
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self.dropout = check.probability(dropout, "dropout")
        self.bias = check.boolean(bias, "bias")
        self.batch_first = check.boolean(batch_first, "batch_first")
        self.bidirectional = check.boolean(bidirectional, "bidirectional")
        if self.dropout > 0:
            raise NotImplementedError(
                f"RNN supports dropout=0.0 only, got dropout={self.dropout}; use LSTM for dropout between layers")
        if self.bidirectional:
            raise NotImplementedError(
                "RNN supports bidirectional=False only, got bidirectional=True; use LSTM(bidirectional=True)")
        dtype = check.float_dtype(dtype)
        rng = np.random.default_rng(check.seed(seed))
        check.parameters_fit(self, self._parameter_count(), dtype)
        bound = 1.0 / math.sqrt(self.hidden_size)
        H = self.hidden_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else H
            setattr(self, f"weight_ih_l{layer}", uniform_parameter(rng, bound, (H, layer_input), dtype))
            setattr(self, f"weight_hh_l{layer}", uniform_parameter(rng, bound, (H, H), dtype))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", uniform_parameter(rng, bound, (H,), dtype))
                setattr(self, f"bias_hh_l{layer}", uniform_parameter(rng, bound, (H,), dtype))

    def _parameter_count(self):
        return parameter_count(1, self.input_size, self.hidden_size, self.num_layers, self.bias)

    def _forward_buffer_values(self, T, N):
        """A lower bound on the values one forward on T steps of N sequences allocates: each layer's
        outputs, stacked from its steps (twice), and in training the copy of the input."""
        per_layer = 2 * T * N * self.hidden_size
        if not self.training:
            return per_layer
        return self.num_layers * per_layer + T * N * self.input_size

    def _layer_parameters(self, layer):
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` Parameters of ``layer``, None where absent."""
        return tuple(getattr(self, f"{kind}_l{layer}", None)
                     for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}", f"num_layers={self.num_layers}",
                   f"nonlinearity={self.nonlinearity!r}"]
        if not self.bias:
            options.append("bias=False")
        if self.batch_first:
            options.append("batch_first=True")
        return ", ".join(options)

    # ----------------------------------------------------------------- forward
    def forward(self, x, h0=None):
        x, unbatched = time_major_input(x, self.input_size, self.batch_first, self.dtype)
        buffers_fit(self, x.shape[0], x.shape[1], self._forward_buffer_values(*x.shape[:2]))
        h0 = self._initial_state(h0, x.shape[1], unbatched)
        x, h0 = kept_for_backward(self, x, h0)
        layer_input, caches, h_n = x, [], []
        for layer in range(self.num_layers):
            weights = [None if p is None else p.data for p in self._layer_parameters(layer)]
            layer_input, h, cache = rnn_forward(layer_input, h0[layer], *weights, nonlinearity=self.nonlinearity,
                                                keep_cache=self.training)
            caches.append(cache)
            h_n.append(h)
        layer_input, = kept_for_backward(self, layer_input)   # the cache reads the last layer's output
        out, (h_n,) = user_layout(layer_input, (get_array_module(x).stack(h_n),), unbatched, self.batch_first)
        self._push_cache(RNNForwardCache(caches, unbatched, out.shape))
        return out, h_n

    def _state_shape(self, N, unbatched):
        return (self.num_layers,) + (() if unbatched else (N,)) + (self.hidden_size,)

    def _initial_state(self, h0, N, unbatched):
        shape = self._state_shape(N, unbatched)
        if h0 is None:
            xp = get_array_module(self.weight_ih_l0.data)
            return xp.zeros((self.num_layers, N, self.hidden_size), self.dtype)
        h0 = check.float_array(h0, "h0", self.dtype)
        check.shape_equal(h0, "h0", shape, "(num_layers, batch, hidden_size), or (num_layers, hidden_size) unbatched")
        return h0[:, None] if unbatched else h0

    # ---------------------------------------------------------------- backward
    def backward(self, d_out, dh_n=None):
        cache = self._pop_cache()
        d_out, dh_n = self._time_major_grads(d_out, dh_n, cache)
        dh0 = [None] * self.num_layers
        d_layer_out = d_out
        for layer in reversed(range(self.num_layers)):
            d_layer_out, dh0[layer], grads = rnn_backward(d_layer_out, dh_n[layer], cache.layers[layer])
            for param, grad in zip(self._layer_parameters(layer), grads):
                if param is not None:
                    param.accumulate(grad)
        dx, (dh0,) = user_layout(d_layer_out, (get_array_module(d_out).stack(dh0),), cache.unbatched,
                                 self.batch_first)
        return dx, dh0

    def _time_major_grads(self, d_out, dh_n, cache):
        d_out = time_major_output_grad(d_out, cache.out_shape, cache.unbatched, self.batch_first, self.dtype)
        if dh_n is None:
            return d_out, [None] * self.num_layers
        dh_n = check.float_array(dh_n, "dh_n", self.dtype)
        check.shape_equal(dh_n, "dh_n", self._state_shape(d_out.shape[1], cache.unbatched),
                          "(the shape of h_n)")
        return d_out, list(dh_n[:, None] if cache.unbatched else dh_n)

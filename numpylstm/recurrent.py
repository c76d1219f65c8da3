"""``LSTMCell`` and ``LSTM``: modules around the kernels in ``functional``.

Names, shapes, layouts and initialisation follow ``torch.nn.LSTMCell`` and
``torch.nn.LSTM``, so a ``state_dict`` moves between the two unchanged.
"""
import math
import warnings
from typing import List, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .backend import get_array_module, to_numpy
from . import fast, functional
from .functional import GATES, lstm_step_backward, lstm_step_forward, reverse_padded
from .layers import dropout_mask
from .module import Module, Parameter, kept_for_backward


def uniform_parameter(rng, bound, shape, dtype):
    """A ``Parameter`` drawn from U(-bound, bound), PyTorch's default for recurrent layers."""
    return Parameter(rng.uniform(-bound, bound, size=shape).astype(dtype))


def parameter_count(gates, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False, proj_size=0):
    """The number of parameter values of a stacked LSTM (gates=4) or RNN (gates=1), or of its cell
    (num_layers=1), as their constructors make them: in closed form, so that a size too large to
    allocate (num_layers=10**12) costs nothing to count. ``io.load_model`` checks files with it too."""
    directions, output = 1 + bidirectional, proj_size or hidden_size
    rows = gates * hidden_size

    def layer(layer_input):
        return directions * (rows * (layer_input + output + 2 * bias) + proj_size * hidden_size)

    return layer(input_size) + (num_layers - 1) * layer(output * directions)


def add_cell_parameters(cell, rows, dtype, seed):
    """``weight_ih`` (rows, I), ``weight_hh`` (rows, H) and, with ``cell.bias``, ``bias_ih`` and
    ``bias_hh`` (rows,) on ``cell``, from U(-1/sqrt(H), 1/sqrt(H)) seeded by ``seed``, in that order
    (rows = 4H for an LSTM cell, H for an RNN cell)."""
    rng = np.random.default_rng(check.seed(seed))
    check.parameters_fit(cell, parameter_count(rows // cell.hidden_size, cell.input_size, cell.hidden_size,
                                               bias=cell.bias), dtype)
    bound = 1.0 / math.sqrt(cell.hidden_size)
    cell.weight_ih = uniform_parameter(rng, bound, (rows, cell.input_size), dtype)
    cell.weight_hh = uniform_parameter(rng, bound, (rows, cell.hidden_size), dtype)
    if cell.bias:
        cell.bias_ih = uniform_parameter(rng, bound, (rows,), dtype)
        cell.bias_hh = uniform_parameter(rng, bound, (rows,), dtype)


def accumulate_cell_grads(cell, dW_ih, dW_hh, db_ih, db_hh):
    """Add one step's weight gradients into the ``.grad`` of a cell's parameters (biases if it has them)."""
    cell.weight_ih.accumulate(dW_ih)
    cell.weight_hh.accumulate(dW_hh)
    if cell.bias:
        cell.bias_ih.accumulate(db_ih)
        cell.bias_hh.accumulate(db_hh)


def buffers_fit(module, T, N, n_values):
    """Refuse a forward of a sequence module whose ``n_values`` buffer values cannot fit in memory.

    ``LSTM`` and ``RNN`` call it with the size of what one forward on T steps
    of N sequences allocates (outputs, and in training mode the cache the
    backward reads), before allocating any of it.
    """
    what = f"{type(module).__name__}.forward on {T} steps of {N} sequences"
    if module.training:
        needs_for, advice = ("its outputs and the cache its backward reads",
                             ": train on shorter chunks of the sequences (truncated BPTT, see detach_state) "
                             "or on smaller batches")
    else:
        needs_for, advice = "its outputs", ": run it on smaller batches"
    weights = module.weight_ih_l0.data   # every sequence module has it; its device is where buffers go
    check.fits_in_memory(n_values, weights.dtype, what, needs_for, advice, xp=get_array_module(weights))


def checked_lengths(lengths, T, N, name="lengths"):
    """``lengths`` checked as (N,) integers in 1..T (one length per sequence), as a NumPy int64 array.

    ``name`` is the caller's name for the argument (``Seq2Seq`` calls it ``src_lengths``).
    """
    lengths = check.integer_array(lengths, name, what="integers")
    check.shape_equal(lengths, name, (N,), "(one length per sequence)")
    lengths = check.integer_array(lengths, name, 1, T, what="values", context=f" (1 to the sequence length T={T})")
    return to_numpy(lengths).astype(np.int64)


def detach_state(state):
    """Copies of ``(h, c)`` to start the next chunk of a long sequence from.

    Truncated backpropagation through time (BPTT) trains on a long sequence
    one chunk at a time: each chunk starts from the state the one before ended
    in, but no gradient flows back across the boundary. numpylstm records no
    graph, so a chunk's ``backward`` already stops at the chunk's initial state
    and returns ``(dh0, dc0)`` there: truncated BPTT drops them. The copies
    guard the carried values against later in-place changes to the arrays.

    To backpropagate across the chunks instead (the same gradients as one pass
    over the whole sequence), keep every chunk's forward, then call the
    backward passes newest first, passing each one's ``(dh0, dc0)`` as the
    ``d_state`` of the chunk before: ``dx, d_state = lstm.backward(d_out, d_state)``.

    Parameters
    ----------
    state : pair ``(h, c)`` of arrays, such as the ``(h_n, c_n)`` an ``LSTM``
        returns: h (L*D, N, P) and c (L*D, N, H)

    Returns
    -------
    (h, c) : copies, with the same shapes and on the same device

    Examples
    --------
    Predict the next value of a sine wave, updating the weights after every
    chunk of 20 steps:

    >>> import numpy as np
    >>> from numpylstm import LSTM, detach_state
    >>> lstm = LSTM(input_size=1, hidden_size=4, proj_size=1, seed=0)
    >>> wave = np.sin(np.linspace(0, 12, 61)).reshape(61, 1, 1)     # (T + 1, N, input_size)
    >>> inputs, targets = wave[:-1], wave[1:]
    >>> state = None                                                 # zeros for the first chunk
    >>> for start in range(0, 60, 20):
    ...     out, state = lstm(inputs[start:start + 20], state)
    ...     dx, _ = lstm.backward(out - targets[start:start + 20])  # d(squared error / 2); d_state dropped
    ...     for param in lstm.parameters():
    ...         param.data -= 0.05 * param.grad
    ...     lstm.zero_grad()
    ...     state = detach_state(state)                              # carry the values, not the gradient
    >>> [a.shape for a in state]
    [(1, 1, 1), (1, 1, 4)]
    """
    h, c = check.pair(state, "state")
    h = check.float_array(h, "h (state[0])", None)
    c = check.float_array(c, "c (state[1])", None)
    xp = get_array_module(h, c)
    return xp.array(h, copy=True), xp.array(c, copy=True)


def cell_input(x, input_size, dtype):
    """A cell's input, checked, as (N, input_size); and whether it came unbatched, as (input_size,).

    A batch of N = 0 is allowed (the outputs are empty), as in PyTorch.
    """
    x = _checked_input(x, input_size, dtype, (1, 2), f"(N, {input_size}) or ({input_size},) unbatched")
    return (x[None], True) if x.ndim == 1 else (x, False)


def time_major_input(x, input_size, batch_first, dtype):
    """A sequence module's input, checked, as (T, N, input_size); and whether it came unbatched.

    T must be at least 1; a batch of N = 0 is allowed (the outputs are empty), as in PyTorch.
    """
    layout = f"(N, T, {input_size})" if batch_first else f"(T, N, {input_size})"
    x = _checked_input(x, input_size, dtype, (2, 3), f"{layout} or (T, {input_size}) unbatched")
    time_axis = 1 if batch_first and x.ndim == 3 else 0
    if x.shape[time_axis] == 0:
        raise ValueError(f"input must have at least one time step (T >= 1), got an array of shape {tuple(x.shape)}")
    if x.ndim == 2:
        return x[:, None], True
    return (x.transpose(1, 0, 2) if batch_first else x), False


def user_layout(out, states, unbatched, batch_first):
    """The inverse of ``time_major_input``: ``out`` (T, N, F) and ``states`` (each (L, N, ...))
    in the caller's layout (batch first, or without the N axis for unbatched input)."""
    if unbatched:
        return out[:, 0], tuple(state[:, 0] for state in states)
    return (out.transpose(1, 0, 2) if batch_first else out), tuple(states)


def time_major_output_grad(d_out, out_shape, unbatched, batch_first, dtype):
    """``d_out`` checked against the shape the forward returned, as (T, N, features)."""
    d_out = check.output_grad(d_out, "d_out", out_shape, dtype)
    if unbatched:
        return d_out[:, None]
    return d_out.transpose(1, 0, 2) if batch_first else d_out


def _checked_input(x, input_size, dtype, ranks, layouts):
    x = check.float_array(x, "input", dtype)
    check.ndim_in(x, "input", ranks, layouts)
    if x.shape[-1] != input_size:
        raise ValueError(
            f"input must have input_size={input_size} features in its last axis, got shape {tuple(x.shape)}"
        )
    return x


# ------------------------------------------------------------------------ LSTMCell
class LSTMCell(Module):
    """One LSTM step, as ``torch.nn.LSTMCell``.

    ``h1, c1 = cell(x, (h0, c0))`` with x (N, input_size) or (input_size,)
    unbatched; the state is optional (zeros). Every call pushes a cache:
    after T calls, T calls of ``dx, (dh0, dc0) = cell.backward(dh1, dc1)``
    walk back through them, newest first, adding into the parameter grads.

    Parameters: ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih`` and
    ``bias_hh`` (4H,), gate blocks i, f, g, o, all U(-1/sqrt(H), 1/sqrt(H)).
    """

    gate_names = GATES  # row blocks of weight_ih, weight_hh, bias_ih, bias_hh

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float64, seed=None):
        super().__init__()
        self.input_size = check.positive_int(input_size, "input_size")
        self.hidden_size = check.positive_int(hidden_size, "hidden_size")
        self.bias = check.boolean(bias, "bias")
        add_cell_parameters(self, 4 * self.hidden_size, check.float_dtype(dtype), seed)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def forward(self, x, state=None):
        x, unbatched = cell_input(x, self.input_size, self.dtype)
        h, c = self._initial_state(state, x.shape[0], unbatched)
        x, h, c = kept_for_backward(self, x, h, c)
        bias = (self.bias_ih.data, self.bias_hh.data) if self.bias else (None, None)
        h1, c1, cache = lstm_step_forward(x, h, c, self.weight_ih.data, self.weight_hh.data, *bias)
        self._push_cache((cache, unbatched))
        return (h1[0], c1[0]) if unbatched else (h1, c1)

    def _initial_state(self, state, N, unbatched):
        xp = get_array_module(self.weight_ih.data)
        shape = (self.hidden_size,) if unbatched else (N, self.hidden_size)
        if state is None:
            zeros = xp.zeros((N, self.hidden_size), dtype=self.dtype)
            return zeros, zeros
        h, c = check.pair(state, "state")
        h = check.float_array(h, "h0 (state[0])", self.dtype)
        c = check.float_array(c, "c0 (state[1])", self.dtype)
        layout = "(hidden_size,) for unbatched input" if unbatched else "(batch, hidden_size)"
        check.shape_equal(h, "h0 (state[0])", shape, layout)
        check.shape_equal(c, "c0 (state[1])", shape, layout)
        return (h[None], c[None]) if unbatched else (h, c)

    def backward(self, dh1, dc1=None):
        cache, unbatched = self._pop_cache()
        N, H = cache.c_prev.shape
        shape = (H,) if unbatched else (N, H)
        dh1 = self._output_grad(dh1, "dh1", shape, unbatched)
        dc1 = None if dc1 is None else self._output_grad(dc1, "dc1", shape, unbatched)
        dx, dh0, dc0, *weight_grads = lstm_step_backward(dh1, dc1, cache)
        accumulate_cell_grads(self, *weight_grads)
        if unbatched:
            return dx[0], (dh0[0], dc0[0])
        return dx, (dh0, dc0)

    def _output_grad(self, grad, name, shape, unbatched):
        grad = check.output_grad(grad, name, shape, self.dtype)
        return grad[None] if unbatched else grad


# ---------------------------------------------------------------------------- LSTM
# The engines an LSTM can run: name -> (lstm_forward, lstm_backward), same signatures and results.
ENGINES = {
    "fast": (fast.lstm_forward, fast.lstm_backward),            # the default: numpylstm.fast
    "reference": (functional.lstm_forward, functional.lstm_backward),   # the definition, to read
}


class LSTMForwardCache(NamedTuple):
    """What ``LSTM.backward`` needs from one ``LSTM.forward``."""
    engine: str                     # the engine whose caches these are
    layers: list                    # the engine's cache per (layer, direction), layer-major
    dropout_masks: List[np.ndarray]  # (T, N, D*P) scaled keep-masks after layers 0 .. L-2, or []
    lengths: Optional[np.ndarray]   # (N,) or None
    unbatched: bool
    out_shape: tuple                # shape of the output as returned to the user


class LSTM(Module):
    """A stacked (optionally bidirectional, projected) LSTM, as ``torch.nn.LSTM``.

    ``out, (h_n, c_n) = lstm(x, (h0, c0), lengths=None)``

    Shapes (D = 2 if bidirectional else 1, P = proj_size or hidden_size, L = num_layers):

    - x: (T, N, input_size), or (N, T, input_size) with ``batch_first``, or (T, input_size) unbatched
    - h0, h_n: (L*D, N, P); c0, c_n: (L*D, N, hidden_size) (no N axis when unbatched)
    - out: (T, N, D*P) (batch_first: (N, T, D*P)), the last layer's h at every step,
      forward and reverse directions concatenated on the last axis
    - lengths: optional (N,) integers in 1..T, one per sequence, any order. Sequence n
      uses steps 0..lengths[n]-1, as ``pack_padded_sequence`` + ``pad_packed_sequence(...,
      total_length=T)``: its outputs after that are zero, h_n/c_n are taken at its own
      last step, and the reverse direction starts there.

    ``dx, (dh0, dc0) = lstm.backward(d_out, (dh_n, dc_n))`` returns the gradients with
    respect to x and the initial state and adds every weight gradient into ``.grad``;
    ``(dh_n, dc_n)`` is optional, and either may be None.

    Parameters are named and shaped as in PyTorch: ``weight_ih_l{k}`` (4H, I_k),
    ``weight_hh_l{k}`` (4H, P), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,),
    ``weight_hr_l{k}`` (P, H) with a projection, and the same with ``_reverse`` for the
    reverse direction; all drawn from U(-1/sqrt(H), 1/sqrt(H)) with ``seed``.

    ``engine`` chooses the kernels: ``"fast"`` (``numpylstm.fast``, the default) or
    ``"reference"`` (``numpylstm.functional.lstm_forward``/``lstm_backward``, plain loops over
    the step kernels, to step through in a debugger). Both give the same results (to 1e-12
    in float64) and refuse the same arguments; ``lstm.engine`` may be changed at any time.
    """

    gate_names = GATES  # row blocks of every weight_ih, weight_hh, bias_ih, bias_hh

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, dtype=np.float64, seed=None, engine="fast"):
        super().__init__()
        self.engine = engine
        self.input_size = check.positive_int(input_size, "input_size")
        self.hidden_size = check.positive_int(hidden_size, "hidden_size")
        self.num_layers = check.positive_int(num_layers, "num_layers")
        self.proj_size = check.non_negative_int(proj_size, "proj_size")
        self.dropout = dropout
        self.bias = check.boolean(bias, "bias")
        self.batch_first = check.boolean(batch_first, "batch_first")
        self.bidirectional = check.boolean(bidirectional, "bidirectional")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size, got proj_size={self.proj_size} "
                f"and hidden_size={self.hidden_size}"
            )
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                f"expects num_layers greater than 1, but got dropout={self.dropout} and num_layers=1",
                UserWarning, stacklevel=2,
            )
        dtype = check.float_dtype(dtype)
        self._rng = np.random.default_rng(check.seed(seed))
        check.parameters_fit(self, self._parameter_count(), dtype)
        self._create_parameters(dtype)

    @property
    def dropout(self):
        """The probability in [0, 1] of dropping an output of every layer but the last (training only)."""
        return self._dropout

    @dropout.setter
    def dropout(self, p):
        self._dropout = check.fraction(p, "dropout")

    @property
    def engine(self):
        """``"fast"`` or ``"reference"``: which kernels ``forward`` and ``backward`` run."""
        return self._engine

    @engine.setter
    def engine(self, name):
        self._engine = check.one_of(name, "engine", tuple(ENGINES))

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def output_size(self):
        """P: the size of h (proj_size with a projection, else hidden_size)."""
        return self.proj_size or self.hidden_size

    def _suffixes(self):
        return ("", "_reverse")[: self.num_directions]

    def _parameter_count(self):
        return parameter_count(4, self.input_size, self.hidden_size, self.num_layers, self.bias,
                               self.bidirectional, self.proj_size)

    def _forward_buffer_values(self, T, N):
        """A lower bound on the values one forward on T steps of N sequences allocates.

        Training: per layer and direction the fast engine keeps the gates (4H), the cell
        states (H) and the output (P) of every step, plus the copy of the input and the
        dropout masks (the reference engine keeps more). Eval: two layers' outputs at a time.
        """
        H, P, D, L = self.hidden_size, self.output_size, self.num_directions, self.num_layers
        if not self.training:
            return 2 * T * N * D * P
        masks = (L - 1) * T * N * D * P if self.dropout > 0 else 0
        return L * D * T * N * (5 * H + P) + T * N * self.input_size + masks

    def _create_parameters(self, dtype):
        bound = 1.0 / math.sqrt(self.hidden_size)
        H4, P = 4 * self.hidden_size, self.output_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else P * self.num_directions
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", uniform_parameter(self._rng, bound, (H4, layer_input), dtype))
                setattr(self, f"weight_hh_{name}", uniform_parameter(self._rng, bound, (H4, P), dtype))
                if self.bias:
                    setattr(self, f"bias_ih_{name}", uniform_parameter(self._rng, bound, (H4,), dtype))
                    setattr(self, f"bias_hh_{name}", uniform_parameter(self._rng, bound, (H4,), dtype))
                if self.proj_size:
                    setattr(self, f"weight_hr_{name}",
                            uniform_parameter(self._rng, bound, (P, self.hidden_size), dtype))

    def _layer_parameters(self, layer, direction):
        """``(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)`` Parameters, None where absent."""
        name = f"l{layer}{self._suffixes()[direction]}"
        return tuple(getattr(self, f"{kind}_{name}", None)
                     for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}", f"num_layers={self.num_layers}"]
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, name) != default:
                options.append(f"{name}={getattr(self, name)}")
        return ", ".join(options)

    # ----------------------------------------------------------------- forward
    def forward(self, x, state=None, lengths=None):
        x, h0, c0, lengths, unbatched = self.time_major_arguments(x, state, lengths)
        x, h0, c0 = kept_for_backward(self, x, h0, c0)
        forward_kernel, _ = ENGINES[self.engine]
        dropout = self.dropout if self.training else 0.0
        last, h_n, c_n, caches, masks = self.run_layers(forward_kernel, x, h0, c0, lengths, self.training, dropout)
        if self.num_directions == 1:   # the last layer's cache reads its output: the caller gets a copy
            last, = kept_for_backward(self, last)
        out, (h_n, c_n) = user_layout(last, (h_n, c_n), unbatched, self.batch_first)
        self._push_cache(LSTMForwardCache(self.engine, caches, masks, lengths, unbatched, out.shape))
        return out, (h_n, c_n)

    def time_major_arguments(self, x, state=None, lengths=None):
        """The arguments of ``forward``, checked, in the layout the kernels take.

        Returns ``(x, h0, c0, lengths, unbatched)``: x (T, N, I), h0 (L*D, N, P),
        c0 (L*D, N, H) (zeros for ``state=None``), lengths (N,) int64 or None, and whether
        the input came without a batch axis.
        """
        x, unbatched = time_major_input(x, self.input_size, self.batch_first, self.dtype)
        T, N = x.shape[:2]
        buffers_fit(self, T, N, self._forward_buffer_values(T, N))
        lengths = self._check_lengths(lengths, T, N, unbatched)
        h0, c0 = self._initial_state(state, N, unbatched)
        return x, h0, c0, lengths, unbatched

    def run_layers(self, forward_kernel, x, h0, c0, lengths=None, keep_cache=False, dropout=0.0):
        """The stack of layers and directions, each run by ``forward_kernel``; records nothing.

        ``forward`` calls this with its engine's kernel; ``numpylstm.analysis`` with the
        definition's, to look inside. Arguments are time-major and already checked:
        x (T, N, I), h0 (L*D, N, P), c0 (L*D, N, H), lengths (N,) or None; ``dropout`` is the
        probability used between layers (0 for none).

        Returns ``(out, h_n, c_n, caches, masks)``: the last layer's output (T, N, D*P),
        h_n (L*D, N, P), c_n (L*D, N, H), the kernel's cache per (layer, direction) in
        layer-major order, and the dropout masks applied after each layer but the last.
        """
        D, xp = self.num_directions, get_array_module(x)
        layer_input, caches, masks, h_n, c_n = x, [], [], [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                index = layer * D + direction
                weights = [None if p is None else p.data for p in self._layer_parameters(layer, direction)]
                seq = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
                out, h, c, cache = forward_kernel(seq, h0[index], c0[index], *weights, lengths=lengths,
                                                  keep_cache=keep_cache)
                outputs.append(out if direction == 0 else reverse_padded(out, lengths))
                caches.append(cache)
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if D == 1 else xp.concatenate(outputs, axis=-1)
            if dropout > 0 and layer < self.num_layers - 1:
                masks.append(dropout_mask(self._rng, layer_input.shape, dropout, layer_input.dtype, xp))
                layer_input = layer_input * masks[-1]
        return layer_input, xp.stack(h_n), xp.stack(c_n), caches, masks

    def _state_shapes(self, N, unbatched):
        LD = self.num_layers * self.num_directions
        batch = () if unbatched else (N,)
        return (LD,) + batch + (self.output_size,), (LD,) + batch + (self.hidden_size,)

    def _initial_state(self, state, N, unbatched):
        h_shape, c_shape = self._state_shapes(N, unbatched)
        xp = get_array_module(self.weight_ih_l0.data)
        if state is None:
            h0, c0 = xp.zeros(h_shape, self.dtype), xp.zeros(c_shape, self.dtype)
        else:
            h0, c0 = check.pair(state, "state")
            h0 = check.float_array(h0, "h0 (state[0])", self.dtype)
            c0 = check.float_array(c0, "c0 (state[1])", self.dtype)
            batch = "" if unbatched else "batch, "
            check.shape_equal(h0, "h0 (state[0])", h_shape,
                              f"(num_layers * num_directions, {batch}proj_size or hidden_size)")
            check.shape_equal(c0, "c0 (state[1])", c_shape, f"(num_layers * num_directions, {batch}hidden_size)")
        return (h0[:, None], c0[:, None]) if unbatched else (h0, c0)

    def _check_lengths(self, lengths, T, N, unbatched):
        if lengths is None:
            return None
        if unbatched:
            raise ValueError("lengths needs batched input (T, N, features); got unbatched input of 2 dimensions")
        return get_array_module(self.weight_ih_l0.data).asarray(checked_lengths(lengths, T, N))

    # ---------------------------------------------------------------- backward
    def backward(self, d_out, d_state=None):
        cache = self._pop_cache()
        d_out, dh_n, dc_n = self._time_major_grads(d_out, d_state, cache)
        _, backward_kernel = ENGINES[cache.engine]   # the engine that ran the forward
        D, P = self.num_directions, self.output_size
        dh0, dc0 = [None] * len(cache.layers), [None] * len(cache.layers)
        d_layer_out = d_out
        for layer in reversed(range(self.num_layers)):
            if layer < self.num_layers - 1 and cache.dropout_masks:
                d_layer_out = d_layer_out * cache.dropout_masks[layer]
            dx = 0
            for direction in range(D):
                index = layer * D + direction
                d_dir = d_layer_out[..., direction * P:(direction + 1) * P]
                if direction == 1:
                    d_dir = reverse_padded(d_dir, cache.lengths)
                dx_dir, dh0[index], dc0[index], grads = backward_kernel(
                    d_dir, dh_n[index], dc_n[index], cache.layers[index])
                dx = dx + (dx_dir if direction == 0 else reverse_padded(dx_dir, cache.lengths))
                for param, grad in zip(self._layer_parameters(layer, direction), grads):
                    if param is not None:
                        param.accumulate(grad)
            d_layer_out = dx
        xp = get_array_module(d_out)
        return user_layout(d_layer_out, (xp.stack(dh0), xp.stack(dc0)), cache.unbatched, self.batch_first)

    def _time_major_grads(self, d_out, d_state, cache):
        d_out = time_major_output_grad(d_out, cache.out_shape, cache.unbatched, self.batch_first, self.dtype)
        return (d_out,) + self._state_grads(d_state, cache)

    def _state_grads(self, d_state, cache):
        """``d_state`` checked, as per-(layer, direction) lists of (N, P) and (N, H) arrays or Nones."""
        N = 1 if cache.unbatched else cache.out_shape[0 if self.batch_first else 1]
        h_shape, c_shape = self._state_shapes(N, cache.unbatched)
        dh_n, dc_n = (None, None) if d_state is None else check.pair(d_state, "d_state")
        grads = []
        for grad, name, shape in ((dh_n, "dh_n (d_state[0])", h_shape), (dc_n, "dc_n (d_state[1])", c_shape)):
            if grad is not None:
                grad = check.float_array(grad, name, self.dtype)
                check.shape_equal(grad, name, shape, "(the shape of the forward state)")
                grad = grad[:, None] if cache.unbatched else grad
            grads.append([None] * len(cache.layers) if grad is None else list(grad))
        return grads[0], grads[1]

r"""The vanilla (Elman) RNN: kernels, ``RNNCell``, ``RNN``, and gradient norms through time.

The LSTM's reason to exist is easiest to see beside the simplest recurrent
network, so this module mirrors ``functional`` and ``recurrent`` for it.

The equations (PyTorch's ``torch.nn.RNN``)
------------------------------------------
For one time step with input ``x`` (N, I) and previous hidden state ``h`` (N, H)::

    a  = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh       # (N, H) pre-activation
    h' = phi(a)                                      # phi = tanh or relu

``W_ih`` is (H, I), ``W_hh`` is (H, H), ``b_ih`` and ``b_hh`` are (H,).

Their derivatives, applied in reverse order by the backward passes::

    da      = dh' * phi'(a)        phi'(a) = 1 - h'**2 (tanh)  or  [h' > 0] (relu)
    dx      = da @ W_ih            dh_prev = da @ W_hh
    dW_ih   = da.T @ x             dW_hh   = da.T @ h        db_ih = db_hh = sum of da over the batch

Both slopes are read from the output ``h'``, so the cache holds no ``a``.
Backpropagating through T steps multiplies the gradient by
``diag(phi'(a_t)) @ W_hh`` once per step: unless those factors stay close
to norm 1, ``dL/dh_t`` shrinks (or grows) geometrically in ``T - t``: the
vanishing (exploding) gradient problem. ``hidden_gradient_norms`` measures
it for this RNN and for the LSTM, whose cell path ``dc_prev = dc * f``
avoids the repeated matrix product.

The kernels check the shapes of their arguments once per call (a few tuple
comparisons, ``_validate.kernel_shapes``), so that a (1, H) state is not
broadcast silently over a batch of N; dtypes and values are the modules'
business, which convert and check them before calling a kernel.
"""
import math
from typing import List, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .backend import get_array_module
from .module import Module
from .recurrent import LSTM, add_cell_parameters, cell_input, time_major_input, time_major_output_grad, uniform_parameter, user_layout

NONLINEARITIES = ("tanh", "relu")


def check_nonlinearity(nonlinearity):
    """``nonlinearity`` if it is ``"tanh"`` or ``"relu"``; TypeError / ValueError otherwise."""
    if not isinstance(nonlinearity, str):
        raise TypeError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r} "
                        f"({type(nonlinearity).__name__})")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def activate(a, nonlinearity):
    """``phi(a)``: ``tanh(a)`` or ``relu(a) = max(a, 0)``."""
    xp = get_array_module(a)
    return xp.tanh(a) if nonlinearity == "tanh" else xp.maximum(a, 0)


def activation_slope(h, nonlinearity):
    """``phi'(a)`` from the output ``h = phi(a)``: ``1 - h**2`` (tanh) or ``1`` where ``h > 0`` (relu).

    For relu the slope at exactly 0 is taken as 0, as PyTorch does.
    """
    if nonlinearity == "tanh":
        return 1 - h ** 2
    return (h > 0).astype(h.dtype)


# --------------------------------------------------------------------------- one step
class RNNStepCache(NamedTuple):
    """What ``rnn_step_backward`` needs from one forward step."""
    x: np.ndarray        # (N, I) input
    h_prev: np.ndarray   # (N, H) previous hidden state
    h_next: np.ndarray   # (N, H) new hidden state phi(a), its slope phi'(a) is read from it
    W_ih: np.ndarray     # (H, I)
    W_hh: np.ndarray     # (H, H)
    nonlinearity: str    # "tanh" or "relu"


def rnn_step_forward(x, h, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One RNN time step: ``h' = phi(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)``.

    Parameters
    ----------
    x : (N, I) input at this step
    h : (N, H) previous hidden state
    W_ih : (H, I) input weights
    W_hh : (H, H) recurrent weights
    b_ih, b_hh : (H,) biases, or None for none
    nonlinearity : "tanh" or "relu"

    Returns
    -------
    h_next : (N, H)
    cache : RNNStepCache
    """
    nonlinearity = check_nonlinearity(nonlinearity)
    check.kernel_shapes("rnn_step_forward", ("x", x, ("N", "I")))
    _check_state_and_weights("rnn_step_forward", *x.shape, h, W_ih, W_hh, b_ih, b_hh, "h")
    a = x @ W_ih.T + h @ W_hh.T
    if b_ih is not None:
        a = a + b_ih + b_hh
    h_next = activate(a, nonlinearity)
    return h_next, RNNStepCache(x, h, h_next, W_ih, W_hh, nonlinearity)


def rnn_step_backward(dh_next, cache):
    """Backward pass of ``rnn_step_forward``.

    Parameters
    ----------
    dh_next : (N, H) gradient of the loss with respect to ``h_next``
    cache : RNNStepCache from the forward step

    Returns
    -------
    dx : (N, I)
    dh_prev : (N, H) gradient with respect to the previous hidden state
    dW_ih : (H, I)
    dW_hh : (H, H)
    db_ih, db_hh : (H,) equal, since both biases are added to the same sum
    """
    x, h_prev, h_next, W_ih, W_hh, nonlinearity = cache
    check.kernel_shapes("rnn_step_backward", ("dh_next", dh_next, h_next.shape))
    da = dh_next * activation_slope(h_next, nonlinearity)
    db = da.sum(axis=0)
    return da @ W_ih, da @ W_hh, da.T @ x, da.T @ h_prev, db, db.copy()


def _check_state_and_weights(kernel, N, I, h, W_ih, W_hh, b_ih, b_hh, h_name):
    """For an input of N rows and I features: h (N, H), W_ih (H, I), W_hh (H, H), biases (H,) or both None."""
    check.kernel_shapes(kernel, ("W_ih", W_ih, ("H", I)))
    H = W_ih.shape[0]
    check.kernel_shapes(kernel, (h_name, h, (N, H)), ("W_hh", W_hh, (H, H)),
                        ("b_ih", b_ih, (H,)), ("b_hh", b_hh, (H,)))
    check.bias_pair(kernel, b_ih, b_hh)


# --------------------------------------------------------------------- whole sequence
class RNNSequenceCache(NamedTuple):
    """What ``rnn_sequence_backward`` needs from ``rnn_sequence_forward``.

    ``out`` holds h_t for every t: it is the layer's output, the input of
    each step's slope, and (shifted by one) the h that step t+1 read.
    """
    x: np.ndarray        # (T, N, I)
    h0: np.ndarray       # (N, H)
    out: np.ndarray      # (T, N, H)
    W_ih: np.ndarray     # (H, I)
    W_hh: np.ndarray     # (H, H)
    has_bias: bool
    nonlinearity: str


class RNNWeightGrads(NamedTuple):
    """Weight gradients of one layer (biases None without bias)."""
    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: Optional[np.ndarray]
    b_hh: Optional[np.ndarray]


def rnn_sequence_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One RNN layer over a whole batch of sequences.

    The input projection of all T steps is one matrix product before the
    loop; only ``h @ W_hh.T`` is left inside it.

    Parameters
    ----------
    x : (T, N, I) inputs, time first
    h0 : (N, H) initial hidden state
    W_ih : (H, I), W_hh : (H, H), b_ih, b_hh : (H,) or None
    nonlinearity : "tanh" or "relu"

    Returns
    -------
    out : (T, N, H) hidden state at every step
    h_n : (N, H) hidden state after the last step (a copy of ``out[-1]``)
    cache : RNNSequenceCache
    """
    nonlinearity = check_nonlinearity(nonlinearity)
    check.kernel_shapes("rnn_sequence_forward", ("x", x, ("T", "N", "I")))
    T, N, I = x.shape
    _check_state_and_weights("rnn_sequence_forward", N, I, h0, W_ih, W_hh, b_ih, b_hh, "h0")
    H = W_ih.shape[0]
    out = (x.reshape(T * N, I) @ W_ih.T).reshape(T, N, H)
    if b_ih is not None:
        out += b_ih + b_hh
    h = h0
    for t in range(T):
        out[t] += h @ W_hh.T
        out[t] = activate(out[t], nonlinearity)
        h = out[t]
    cache = RNNSequenceCache(x, h0, out, W_ih, W_hh, b_ih is not None, nonlinearity)
    return out, h.copy(), cache


def rnn_sequence_backward(d_out, dh_n, cache):
    """Backpropagation through time for ``rnn_sequence_forward``.

    The loop only carries ``dh`` backwards and stores each step's ``da``; the
    weight gradients and ``dx`` are single products after it.

    Parameters
    ----------
    d_out : (T, N, H) gradient with respect to ``out``
    dh_n : (N, H) gradient with respect to ``h_n``, or None
    cache : RNNSequenceCache

    Returns
    -------
    dx : (T, N, I)
    dh0 : (N, H)
    grads : RNNWeightGrads
    """
    x, h0, out, W_ih, W_hh, has_bias, nonlinearity = cache
    check.kernel_shapes("rnn_sequence_backward", ("d_out", d_out, out.shape), ("dh_n", dh_n, h0.shape))
    xp = get_array_module(out)
    T, N, H = out.shape
    dh = xp.zeros((N, H), dtype=out.dtype) if dh_n is None else xp.array(dh_n, dtype=out.dtype)
    d_pre = activation_slope(out, nonlinearity)  # phi'(a) of every step, times dh in the loop: da
    for t in range(T - 1, -1, -1):
        dh += d_out[t]
        d_pre[t] *= dh
        dh = d_pre[t] @ W_hh
    da = d_pre.reshape(T * N, H)
    dW_ih = da.T @ x.reshape(T * N, -1)
    # Step t read h_{t-1}: h0 for t = 0, out[t-1] after.
    dW_hh = d_pre[0].T @ h0
    if T > 1:
        dW_hh += d_pre[1:].reshape(-1, H).T @ out[:-1].reshape(-1, H)
    db = da.sum(axis=0) if has_bias else None
    dx = (da @ W_ih).reshape(x.shape)
    return dx, dh, RNNWeightGrads(dW_ih, dW_hh, db, None if db is None else db.copy())


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
        h1, cache = rnn_step_forward(x, h, self.weight_ih.data, self.weight_hh.data, *self._biases(),
                                     nonlinearity=self.nonlinearity)
        self._push_cache((cache, unbatched))
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
        peeked, unbatched = self._peek_cache()   # popped once dh1 passes: a refused call can be retried
        N, H = peeked.h_next.shape
        dh1 = check.output_grad(dh1, "dh1", (H,) if unbatched else (N, H), self.dtype)
        cache, unbatched = self._pop_cache()
        if unbatched:
            dh1 = dh1[None]
        dx, dh0, dW_ih, dW_hh, db_ih, db_hh = rnn_step_backward(dh1, cache)
        self.weight_ih.grad += dW_ih
        self.weight_hh.grad += dW_hh
        if self.bias:
            self.bias_ih.grad += db_ih
            self.bias_hh.grad += db_hh
        return (dx[0], dh0[0]) if unbatched else (dx, dh0)


# ----------------------------------------------------------------------------- RNN
class RNNForwardCache(NamedTuple):
    """What ``RNN.backward`` needs from one ``RNN.forward``."""
    layers: List[RNNSequenceCache]
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
        bound = 1.0 / math.sqrt(self.hidden_size)
        H = self.hidden_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else H
            setattr(self, f"weight_ih_l{layer}", uniform_parameter(rng, bound, (H, layer_input), dtype))
            setattr(self, f"weight_hh_l{layer}", uniform_parameter(rng, bound, (H, H), dtype))
            if self.bias:
                setattr(self, f"bias_ih_l{layer}", uniform_parameter(rng, bound, (H,), dtype))
                setattr(self, f"bias_hh_l{layer}", uniform_parameter(rng, bound, (H,), dtype))

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
        h0 = self._initial_state(h0, x.shape[1], unbatched)
        layer_input, caches, h_n = x, [], []
        for layer in range(self.num_layers):
            weights = [None if p is None else p.data for p in self._layer_parameters(layer)]
            layer_input, h, cache = rnn_sequence_forward(layer_input, h0[layer], *weights,
                                                         nonlinearity=self.nonlinearity)
            caches.append(cache)
            h_n.append(h)
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
        # Popped once the gradients pass, so that a refused call can be corrected and retried.
        d_out, dh_n = self._time_major_grads(d_out, dh_n, self._peek_cache())
        cache = self._pop_cache()
        dh0 = [None] * self.num_layers
        d_layer_out = d_out
        for layer in reversed(range(self.num_layers)):
            d_layer_out, dh0[layer], grads = rnn_sequence_backward(d_layer_out, dh_n[layer], cache.layers[layer])
            for param, grad in zip(self._layer_parameters(layer), grads):
                if param is not None:
                    param.grad += grad
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


# ------------------------------------------------------------ gradient norms in time
def hidden_gradient_norms(module, x, state=None, d_last=None):
    r"""``||dL/dh_t||`` for every step t, for a loss on the last output only.

    The loss is ``L = sum(d_last * out[T-1])`` (``d_last`` defaults to ones),
    so every gradient that reaches an earlier ``h_t`` has travelled back
    through ``T-1-t`` recurrent steps. ``h_t`` is the last layer's hidden
    state, the output at step t. Plotting the result on a log scale shows
    the vanilla RNN's gradient vanishing and the LSTM's surviving.

    It uses only the modules' public API: ``dL/dh_t`` is exactly the
    ``dh0`` that ``backward`` returns when the sequence is restarted at step
    t+1 from the state the full run had after step t. That costs
    O(T^2) steps, which is nothing at the sizes of a teaching notebook.
    The module's caches and parameter gradients are left as they were.

    Parameters
    ----------
    module : RNN, or LSTM without ``bidirectional`` or ``dropout``
    x : its input: (T, N, I), (N, T, I) with ``batch_first``, or (T, I) unbatched
    state : its initial state (``h0`` for the RNN, ``(h0, c0)`` for the LSTM), or None
    d_last : dL/d out[T-1], of shape (N, H) (or (H,) unbatched); None for ones

    Returns
    -------
    ndarray (T,) of float: the Frobenius norm over the batch of dL/dh_t, t = 0 .. T-1
    """
    _check_gradient_norm_module(module)
    xp = get_array_module(module.parameters()[0].data)
    x = check.float_array(x, "x", module.dtype)
    check.ndim_in(x, "x", (2, 3), "(T, N, I), (N, T, I) with batch_first, or (T, I) unbatched")
    check.non_empty(x, "x")
    unbatched = x.ndim == 2
    time_axis = 1 if module.batch_first and not unbatched else 0
    T = x.shape[time_axis]
    step = lambda start, stop: x[(slice(None),) * time_axis + (slice(start, stop),)]  # noqa: E731
    states = _states_after_each_step(module, step, T, state)
    last_shape = _last_output_shape(module, x, unbatched, time_axis)
    d_last = xp.ones(last_shape, module.dtype) if d_last is None else check.float_array(d_last, "d_last", module.dtype)
    check.shape_equal(d_last, "d_last", last_shape, "(the shape of the last output step)")

    saved_grads = [p.grad.copy() for p in module.parameters()]
    saved_caches = [list(m._caches) for m in module.modules()]
    was_training = module.training
    module.train()
    norms = np.empty(T)
    norms[T - 1] = float(xp.linalg.norm(d_last))
    try:
        for t in range(T - 1):
            out, _ = module(step(t + 1, T), states[t])
            d_out = xp.zeros_like(out)
            d_out[(slice(None),) * time_axis + (-1,)] = d_last
            _, d_state = module.backward(d_out)
            dh0 = d_state[0] if isinstance(module, LSTM) else d_state
            norms[t] = float(xp.linalg.norm(dh0[-1]))   # the last layer's h_t
    finally:
        for param, grad in zip(module.parameters(), saved_grads):
            param.grad[...] = grad
        for m, caches in zip(module.modules(), saved_caches):
            m._caches[:] = caches
        module.train(was_training)
    return norms


def _check_gradient_norm_module(module):
    if not isinstance(module, (RNN, LSTM)):
        raise TypeError(f"module must be an RNN or an LSTM, got {type(module).__name__}")
    if getattr(module, "bidirectional", False):
        raise ValueError("module must not be bidirectional (h_t of the reverse direction depends on later steps), "
                         "got bidirectional=True")
    if getattr(module, "dropout", 0.0) > 0:
        raise ValueError(f"module must have dropout=0 (each pass would draw new masks), got dropout={module.dropout}")


def _states_after_each_step(module, step, T, state):
    """The module's full state after each step t, by running it one step at a time without caches."""
    was_training = module.training
    module.eval()
    states = []
    try:
        for t in range(T):
            _, state = module(step(t, t + 1), state)
            states.append(state)
    finally:
        module.train(was_training)
    return states


def _last_output_shape(module, x, unbatched, time_axis):
    size = module.output_size if isinstance(module, LSTM) else module.hidden_size
    if unbatched:
        return (size,)
    return (x.shape[1 - time_axis], size)

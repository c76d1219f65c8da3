r"""Pure LSTM kernels: forward passes and their hand-written backward passes.

Nothing here keeps state. Every forward returns its outputs and a *cache*
(a ``NamedTuple``) holding exactly what the matching backward needs; every
backward takes the gradient of the loss with respect to the outputs and that
cache, and returns the gradients with respect to every input.

The LSTM equations (PyTorch's layout and gate order i, f, g, o)
---------------------------------------------------------------
For one time step with input ``x`` (N, I), previous hidden state ``h`` (N, P)
and previous cell state ``c`` (N, H)::

    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh          # (N, 4H) pre-activations
    a_i, a_f, a_g, a_o = a[:, :H], a[:, H:2H], a[:, 2H:3H], a[:, 3H:]
    i = sigmoid(a_i)            # input gate:  how much of g to write
    f = sigmoid(a_f)            # forget gate: how much of c to keep
    g = tanh(a_g)               # candidate values
    o = sigmoid(a_o)            # output gate: how much of the cell to show
    c' = f * c + i * g          # new cell state            (N, H)
    h' = o * tanh(c')           # new hidden state          (N, H)
    h' = (o * tanh(c')) @ W_hr.T   # only with a projection (N, P), P < H

``W_ih`` is (4H, I), ``W_hh`` is (4H, P) where P = H without a projection,
``b_ih`` and ``b_hh`` are (4H,), ``W_hr`` is (P, H). ``*`` is element-wise.

Their derivatives, which the backward passes apply in reverse order::

    dr   = dh' @ W_hr  (projection)  or  dh'      # gradient of o * tanh(c')
    do   = dr * tanh(c')
    dc   = dc' + dr * o * (1 - tanh(c')**2)       # both paths into c'
    di   = dc * g        dg = dc * i        df = dc * c        dc_prev = dc * f
    da_i = di * i * (1 - i)   da_f = df * f * (1 - f)
    da_g = dg * (1 - g**2)    da_o = do * o * (1 - o)
    dx = da @ W_ih      dh_prev = da @ W_hh
    dW_ih = da.T @ x    dW_hh = da.T @ h        db_ih = db_hh = sum of da over the batch

Two implementations follow. ``lstm_step_forward``/``lstm_step_backward``
are the teaching reference: one step, the equations written out as above.
``lstm_sequence_forward``/``lstm_sequence_backward`` run a whole sequence
fast: the input projection of all time steps is one matrix product before
the loop, the weight gradients are single products after it, and the loop
works in place in preallocated buffers. The tests prove the two agree.
"""
from typing import NamedTuple, Optional

import numpy as np

from .backend import get_array_module

GATES = ("i", "f", "g", "o")  # PyTorch's order of the four row blocks of W_ih, W_hh, b_ih, b_hh


def sigmoid(x, out=None):
    r"""The logistic function ``1 / (1 + exp(-x))``, computed as ``(1 + tanh(x / 2)) / 2``.

    The two are equal for every x, but the tanh form never overflows
    (``exp(-x)`` does for x < -709 in float64 and x < -88 in float32, with a
    warning) and can work in place: pass ``out=x`` to overwrite ``x``.
    """
    xp = get_array_module(x)
    out = xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def split_gates(a):
    """The four gate blocks ``(i, f, g, o)`` of an array whose last axis is 4H (views, no copies)."""
    H = a.shape[-1] // 4
    return a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]


# --------------------------------------------------------------------------- one step
class LSTMStepCache(NamedTuple):
    """What ``lstm_step_backward`` needs from one forward step."""
    x: np.ndarray        # (N, I) input
    h_prev: np.ndarray   # (N, H) previous hidden state
    c_prev: np.ndarray   # (N, H) previous cell state
    i: np.ndarray        # (N, H) input gate
    f: np.ndarray        # (N, H) forget gate
    g: np.ndarray        # (N, H) candidate
    o: np.ndarray        # (N, H) output gate
    tanh_c: np.ndarray   # (N, H) tanh of the new cell state
    W_ih: np.ndarray     # (4H, I)
    W_hh: np.ndarray     # (4H, H)


def lstm_step_forward(x, h, c, W_ih, W_hh, b_ih=None, b_hh=None):
    """One LSTM time step (the equations in this module's docstring).

    Parameters
    ----------
    x : (N, I) input at this step
    h : (N, H) previous hidden state
    c : (N, H) previous cell state
    W_ih : (4H, I) input weights, row blocks i, f, g, o
    W_hh : (4H, H) recurrent weights, row blocks i, f, g, o
    b_ih, b_hh : (4H,) biases, or None for none

    Returns
    -------
    h_next : (N, H)
    c_next : (N, H)
    cache : LSTMStepCache
    """
    a = x @ W_ih.T + h @ W_hh.T
    if b_ih is not None:
        a = a + b_ih + b_hh
    a_i, a_f, a_g, a_o = split_gates(a)
    xp = get_array_module(a)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), xp.tanh(a_g), sigmoid(a_o)
    c_next = f * c + i * g
    tanh_c = xp.tanh(c_next)
    h_next = o * tanh_c
    return h_next, c_next, LSTMStepCache(x, h, c, i, f, g, o, tanh_c, W_ih, W_hh)


def lstm_step_backward(dh_next, dc_next, cache):
    """Backward pass of ``lstm_step_forward``.

    Parameters
    ----------
    dh_next : (N, H) gradient of the loss with respect to ``h_next``
    dc_next : (N, H) gradient with respect to ``c_next`` (from the step after), or None
    cache : LSTMStepCache from the forward step

    Returns
    -------
    dx : (N, I)
    dh : (N, H) gradient with respect to the previous hidden state
    dc : (N, H) gradient with respect to the previous cell state
    dW_ih : (4H, I)
    dW_hh : (4H, H)
    db_ih, db_hh : (4H,) equal, since both biases are added to the same sum
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh = cache
    xp = get_array_module(dh_next)
    if dc_next is None:
        dc_next = xp.zeros_like(c_prev)
    do = dh_next * tanh_c
    dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
    di, df, dg = dc * g, dc * c_prev, dc * i
    da = xp.concatenate(
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=-1
    )
    db = da.sum(axis=0)
    return da @ W_ih, da @ W_hh, dc * f, da.T @ x, da.T @ h_prev, db, db.copy()


# --------------------------------------------------------------------- whole sequence
class LSTMSequenceCache(NamedTuple):
    """What ``lstm_sequence_backward`` needs from ``lstm_sequence_forward``.

    Only the gates and the cell states are stored per step; tanh(c) and the
    pre-projection output are recomputed in the backward pass. ``out`` is the
    layer's output, which exists anyway, and serves as the h of every step.
    """
    x: np.ndarray                  # (T, N, I)
    h0: np.ndarray                 # (N, P)
    c0: np.ndarray                 # (N, H)
    gates: np.ndarray              # (T, N, 4H) activated gates i, f, g, o
    cells: np.ndarray              # (T, N, H) cell state after each step
    out: np.ndarray                # (T, N, P) output (zero past each sequence's length)
    W_ih: np.ndarray               # (4H, I)
    W_hh: np.ndarray               # (4H, P)
    W_hr: Optional[np.ndarray]     # (P, H) or None
    valid: Optional[np.ndarray]    # (T, N, 1) bool, True where t < length; None: all valid
    has_bias: bool


class LSTMWeightGrads(NamedTuple):
    """Weight gradients of one layer and direction (None where the weight does not exist)."""
    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: Optional[np.ndarray]
    b_hh: Optional[np.ndarray]
    W_hr: Optional[np.ndarray]


def lengths_to_valid(lengths, T):
    """A (T, N, 1) boolean mask, True where time step t < lengths[n]; None for None."""
    if lengths is None:
        return None
    xp = get_array_module(lengths)
    return (xp.arange(T)[:, None] < lengths[None, :])[:, :, None]


def reverse_padded(x, lengths=None):
    """Reverse each sequence of ``x`` (T, N, ...) in time within its own length.

    Padding stays where it is, so ``reverse_padded(reverse_padded(x, L), L)``
    is ``x``. This is how the reverse direction of a bidirectional LSTM starts
    at each sequence's own last step, as PyTorch's packed sequences do.
    Without lengths it is ``x[::-1]``.
    """
    if lengths is None:
        return x[::-1]
    xp = get_array_module(x)
    T, N = x.shape[:2]
    t = xp.arange(T)[:, None]
    source = xp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return x[source, xp.arange(N)[None, :]]


def lstm_sequence_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, W_hr=None, lengths=None):
    """One LSTM layer, one direction, over a whole batch of sequences.

    Parameters
    ----------
    x : (T, N, I) inputs, time first
    h0 : (N, P) initial hidden state (P = H, or proj_size with ``W_hr``)
    c0 : (N, H) initial cell state
    W_ih : (4H, I), W_hh : (4H, P), b_ih, b_hh : (4H,) or None, W_hr : (P, H) or None
    lengths : (N,) integer array or None. Sequence n uses steps 0 .. lengths[n]-1;
        past its length its state stays frozen and its output is zero.

    Returns
    -------
    out : (T, N, P) hidden state at every step
    h_n : (N, P) hidden state at each sequence's last step
    c_n : (N, H) cell state at each sequence's last step
    cache : LSTMSequenceCache
    """
    xp = get_array_module(x)
    T, N, I = x.shape
    H4 = W_ih.shape[0]
    H, P = H4 // 4, W_hh.shape[1]
    # All T input projections in one matrix product, before the loop.
    gates = (x.reshape(T * N, I) @ W_ih.T).reshape(T, N, H4)
    if b_ih is not None:
        gates += b_ih + b_hh
    cells = xp.empty((T, N, H), dtype=x.dtype)
    out = xp.empty((T, N, P), dtype=x.dtype)
    valid = lengths_to_valid(lengths, T)
    recurrent = xp.empty((N, H4), dtype=x.dtype)
    scratch = xp.empty((N, H), dtype=x.dtype)
    h = h0.copy() if valid is not None else h0  # with lengths, h is updated in place
    c = c0
    for t in range(T):
        a = gates[t]
        a += xp.matmul(h, W_hh.T, out=recurrent)
        _activate_gates(a, xp)
        i, f, g, o = split_gates(a)
        c_t = cells[t]
        xp.multiply(f, c, out=c_t)                 # c' = f * c ...
        c_t += xp.multiply(i, g, out=scratch)      #      ... + i * g
        h_t = xp.multiply(o, xp.tanh(c_t, out=scratch), out=scratch)  # o * tanh(c')
        if W_hr is not None:
            xp.matmul(h_t, W_hr.T, out=out[t])
        else:
            out[t] = h_t
        if valid is None:
            h, c = out[t], c_t
        else:  # finished sequences keep their state and output zero
            xp.copyto(c_t, c, where=~valid[t])
            xp.copyto(h, out[t], where=valid[t])
            out[t] *= valid[t]
            c = c_t
    cache = LSTMSequenceCache(x, h0, c0, gates, cells, out, W_ih, W_hh, W_hr, valid, b_ih is not None)
    return out, h.copy(), c.copy(), cache


def _activate_gates(a, xp):
    """Apply sigmoid to the i, f, o blocks and tanh to the g block of ``a`` (N, 4H), in place."""
    i, f, g, o = split_gates(a)
    H = i.shape[-1]
    sigmoid(a[:, :2 * H], out=a[:, :2 * H])  # i and f are adjacent
    xp.tanh(g, out=g)
    sigmoid(o, out=o)


def lstm_sequence_backward(d_out, dh_n, dc_n, cache):
    """Backpropagation through time for ``lstm_sequence_forward``.

    Parameters
    ----------
    d_out : (T, N, P) gradient with respect to ``out`` (ignored past each length)
    dh_n : (N, P) gradient with respect to ``h_n``, or None
    dc_n : (N, H) gradient with respect to ``c_n``, or None
    cache : LSTMSequenceCache

    Returns
    -------
    dx : (T, N, I)
    dh0 : (N, P)
    dc0 : (N, H)
    grads : LSTMWeightGrads
    """
    x, h0, c0, gates, cells, out, W_ih, W_hh, W_hr, valid, has_bias = cache
    xp = get_array_module(gates)
    T, N, H4 = gates.shape
    H, P = H4 // 4, W_hh.shape[1]
    dh = xp.zeros((N, P), dtype=x.dtype) if dh_n is None else xp.array(dh_n, dtype=x.dtype)
    dc = xp.zeros((N, H), dtype=x.dtype) if dc_n is None else xp.array(dc_n, dtype=x.dtype)
    d_gates = xp.empty_like(gates)
    tanh_c = xp.empty((N, H), dtype=x.dtype)
    scratch = xp.empty((N, H), dtype=x.dtype)
    dh_recurrent = xp.empty((N, P), dtype=x.dtype)
    if W_hr is not None:  # kept per step for dW_hr, one product after the loop
        dh_steps = xp.empty((T, N, P), dtype=x.dtype)
        r_steps = xp.empty((T, N, H), dtype=x.dtype)
        dr = xp.empty((N, H), dtype=x.dtype)
    for t in range(T - 1, -1, -1):
        i, f, g, o = split_gates(gates[t])
        c_prev = cells[t - 1] if t > 0 else c0
        if valid is None:
            dh += d_out[t]
            dh_cell = dh
        else:  # outputs past a sequence's length are constant zeros: their gradient is dropped
            dh += d_out[t] * valid[t]
            dh_cell = dh * valid[t]
        xp.tanh(cells[t], out=tanh_c)
        if W_hr is None:
            dr_t = dh_cell
        else:
            dh_steps[t] = dh_cell
            xp.multiply(o, tanh_c, out=r_steps[t])
            dr_t = xp.matmul(dh_cell, W_hr, out=dr)
        _gate_gradients(d_gates[t], dr_t, dc, i, f, g, o, tanh_c, c_prev, scratch, xp)
        xp.multiply(dc, f, out=scratch)
        xp.matmul(d_gates[t], W_hh, out=dh_recurrent)
        if valid is None:
            dc, scratch = scratch, dc
            dh, dh_recurrent = dh_recurrent, dh
        else:  # finished sequences pass their state gradient straight through
            d_gates[t] *= valid[t]
            xp.copyto(dc, scratch, where=valid[t])
            xp.copyto(dh, dh_recurrent, where=valid[t])
    grads = _weight_gradients(x, h0, out, d_gates, W_hr, has_bias, xp,
                              dh_steps if W_hr is not None else None,
                              r_steps if W_hr is not None else None)
    dx = (d_gates.reshape(T * N, H4) @ W_ih).reshape(x.shape)
    return dx, dh, dc, grads


def _gate_gradients(da, dr, dc, i, f, g, o, tanh_c, c_prev, scratch, xp):
    """One step of the derivative table in the module docstring, in place.

    Writes da (N, 4H) and adds the output path into ``dc`` (which holds the
    gradient arriving from the next step on entry and dL/dc_t on return).
    """
    da_i, da_f, da_g, da_o = split_gates(da)
    # dc += dr * o * (1 - tanh(c)^2)
    xp.square(tanh_c, out=scratch)
    xp.subtract(1, scratch, out=scratch)
    scratch *= o
    scratch *= dr
    dc += scratch
    # da_o = dr * tanh(c) * o * (1 - o)
    xp.multiply(dr, tanh_c, out=da_o)
    _times_sigmoid_slope(da_o, o, scratch, xp)
    # da_i = dc * g * i * (1 - i)
    xp.multiply(dc, g, out=da_i)
    _times_sigmoid_slope(da_i, i, scratch, xp)
    # da_f = dc * c_prev * f * (1 - f)
    xp.multiply(dc, c_prev, out=da_f)
    _times_sigmoid_slope(da_f, f, scratch, xp)
    # da_g = dc * i * (1 - g^2)
    xp.multiply(dc, i, out=da_g)
    xp.square(g, out=scratch)
    xp.subtract(1, scratch, out=scratch)
    da_g *= scratch


def _times_sigmoid_slope(d, s, scratch, xp):
    """``d *= s * (1 - s)``: the derivative of a sigmoid whose output is ``s``."""
    xp.subtract(1, s, out=scratch)
    scratch *= s
    d *= scratch


def _weight_gradients(x, h0, out, d_gates, W_hr, has_bias, xp, dh_steps, r_steps):
    """All weight gradients of a layer as single large matrix products."""
    T, N, H4 = d_gates.shape
    da = d_gates.reshape(T * N, H4)
    dW_ih = da.T @ x.reshape(T * N, -1)
    # Step t used h_{t-1}: h0 for t = 0, out[t-1] after (where t is valid, so was t-1).
    dW_hh = d_gates[0].T @ h0
    if T > 1:
        dW_hh += d_gates[1:].reshape(-1, H4).T @ out[:-1].reshape(-1, out.shape[-1])
    db = da.sum(axis=0) if has_bias else None
    dW_hr = None
    if W_hr is not None:
        dW_hr = dh_steps.reshape(T * N, -1).T @ r_steps.reshape(T * N, -1)
    return LSTMWeightGrads(dW_ih, dW_hh, db, None if db is None else db.copy(), dW_hr)

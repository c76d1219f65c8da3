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

Through time (steps t = 0 .. T-1, starting from h0 and c0), backpropagation runs the
step backward from t = T-1 down to 0, carrying two gradients between steps::

    dh_t = d_out[t] + dh_prev of step t+1     (dh_n instead at t = T-1): both paths into h_t
    dc_t = dc_prev of step t+1                (dc_n instead at t = T-1)
    dW_ih, dW_hh, db, dW_hr = the sums over t of every step's weight gradients

With ``lengths``, sequence n runs steps 0 .. lengths[n]-1 only: after that its state stays
frozen and its output is zero (PyTorch's packed sequences), so its dh and dc pass those
steps unchanged and they add nothing to the weight gradients.

This module is the definition: what ``LSTM`` means. It holds

- ``lstm_step_forward`` / ``lstm_step_backward``: one time step, the lines above written out;
- ``lstm_forward`` / ``lstm_backward``: a whole sequence, plain loops over the step kernels
  (CS231n's ``lstm_forward``/``lstm_backward``), the projection and variable lengths written out.

``LSTM(engine="reference")`` runs these. ``numpylstm.fast`` computes the same two sequence
functions faster, with the same signatures and return types; ``LSTM(engine="fast")``, the
default, runs it, and tests/test_fast.py proves the two agree to 1e-12 in float64.
"""
from typing import List, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .backend import get_array_module

GATES = ("i", "f", "g", "o")  # PyTorch's order of the four row blocks of W_ih, W_hh, b_ih, b_hh


def sigmoid(x, out=None):
    r"""The logistic function ``1 / (1 + exp(-x))``, computed as ``(1 + tanh(x / 2)) / 2``.

    The two are equal for every x, but the tanh form never overflows
    (``exp(-x)`` does for x < -709 in float64 and x < -88 in float32, with a
    warning) and can work in place: pass ``out=x`` to overwrite ``x``.
    """
    xp = get_array_module(x)
    out = xp.asarray(xp.multiply(x, 0.5, out=out))  # asarray: for a 0-d x, multiply returns a scalar
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


def _gate_rows(kernel, W_ih):
    """4H, the rows of ``W_ih``: refused unless a multiple of 4 (one block per gate i, f, g, o)."""
    if W_ih.shape[0] % 4:
        raise ValueError(f"{kernel}: W_ih must have 4H rows (gates i, f, g, o), got {W_ih.shape[0]}")
    return W_ih.shape[0]


def _check_step_arguments(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """Shapes only (free: no copies, no reading of values), once per call.

    x (N, I), h (N, P), c (N, H), W_ih (4H, I), W_hh (4H, P), b_ih and b_hh (4H,) or both
    None. h may be narrower than c (P < H) when the caller projects between steps.
    """
    kernel = "lstm_step_forward"
    check.kernel_shapes(kernel, ("x", x, ("N", "I")), ("W_hh", W_hh, ("4H", "P")))
    check.kernel_shapes(kernel, ("W_ih", W_ih, ("4H", x.shape[1])))
    N, H4, P = x.shape[0], _gate_rows(kernel, W_ih), W_hh.shape[1]
    check.bias_pair(kernel, b_ih, b_hh)
    check.kernel_shapes(kernel, ("h", h, (N, P)), ("c", c, (N, H4 // 4)), ("W_hh", W_hh, (H4, P)),
                        ("b_ih", b_ih, (H4,)), ("b_hh", b_hh, (H4,)))


def lstm_step_forward(x, h, c, W_ih, W_hh, b_ih=None, b_hh=None):
    """One LSTM time step (the equations in this module's docstring).

    Parameters
    ----------
    x : (N, I) input at this step
    h : (N, H) previous hidden state ((N, P) if the caller projects h between steps)
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
    _check_step_arguments(x, h, c, W_ih, W_hh, b_ih, b_hh)
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
    check.kernel_shapes("lstm_step_backward",
                        ("dh_next", dh_next, c_prev.shape), ("dc_next", dc_next, c_prev.shape))
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
class LSTMCache(NamedTuple):
    """What ``lstm_backward`` needs from ``lstm_forward``: every step's cache, in time order."""
    steps: List[LSTMStepCache]        # T step caches of lstm_step_forward
    W_hr: Optional[np.ndarray]        # (P, H) projection, or None
    lengths: Optional[np.ndarray]     # (N,) integers, or None: every sequence runs all T steps
    has_bias: bool


class LSTMWeightGrads(NamedTuple):
    """Weight gradients of one layer and direction (None where the weight does not exist)."""
    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: Optional[np.ndarray]
    b_hh: Optional[np.ndarray]
    W_hr: Optional[np.ndarray]


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih=None, b_hh=None, W_hr=None, lengths=None, keep_cache=True):
    """One LSTM layer, one direction, over a batch of sequences: T calls of ``lstm_step_forward``.

    Parameters
    ----------
    x : (T, N, I) inputs, time first
    h0 : (N, P) initial hidden state (P = H, or the projection size with ``W_hr``)
    c0 : (N, H) initial cell state
    W_ih : (4H, I), W_hh : (4H, P), b_ih, b_hh : (4H,) or both None
    W_hr : (P, H) projection of the hidden state (``proj_size`` in PyTorch), or None
    lengths : (N,) integers in 1..T, or None. Sequence n runs steps 0 .. lengths[n]-1; after
        that its state stays frozen and its output is zero.
    keep_cache : False when no backward will follow (inference): the cache is not returned

    Returns
    -------
    out : (T, N, P) hidden state after every step
    h_n : (N, P) hidden state after each sequence's last step
    c_n : (N, H) cell state after each sequence's last step
    cache : LSTMCache (None with ``keep_cache=False``)
    """
    check_sequence_arguments("lstm_forward", x, h0, c0, W_ih, W_hh, b_ih, b_hh, W_hr, lengths)
    xp = get_array_module(x)
    h, c, outputs, steps = h0, c0, [], []
    for t in range(x.shape[0]):
        r, c_next, step = lstm_step_forward(x[t], h, c, W_ih, W_hh, b_ih, b_hh)   # r = o * tanh(c_t)
        h_next = r if W_hr is None else r @ W_hr.T                                 # the projection
        if lengths is None:
            outputs.append(h_next)
        else:  # finished sequences keep their state and output zeros
            running = _is_running(lengths, t)
            h_next, c_next = xp.where(running, h_next, h), xp.where(running, c_next, c)
            outputs.append(h_next * running)
        steps.append(step)
        h, c = h_next, c_next
    cache = LSTMCache(steps, W_hr, lengths, b_ih is not None) if keep_cache else None
    return xp.stack(outputs), h, c, cache


def lstm_backward(d_out, dh_n, dc_n, cache):
    """Backpropagation through time for ``lstm_forward``: T calls of ``lstm_step_backward``, newest first.

    Parameters
    ----------
    d_out : (T, N, P) gradient of the loss with respect to ``out`` (ignored past each length)
    dh_n : (N, P) gradient with respect to ``h_n``, or None (zero)
    dc_n : (N, H) gradient with respect to ``c_n``, or None (zero)
    cache : LSTMCache from ``lstm_forward``

    Returns
    -------
    dx : (T, N, I)
    dh0 : (N, P)
    dc0 : (N, H)
    grads : LSTMWeightGrads, summed over the steps
    """
    check.instance_of(cache, LSTMCache, "lstm_backward: cache", "the LSTMCache of functional.lstm_forward")
    steps, W_hr, lengths = cache.steps, cache.W_hr, cache.lengths
    h_shape, c_shape = steps[0].h_prev.shape, steps[0].c_prev.shape     # (N, P) and (N, H)
    check.kernel_shapes("lstm_backward", ("d_out", d_out, (len(steps),) + h_shape),
                        ("dh_n", dh_n, h_shape), ("dc_n", dc_n, c_shape))
    xp = get_array_module(d_out)
    dh = xp.zeros(h_shape, dtype=d_out.dtype) if dh_n is None else dh_n
    dc = xp.zeros(c_shape, dtype=d_out.dtype) if dc_n is None else dc_n
    dx, sums = [None] * len(steps), None
    for t in reversed(range(len(steps))):
        step = steps[t]
        running = None if lengths is None else _is_running(lengths, t)
        dh_t = dh + (d_out[t] if running is None else d_out[t] * running)    # both paths into h_t
        dh_step, dc_step = (dh_t, dc) if running is None else (dh_t * running, dc * running)
        dW_hr = None
        if W_hr is not None:   # h_t = r_t @ W_hr.T with r_t = o * tanh(c_t)
            dW_hr = dh_step.T @ (step.o * step.tanh_c)
            dh_step = dh_step @ W_hr                                           # dL/dr_t
        dx[t], dh_prev, dc_prev, *step_grads = lstm_step_backward(dh_step, dc_step, step)
        sums = _add_step_grads(sums, step_grads + [dW_hr])
        if running is None:
            dh, dc = dh_prev, dc_prev
        else:  # a finished sequence passes its gradients straight to the step before
            dh, dc = xp.where(running, dh_prev, dh_t), xp.where(running, dc_prev, dc)
    dW_ih, dW_hh, db_ih, db_hh, dW_hr = sums
    if not cache.has_bias:
        db_ih = db_hh = None
    return xp.stack(dx), dh, dc, LSTMWeightGrads(dW_ih, dW_hh, db_ih, db_hh, dW_hr)


def _add_step_grads(sums, step_grads):
    """The running sums of the weight gradients over the steps (None entries stay None)."""
    if sums is None:
        return list(step_grads)
    return [None if total is None else total + grad for total, grad in zip(sums, step_grads)]


def _is_running(lengths, t):
    """(N, 1) booleans: True for the sequences that are still running at step t (t < length)."""
    return (t < lengths)[:, None]


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


def check_sequence_arguments(kernel, x, h0, c0, W_ih, W_hh, b_ih, b_hh, W_hr, lengths):
    """Shapes (and the dtype of ``lengths``) of a sequence kernel's arguments, once per call.

    Free: no copies, no reading of values. Both engines call it, so they refuse the same
    arguments with the same messages (``kernel`` names the function in them).
    """
    check.kernel_shapes(kernel, ("x", x, ("T", "N", "I")), ("W_ih", W_ih, ("4H", x.shape[-1])))
    T, N, _ = x.shape
    H4 = _gate_rows(kernel, W_ih)
    check.kernel_shapes(kernel, ("W_hr", W_hr, ("P", H4 // 4)))
    P = H4 // 4 if W_hr is None else W_hr.shape[0]
    check.bias_pair(kernel, b_ih, b_hh)
    check.kernel_shapes(kernel, ("h0", h0, (N, P)), ("c0", c0, (N, H4 // 4)), ("W_hh", W_hh, (H4, P)),
                        ("b_ih", b_ih, (H4,)), ("b_hh", b_hh, (H4,)), ("lengths", lengths, (N,)))
    if lengths is not None and lengths.dtype.kind not in "iu":
        raise TypeError(f"{kernel}: lengths must be integers, got dtype {lengths.dtype}")

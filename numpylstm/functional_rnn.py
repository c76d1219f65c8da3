r"""THE DEFINITION of the vanilla (Elman) RNN, beside the LSTM's in ``functional``.

The LSTM's reason to exist is easiest to see beside the simplest recurrent
network, so this module has the same shape as ``functional``: step kernels,
then whole-sequence kernels that loop over them. ``RNNCell`` and ``RNN``
(``numpylstm.rnn``) run these.

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
Through time, step t's dh is ``d_out[t]`` plus the ``dh_prev`` of step t+1 (``dh_n``
at the last step), and the weight gradients are summed over the steps.

Backpropagating through T steps multiplies the gradient by
``diag(phi'(a_t)) @ W_hh`` once per step: unless those factors stay close
to norm 1, ``dL/dh_t`` shrinks (or grows) geometrically in ``T - t``: the
vanishing (exploding) gradient problem. ``numpylstm.analysis.hidden_gradient_norms``
measures it for this RNN and for the LSTM, whose cell path ``dc_prev = dc * f``
avoids the repeated matrix product.

The kernels check the shapes of their arguments once per call (a few tuple
comparisons, ``_validate.kernel_shapes``), so that a (1, H) state is not
broadcast silently over a batch of N; dtypes and values are the modules'
business, which convert and check them before calling a kernel.
"""
from typing import List, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .backend import get_array_module

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
class RNNCache(NamedTuple):
    """What ``rnn_backward`` needs from ``rnn_forward``: every step's cache, in time order."""
    steps: List[RNNStepCache]
    has_bias: bool


class RNNWeightGrads(NamedTuple):
    """Weight gradients of one layer (biases None without bias)."""
    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: Optional[np.ndarray]
    b_hh: Optional[np.ndarray]


def rnn_forward(x, h0, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh", keep_cache=True):
    """One RNN layer over a batch of sequences: T calls of ``rnn_step_forward``.

    Parameters
    ----------
    x : (T, N, I) inputs, time first
    h0 : (N, H) initial hidden state
    W_ih : (H, I), W_hh : (H, H), b_ih, b_hh : (H,) or both None
    nonlinearity : "tanh" or "relu"
    keep_cache : False when no backward will follow: the cache is not returned

    Returns
    -------
    out : (T, N, H) hidden state after every step
    h_n : (N, H) hidden state after the last step
    cache : RNNCache (None with ``keep_cache=False``)
    """
    nonlinearity = check_nonlinearity(nonlinearity)
    check.kernel_shapes("rnn_forward", ("x", x, ("T", "N", "I")))
    _check_state_and_weights("rnn_forward", *x.shape[1:], h0, W_ih, W_hh, b_ih, b_hh, "h0")
    h, outputs, steps = h0, [], []
    for x_t in x:
        h, step = rnn_step_forward(x_t, h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
        outputs.append(h)
        steps.append(step)
    cache = RNNCache(steps, b_ih is not None) if keep_cache else None
    return get_array_module(x).stack(outputs), h, cache


def rnn_backward(d_out, dh_n, cache):
    """Backpropagation through time for ``rnn_forward``: T calls of ``rnn_step_backward``, newest first.

    Parameters
    ----------
    d_out : (T, N, H) gradient with respect to ``out``
    dh_n : (N, H) gradient with respect to ``h_n``, or None (zero)
    cache : RNNCache from ``rnn_forward``

    Returns
    -------
    dx : (T, N, I)
    dh0 : (N, H)
    grads : RNNWeightGrads, summed over the steps
    """
    check.instance_of(cache, RNNCache, "rnn_backward: cache", "the RNNCache of rnn_forward")
    steps = cache.steps
    h_shape = steps[0].h_prev.shape
    check.kernel_shapes("rnn_backward", ("d_out", d_out, (len(steps),) + h_shape), ("dh_n", dh_n, h_shape))
    xp = get_array_module(d_out)
    dh = xp.zeros(h_shape, dtype=d_out.dtype) if dh_n is None else dh_n
    dx, sums = [None] * len(steps), None
    for t in reversed(range(len(steps))):
        dx[t], dh, *step_grads = rnn_step_backward(dh + d_out[t], steps[t])   # both paths into h_t
        sums = step_grads if sums is None else [total + grad for total, grad in zip(sums, step_grads)]
    dW_ih, dW_hh, db_ih, db_hh = sums
    if not cache.has_bias:
        db_ih = db_hh = None
    return xp.stack(dx), dh, RNNWeightGrads(dW_ih, dW_hh, db_ih, db_hh)

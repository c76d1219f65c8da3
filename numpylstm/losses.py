r"""Loss functions that return the loss and its gradient together: ``loss, dpred = f(pred, target)``.

The gradient is with respect to the first argument and has its shape, ready
to hand to the backward pass of the module that produced it. Reductions are
PyTorch's default (the mean), so the numbers match ``torch.nn.functional``.

Mean squared error over all M elements::

    L = (1/M) sum (pred - target)**2            dL/dpred = (2/M) (pred - target)

Cross-entropy over the last axis (C classes), for the n unmasked positions,
with class ids y or class probabilities p (rows >= 0 summing to 1)::

    log q = logits - logsumexp(logits)          (stable: logsumexp subtracts the max first)
    L = -(1/n) sum over kept positions of log q[y]          or  of sum_c p_c log q_c
    dL/d_logits = (softmax(logits) - onehot(y)) * keep / n   or  (softmax(logits) * sum_c p_c - p) * keep / n
"""
import math

import numpy as np

from . import _validate as check
from .backend import get_array_module


# ------------------------------------------------------------------------------ MSE
def mse_loss(pred, target):
    r"""Mean squared error, as ``torch.nn.functional.mse_loss`` (reduction="mean").

    Parameters
    ----------
    pred : float array, any shape
    target : float array, the shape of ``pred`` (no broadcasting: a (N, 1) against
        (N,) mismatch would silently compare every pair)

    Returns
    -------
    loss : float
        ``mean((pred - target)**2)``
    dpred : array of the shape and dtype of ``pred``
        ``2 * (pred - target) / pred.size``
    """
    pred = check.float_array(pred, "pred", None)
    target = check.float_array(target, "target", pred.dtype)
    check.shape_equal(target, "target", pred.shape, "(the shape of pred)")
    check.non_empty(pred, "pred")
    diff = pred - target
    loss = float((diff * diff).mean())
    return loss, diff * (2.0 / diff.size)


# -------------------------------------------------------------------- cross-entropy
def cross_entropy(logits, target, mask=None):
    r"""Softmax cross-entropy over the last axis, as ``torch.nn.functional.cross_entropy``.

    The target is either a class id per position or a probability distribution
    over the classes per position (one-hot, label-smoothed, a teacher's
    softmax), told apart by its dtype: integers are ids, floats are probabilities.

    Parameters
    ----------
    logits : float array (..., C)
        Unnormalised scores; any leading shape S, e.g. (N, C) or (T, N, C).
    target : integer array S (= ``logits.shape[:-1]``), or float array (..., C) (= ``logits.shape``)
        Integers: class ids in [0, C). Floats: class probabilities, each kept row >= 0
        and summing to 1 within max(1e-6, sqrt(C) * eps of the target's dtype) (the
        rounding of a sum of C numbers). torch does not check this; numpylstm does,
        because logits or counts passed as the target give a "loss" that is not a
        cross-entropy (with a negative entry it has no minimum) and training on it
        fails silently. Entries at masked-out positions are not read, so padding may
        hold anything (e.g. -100 for ids, as PyTorch's ``ignore_index``, or zero rows).
    mask : None, or bool / 0-1 array S
        1 (True) keeps a position, 0 (False) drops it (padding). The loss is the
        mean over kept positions, like ``ignore_index`` in PyTorch; at least one
        position must be kept.

    Returns
    -------
    loss : float
    d_logits : array of the shape and dtype of ``logits``, zero at masked positions

    The gradient. At one position with logits z (C,), ``q = softmax(z)`` and target
    probabilities p with ``s = sum_c p_c``::

        L_pos = -sum_c p_c log q_c = -sum_c p_c (z_c - logsumexp(z)) = s * logsumexp(z) - sum_c p_c z_c
        dL_pos/dz_k = s * q_k - p_k          (d logsumexp(z) / dz_k = q_k)

    so ``d_logits = (softmax(logits) * s - p) * mask / n_kept``. For a class id y, p is
    ``onehot(y)`` and s = 1: ``(softmax(logits) - onehot(y)) * mask / n_kept``. (s is 1 up to
    rounding for every accepted target; keeping it makes the gradient exact for the loss computed.)
    """
    logits = _checked_logits(logits)
    xp = get_array_module(logits)
    keep = _keep_weights(mask, logits.shape[:-1], logits.dtype, xp)
    target, is_distribution = _ids_or_distribution(target, logits.shape)
    log_probs = log_softmax(logits)
    if is_distribution:
        probs = _class_probabilities(target, keep, logits.dtype, xp)
        position_loss = -(probs * log_probs).sum(axis=-1)
        position_grad = xp.exp(log_probs) * probs.sum(axis=-1, keepdims=True) - probs
    else:
        ids = _class_ids(target, logits.shape[:-1], logits.shape[-1], keep, xp)
        position_loss = -xp.take_along_axis(log_probs, ids[..., None], axis=-1)[..., 0]
        position_grad = xp.exp(log_probs) - (xp.arange(logits.shape[-1]) == ids[..., None])
    n_kept = float(keep.sum())
    loss = float((position_loss * keep).sum()) / n_kept
    d_logits = position_grad * (keep[..., None] / n_kept)
    return loss, d_logits.astype(logits.dtype, copy=False)


def log_softmax(logits):
    r"""``logits - logsumexp(logits)`` over the last axis, without overflow.

    Subtracting the row maximum m first leaves every exponent <= 0:
    ``logsumexp(z) = m + log(sum(exp(z - m)))``.
    """
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def _checked_logits(logits):
    """``logits`` as a float array (..., C) with at least one entry (shared with ``train.accuracy``)."""
    logits = check.float_array(logits, "logits", None)
    if logits.ndim == 0:
        raise ValueError("logits must be an array (..., C) with classes on the last axis, got a scalar")
    check.non_empty(logits, "logits")
    return logits


def _keep_weights(mask, shape, dtype, xp):
    """The mask as 0/1 weights of ``dtype`` (all ones without a mask)."""
    if mask is None:
        return xp.ones(shape, dtype=dtype)
    mask = check.mask_array(mask, "mask", shape, "(logits.shape[:-1], one entry per position)")
    keep = xp.asarray(mask).astype(dtype)
    if not bool(keep.any()):
        raise ValueError("mask must keep at least one position, got a mask of all zeros (the mean would be 0/0)")
    return keep


def _integer_target(target, shape):
    """``target`` as an array of integer class ids of ``shape`` (the logits without the class axis)."""
    target = check.integer_array(target, "target", what="integer class ids")
    check.shape_equal(target, "target", shape, "(logits.shape[:-1], one class id per position)")
    return target


def _class_ids(target, shape, num_classes, keep, xp):
    """``target`` as int64 ids, checked where kept and replaced by 0 where masked.

    The range is read in the target's own dtype, before the conversion to int64
    (a uint64 of 2**64-1 would become -1).
    """
    target = xp.asarray(_integer_target(target, shape))
    kept = keep > 0
    check.integer_array(target[kept], "target", 0, num_classes - 1, what="class ids",
                        context=f" (logits has C={num_classes} classes on its last axis)")
    # Padding ids are never read, but take_along_axis needs them in range.
    return xp.where(kept, target, 0).astype(xp.int64)


def _ids_or_distribution(target, logits_shape):
    """``(target, is_distribution)``: floats of the logits' shape are class probabilities, integers ids.

    Integer targets are checked further by ``_class_ids``; here only what tells the two apart.
    """
    target = check.host_array(target, "target", "an array of class ids or class probabilities")
    ids_shape = tuple(logits_shape[:-1])
    kind, shape = target.dtype.kind, tuple(target.shape)
    if kind in "iu":
        if shape == tuple(logits_shape):
            raise ValueError(
                f"target must have shape {ids_shape} (logits.shape[:-1], one class id per position), got "
                f"{shape}: integer targets are class ids; pass a one-hot target as floats "
                f"(target.astype(float)) or as ids (target.argmax(-1))"
            )
        return target, False
    if kind != "f" or shape == ids_shape:
        raise TypeError(
            f"target must be integer class ids of shape {ids_shape} or floating class probabilities of "
            f"the logits' shape {tuple(logits_shape)}, got dtype {target.dtype} and shape {shape}"
        )
    check.shape_equal(target, "target", logits_shape, "(the logits' shape: class probabilities per position)")
    return target, True


def _class_probabilities(target, keep, dtype, xp):
    """``target`` (..., C) as ``dtype``, its kept rows checked to be distributions, masked rows zeroed.

    The tolerance on the row sums is the typical rounding error of a sum of C
    numbers in the target's own dtype, sqrt(C) * eps (errors of random sign grow
    like sqrt(C)), and at least 1e-6: torch's float32 softmax over 32000 classes
    sums to 1 only within 5e-6, a float16 one within 6e-4 (measured).
    """
    num_classes = target.shape[-1]
    tolerance = max(1e-6, math.sqrt(num_classes) * float(np.finfo(target.dtype).eps))
    probs = xp.asarray(target).astype(dtype, copy=False)
    kept = keep > 0
    rows = probs[kept]
    if not bool(xp.isfinite(rows).all()) or float(rows.min()) < 0:
        raise ValueError(
            f"target class probabilities must be finite and >= 0, got values from {float(rows.min())} "
            f"to {float(rows.max())} (pass class ids as integers; logits are not probabilities)"
        )
    sums = rows.sum(axis=-1)
    if float(xp.abs(sums - 1).max()) > tolerance:
        raise ValueError(
            f"each row of target class probabilities must sum to 1 (within {tolerance:.1e}), got row "
            f"sums from {float(sums.min()):.9g} to {float(sums.max()):.9g}"
        )
    # Masked rows are never read: zeros keep a nan or -100 of padding out of the sums.
    return xp.where(kept[..., None], probs, 0)

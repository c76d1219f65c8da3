r"""Loss functions that return the loss and its gradient together: ``loss, dpred = f(pred, target)``.

The gradient is with respect to the first argument and has its shape, ready
to hand to the backward pass of the module that produced it. Reductions are
PyTorch's default (the mean), so the numbers match ``torch.nn.functional``.

Mean squared error over all M elements::

    L = (1/M) sum (pred - target)**2            dL/dpred = (2/M) (pred - target)

Cross-entropy over the last axis (C classes), for the n unmasked positions::

    log p = logits - logsumexp(logits)          (stable: logsumexp subtracts the max first)
    L = -(1/n) sum over kept positions of log p[target]
    dL/dlogits = (softmax(logits) - onehot(target)) * keep / n
"""
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

    Parameters
    ----------
    logits : float array (..., C)
        Unnormalised scores; any leading shape S, e.g. (N, C) or (T, N, C).
    target : integer array S (= ``logits.shape[:-1]``)
        Class ids in [0, C). Entries at masked-out positions are not read, so
        padding may use any value there (e.g. -100, as PyTorch's ``ignore_index``).
    mask : None, or bool / 0-1 array S
        1 (True) keeps a position, 0 (False) drops it (padding). The loss is the
        mean over kept positions, like ``ignore_index`` in PyTorch; at least one
        position must be kept.

    Returns
    -------
    loss : float
    dlogits : array of the shape and dtype of ``logits``
        ``(softmax(logits) - onehot(target)) * mask / n_kept``, zero at masked positions.
    """
    logits = _checked_logits(logits)
    xp = get_array_module(logits)
    num_classes = logits.shape[-1]
    keep = _keep_weights(mask, logits.shape[:-1], logits.dtype, xp)
    target = _class_ids(target, logits.shape[:-1], num_classes, keep, xp)

    log_probs = log_softmax(logits)
    picked = xp.take_along_axis(log_probs, target[..., None], axis=-1)[..., 0]
    n_kept = float(keep.sum())
    loss = -float((picked * keep).sum()) / n_kept

    onehot = xp.arange(num_classes) == target[..., None]
    dlogits = (xp.exp(log_probs) - onehot) * (keep[..., None] / n_kept)
    return loss, dlogits.astype(logits.dtype, copy=False)


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
    if not hasattr(mask, "dtype"):
        mask = np.asarray(mask)
    check.shape_equal(mask, "mask", shape, "(logits.shape[:-1], one entry per position)")
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"mask must be boolean or 0/1 numbers, got dtype {mask.dtype}")
    if mask.dtype.kind != "b" and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(
            f"mask must hold only 0 and 1 (or False and True), got values from "
            f"{float(mask.min())} to {float(mask.max())}"
        )
    keep = xp.asarray(mask).astype(dtype)
    if not bool(keep.any()):
        raise ValueError("mask must keep at least one position, got a mask of all zeros (the mean would be 0/0)")
    return keep


def _integer_target(target, shape):
    """``target`` as an array of integer class ids of ``shape`` (the logits without the class axis)."""
    if not hasattr(target, "dtype"):
        target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"target must be an array of integer class ids, got dtype {target.dtype}")
    check.shape_equal(target, "target", shape, "(logits.shape[:-1], one class id per position)")
    return target


def _class_ids(target, shape, num_classes, keep, xp):
    """``target`` as int64 ids, checked where kept and replaced by 0 where masked."""
    target = xp.asarray(_integer_target(target, shape)).astype(xp.int64)
    kept = keep > 0
    kept_ids = target[kept]
    if int(kept_ids.min()) < 0 or int(kept_ids.max()) >= num_classes:
        raise ValueError(
            f"target must hold class ids in [0, {num_classes - 1}] (logits has C={num_classes} classes "
            f"on its last axis), got values from {int(kept_ids.min())} to {int(kept_ids.max())}"
        )
    # Padding ids are never read, but take_along_axis needs them in range.
    return xp.where(kept, target, 0)

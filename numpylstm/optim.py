r"""Optimizers and gradient clipping, with the update rules of ``torch.optim``.

An optimizer holds a list of ``Parameter`` objects. After a backward pass has
filled ``param.grad``, ``step()`` changes every ``param.data`` in place, and
``zero_grad()`` clears the gradients for the next pass (backward *adds*).

For one parameter p with gradient g at step t (t = 1, 2, ...)::

    SGD      g <- g + weight_decay * p
             b <- g  (t = 1),  b <- momentum * b + g  (t > 1)      # only with momentum
             p <- p - lr * b                                       # (b = g without momentum)

    Adam     g <- g + weight_decay * p                             # L2 penalty, as torch.optim.Adam
             m <- beta1 * m + (1 - beta1) * g                      # running mean of g
             v <- beta2 * v + (1 - beta2) * g**2                   # running mean of g**2
             p <- p - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

The divisions by ``1 - beta**t`` undo the bias of m and v towards their zero
start. ``clip_grad_norm`` rescales all gradients together when their global
L2 norm exceeds ``max_norm`` (the usual guard against exploding LSTM gradients).
"""
import math
import numbers

from . import _validate as check
from .backend import get_array_module
from .module import Module, Parameter


def _parameter_list(params, name="params"):
    """``params`` (a Module, or an iterable of Parameters) as a non-empty list without duplicates."""
    if isinstance(params, Module):
        params = params.parameters()
    elif isinstance(params, Parameter):
        raise TypeError(f"{name} must be an iterable of Parameters (e.g. model.parameters()), got one Parameter; "
                        "wrap it in a list")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{name} must be an iterable of Parameters (e.g. model.parameters()), "
                        f"got {type(params).__name__}") from None
    for index, param in enumerate(params):
        if not isinstance(param, Parameter):
            raise TypeError(f"{name} must hold Parameters, got {type(param).__name__} at position {index}")
    if not params:
        raise ValueError(f"{name} must hold at least one Parameter, got an empty list")
    if len({id(p) for p in params}) != len(params):
        raise ValueError(f"{name} holds the same Parameter more than once; it would be updated twice per step")
    return params


def _non_negative(value, name):
    """``value`` as a finite float >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def _betas(betas):
    """``betas`` as a pair of floats in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(check.probability(beta, f"betas[{k}]") for k, beta in enumerate(betas))


class Optimizer:
    """Base class: holds the parameters and clears their gradients."""

    def __init__(self, params):
        self.params = _parameter_list(params)
        self.state = [{} for _ in self.params]   # per-parameter buffers, created on the first step

    def zero_grad(self):
        """Set every parameter's gradient to zero (in place)."""
        for param in self.params:
            param.grad[...] = 0

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} does not define step()")


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum and L2 weight decay, as ``torch.optim.SGD``.

    Parameters
    ----------
    params : list of Parameter (e.g. ``model.parameters()``), or a Module
    lr : float >= 0
    momentum : float >= 0
        The velocity buffer starts as the first gradient (PyTorch's convention, no dampening).
    weight_decay : float >= 0
        Adds ``weight_decay * p`` to each gradient.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params)
        self.lr = _non_negative(lr, "lr")
        self.momentum = _non_negative(momentum, "momentum")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def step(self):
        """Update every parameter in place from its ``.grad``."""
        for param, state in zip(self.params, self.state):
            grad = param.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * param.data
            if self.momentum:
                if "velocity" not in state:
                    state["velocity"] = grad.copy()
                else:
                    state["velocity"] *= self.momentum
                    state["velocity"] += grad
                grad = state["velocity"]
            param.data -= self.lr * grad


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), as ``torch.optim.Adam`` (L2 weight decay, no AMSGrad).

    Parameters
    ----------
    params : list of Parameter (e.g. ``model.parameters()``), or a Module
    lr : float >= 0
    betas : (float, float), each in [0, 1)
        Decay rates of the running means of the gradient and of its square.
    eps : float >= 0
        Added to the denominator, for steps where ``v`` is (nearly) zero.
    weight_decay : float >= 0
        Adds ``weight_decay * p`` to each gradient (not decoupled, unlike AdamW).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr = _non_negative(lr, "lr")
        self.betas = _betas(betas)
        self.eps = _non_negative(eps, "eps")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    def step(self):
        """Update every parameter in place from its ``.grad``."""
        beta1, beta2 = self.betas
        for param, state in zip(self.params, self.state):
            xp = get_array_module(param.data)
            if not state:
                state.update(step=0, m=xp.zeros_like(param.data), v=xp.zeros_like(param.data))
            state["step"] += 1
            t, m, v = state["step"], state["m"], state["v"]
            grad = param.grad
            if self.weight_decay:
                grad = grad + self.weight_decay * param.data
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            # The same order of operations as torch.optim.Adam, so the two agree to rounding.
            step_size = self.lr / (1 - beta1 ** t)
            denominator = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps
            param.data -= step_size * (m / denominator)


def global_norm(params):
    """``sqrt(sum of ||g||**2)`` over the gradients of ``params``: what ``clip_grad_norm`` measures."""
    return math.sqrt(sum(float((p.grad * p.grad).sum()) for p in params))


def clip_grad_norm(params, max_norm):
    r"""Scale all gradients by one factor so that their global L2 norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: with ``total = sqrt(sum of ||g||**2 over
    every parameter)``, each gradient is multiplied by
    ``min(1, max_norm / (total + 1e-6))``, in place. The direction of the
    overall gradient is kept; only its length shrinks.

    Parameters
    ----------
    params : list of Parameter (e.g. ``model.parameters()``), or a Module
    max_norm : float > 0

    Returns
    -------
    float
        The global norm *before* clipping (worth logging: spikes show exploding gradients).
        A non-finite norm (inf or nan gradients) is returned as is.
    """
    params = _parameter_list(params)
    max_norm = check.positive_real(max_norm, "max_norm")
    total = global_norm(params)
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for param in params:
            param.grad *= scale
    return total


class CosineDecay:
    r"""Lowers an optimizer's learning rate along a half cosine, from ``lr`` to ``lr * final_fraction``.

    Before step k of K: ``lr_k = lr * (f + (1 - f) * (1 + cos(pi * k / K)) / 2)``. Large steps
    early make fast progress; small steps at the end settle the weights, so the last epoch's
    result does not depend on where a noisy step happened to land. Use it in place of the
    optimizer it wraps (it has ``step()``, ``zero_grad()`` and ``params``).

    Parameters
    ----------
    optimizer : SGD or Adam (anything with ``lr``, ``step()`` and ``zero_grad()``)
    total_steps : int, the K above; after K steps the rate stays at ``lr * final_fraction``
    final_fraction : float in [0, 1]
    """

    def __init__(self, optimizer, total_steps, final_fraction=0.05):
        missing = [name for name in ("lr", "step", "zero_grad") if not hasattr(optimizer, name)]
        if missing:
            raise TypeError(f"optimizer must be an optimizer such as SGD or Adam (with lr, step() and "
                            f"zero_grad()), got {type(optimizer).__name__} without {', '.join(missing)}")
        self.optimizer = optimizer
        self.total_steps = check.positive_int(total_steps, "total_steps")
        if isinstance(final_fraction, bool) or not isinstance(final_fraction, numbers.Real):
            raise TypeError(f"final_fraction must be a number in [0, 1], got {final_fraction!r}")
        if not 0.0 <= final_fraction <= 1.0:
            raise ValueError(f"final_fraction must be in [0, 1], got {final_fraction}")
        self.final_fraction = float(final_fraction)
        self.base_lr, self.steps_taken = optimizer.lr, 0

    @property
    def params(self):
        return self.optimizer.params

    def zero_grad(self):
        self.optimizer.zero_grad()

    def step(self):
        progress = min(self.steps_taken / self.total_steps, 1.0)
        f = self.final_fraction
        self.optimizer.lr = self.base_lr * (f + (1 - f) * (1 + math.cos(math.pi * progress)) / 2)
        self.optimizer.step()
        self.steps_taken += 1

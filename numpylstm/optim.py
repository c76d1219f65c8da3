r"""Optimizers, learning-rate schedules and gradient clipping, following ``torch.optim``.

An optimizer holds its parameters in *param groups*: dicts with a list of
``Parameter`` objects under ``"params"`` and every option (``"lr"``,
``"momentum"``, ...) beside it, as in PyTorch::

    opt = SGD([{"params": model.encoder.parameters(), "lr": 0.1},
               {"params": model.head.parameters()}], lr=0.01, momentum=0.9)
    opt.param_groups[1]["lr"] = 0.001      # options are read at every step

After a backward pass has filled ``param.grad``, ``step()`` changes every
``param.data`` in place, and ``zero_grad()`` clears the gradients for the next
pass (backward *adds*). A parameter with ``requires_grad = False`` is left
alone: no update, no weight decay, no state.

For one parameter p with gradient g at its step t (t = 1, 2, ...)::

    SGD      g <- g + weight_decay * p                             # L2 penalty
             b <- g  (t = 1),  b <- momentum * b + (1 - dampening) * g  (t > 1)   # only with momentum
             g <- g + momentum * b  (nesterov),  g <- b  (otherwise)
             p <- p - lr * g

    Adam     g <- g + weight_decay * p                             # L2 penalty, as torch.optim.Adam
             m <- beta1 * m + (1 - beta1) * g                      # running mean of g
             v <- beta2 * v + (1 - beta2) * g**2                   # running mean of g**2
             v <- max(v_max, v)  (amsgrad: use the largest v so far; m and v themselves are kept)
             p <- p - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)     # eps_style="torch"
             p <- p - (lr * sqrt(1 - beta2**t) / (1 - beta1**t)) * m / (sqrt(v) + eps)     # eps_style="keras"

    AdamW    p <- p * (1 - lr * weight_decay), then Adam without the L2 term (decoupled weight decay)

The divisions by ``1 - beta**t`` undo the bias of m and v towards their zero
start. The two eps styles differ only in where eps is added: PyTorch adds it
to the bias-corrected ``sqrt(v_hat)``, Keras to the raw ``sqrt(v)`` (the
"epsilon hat" of Kingma & Ba), which is ``sqrt(1 - beta2**t)`` times larger
in effect.

``state_dict()`` returns plain arrays and numbers, laid out as PyTorch's:
``{"state": {index: {...}}, "param_groups": [{options..., "params": [indices]}]}``,
the index being a parameter's position in ``optimizer.params``;
``load_state_dict`` resumes exactly where it was saved.

A schedule only sets the learning rate; the training loop steps both::

    opt.step(); schedule.step()

``clip_grad_norm`` rescales all gradients together when their global L2
norm exceeds ``max_norm`` (the usual guard against exploding LSTM gradients).
"""
import math
from collections.abc import Mapping

from . import _validate as check
from .backend import get_array_module, to_numpy
from .module import Module, Parameter


# ------------------------------------------------------------------ argument checks
def _parameter_list(params, name="params"):
    """``params`` (a Module, or an iterable of floating Parameters) as a non-empty list without duplicates."""
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
    if not params:
        raise ValueError(f"{name} must hold at least one Parameter, got an empty list")
    first_position = {}
    for index, param in enumerate(params):
        if not isinstance(param, Parameter):
            raise TypeError(f"{name} must hold Parameters, got {type(param).__name__} at position {index}")
        if param.data.dtype.kind != "f":  # an in-place float update of integer data fails only at step()
            raise TypeError(f"{name} must hold floating-point Parameters (float32 or float64), got dtype "
                            f"{param.data.dtype} at position {index} (shape {tuple(param.shape)})")
        if id(param) in first_position:
            raise ValueError(f"{name} holds the same Parameter more than once (positions {first_position[id(param)]} "
                             f"and {index}, shape {tuple(param.shape)}); it would be updated twice per step")
        first_position[id(param)] = index
    return params


def _betas(betas, name):
    """``betas`` as a pair of floats in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{name} must be a pair (beta1, beta2), got {betas!r}")
    return tuple(check.probability(beta, f"{name}[{k}]") for k, beta in enumerate(betas))


EPS_STYLES = ("torch", "keras")


# Every option of every optimizer and its check: the one place option values are validated,
# for constructor arguments, param groups and loaded state dicts alike.
_OPTION_CHECKS = {
    "lr": check.non_negative_real,
    "momentum": check.non_negative_real,
    "dampening": check.non_negative_real,
    "weight_decay": check.non_negative_real,
    "nesterov": check.boolean,
    "betas": _betas,
    "eps": check.non_negative_real,
    "amsgrad": check.boolean,
    "eps_style": lambda value, name: check.one_of(value, name, EPS_STYLES),
}


def _checked_options(options, where):
    """``options`` (name -> value) with each value checked; ``where`` prefixes the names in messages."""
    return {name: _OPTION_CHECKS[name](value, f"{where}[{name!r}]" if where else name)
            for name, value in options.items()}


def _group_option(name):
    """A property for option ``name`` of the param groups, kept so that ``opt.lr`` and the like still work.

    Reading gives the first group's value; setting is allowed only with one group, since
    setting the first of several groups would silently leave the others unchanged.
    """
    def get(self):
        return self.param_groups[0][name]

    def set_(self, value):
        if len(self.param_groups) > 1:
            raise ValueError(f"{type(self).__name__}.{name} can be set only with one param group, this optimizer has "
                             f"{len(self.param_groups)}; set optimizer.param_groups[k][{name!r}] instead")
        self.param_groups[0][name] = _OPTION_CHECKS[name](value, name)

    return property(get, set_, doc=f"The first param group's {name!r} (settable with one group only).")


# ------------------------------------------------------------------------ optimizers
class Optimizer:
    """Base class: param groups, ``zero_grad``, ``step`` over the trainable parameters, state dicts.

    A subclass gives its options and their defaults, ``_update(param, state, group)``
    (its update rule for one parameter), and ``_state_kinds``: the entries its
    per-parameter state may hold ("array": shaped like the parameter, "count": an
    int), of which those in ``_required_state`` are always present once created.
    """

    _state_kinds = {}
    _required_state = ()
    lr = _group_option("lr")

    def __init__(self, params, defaults):
        self.defaults = _checked_options(defaults, "")
        self.param_groups = []
        self.state = {}            # Parameter -> its buffers, created at its first step (as torch)
        self.steps_taken = 0       # calls of step(); schedules check it to catch a forgotten step()
        for where, group in _as_groups(params):
            self._add_group(group, where)

    @property
    def params(self):
        """Every parameter, group after group: the positions ``state_dict`` indexes by."""
        return [param for group in self.param_groups for param in group["params"]]

    def add_param_group(self, param_group):
        """Add a group (a dict with "params" and any options; the others take the defaults)."""
        self._add_group(param_group, "param_group")

    def _add_group(self, group, where):
        """Check ``group`` entirely, then append it; ``where`` names it in messages (None: the bare params)."""
        label = where or "params"
        if not isinstance(group, Mapping):
            raise TypeError(f"{label} must be a dict with 'params' and options, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"{label} must hold 'params' (its list of Parameters), got the keys {sorted(group)}")
        unknown = sorted(set(group) - {"params"} - set(self.defaults))
        if unknown:
            raise ValueError(f"{label} has unknown option(s) {unknown}; the options of {type(self).__name__} are "
                             f"{sorted(self.defaults)}")
        params_name = f"{where}['params']" if where else "params"
        params = _parameter_list(group["params"], params_name)
        self._refuse_params_held_already(params, params_name)
        options = {**self.defaults, **_checked_options({k: v for k, v in group.items() if k != "params"}, where)}
        self._check_group(options, where)
        self.param_groups.append({"params": params, **options})

    def _refuse_params_held_already(self, params, name):
        held = {id(p): (g, i) for g, group in enumerate(self.param_groups) for i, p in enumerate(group["params"])}
        for index, param in enumerate(params):
            if id(param) in held:
                group, position = held[id(param)]
                raise ValueError(f"{name} holds a Parameter (position {index}, shape {tuple(param.shape)}) that is "
                                 f"already in param group {group} at position {position}; a Parameter may be in "
                                 "one group only (it would be updated twice per step)")

    def _check_group(self, options, where):
        """Refuse combinations of options that are wrong together (none in the base class)."""

    def zero_grad(self):
        """Set every parameter's gradient to zero (in place)."""
        for param in self.params:
            param.grad[...] = 0

    def step(self):
        """Update every parameter that requires a gradient, in place, from its ``.grad``."""
        for group in self.param_groups:
            for param in group["params"]:
                if param.requires_grad:   # frozen parameters get no update, no weight decay, no state
                    self._update(param, self.state.setdefault(param, {}), group)
        self.steps_taken += 1

    def _update(self, param, state, group):
        raise NotImplementedError(f"{type(self).__name__} does not define _update()")

    # --------------------------------------------------------------- state dicts
    def state_dict(self):
        """Options and buffers as plain arrays and numbers (copies), laid out as ``torch.optim``'s.

        Returns
        -------
        dict with
            "state" : {index: {buffer name: ndarray (the parameter's shape) or int}}, for the
                parameters that have buffers; ``index`` is the position in ``self.params``
            "param_groups" : list of {option: value, ..., "params": list of indices}
        """
        index = {id(p): i for i, p in enumerate(self.params)}
        state = {index[id(p)]: {name: _plain(value) for name, value in buffers.items()}
                 for p, buffers in self.state.items() if buffers}
        groups = [{**{k: v for k, v in group.items() if k != "params"},
                   "params": [index[id(p)] for p in group["params"]]} for group in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Take over the options and buffers of ``state_dict`` (from ``state_dict()`` of a like optimizer).

        Every group must have the same size and the same option names as this
        optimizer's, and every buffer the shape of its parameter; otherwise a
        ValueError lists what differs, and nothing is changed. Buffers are
        copied, cast to each parameter's dtype and device.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict (as state_dict() returns), got {type(state_dict).__name__}")
        problems = _keys_problems(state_dict, {"state", "param_groups"}, "state_dict")
        if not problems:
            (groups, group_problems), (state, state_problems) = (self._loaded_groups(state_dict["param_groups"]),
                                                                 self._loaded_state(state_dict["state"]))
            problems = group_problems + state_problems
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__} failed:\n  " + "\n  ".join(problems))
        for group, options in zip(self.param_groups, groups):
            group.update(options)
        self.state = state

    def _loaded_groups(self, saved_groups):
        """(checked options of each saved group, problems)."""
        if not isinstance(saved_groups, (list, tuple)) or len(saved_groups) != len(self.param_groups):
            got = len(saved_groups) if isinstance(saved_groups, (list, tuple)) else type(saved_groups).__name__
            return [], [f"'param_groups' must be a list of {len(self.param_groups)} param group(s), got {got}"]
        groups, problems, start = [], [], 0
        for k, (ours, saved) in enumerate(zip(self.param_groups, saved_groups)):
            where = f"param_groups[{k}]"
            expected = list(range(start, start + len(ours["params"])))
            start += len(ours["params"])
            if not isinstance(saved, Mapping):
                problems.append(f"{where} must be a dict, got {type(saved).__name__}")
                continue
            problems += _keys_problems(saved, set(self.defaults) | {"params"}, where)
            given = saved.get("params", expected)
            if not isinstance(given, (list, tuple)) or list(given) != expected:
                problems.append(f"{where}['params'] is {given!r}, this optimizer's is {expected} "
                                f"(a group of {len(expected)} parameters)")
            try:
                options = _checked_options({n: saved[n] for n in self.defaults if n in saved}, where)
                self._check_group({**ours, **options}, where)
                groups.append(options)
            except (TypeError, ValueError) as error:
                problems.append(str(error))
        return groups, problems

    def _loaded_state(self, saved_state):
        """(new state as Parameter -> buffers, problems)."""
        if not isinstance(saved_state, Mapping):
            return {}, [f"'state' must be a dict of parameter index -> buffers, got {type(saved_state).__name__}"]
        params, problems, state = self.params, [], {}
        for index, buffers in saved_state.items():
            where = f"state[{index!r}]"
            try:
                param = params[check.integer(index, f"the key {index!r} of 'state'", 0, len(params) - 1,
                                             " (a position in optimizer.params)")]
                check.instance_of(buffers, Mapping, where, "a dict of buffers")
            except (TypeError, ValueError) as error:
                problems.append(str(error))
                continue
            if buffers:
                state[param], found = self._loaded_buffers(buffers, param, where)
                problems += found
        return state, problems

    def _loaded_buffers(self, buffers, param, where):
        """(buffers copied onto ``param``'s dtype and device, problems)."""
        problems = [f"{where} lacks {name!r}" for name in self._required_state if name not in buffers]
        loaded = {}
        for name, value in buffers.items():
            label, kind = f"{where}[{name!r}]", self._state_kinds.get(name)
            if kind is None:
                problems.append(f"{label} is not a buffer of {type(self).__name__} (those are "
                                f"{sorted(self._state_kinds)})")
                continue
            try:
                loaded[name] = (check.non_negative_int(value, label) if kind == "count"
                                else _buffer_like(value, param, label))
            except (TypeError, ValueError) as error:
                problems.append(str(error))
        return loaded, problems


def _as_groups(params):
    """``(where, group)`` pairs: one group of everything, or the param groups given as a list of dicts."""
    if isinstance(params, (Module, Parameter)):
        return [(None, {"params": params})]
    if isinstance(params, Mapping):
        raise TypeError("params must be Parameters or a list of param groups, got one dict; wrap it in a list")
    try:
        params = list(params)
    except TypeError:
        return [(None, {"params": params})]   # _parameter_list names the wrong type
    if params and all(isinstance(p, Mapping) for p in params):
        return [(f"params[{k}]", group) for k, group in enumerate(params)]
    if any(isinstance(p, Mapping) for p in params):
        raise TypeError("params must be either Parameters or param groups (dicts with 'params'), got a mix of both")
    return [(None, {"params": params})]


def _keys_problems(mapping, expected, where):
    missing, unexpected = sorted(expected - set(mapping)), sorted(set(mapping) - expected, key=repr)
    return ([f"{where} lacks {missing}"] if missing else []) + \
        ([f"{where} has unexpected entries {unexpected}"] if unexpected else [])


def _plain(value):
    """A buffer as a plain value: a NumPy copy of an array (also off the GPU), an int as is."""
    return value if isinstance(value, int) else to_numpy(value).copy()


def _buffer_like(value, param, name):
    """``value`` as a new floating array shaped like ``param``, of its dtype and on its device."""
    try:
        array = to_numpy(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array, got {type(value).__name__}") from None
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must hold floating-point values, got dtype {array.dtype}")
    check.shape_equal(array, name, param.shape, "(the shape of its parameter)")
    return get_array_module(param.data).array(array, dtype=param.data.dtype)   # array(): always a copy


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, as ``torch.optim.SGD``.

    The rule (see the module docstring)::

        g <- g + weight_decay * p
        b <- g  (first step),  b <- momentum * b + (1 - dampening) * g      # with momentum only
        g <- g + momentum * b  (nesterov),  g <- b  (otherwise)
        p <- p - lr * g

    Parameters
    ----------
    params : list of Parameter (e.g. ``model.parameters()``), a Module, or a list of param groups
        (dicts with "params" and any of the options below, which override the defaults for that group)
    lr : float >= 0
    momentum : float >= 0
        The velocity buffer starts as the first gradient (PyTorch's convention).
    dampening : float >= 0
        Scales down the new gradient's share of the velocity: ``(1 - dampening) * g``.
    weight_decay : float >= 0
        Adds ``weight_decay * p`` to each gradient.
    nesterov : bool
        Step along ``g + momentum * b`` (look ahead); needs momentum > 0 and dampening = 0, as in PyTorch.
    """

    _state_kinds = {"momentum_buffer": "array"}
    momentum = _group_option("momentum")
    dampening = _group_option("dampening")
    weight_decay = _group_option("weight_decay")
    nesterov = _group_option("nesterov")

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check_group(self, options, where):
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(f"{where + ': ' if where else ''}nesterov=True requires momentum > 0 and dampening = 0 "
                             f"(as torch.optim.SGD), got momentum={options['momentum']} and "
                             f"dampening={options['dampening']}")

    def _update(self, param, state, group):
        grad = param.grad
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        if group["momentum"]:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                state["momentum_buffer"] *= group["momentum"]
                state["momentum_buffer"] += (1 - group["dampening"]) * grad
            velocity = state["momentum_buffer"]
            grad = grad + group["momentum"] * velocity if group["nesterov"] else velocity
        param.data -= group["lr"] * grad


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), as ``torch.optim.Adam`` (L2 weight decay, optional AMSGrad).

    The rule (see the module docstring)::

        g <- g + weight_decay * p
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        v <- max(v_max, v)                                           # amsgrad only
        p <- p - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)     # eps_style="torch"
        p <- p - (lr * sqrt(1 - beta2**t) / (1 - beta1**t)) * m / (sqrt(v) + eps)     # eps_style="keras"

    Parameters
    ----------
    params : list of Parameter (e.g. ``model.parameters()``), a Module, or a list of param groups
    lr : float >= 0
    betas : (float, float), each in [0, 1)
        Decay rates of the running means of the gradient and of its square.
    eps : float >= 0
        Added to the denominator, for steps where ``v`` is (nearly) zero.
    weight_decay : float >= 0
        Adds ``weight_decay * p`` to each gradient (not decoupled: see ``AdamW``).
    amsgrad : bool
        Divide by the largest ``v`` seen so far (Reddi et al., 2018), as torch's ``amsgrad=True``.
    eps_style : "torch" or "keras"
        Where eps is added. "keras" is the rule of Keras 3's ``keras.optimizers.Adam``
        (keras/src/optimizers/adam.py, ``update_step``: ``alpha = lr * sqrt(1 - beta_2_power) /
        (1 - beta_1_power)``; ``variable -= m * alpha / (sqrt(v) + epsilon)``), i.e. eps is added
        before the bias correction ("epsilon hat"). Keras's default epsilon is 1e-7, not 1e-8:
        pass ``eps=1e-7`` as well to reproduce a default Keras Adam.
    """

    _state_kinds = {"step": "count", "exp_avg": "array", "exp_avg_sq": "array", "max_exp_avg_sq": "array"}
    _required_state = ("step", "exp_avg", "exp_avg_sq")
    betas = _group_option("betas")
    eps = _group_option("eps")
    weight_decay = _group_option("weight_decay")
    amsgrad = _group_option("amsgrad")
    eps_style = _group_option("eps_style")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 eps_style="torch"):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      eps_style=eps_style))

    def _update(self, param, state, group):
        (beta1, beta2), lr, eps = group["betas"], group["lr"], group["eps"]
        xp = get_array_module(param.data)
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(param.data), exp_avg_sq=xp.zeros_like(param.data))
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        grad = self._decay_weights(param, group)
        m += (1 - beta1) * (grad - m)   # = beta1 * m + (1 - beta1) * g, computed as torch's lerp and Keras do
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            v_max = state.setdefault("max_exp_avg_sq", xp.zeros_like(param.data))
            v = xp.maximum(v_max, v, out=v_max)
        # Each style in the order of operations of its library, so that they agree to rounding.
        if group["eps_style"] == "torch":
            param.data -= (lr / (1 - beta1 ** t)) * (m / (xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps))
        else:
            param.data -= (m * (lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t))) / (xp.sqrt(v) + eps)

    def _decay_weights(self, param, group):
        """The gradient with the L2 penalty added (Adam); AdamW shrinks the weights instead."""
        if group["weight_decay"]:
            return param.grad + group["weight_decay"] * param.data
        return param.grad


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Before each Adam step the weights shrink, ``p <- p * (1 - lr * weight_decay)``, instead of
    ``weight_decay * p`` being added to the gradient: the decay is then not divided by
    ``sqrt(v)``, so every weight decays at the same rate. Arguments and defaults are those of
    ``Adam`` except ``weight_decay=1e-2`` (PyTorch's default).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 eps_style="torch"):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         eps_style=eps_style)

    def _decay_weights(self, param, group):
        if group["weight_decay"]:
            param.data *= 1 - group["lr"] * group["weight_decay"]
        return param.grad


# --------------------------------------------------------------------- clipping
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


# -------------------------------------------------------------------- schedules
class _Schedule:
    """Base class: after k calls of ``step()``, each group's lr is its starting lr times ``_factor(k)``.

    A subclass lists its arguments and their checks in ``_argument_checks`` and defines ``_factor``.
    """

    _argument_checks = {}

    def __init__(self, optimizer, **arguments):
        self.optimizer = check.instance_of(optimizer, Optimizer, "optimizer",
                                           "an optimizer of numpylstm.optim (SGD, Adam, AdamW)")
        for name, value in arguments.items():
            setattr(self, name, self._argument_checks[name](value, name))
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_step = 0
        self._last_lr = list(self.base_lrs)
        self._optimizer_steps_seen = optimizer.steps_taken

    def step(self):
        """Move to the next step's learning rate; call it after ``optimizer.step()``."""
        if self.optimizer.steps_taken == self._optimizer_steps_seen:
            raise RuntimeError(
                f"{type(self).__name__}.step() was called without optimizer.step() since the schedule was made or "
                "last stepped. A schedule only sets the learning rate; step both, as in PyTorch: "
                "optimizer.step(); schedule.step() (CosineDecay no longer steps the optimizer for you)")
        self._optimizer_steps_seen = self.optimizer.steps_taken
        self.last_step += 1
        self._set_rates()

    def _set_rates(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(f"the optimizer has {len(groups)} param groups, the schedule was made for "
                             f"{len(self.base_lrs)}; make the schedule after add_param_group")
        factor = self._factor(self.last_step)
        for group, base_lr in zip(groups, self.base_lrs):
            group["lr"] = base_lr * factor
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self):
        """The learning rate of each param group as this schedule last set it (a list)."""
        return list(self._last_lr)

    def state_dict(self):
        """The schedule's arguments, starting rates and step count (plain numbers)."""
        return {**{name: getattr(self, name) for name in self._argument_checks},
                "base_lrs": list(self.base_lrs), "last_step": self.last_step}

    def load_state_dict(self, state_dict):
        """Take over a saved schedule (and set the optimizer's rates to it); ValueError naming what differs."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict (as state_dict() returns), got {type(state_dict).__name__}")
        problems = _keys_problems(state_dict, set(self._argument_checks) | {"base_lrs", "last_step"}, "state_dict")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__} failed: " + "; ".join(problems))
        arguments = {name: check_(state_dict[name], name) for name, check_ in self._argument_checks.items()}
        last_step = check.non_negative_int(state_dict["last_step"], "last_step")
        base_lrs = state_dict["base_lrs"]
        if not isinstance(base_lrs, (list, tuple)) or len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(f"base_lrs must be a list of {len(self.optimizer.param_groups)} rates (one per param "
                             f"group), got {base_lrs!r}")
        base_lrs = [check.non_negative_real(lr, f"base_lrs[{k}]") for k, lr in enumerate(base_lrs)]
        for name, value in arguments.items():
            setattr(self, name, value)
        self.base_lrs, self.last_step = base_lrs, last_step
        self._set_rates()

    def _factor(self, k):
        raise NotImplementedError(f"{type(self).__name__} does not define _factor()")


class CosineDecay(_Schedule):
    r"""Lowers the learning rate along a half cosine, from ``lr`` to ``lr * final_fraction``.

    After k calls of ``step()``: ``lr_k = lr * (f + (1 - f) * (1 + cos(pi * k / K)) / 2)``,
    and ``lr * f`` from k = K on. Large steps early make fast progress; small steps at the end
    settle the weights, so the last epoch's result does not depend on where a noisy step
    happened to land. It is ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=K,
    eta_min=f * lr)`` up to step K (torch's then rises again; this one stays at the floor).

    Use it as in PyTorch, stepping it after the optimizer::

        schedule = CosineDecay(optimizer, total_steps=epochs * batches_per_epoch)
        for ...:
            optimizer.step()
            schedule.step()

    (Before, CosineDecay wrapped the optimizer and stepped it; calling ``schedule.step()``
    without ``optimizer.step()`` is now a RuntimeError rather than a run that silently trains nothing.)

    Parameters
    ----------
    optimizer : SGD, Adam or AdamW; each param group's lr at construction is its starting lr
    total_steps : int, the K above
    final_fraction : float in [0, 1], the f above
    """

    _argument_checks = {"total_steps": check.positive_int, "final_fraction": check.fraction}

    def __init__(self, optimizer, total_steps, final_fraction=0.05):
        super().__init__(optimizer, total_steps=total_steps, final_fraction=final_fraction)

    def _factor(self, k):
        progress = min(k / self.total_steps, 1.0)
        f = self.final_fraction
        return f + (1 - f) * (1 + math.cos(math.pi * progress)) / 2


class StepLR(_Schedule):
    r"""Multiplies the learning rate by ``gamma`` every ``step_size`` steps, as ``torch.optim.lr_scheduler.StepLR``.

    After k calls of ``step()``: ``lr_k = lr * gamma ** (k // step_size)``.

    Parameters
    ----------
    optimizer : SGD, Adam or AdamW
    step_size : int >= 1
    gamma : float >= 0
    """

    _argument_checks = {"step_size": check.positive_int, "gamma": check.non_negative_real}

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def _factor(self, k):
        return self.gamma ** (k // self.step_size)

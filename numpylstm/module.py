"""``Parameter`` and ``Module``: the small base every layer builds on.

A module's ``forward`` computes outputs and records what its ``backward``
will need (the *cache*); ``backward`` takes the gradient of the loss with
respect to the outputs, returns the gradient with respect to the inputs, and
*adds* the parameter gradients into each ``Parameter.grad`` (as PyTorch does,
so call ``zero_grad()`` between steps).

Caches form a stack: ``forward`` pushes one, ``backward`` pops the newest.
Calling a module T times and then ``backward`` T times (in reverse order) is
backpropagation through those T calls. In ``eval()`` mode ``forward`` records
nothing, which makes inference loops free of memory growth (like
``torch.no_grad()``).

One template for every call
---------------------------
Every ``forward`` and ``backward`` of every module (yours too: ``Module``
wraps the methods a subclass defines) runs as one transaction: if it raises,
everything it changed is put back. The cache stacks of the module and of every
module inside it, their random generators (dropout masks) and, for
``backward``, their parameter gradients are restored. So a refused call records
nothing and adds nothing, whichever part of a model refused it, and the
corrected call can simply be made again. Only the outermost call keeps the
copies; the modules inside it run without their own.

In-place changes
----------------
A cache never shares memory with an array the caller can reach: modules copy
their inputs when they cache them, and return outputs that no cache reads.
Changing an input or an output in place between ``forward`` and ``backward``
therefore cannot change the gradients (PyTorch raises instead; here there is
nothing to detect).
"""
import contextlib
import contextvars
import functools
from collections import OrderedDict
from collections.abc import Mapping
from typing import List, NamedTuple

import numpy as np

from . import _validate as check
from . import backend


class MissingForwardError(RuntimeError, ValueError):
    """``backward()`` without an unused ``forward()`` (in training mode) before it.

    A ``RuntimeError``, as PyTorch raises for a second backward through one
    graph, and also a ``ValueError``, so that ``except ValueError`` catches
    every misuse of the API (NumPy's ``AxisError`` is a ValueError and an
    IndexError for the same reason).
    """


class Parameter:
    """A trainable array and the gradient accumulated for it.

    Attributes
    ----------
    data : ndarray
        The values (NumPy, or CuPy after ``module.to("cuda")``), float32 or float64.
    grad : ndarray
        Same shape and dtype as ``data``; ``backward`` adds into it.
    requires_grad : bool
        True (the default) to train it. False freezes it, as in PyTorch: ``backward``
        adds nothing into its ``grad`` and optimizers leave it unchanged.
    """

    def __init__(self, data, requires_grad=True):
        self.data = check.parameter_array(data, "data")
        self.grad = backend.get_array_module(self.data).zeros_like(self.data)
        self.requires_grad = check.boolean(requires_grad, "requires_grad")

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze (True) this parameter in place; returns it."""
        self.requires_grad = check.boolean(requires_grad, "requires_grad")
        return self

    def accumulate(self, grad):
        """``grad += grad`` (what every backward does with a parameter's gradient), unless frozen."""
        if self.requires_grad:
            self.grad += grad

    def __repr__(self):
        frozen = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.data.dtype}{frozen})"


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns, as PyTorch's: the names it did not fill or did not use."""
    missing_keys: List[str]
    unexpected_keys: List[str]


class Module:
    """Base class: parameter registry, train/eval mode, state dicts and the cache stack."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_caches", [])
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        # Registering on assignment keeps PyTorch's parameter names and order.
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __init_subclass__(cls, **kwargs):
        """Run the ``forward`` and ``backward`` a subclass defines as transactions (see the module notes)."""
        super().__init_subclass__(**kwargs)
        for name, restores_grads in (("forward", False), ("backward", True)):
            if name in cls.__dict__:
                setattr(cls, name, _all_or_nothing(cls.__dict__[name], restores_grads))

    # ----------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def _push_cache(self, cache):
        """Remember ``cache`` for the matching ``backward`` (training mode only)."""
        if self.training:
            self._caches.append(cache)

    def _pop_cache(self):
        """The newest unused cache, removed; a clear error when there is none.

        A backward that then refuses its gradients gets the cache back: the call
        runs as a transaction (see the module notes).
        """
        if not self._caches:
            raise MissingForwardError(
                f"{type(self).__name__}.backward() was called without a matching forward(): "
                "every backward() needs one forward() in training mode before it "
                "(forward in eval() mode records nothing, and each forward is used by one backward only)"
            )
        return self._caches.pop()

    def clear_caches(self):
        """Forget every recorded forward pass (of this module and its children)."""
        for module in self.modules():
            module._caches.clear()

    # -------------------------------------------------------------- traversal
    def modules(self):
        """This module and every module inside it, depth first."""
        yield self
        for child in self._modules.values():
            yield from child.modules()

    def named_modules(self, prefix=""):
        """``(name, module)`` pairs for this module ("") and every module inside it."""
        yield prefix.rstrip("."), self
        for child_name, child in self._modules.items():
            yield from child.named_modules(prefix=f"{prefix}{child_name}.")

    def named_parameters(self, prefix=""):
        """``(name, Parameter)`` pairs, named as in PyTorch (``"0.weight"``, ``"weight_ih_l0"``).

        A parameter shared by two modules (tied weights) comes once, under its first name.
        """
        seen = set()
        for name, param in self._named_parameters_with_repeats(prefix):
            if id(param) not in seen:
                seen.add(id(param))
                yield name, param

    def _named_parameters_with_repeats(self, prefix):
        for name, param in self._parameters.items():
            yield prefix + name, param
        for child_name, child in self._modules.items():
            yield from child._named_parameters_with_repeats(f"{prefix}{child_name}.")

    def parameters(self):
        """Every ``Parameter`` once, in ``named_parameters`` order."""
        return [param for _, param in self.named_parameters()]

    def zero_grad(self):
        """Set every parameter gradient to zero."""
        for param in self.parameters():
            param.grad[...] = 0

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze (True) every parameter, as PyTorch's; returns ``self``."""
        requires_grad = check.boolean(requires_grad, "requires_grad")
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def train(self, mode=True):
        """Training mode (dropout active, caches recorded); returns ``self``.

        ``mode`` must be a bool (as in PyTorch): ``train("eval")`` is refused
        rather than read as True.
        """
        mode = check.boolean(mode, "mode")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off, no caches recorded); returns ``self``."""
        return self.train(False)

    def to(self, device):
        """Move every parameter to ``device`` (``"cpu"`` or ``"cuda"``); returns ``self``."""
        for param in self.parameters():
            param.data = backend.to_device(param.data, device)
            param.grad = backend.to_device(param.grad, device)
        self.clear_caches()
        return self

    @property
    def dtype(self):
        """The dtype of the parameters (float64 unless chosen otherwise)."""
        first = next(self._named_parameters_with_repeats(""), None)   # no list: every call reads it
        return first[1].data.dtype if first else np.dtype(np.float64)

    # ------------------------------------------------------------ state dicts
    def state_dict(self):
        """An ordered dict ``name -> NumPy copy of the values``, names as in PyTorch."""
        return OrderedDict(
            (name, backend.to_numpy(param.data).copy()) for name, param in self.named_parameters()
        )

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into the parameters; returns ``(missing_keys, unexpected_keys)``.

        With ``strict=True`` every missing, unexpected, mis-shaped or
        non-floating entry is listed in one ``ValueError`` and nothing is
        changed. With ``strict=False`` missing and unexpected names are
        ignored (and returned, as PyTorch does), but a wrong shape or dtype is
        still an error. Floating entries of any precision are cast to the
        parameter's dtype (the library's dtype rule); integer, boolean,
        complex, string and object entries are refused.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping of parameter names to arrays (as state_dict() "
                            f"returns), got {type(state_dict).__name__}")
        strict = check.boolean(strict, "strict")
        state_dict = self._with_current_names(state_dict)
        params = OrderedDict(self.named_parameters())
        problems = _state_dict_problems(params, state_dict, strict)
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__} failed:\n  " + "\n  ".join(problems)
            )
        for name, param in params.items():
            if name in state_dict:
                xp = backend.get_array_module(param.data)
                param.data[...] = xp.asarray(check.host_array(state_dict[name], name), dtype=param.data.dtype)
        return IncompatibleKeys([name for name in params if name not in state_dict],
                                [name for name in state_dict if name not in params])

    def _with_current_names(self, state_dict):
        """``state_dict`` with names a module class has since renamed (its ``renamed_parameters``,
        old prefix -> new) replaced by the current ones, so older saved weights still load."""
        renames = [(f"{where}.{old}" if where else old, f"{where}.{new}" if where else new)
                   for where, module in self.named_modules()
                   for old, new in getattr(module, "renamed_parameters", {}).items()]
        if not renames:
            return state_dict
        current = OrderedDict()
        for name, value in state_dict.items():
            for old, new in renames:
                if name.startswith(old):
                    name = new + name[len(old):]
            current[name] = value
        return current

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()})"]
        for name, child in self._modules.items():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines)

    def extra_repr(self):
        return ""


def _state_dict_problems(params, state_dict, strict):
    problems = []
    if strict:
        missing = [name for name in params if name not in state_dict]
        unexpected = [name for name in state_dict if name not in params]
        if missing:
            problems.append(f"missing entries: {missing}")
        if unexpected:
            problems.append(f"unexpected entries: {unexpected}")
    for name, param in params.items():
        if name in state_dict:
            problem = _entry_problem(name, state_dict[name], param)
            if problem:
                problems.append(problem)
    return problems


def _entry_problem(name, value, param):
    """What is wrong with one state-dict entry for ``param``, or None."""
    if not isinstance(getattr(value, "dtype", None), np.dtype):   # else an array, or what a file's header declares
        try:   # a list, a torch tensor (also one that requires grad)
            value = check.host_array(value, f"entry {name!r}")
        except (TypeError, ValueError):  # ragged nested lists, a tensor on a GPU
            return f"entry {name!r} is not an array on the CPU, got {type(value).__name__}"
    if value.dtype.kind != "f":
        return f"entry {name!r} must hold floating-point values, got dtype {value.dtype}"
    got = tuple(value.shape)
    if got != tuple(param.data.shape):
        return f"entry {name!r} has shape {got}, the model expects {tuple(param.data.shape)}"
    return None


def kept_for_backward(module, *arrays):
    """Private copies of ``arrays`` when ``module`` records a cache (training mode), else the arrays.

    A cache must not read arrays the caller can still change in place (see the module notes: "In-place changes").
    """
    return tuple(a.copy() for a in arrays) if module.training else arrays


@contextlib.contextmanager
def eval_mode(module):
    """Run the block with ``module`` in eval mode (no caches recorded, no dropout), then restore its mode."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


# ------------------------------------------------------------------ transactions
_INSIDE_A_CALL = contextvars.ContextVar("numpylstm_inside_a_call", default=False)


def _all_or_nothing(method, restores_grads):
    """``method`` (a subclass's forward or backward) run as a transaction on its module."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with _transaction(self, restores_grads):
            return method(self, *args, **kwargs)
    return run


@contextlib.contextmanager
def _transaction(module, restores_grads):
    """If the block raises, put back the cache stacks, random generators and (``restores_grads``)
    the parameter gradients of ``module`` and every module inside it; then re-raise.

    Nested calls (a model calling its layers) find a transaction open and add nothing.
    """
    if _INSIDE_A_CALL.get():
        yield
        return
    modules = list(module.modules())
    caches = [list(m._caches) for m in modules]
    generators = [(m._rng, m._rng.bit_generator.state) for m in modules if hasattr(m, "_rng")]
    grads = [(p, p.grad.copy()) for p in module.parameters()] if restores_grads else []
    entered = _INSIDE_A_CALL.set(True)
    try:
        yield
    except BaseException:
        for m, saved in zip(modules, caches):
            m._caches[:] = saved
        for rng, state in generators:
            rng.bit_generator.state = state
        for param, grad in grads:
            param.grad[...] = grad
        raise
    finally:
        _INSIDE_A_CALL.reset(entered)

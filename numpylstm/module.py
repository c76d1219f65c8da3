"""``Parameter`` and ``Module``: the small base every layer builds on.

A module's ``forward`` computes outputs and records what its ``backward``
will need (the *cache*); ``backward`` takes the gradient of the loss with
respect to the outputs, returns the gradient with respect to the inputs, and
*adds* the parameter gradients into each ``Parameter.grad`` (as PyTorch does,
so call ``zero_grad()`` between steps).

Caches form a stack: ``forward`` pushes one, ``backward`` pops the newest,
after checking its arguments against it (``_peek_cache``), so a backward
refused for a wrong-shaped gradient can be corrected and retried.
Calling a module T times and then ``backward`` T times (in reverse order) is
backpropagation through those T calls. In ``eval()`` mode ``forward`` records
nothing, which makes inference loops free of memory growth (like
``torch.no_grad()``).
"""
from collections import OrderedDict
from collections.abc import Mapping

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
        The values (NumPy, or CuPy after ``module.to("cuda")``).
    grad : ndarray
        Same shape and dtype as ``data``; ``backward`` adds into it.
    """

    def __init__(self, data):
        self.data = data
        self.grad = backend.get_array_module(data).zeros_like(data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def __repr__(self):
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.data.dtype})"


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

    def _peek_cache(self):
        """The newest unused cache, left in place; a clear error when there is none.

        ``backward`` checks its arguments against the peeked cache and pops it
        only once they pass, so a call refused for a wrong-shaped gradient can
        be corrected and retried.
        """
        if not self._caches:
            raise MissingForwardError(
                f"{type(self).__name__}.backward() was called without a matching forward(): "
                "every backward() needs one forward() in training mode before it "
                "(forward in eval() mode records nothing, and each forward is used by one backward only)"
            )
        return self._caches[-1]

    def _pop_cache(self):
        """The newest unused cache, removed; a clear error when there is none."""
        cache = self._peek_cache()
        self._caches.pop()
        return cache

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
        """``(name, Parameter)`` pairs, named as in PyTorch (``"0.weight"``, ``"weight_ih_l0"``)."""
        for name, param in self._parameters.items():
            yield prefix + name, param
        for child_name, child in self._modules.items():
            yield from child.named_parameters(prefix=f"{prefix}{child_name}.")

    def parameters(self):
        """Every ``Parameter``, in ``named_parameters`` order."""
        return [param for _, param in self.named_parameters()]

    def zero_grad(self):
        """Set every parameter gradient to zero."""
        for param in self.parameters():
            param.grad[...] = 0

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
        params = self.parameters()
        return params[0].data.dtype if params else np.dtype(np.float64)

    # ------------------------------------------------------------ state dicts
    def state_dict(self):
        """An ordered dict ``name -> NumPy copy of the values``, names as in PyTorch."""
        return OrderedDict(
            (name, backend.to_numpy(param.data).copy()) for name, param in self.named_parameters()
        )

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into the parameters.

        With ``strict=True`` every missing, unexpected, mis-shaped or
        non-floating entry is listed in one ``ValueError`` and nothing is
        changed. With ``strict=False`` missing and unexpected names are
        ignored, but a wrong shape or dtype is still an error. Floating
        entries of any precision are cast to the parameter's dtype (the
        library's dtype rule); integer, boolean, complex, string and object
        entries are refused.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping of parameter names to arrays (as state_dict() "
                            f"returns), got {type(state_dict).__name__}")
        strict = check.boolean(strict, "strict")
        params = OrderedDict(self.named_parameters())
        problems = _state_dict_problems(params, state_dict, strict)
        if problems:
            raise ValueError(
                f"load_state_dict into {type(self).__name__} failed:\n  " + "\n  ".join(problems)
            )
        for name, param in params.items():
            if name in state_dict:
                xp = backend.get_array_module(param.data)
                param.data[...] = xp.asarray(state_dict[name], dtype=param.data.dtype)
        return self

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
    dtype = getattr(value, "dtype", None)
    if not isinstance(dtype, np.dtype):  # a list, a number, a torch tensor: NumPy reads its dtype
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):  # ragged nested lists
            return f"entry {name!r} is not an array, got {type(value).__name__}"
    if dtype.kind != "f":
        return f"entry {name!r} must hold floating-point values, got dtype {dtype}"
    got = tuple(np.shape(value))
    if got != tuple(param.data.shape):
        return f"entry {name!r} has shape {got}, the model expects {tuple(param.data.shape)}"
    return None

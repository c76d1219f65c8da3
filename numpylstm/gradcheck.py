"""Gradient checking: compare a hand-written backward pass with finite differences.

The analytic gradient of ``L`` with respect to a tensor ``w`` is compared with
the central difference ``(L(w + eps) - L(w - eps)) / (2 eps)`` taken one
entry at a time. Use float64: with ``eps = 1e-6`` its round-off error is
about 1e-10, while float32's would be about 1e-1 and hide real bugs.

``check_gradients`` does this for every input, initial state and parameter of
a module, with the scalar loss ``L = sum_k sum(R_k * output_k)`` for fixed
random ``R_k`` (so ``dL/doutput_k = R_k``). For LSTM weights and biases it
also splits the error by gate, so a student whose forget-gate derivative is
wrong reads ``f`` in the report instead of just "weight_hh_l0 is wrong".
"""
import re
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from . import _validate as check
from .backend import to_numpy
from .module import Module

DEFAULT_TOLERANCE = 1e-6
_GATED_PARAMETER = re.compile(r"^(weight|bias)_(ih|hh)(_l\d+(_reverse)?)?$")


def rel_error(a, b):
    """Norm-wise relative error ``||a - b|| / max(||a||, ||b||)``; 0 when both are zero.

    Unlike an element-wise ratio, it is not thrown off by entries that are
    (nearly) zero on both sides, where finite differences are pure round-off.
    """
    a, b = np.asarray(to_numpy(a), dtype=np.float64), np.asarray(to_numpy(b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of one shape, got {a.shape} and {b.shape}")
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def numerical_gradient(f, x, eps=1e-6):
    """Central finite-difference gradient of the scalar function ``f()`` with respect to ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed in place one
    entry at a time and restored afterwards.

    Parameters
    ----------
    f : callable returning a float
    x : ndarray (float64 recommended), changed during the call and restored
    eps : step of the central difference

    Returns
    -------
    ndarray of the shape of ``x``
    """
    if not callable(f):
        raise TypeError(f"f must be a callable taking no arguments and returning a float, got {type(f).__name__}")
    if not isinstance(getattr(x, "dtype", None), np.dtype) or x.dtype.kind != "f":
        # x[i] = value + eps would truncate in an integer array: the gradient would silently be 0.
        got = f"dtype {x.dtype}" if isinstance(getattr(x, "dtype", None), np.dtype) else type(x).__name__
        raise TypeError(f"x must be a floating-point array that f reads (float64 recommended), got {got}")
    eps = check.positive_real(eps, "eps")
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        original = x[index].item()
        x[index] = original + eps
        f_plus = float(f())
        x[index] = original - eps
        f_minus = float(f())
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad


class TensorCheck(NamedTuple):
    """The result for one tensor."""
    name: str
    shape: tuple
    rel_error: float
    max_abs_error: float
    passed: bool
    gates: Optional[Dict[str, float]]   # gate name -> relative error, for LSTM weights and biases


class GradientReport:
    """Per-tensor results of ``check_gradients``; ``print(report)`` shows a table."""

    def __init__(self, checks: List[TensorCheck], tolerance: float):
        self.checks = checks
        self.tolerance = tolerance

    @property
    def passed(self):
        return all(check.passed for check in self.checks)

    @property
    def worst(self):
        """The check with the largest relative error."""
        return max(self.checks, key=lambda check: check.rel_error)

    def failures(self):
        return [check for check in self.checks if not check.passed]

    def wrong_gates(self, name):
        """Gate names of tensor ``name`` whose error exceeds the tolerance."""
        gates = self[name].gates or {}
        return [gate for gate, error in gates.items() if error > self.tolerance]

    def __getitem__(self, name):
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(f"no tensor named {name!r} in the report; tensors: {[c.name for c in self.checks]}")

    def __str__(self):
        gate_names = next((list(c.gates) for c in self.checks if c.gates), [])
        width = max(len("tensor"), *(len(c.name) for c in self.checks))
        header = f"{'tensor':<{width}}  {'shape':<14} {'rel. error':>10}  {'':<5}"
        header += "".join(f"  {gate:>8}" for gate in gate_names)
        lines = [header, "-" * len(header)]
        for c in self.checks:
            row = f"{c.name:<{width}}  {str(c.shape):<14} {c.rel_error:>10.2e}  {'ok' if c.passed else 'WRONG':<5}"
            for gate in gate_names:
                row += f"  {c.gates[gate]:>8.1e}" if c.gates else f"  {'':>8}"
            lines.append(row)
        lines.append(self._summary())
        return "\n".join(lines)

    def _summary(self):
        if self.passed:
            return (f"all {len(self.checks)} gradients agree with finite differences "
                    f"(worst: {self.worst.name}, relative error {self.worst.rel_error:.1e} < {self.tolerance:g})")
        lines = [f"{len(self.failures())} of {len(self.checks)} gradients are wrong "
                 f"(relative error > {self.tolerance:g}):"]
        for c in self.failures():
            gates = self.wrong_gates(c.name)
            where = f", in gate{'s' if len(gates) > 1 else ''} {', '.join(gates)}" if gates else ""
            lines.append(f"  {c.name}: relative error {c.rel_error:.1e}{where}")
        return "\n".join(lines)

    __repr__ = __str__


def check_gradients(module, inputs, tolerance=DEFAULT_TOLERANCE, eps=1e-6, seed=0, progress=None,
                    **forward_kwargs):
    """Check ``module.backward`` against finite differences for every input and parameter.

    Parameters
    ----------
    module : a ``Module`` in float64, whose ``forward(*inputs, **forward_kwargs)``
        returns an array or a (nested) tuple of arrays, and whose ``backward``
        takes gradients in that same structure and returns input gradients in
        the structure of ``inputs``, as ``LSTM``, ``LSTMCell`` and ``Linear`` do.
    inputs : tuple of forward arguments; arrays and pairs of arrays (``(h0, c0)``) are
        checked, None is passed through
    tolerance : largest relative error (``rel_error``) that passes
    seed : seeds the random output weights R_k of the loss
    progress : optional callable ``progress(name, shape)``, called before the finite
        differences of each tensor (2 forward passes per entry), e.g. to report a long check

    Returns
    -------
    GradientReport
    """
    check.instance_of(module, Module, "module", "a numpylstm Module")
    tolerance = check.positive_real(tolerance, "tolerance")
    eps = check.positive_real(eps, "eps")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be None or a callable progress(name, shape), got {type(progress).__name__}")
    report_progress = progress or (lambda name, shape: None)
    if module.dtype != np.float64:
        raise TypeError(
            f"check_gradients needs a float64 module (finite differences in float32 are too coarse "
            f"to tell right from wrong), got parameters of dtype {module.dtype}; build it with dtype=np.float64"
        )
    inputs = _as_float64(inputs)
    rngs = _random_states(module)
    restore_randomness = lambda: _restore_random_states(module, rngs)  # noqa: E731 - the same dropout mask every call

    def loss():
        restore_randomness()
        outputs = module(*inputs, **forward_kwargs)
        module.clear_caches()
        return sum(float(np.sum(r * to_numpy(o))) for r, o in zip(output_weights, _leaves(outputs)))

    restore_randomness()
    outputs = module(*inputs, **forward_kwargs)
    rng = np.random.default_rng(seed)
    output_weights = [rng.standard_normal(np.shape(o)) for o in _leaves(outputs)]
    module.zero_grad()
    input_grads = module.backward(*_like(outputs, iter(output_weights), wrap=True))
    if input_grads is None:  # e.g. a model fed token ids only
        input_grads = (None,) * len(inputs)
    elif len(inputs) == 1:  # backward may return more than the one input asked about: (dx, (dh0, dc0))
        input_grads = (input_grads[0] if isinstance(input_grads, tuple) else input_grads,)

    checks = []
    for name, array, analytic in _named_leaves(inputs, input_grads):
        report_progress(name, array.shape)
        checks.append(_compare(name, analytic, numerical_gradient(loss, array, eps), tolerance, None))
    for name, param, gates in _parameters_with_gates(module):
        report_progress(name, param.data.shape)
        numeric = numerical_gradient(loss, param.data, eps)
        checks.append(_compare(name, param.grad, numeric, tolerance, gates))
    return GradientReport(checks, tolerance)


def _compare(name, analytic, numeric, tolerance, gates):
    analytic = np.asarray(to_numpy(analytic), dtype=np.float64)
    error = rel_error(analytic, numeric)
    per_gate = None
    if gates:
        per_gate = {gate: rel_error(a, n) for gate, a, n in
                    zip(gates, np.split(analytic, len(gates)), np.split(numeric, len(gates)))}
    max_abs = float(np.max(np.abs(analytic - numeric))) if analytic.size else 0.0
    return TensorCheck(name, tuple(analytic.shape), error, max_abs, error < tolerance, per_gate)


def _parameters_with_gates(module):
    """``(name, Parameter, gate names or None)`` for every parameter of ``module``."""
    for module_name, owner in module.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name, param in owner._parameters.items():
            gates = getattr(owner, "gate_names", None) if _GATED_PARAMETER.match(name) else None
            yield prefix + name, param, gates


def _as_float64(inputs):
    """Copies of the inputs: floating arrays as float64; integer arrays (token ids) unchanged."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    copies = (np.array(to_numpy(a), dtype=np.float64 if _is_float(a) else None) for a in _leaves(inputs))
    return tuple(_like(inputs, copies))


def _is_float(array):
    return np.asarray(to_numpy(array)).dtype.kind == "f"


def _leaves(structure):
    """The arrays of a nested tuple/list structure, depth first (None skipped)."""
    if isinstance(structure, (tuple, list)):
        for item in structure:
            yield from _leaves(item)
    elif structure is not None:
        yield structure


def _like(structure, values, wrap=False):
    """``structure`` with its leaves replaced by successive ``values``; a bare leaf becomes a 1-tuple if ``wrap``."""
    if isinstance(structure, (tuple, list)):
        return tuple(_like(item, values) for item in structure)
    if structure is None:
        return None
    value = next(values)
    return (value,) if wrap else value


def _named_leaves(inputs, grads):
    """``(name, input array, its analytic gradient)``: "input", "h0", "c0" or "inputs[k]"."""
    for k, (item, grad) in enumerate(zip(inputs, grads)):
        if isinstance(item, (tuple, list)) and len(item) == 2 and k == 1:
            named = [(label, array, g) for label, array, g in zip(("h0", "c0"), item, grad)]
        elif k == 1:   # a single initial state, as for RNN's h0
            named = [("h0", item, grad)]
        else:
            named = [("input" if k == 0 else f"inputs[{k}]", item, grad)]
        # Token ids and absent inputs have no gradient to check.
        yield from ((label, array, g) for label, array, g in named if array is not None and _is_float(array))


def _random_states(module):
    return {id(m): m._rng.bit_generator.state for m in module.modules() if hasattr(m, "_rng")}


def _restore_random_states(module, states):
    for m in module.modules():
        if id(m) in states:
            m._rng.bit_generator.state = states[id(m)]

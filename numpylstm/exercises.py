r"""Checkers for students' own LSTM backward passes.

A student writes ``lstm_step_backward`` (and then a backward pass through a
whole sequence) and hands the function to a checker::

    from numpylstm.exercises import check_step_backward
    report = check_step_backward(my_lstm_step_backward)
    print(report)           # a table: each output, its error, each gate, and hints

The checker runs the student's function and the reference on the same
random float64 inputs (several shapes, distinct non-zero biases), compares
every output, and for the gradients that depend on the gate pre-activations
(``dW_ih``, ``dW_hh``, ``db``) splits the comparison into the four gate
blocks i, f, g, o. From which outputs and which gates are wrong it names
the term to fix, with a hint: a wrong forget-gate block points to ``df``,
wrong i, f and g blocks together (o fine) point to ``dc_t`` missing its path
through ``h_t = o * tanh(c_t)``, weight gradients wrong in every gate while
``dx`` is right point to weight gradients not summed over the time steps.

A function that still raises ``NotImplementedError`` is reported as "not yet
implemented"; any other exception is reported with its message and the
student's line, never as a traceback, so a notebook keeps running.

The derivatives the reference applies (see ``numpylstm.functional``)::

    do   = dh_t * tanh(c_t)
    dc_t = dc_next + dh_t * o * (1 - tanh(c_t)**2)   # both paths into c_t
    di = dc_t * g    df = dc_t * c_{t-1}    dg = dc_t * i    dc_prev = dc_t * f
    da = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]
    dx = da @ W_ih   dh_prev = da @ W_hh   dW_ih = da.T @ x   dW_hh = da.T @ h_prev   db = sum_n da
"""
import os
import traceback
from typing import Dict, NamedTuple, Optional

import numpy as np

from .functional import GATES, lstm_step_backward, lstm_step_forward
from .gradcheck import rel_error

_NUMPY_DIR = os.path.dirname(np.__file__) + os.sep
DEFAULT_TOLERANCE = 1e-8   # both sides are exact formulas in float64: they agree to ~1e-15 when right

STEP_OUTPUTS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
SEQUENCE_OUTPUTS = ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db")
GATED_OUTPUTS = ("dW_ih", "dW_hh", "db_ih", "db_hh", "db")   # row blocks i, f, g, o

STEP_SHAPES = ((2, 3, 4), (3, 5, 2), (1, 2, 3))           # (N, I, H): no two sizes that hide a transpose
SEQUENCE_SHAPES = ((4, 2, 3, 2), (3, 3, 2, 3))            # (T, N, I, H), T > 1 so steps must be summed

GATE_HINTS = {
    "i": ("di", "di is wrong: c_t = f*c_{t-1} + i*g, so di = dc_t * g, and i = sigmoid(a_i) gives "
                "da_i = di * i * (1 - i)"),
    "f": ("df", "df is wrong: remember dc_t reaches f through c_t = f*c_{t-1} + i*g, so df = dc_t * c_{t-1}, "
                "and f = sigmoid(a_f) gives da_f = df * f * (1 - f)"),
    "g": ("dg", "dg is wrong: c_t = f*c_{t-1} + i*g, so dg = dc_t * i, and g = tanh(a_g) gives "
                "da_g = dg * (1 - g**2) (the tanh slope, not the sigmoid's)"),
    "o": ("do", "do is wrong: h_t = o*tanh(c_t), so do = dh_t * tanh(c_t), and o = sigmoid(a_o) gives "
                "da_o = do * o * (1 - o)"),
}
CELL_HINT = ("dc_t is wrong (the i, f and g blocks, which reach the loss through c_t, are all off while o is "
             "right): dc_t collects two paths, the gradient dc_next from the step after and the path through "
             "h_t = o*tanh(c_t), so dc_t = dc_next + dh_t * o * (1 - tanh(c_t)**2); check that both terms are there")

OUTPUT_HINTS = {
    "dx": "dx = da @ W_ih: (N, 4H) @ (4H, I)",
    "dh_prev": "dh_prev = da @ W_hh: (N, 4H) @ (4H, H)",
    "dc_prev": ("dc_prev is wrong: c_{t-1} reaches c_t only through f*c_{t-1}, so dc_prev = dc_t * f, where "
                "dc_t = dc_next + dh_t * o * (1 - tanh(c_t)**2) also flows through h_t = o*tanh(c_t)"),
    "dW_ih": "dW_ih = da.T @ x: (4H, N) @ (N, I), summed over the batch by the product",
    "dW_hh": "dW_hh = da.T @ h_prev: the hidden state the step read, not the one it produced",
    "db_ih": "db_ih = da.sum(axis=0): the bias is added to every row of the batch",
    "db_hh": "db_hh = da.sum(axis=0): b_hh is added to the same sum as b_ih, so it gets the same gradient",
    # sequence
    "dh0": ("dh0 is the dh_prev of step 0. Going back, the gradient into h_t is d_out[t] plus the dh_prev "
            "returned by step t+1 (plus dh_n at the last step)"),
    "dc0": ("dc0 is the dc_prev of step 0. The cell gradient is carried: step t's dc_next is the dc_prev "
            "returned by step t+1 (dc_n at the last step)"),
    "db": "db = the sum over steps of each step's db_ih (the two biases share one gradient)",
}
SEQUENCE_OUTPUT_HINTS = dict(
    OUTPUT_HINTS,
    dx="dx[t] is the dx that step t's backward returns, fed with the right dh_t and dc_t",
    dW_ih="dW_ih is the sum over all steps of each step's dW_ih",
    dW_hh="dW_hh is the sum over all steps of each step's dW_hh",
)
ACCUMULATE_HINT = ("the weight gradients are wrong in every gate while dx, dh0 and dc0 are right: W_ih, W_hh "
                   "and the biases are shared by all T steps, so their gradient is the SUM of every step's "
                   "gradient (+=, starting from zeros, not =)")


# ------------------------------------------------------------------------ the report
class OutputCheck(NamedTuple):
    """The comparison of one output of the student's function with the reference."""
    name: str
    expected_shape: tuple
    shape: Optional[tuple]                # what the student returned (None: not an array)
    rel_error: float                      # worst over the random cases (inf for a wrong shape)
    gates: Optional[Dict[str, float]]     # gate -> worst relative error, for dW_ih, dW_hh, db
    passed: bool
    problem: str                          # "" when passed, else a short description


class ExerciseReport:
    """What a checker found; ``print(report)`` shows a table and the hints.

    Attributes
    ----------
    exercise : str, the name of the function being checked
    status : "passed", "wrong", "not yet implemented" or "error"
    outputs : list of OutputCheck (empty when the function did not return)
    hints : dict, term -> advice, most specific first
    message : str, what happened when the function raised or returned the wrong thing
    tolerance : float, the largest relative error that passes
    cases : int, how many random cases were compared
    """

    def __init__(self, exercise, status, outputs=(), hints=None, message="", tolerance=DEFAULT_TOLERANCE,
                 cases=0):
        self.exercise = exercise
        self.status = status
        self.outputs = list(outputs)
        self.hints = dict(hints or {})
        self.message = message
        self.tolerance = tolerance
        self.cases = cases

    @property
    def passed(self):
        return self.status == "passed"

    def __getitem__(self, name):
        for output in self.outputs:
            if output.name == name:
                return output
        raise KeyError(f"no output named {name!r}; outputs: {[o.name for o in self.outputs]}")

    def wrong_outputs(self):
        """Names of the outputs that do not match the reference."""
        return [o.name for o in self.outputs if not o.passed]

    def wrong_gates(self, name):
        """Gate names whose block of output ``name`` is wrong (empty for outputs without gates)."""
        gates = self[name].gates or {}
        return [gate for gate, error in gates.items() if not error < self.tolerance]

    def __str__(self):
        title = f"{self.exercise}: "
        if self.status in ("not yet implemented", "error") or not self.outputs:
            return title + self.status + (f"\n  {self.message}" if self.message else "")
        wrong = self.wrong_outputs()
        if self.passed:
            title += (f"passed: all {len(self.outputs)} outputs match the reference on {self.cases} random "
                      f"cases (float64, relative error < {self.tolerance:g})")
        else:
            title += f"{len(wrong)} of {len(self.outputs)} outputs wrong"
        return "\n".join([title, self._table()] + self._hint_lines())

    __repr__ = __str__

    def _table(self):
        width = max(len("output"), *(len(o.name) for o in self.outputs))
        header = f"{'output':<{width}}  {'shape':<10} {'rel. error':>10}  {'':<5}" + "".join(
            f"  {gate:>7}" for gate in GATES)
        lines = [header, "-" * len(header)]
        for o in self.outputs:
            error = "bad shape" if o.shape != o.expected_shape else f"{o.rel_error:.1e}"
            row = f"{o.name:<{width}}  {str(o.expected_shape):<10} {error:>10}  {'ok' if o.passed else 'WRONG':<5}"
            if o.gates:
                row += "".join(f"  {'ok' if e < self.tolerance else 'WRONG':>7}" for e in o.gates.values())
            lines.append(row)
        return "\n".join(lines)

    def _hint_lines(self):
        return ["Hints:"] + [f"  - {hint}" for hint in self.hints.values()] if self.hints else []


# ---------------------------------------------------------------- the step exercise
def check_step_backward(student_fn, tolerance=DEFAULT_TOLERANCE, seed=0, shapes=STEP_SHAPES):
    """Check a student's ``lstm_step_backward(dh_next, dc_next, cache)``.

    ``student_fn`` must have the signature of
    ``numpylstm.functional.lstm_step_backward``: it takes

    - ``dh_next`` (N, H): dL/dh_t
    - ``dc_next`` (N, H): dL/dc_t arriving from the next step
    - ``cache``: an ``LSTMStepCache`` from ``lstm_step_forward`` with fields
      ``x`` (N, I), ``h_prev``, ``c_prev``, ``i``, ``f``, ``g``, ``o``, ``tanh_c``
      (N, H), ``W_ih`` (4H, I), ``W_hh`` (4H, H)

    and returns the 7 gradients ``(dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh)``
    of shapes (N, I), (N, H), (N, H), (4H, I), (4H, H), (4H,), (4H,).

    Parameters
    ----------
    student_fn : callable
    tolerance : largest relative error that counts as right
    seed : seeds the random inputs
    shapes : (N, I, H) of each random case

    Returns
    -------
    ExerciseReport (``.passed``, ``.status``, ``.wrong_outputs()``, ``.wrong_gates(name)``, ``.hints``)
    """
    rng = np.random.default_rng(seed)
    cases = []
    for N, I, H in shapes:
        cache, dh_next, dc_next = _random_step(rng, N, I, H)
        reference = lstm_step_backward(dh_next, dc_next, cache)
        cases.append(((dh_next, dc_next, cache), reference))
    return _run_exercise("lstm_step_backward", student_fn, cases, STEP_OUTPUTS, OUTPUT_HINTS, tolerance,
                         extra_diagnosis=None)


def _random_weights(rng, I, H):
    """``W_ih, W_hh, b_ih, b_hh`` for a random step: moderate weights, distinct non-zero biases."""
    W_ih, W_hh = rng.standard_normal((4 * H, I)) * 0.5, rng.standard_normal((4 * H, H)) * 0.5
    return W_ih, W_hh, rng.uniform(0.1, 1.0, 4 * H), rng.uniform(-1.0, -0.1, 4 * H)


def _random_step(rng, N, I, H):
    """A forward step on random float64 inputs with distinct non-zero biases, and random dh, dc."""
    x, h, c = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    W_ih, W_hh, b_ih, b_hh = _random_weights(rng, I, H)
    _, _, cache = lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh)
    return cache, rng.standard_normal((N, H)), rng.standard_normal((N, H))


# ------------------------------------------------------------ the sequence exercise
def check_sequence_backward(student_fn, tolerance=DEFAULT_TOLERANCE, seed=0, shapes=SEQUENCE_SHAPES):
    """Check a student's backpropagation through time built from the step kernels.

    ``student_fn(d_out, dh_n, dc_n, caches)`` takes

    - ``d_out`` (T, N, H): dL/dh_t for every step t (the layer's output)
    - ``dh_n`` (N, H): dL/dh_n for the final hidden state (which is also h_{T-1},
      so both gradients reach the last step)
    - ``dc_n`` (N, H): dL/dc_n for the final cell state
    - ``caches``: a list of the T ``LSTMStepCache`` of ``lstm_step_forward``, in time order

    and returns ``(dx, dh0, dc0, dW_ih, dW_hh, db)`` of shapes (T, N, I), (N, H),
    (N, H), (4H, I), (4H, H), (4H,): gradients with respect to the inputs, the
    initial state, and the weights shared by all steps (``db`` is the gradient of
    ``b_ih``, equal to that of ``b_hh``). A correct solution walks t = T-1 .. 0
    calling ``lstm_step_backward``.

    Parameters and return value as ``check_step_backward``; ``shapes`` holds
    (T, N, I, H) per case.
    """
    rng = np.random.default_rng(seed)
    cases = []
    for T, N, I, H in shapes:
        args = _random_sequence(rng, T, N, I, H)
        reference, per_step = _reference_sequence_backward(*args)
        cases.append((args, reference, per_step))
    step_weights = [per_step for _, _, per_step in cases]

    def accumulation(checks, results):
        return _accumulation_diagnosis(checks, results, step_weights, tolerance)

    return _run_exercise("sequence backward", student_fn, [c[:2] for c in cases], SEQUENCE_OUTPUTS,
                         SEQUENCE_OUTPUT_HINTS, tolerance, extra_diagnosis=accumulation)


def _random_sequence(rng, T, N, I, H):
    """``(d_out, dh_n, dc_n, caches)`` for a random T-step forward pass."""
    x = rng.standard_normal((T, N, I))
    h, c = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    W_ih, W_hh, b_ih, b_hh = _random_weights(rng, I, H)
    caches = []
    for t in range(T):
        h, c, cache = lstm_step_forward(x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        caches.append(cache)
    return rng.standard_normal((T, N, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H)), caches


def _reference_sequence_backward(d_out, dh_n, dc_n, caches):
    """The reference BPTT from the step kernel, and each step's own (dW_ih, dW_hh, db) for the diagnosis."""
    dh, dc = dh_n.copy(), dc_n.copy()
    dx, per_step = [None] * len(caches), [None] * len(caches)
    for t in reversed(range(len(caches))):
        dx[t], dh, dc, dW_ih, dW_hh, db, _ = lstm_step_backward(dh + d_out[t], dc, caches[t])
        per_step[t] = (dW_ih, dW_hh, db)
    totals = [sum(step[k] for step in per_step) for k in range(3)]
    return (np.stack(dx), dh, dc, *totals), per_step


def _accumulation_diagnosis(checks, results, step_weights, tolerance):
    """Hints for weight gradients that are one step's gradient, or wrong in every gate with the rest right."""
    by_name = {c.name: c for c in checks}
    weights = [name for name in ("dW_ih", "dW_hh", "db") if not by_name[name].passed]
    rest_right = all(by_name[name].passed for name in ("dx", "dh0", "dc0"))
    if not weights or not rest_right:
        return {}
    hints = {"accumulate": ACCUMULATE_HINT}
    for name in weights:
        k = ("dW_ih", "dW_hh", "db").index(name)
        steps = _matching_single_step(results, step_weights, name, k, tolerance)
        if steps is not None:
            hints[name] = (f"{name} equals the gradient of step {steps} alone: the other steps' "
                           f"contributions were overwritten or never added")
    return hints


def _matching_single_step(results, step_weights, name, k, tolerance):
    """Which single step's gradient equals the student's ``name`` in every case (a phrase), or None."""
    shortest = min(len(per_step) for per_step in step_weights)
    labels = {0: "t = 0 (the first)", -1: "t = T-1 (the last)"}
    for t in (0, -1, *range(1, shortest - 1)):   # negative t: counted from each case's own end
        if all(got is not None and np.shape(got) == np.shape(per_step[t][k])
               and rel_error(got, per_step[t][k]) < tolerance
               for got, per_step in zip((r[name] for r in results), step_weights)):
            return labels.get(t, f"t = {t}")
    return None


# ---------------------------------------------------------------------- the machinery
def _run_exercise(exercise, student_fn, cases, names, output_hints, tolerance, extra_diagnosis):
    """Call ``student_fn`` on every case, compare, diagnose; an ExerciseReport."""
    results = []
    for args, reference in cases:
        outcome = _call_student(student_fn, args, len(names))
        if isinstance(outcome, ExerciseReport):   # it raised or returned the wrong kind of thing
            outcome.exercise = exercise
            return outcome
        results.append(dict(zip(names, outcome)))
    checks = [_compare_output(name, [r[name] for r in results], [ref[k] for _, ref in cases], tolerance)
              for k, name in enumerate(names)]
    hints = _diagnose(checks, output_hints, tolerance)
    if extra_diagnosis is not None:
        specific = extra_diagnosis(checks, results)   # first, and it wins for the same term
        hints = {**specific, **{term: hint for term, hint in hints.items() if term not in specific}}
    status = "passed" if all(c.passed for c in checks) else "wrong"
    return ExerciseReport(exercise, status, checks, hints, tolerance=tolerance, cases=len(cases))


def _call_student(student_fn, args, n_outputs):
    """The student's outputs as a list of arrays (or None per non-array), or an ExerciseReport saying why not."""
    try:
        returned = student_fn(*args)
    except NotImplementedError:
        return ExerciseReport("", "not yet implemented",
                              message="the function still raises NotImplementedError: replace the "
                                      "`raise NotImplementedError` with your code")
    except Exception as error:   # a student's bug must not stop the notebook: report it instead
        return ExerciseReport("", "error", message=_describe_exception(error))
    if not isinstance(returned, (tuple, list)) or len(returned) != n_outputs:
        got = (f"{len(returned)} values" if isinstance(returned, (tuple, list))
               else f"a {type(returned).__name__}")
        return ExerciseReport("", "error", message=f"the function must return a tuple of {n_outputs} arrays, "
                                                   f"got {got}")
    return [np.asarray(value, dtype=np.float64) if _is_numeric(value) else None for value in returned]


def _is_numeric(value):
    try:
        return np.asarray(value).dtype.kind in "fiub"
    except Exception:
        return False


def _describe_exception(error):
    """``"raised ValueError: ... (line 12: `dx = da @ W_ih.T`)"``: the student's last line, no traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    # The innermost frame outside NumPy and this module is the student's.
    own = [f for f in frames if f.filename != __file__ and not f.filename.startswith(_NUMPY_DIR)]
    where = f" (line {own[-1].lineno}: `{own[-1].line}`)" if own and own[-1].line else ""
    return f"the function raised {type(error).__name__}: {error}{where}"


def _compare_output(name, got, expected, tolerance):
    """Worst relative error of one output over all cases, per gate for gated outputs."""
    expected_shape = tuple(expected[0].shape)
    for value, ref in zip(got, expected):
        if value is None or value.shape != ref.shape:
            shape = None if value is None else tuple(value.shape)
            return OutputCheck(name, tuple(ref.shape), shape, np.inf, None, False,
                               _shape_problem(shape, tuple(ref.shape)))
    error = _worst(rel_error(v, r) for v, r in zip(got, expected))
    gates = None
    if name in GATED_OUTPUTS:
        gates = {gate: _worst(rel_error(np.split(v, 4)[k], np.split(r, 4)[k]) for v, r in zip(got, expected))
                 for k, gate in enumerate(GATES)}
    passed = error < tolerance
    return OutputCheck(name, expected_shape, expected_shape, error, gates, passed,
                       "" if passed else f"relative error {error:.1e}")


def _shape_problem(shape, expected):
    if shape is None:
        return f"is None or not numbers; expected an array of shape {expected}"
    if shape == expected[::-1]:
        return f"has the wrong shape {shape}, expected {expected}: a transpose is missing (or one too many)"
    return f"has the wrong shape {shape}, expected {expected}"


def _worst(errors):
    """The largest error; NaN (from NaN or inf in the student's output) counts as the worst."""
    errors = list(errors)
    return np.inf if any(not np.isfinite(e) for e in errors) else max(errors)


def _diagnose(checks, output_hints, tolerance):
    """Name the terms to fix, from which outputs and gate blocks are wrong.

    The pre-activation gradient ``da`` feeds dx (``da @ W_ih``) and every
    weight gradient. When dx or dh is wrong too, a gate block that is wrong
    in every weight gradient locates the bug in that gate's ``da``; when
    dx and dh are right, ``da`` is right and the weight formulas are at fault.
    """
    by_name = {c.name: c for c in checks}
    gated = [c for c in checks if c.gates]
    da_is_wrong = any(not by_name[name].passed for name in ("dx", "dh_prev", "dh0") if name in by_name)
    bad_gates = [gate for gate in GATES
                 if da_is_wrong and gated and all(not c.gates[gate] < tolerance for c in gated)]
    hints = {}
    if set(bad_gates) == {"i", "f", "g"}:
        hints["dc"] = CELL_HINT
    elif len(bad_gates) < len(GATES):
        hints.update(GATE_HINTS[gate] for gate in bad_gates)
    for check in checks:
        if check.passed or (check.gates and bad_gates and _only_gates(check, bad_gates, tolerance)):
            continue   # right, or explained by the gate hints above
        hint = output_hints.get(check.name)
        if check.name in ("dx", "dh_prev", "dh0") and bad_gates and len(bad_gates) < len(GATES):
            hint = f"{check.name} follows from da, which is wrong in gate(s) {', '.join(bad_gates)}: fix those first"
        if check.shape != check.expected_shape:
            hint = f"{check.name} {check.problem}" + (f". {hint}" if hint else "")
        if hint:
            hints.setdefault(check.name, hint)
    if len(bad_gates) == len(GATES):   # after the more specific hints about what enters the gates
        hints["da"] = ("every gate block of da is wrong: check the gradients entering the step, dh_t and dc_t "
                       "(dc_t = dc_next + dh_t * o * (1 - tanh(c_t)**2))")
    return hints


def _only_gates(check, gates, tolerance):
    """True when the wrong blocks of ``check`` are exactly among ``gates``."""
    return all(error < tolerance or gate in gates for gate, error in check.gates.items())

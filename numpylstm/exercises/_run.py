"""The machinery every checker shares: call the student's function safely, compare, diagnose, grade.

A checker describes its exercise (``Exercise``), builds random ``Case``s with the
reference outputs, and lists the ``Mistake``s it knows: functions with the
student's signature that each contain one realistic mistake. ``run_exercise``
then

1. calls the student's function on a private copy of every case, watching for
   calls of the library's own kernels (``sys.setprofile``) and comparing the
   arguments before and after (a function must not change its inputs);
2. compares every output with the reference, gate block by gate block where
   the output has the four blocks i, f, g, o;
3. when something is wrong, runs the known mistakes on the same inputs and
   keeps those whose outputs *equal* the student's (to the tolerance): equal
   numbers cannot come from a different computation, so the mistake is named
   exactly. Outputs no mistake explains get the exercise's own analysis.
"""
import copy
import os
import sys
import traceback
from contextlib import contextmanager
from typing import Callable, NamedTuple, Optional

import numpy as np

from .. import _validate as check
from .. import fast, functional, functional_rnn, gradcheck
from ..functional import GATES
from ..gradcheck import rel_error
from ._report import ExerciseReport, OutputCheck

_NUMPY_DIR = os.path.dirname(np.__file__) + os.sep
_PACKAGE_DIR = os.path.dirname(__file__) + os.sep


def _call(student_fn, args):
    return student_fn(*args)


class Exercise(NamedTuple):
    """What ``run_exercise`` needs to know about one exercise."""
    name: str                          # the function the student writes, for the report
    arguments: tuple                   # names of its arguments, for the in-place hints
    outputs: tuple                     # names of what it returns
    compared: int                      # the first `compared` outputs are checked (a returned cache is not)
    forbidden: tuple                   # library functions it must not call
    max_points: int
    gated: tuple = ()                  # outputs whose rows are the four gate blocks i, f, g, o
    prepare: Callable = copy.deepcopy  # the student's own copy of a case's arguments
    call: Callable = _call             # call(fn, arguments) -> what fn returned
    restored_rtol: float = 0.0         # how exactly the arguments must be as before (0: bit for bit)
    mistakes_need_copies: bool = False  # the known mistakes change their arguments (they get prepared copies)
    in_place_term: str = "in place"    # the hint key for arguments changed by the call
    in_place_hint: Optional[Callable] = None   # paths -> that hint
    output_hints: dict = {}            # output -> its formula, the generic hint for a wrong output


class Case(NamedTuple):
    """One random case: the arguments (never handed out) and the reference outputs."""
    args: tuple
    reference: list


def random_cases(rng, shapes, random_args, reference):
    """One Case per shape: the arguments ``random_args(rng, *shape)`` and the outputs ``reference(*arguments)``."""
    return [Case(args, list(reference(*args))) for args in (random_args(rng, *shape) for shape in shapes)]


class Mistake(NamedTuple):
    """A known mistake: ``run`` has the student's signature and makes this one mistake."""
    name: str        # what the student did, e.g. "tanh(c_prev) used for tanh(c_t)"
    term: str        # the hint key: the part to fix
    hint: str
    run: Callable


# --------------------------------------------------------------------------- the run
def run_exercise(exercise, student_fn, cases, tolerance, mistakes=(), diagnose=None):
    """Call ``student_fn`` on every case, compare, diagnose: an ExerciseReport.

    Parameters
    ----------
    exercise : Exercise
    student_fn : the student's function
    cases : list of Case
    tolerance : largest relative error that passes
    mistakes : Mistakes to match the student's outputs against
    diagnose : ``diagnose(checks, results) -> hints`` for what no mistake explains, or None
    """
    if not callable(student_fn):
        raise TypeError(f"student_fn must be a function, got {type(student_fn).__name__}")
    outcome = _run_student(exercise, student_fn, cases)
    if isinstance(outcome, ExerciseReport):   # it raised or returned the wrong kind of thing
        return outcome
    results, called, changed = outcome
    checks = [compare_output(name, [r[name] for r in results], [c.reference[k] for c in cases], tolerance,
                             name in exercise.gated) for k, name in enumerate(exercise.outputs[:exercise.compared])]
    hints = _rule_hints(exercise, called, changed)
    matches = []
    if not all(c.passed for c in checks):
        matches = match_mistakes(mistakes, exercise, cases, results, checks, tolerance)
        fallback = diagnose(checks, results) if diagnose else {}
        for term, hint in merge_hints(matches, fallback, checks, exercise.output_hints).items():
            hints.setdefault(term, hint)   # a broken rule, said first, keeps its own words
    status = "passed" if all(c.passed for c in checks) and not hints else "wrong"
    return ExerciseReport(exercise.name, status, checks, hints, tolerance=tolerance, cases=len(cases),
                          mistakes=[m.name for m, _ in matches], max_points=exercise.max_points,
                          points=grade(status, checks, hints, exercise.max_points))


def _run_student(exercise, student_fn, cases):
    """``(results, library functions called, argument paths changed)``, or the ExerciseReport of a failure.

    The student gets a private copy of each case's arguments, compared with a second copy afterwards.
    """
    results, called, changed = [], [], []
    for case in cases:
        given = exercise.prepare(case.args)
        before = copy.deepcopy(given)
        with _watching(exercise.forbidden) as calls:
            outcome = _call_student(exercise, student_fn, given)
        if isinstance(outcome, ExerciseReport):
            outcome.exercise, outcome.max_points = exercise.name, exercise.max_points
            return outcome
        results.append(outcome)
        called += [name for name in calls if name not in called]
        changed += [path for name, b, a in zip(exercise.arguments, before, given)
                    for path in changed_paths(name, b, a, exercise.restored_rtol) if path not in changed]
    return results, called, changed


def grade(status, checks, hints, max_points):
    """Points: all for a pass, none for an error or a call of the library's kernel; otherwise the
    share of outputs right (rounded down), one point less than full for a rule broken."""
    if status == "passed":
        return max_points
    if status != "wrong" or "library" in hints:
        return 0
    earned = int(max_points * sum(c.passed for c in checks) / len(checks))
    return min(earned, max_points - 1)


def _rule_hints(exercise, called, changed):
    """Hints for the library's kernel called, and for arguments changed in place (these come first)."""
    hints = {}
    if called:
        hints["library"] = (f"calls the library's own {' and '.join(called)}: write the computation yourself "
                            f"(numpy is fine; the library's own functions for this exercise are not)")
    if changed:
        hints[exercise.in_place_term] = (exercise.in_place_hint or in_place_hint)(changed)
    return hints


def in_place_hint(paths):
    """The hint for arguments changed by the student's function (``paths`` like "cache.i", "dc_next")."""
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    root = paths[0].split(".")[0].split("[")[0]
    if root.startswith("cache"):
        advice = ("the cache belongs to the forward pass, and a second backward (or a gradient check) reads it "
                  "again: compute into new arrays (i * (1 - i), never i *= 1 - i)")
        if root == "caches":
            advice += "; to walk the steps backwards use reversed(range(T)), not caches.reverse() or pop()"
    elif root.startswith("d"):
        advice = (f"{root} is the caller's gradient and is still needed after your call: write "
                  f"d = {root} + ..., not {root} += ...")
    else:
        advice = "the caller's arrays must not change: compute into new arrays (a = a + b, not a += b)"
    return f"changes {shown} in place: {advice}"


# --------------------------------------------------------------------- calling safely
def library_kernels(*names):
    """The library's functions named like "functional.lstm_step_backward" (module.function)."""
    modules = {"fast": fast, "functional": functional, "functional_rnn": functional_rnn, "gradcheck": gradcheck}
    return tuple(getattr(modules[module], function) for module, function in (name.split(".") for name in names))


@contextmanager
def _watching(functions):
    """Collect the names of those of ``functions`` that are called inside the block (at any depth).

    A profile hook sees every Python call, however the student imported the function
    (``from numpylstm.functional import lstm_step_backward`` binds the same code object).
    A profile function already set is called too; a profiler written in C (cProfile) cannot
    be chained, so under it nothing is watched rather than the profiler switched off.
    """
    codes = {f.__code__: f.__name__ for f in functions}
    called = []
    previous = sys.getprofile()
    if previous is not None and not callable(previous):
        yield called
        return

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes and codes[frame.f_code] not in called:
            called.append(codes[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield called
    finally:
        sys.setprofile(previous)


def _call_student(exercise, student_fn, given):
    """The student's outputs as a dict name -> array (None for a non-array), or an ExerciseReport saying why not."""
    n_outputs = len(exercise.outputs)
    try:
        returned = exercise.call(student_fn, given)
    except NotImplementedError:
        return ExerciseReport("", "not yet implemented",
                              message="the function still raises NotImplementedError: replace the "
                                      "`raise NotImplementedError` with your code")
    except Exception as error:   # a student's bug must not stop the notebook: report it instead
        return ExerciseReport("", "error", message=describe_exception(error))
    if n_outputs > 1 and (not isinstance(returned, (tuple, list)) or len(returned) != n_outputs):
        got = (f"{len(returned)} values" if isinstance(returned, (tuple, list))
               else f"a {type(returned).__name__}")
        return ExerciseReport("", "error", message=f"the function must return a tuple of {n_outputs} "
                                                   f"arrays, got {got} (expected {', '.join(exercise.outputs)})")
    returned = returned if n_outputs > 1 else [returned]
    return {name: as_float_array(value) for name, value in
            zip(exercise.outputs[:exercise.compared], returned)}


def as_float_array(value):
    """``value`` as a float64 array, or None if it is not numbers."""
    try:
        array = np.asarray(value)
        return array.astype(np.float64) if array.dtype.kind in "fiub" else None
    except Exception:
        return None


def describe_exception(error):
    """``"raised ValueError: ... (line 12: `dx = da @ W_ih.T`)"``: the student's last line, no traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    # The innermost frame outside NumPy and this package is the student's.
    own = [f for f in frames if not f.filename.startswith((_PACKAGE_DIR, _NUMPY_DIR))]
    where = f" (line {own[-1].lineno}: `{own[-1].line}`)" if own and own[-1].line else ""
    return f"the function raised {type(error).__name__}: {error}{where}"


def changed_paths(name, before, after, rtol=0.0):
    """Where ``after`` differs from its copy ``before``: paths like "cache.i", "caches[2].f", "dc_next".

    Arrays are compared exactly (or to ``rtol``); named tuples field by field; lists and
    tuples item by item (a different length is a change of the list itself). Numbers,
    strings and functions cannot be changed in place and are skipped.
    """
    if isinstance(before, np.ndarray):
        same = isinstance(after, np.ndarray) and after.shape == before.shape and (
            np.array_equal(after, before) if rtol == 0 else np.allclose(after, before, rtol=rtol, atol=0))
        return [] if same else [name]
    if isinstance(before, tuple) and hasattr(before, "_fields"):
        return [path for field in before._fields
                for path in changed_paths(f"{name}.{field}", getattr(before, field), getattr(after, field), rtol)]
    if isinstance(before, (list, tuple)):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return [name]
        return [path for k, (b, a) in enumerate(zip(before, after))
                for path in changed_paths(f"{name}[{k}]", b, a, rtol)]
    return []


# ------------------------------------------------------------------------- comparing
def compare_output(name, got, expected, tolerance, gated=False):
    """Worst relative error of one output over all cases, per gate block i, f, g, o if ``gated``."""
    expected_shape = tuple(np.shape(expected[0]))
    for value, ref in zip(got, expected):
        if value is None or value.shape != np.shape(ref):
            shape = None if value is None else tuple(value.shape)
            return OutputCheck(name, tuple(np.shape(ref)), shape, np.inf, None, False,
                               shape_problem(shape, tuple(np.shape(ref))))
    error = worst(rel_error(v, r) for v, r in zip(got, expected))
    gates = None
    if gated:
        gates = {gate: worst(rel_error(np.split(v, 4)[k], np.split(r, 4)[k]) for v, r in zip(got, expected))
                 for k, gate in enumerate(GATES)}
    passed = error < tolerance
    return OutputCheck(name, expected_shape, expected_shape, error, gates, passed,
                       "" if passed else f"relative error {error:.1e}")


def shape_problem(shape, expected):
    if shape is None:
        return f"is None or not numbers; expected an array of shape {expected}"
    if shape == expected[::-1]:
        return f"has the wrong shape {shape}, expected {expected}: a transpose is missing (or one too many)"
    return f"has the wrong shape {shape}, expected {expected}"


def worst(errors):
    """The largest error; NaN (from NaN or inf in the student's output) counts as the worst."""
    errors = list(errors)
    return np.inf if any(not np.isfinite(e) for e in errors) else max(errors)


def same(a, b, tolerance):
    """True when ``a`` and ``b`` are arrays of one shape equal to ``tolerance`` (relative)."""
    return (a is not None and b is not None and np.shape(a) == np.shape(b)
            and rel_error(a, b) < tolerance)


# --------------------------------------------------------------------- the diagnosis
def match_mistakes(mistakes, exercise, cases, results, checks, tolerance):
    """The known mistakes that explain the student's wrong outputs: ``[(Mistake, [output names])]``.

    A mistake explains an output when it changes that output and the student's equals
    the mistake's in every case. A mistake that would change an output the student got
    right is not there. Greedy: the mistake explaining most of what is left comes first
    (on a tie, the one listed first), until nothing more is explained.
    """
    wrong = [c.name for c in checks if not c.passed]
    candidates = [(mistake, explained) for mistake in mistakes
                  for explained in [_explained(mistake, exercise, cases, results, wrong, tolerance)] if explained]
    chosen, left = [], set(wrong)
    while candidates:
        best = max(candidates, key=lambda candidate: len(left & set(candidate[1])))
        if not left & set(best[1]):
            break
        chosen.append(best)
        left -= set(best[1])
        candidates.remove(best)
    return chosen


def _explained(mistake, exercise, cases, results, wrong, tolerance):
    """The wrong outputs ``mistake`` explains (in output order; empty if none, or if it changes a right one).

    Case by case, stopping as soon as it explains nothing: most known mistakes are not the
    student's, and one case usually shows it.
    """
    names = exercise.outputs[:exercise.compared]
    explained, changed = set(wrong), set()
    for case, result in zip(cases, results):
        try:
            args = exercise.prepare(case.args) if exercise.mistakes_need_copies else case.args
            returned = exercise.call(mistake.run, args)
        except (ArithmeticError, ValueError, IndexError):   # e.g. a shape that cannot occur in this case
            return []
        returned = returned if len(exercise.outputs) > 1 else [returned]
        output = {name: as_float_array(value) for name, value in zip(names, returned)}
        changed |= {name for k, name in enumerate(names) if not same(output[name], case.reference[k], tolerance)}
        explained &= {name for name in names if same(result[name], output[name], tolerance)}
        if not explained:
            return []
    return [name for name in wrong if name in explained & changed] if changed <= set(wrong) else []


def merge_hints(matches, fallback, checks, generic):
    """The matched mistakes' hints first, then the fallback analysis for what they leave unexplained.

    An output that a matched mistake explains gets "follows from <term>" instead of its
    generic formula (``generic``: output -> formula); the fallback's hints about causes
    (gates, da) are dropped when the matched mistakes explain every wrong output, since
    they name the cause exactly.
    """
    hints = {}
    for mistake, _ in matches:
        hints.setdefault(mistake.term, mistake.hint)
    explained_by = {name: mistake.term for mistake, names in matches for name in names}
    outputs = {c.name: c for c in checks}
    all_explained = matches and all(c.passed or c.name in explained_by for c in checks)
    for term, hint in fallback.items():
        if term in hints or (all_explained and term not in outputs):
            continue
        if term in explained_by and hint == generic.get(term):
            hint = f"{term} follows from {explained_by[term]} (above): fix that first"
        hints[term] = hint
    for term, hint in hints.items():   # a wrong shape is said first, whoever found the cause
        problem = outputs[term].problem if term in outputs and outputs[term].shape != outputs[term].expected_shape \
            else ""
        if problem and "follows from" not in hint and not hint.startswith(f"{term} {problem}"):
            hints[term] = f"{term} {problem}. {hint}"
    return hints


def output_hints_for(checks, output_hints):
    """The simplest analysis: each wrong output's formula (with its shape problem, if any)."""
    hints = {}
    for c in checks:
        if not c.passed and c.name in output_hints:
            hint = output_hints[c.name]
            hints[c.name] = f"{c.name} {c.problem}. {hint}" if c.shape != c.expected_shape else hint
    return hints


# ------------------------------------------------------------------- argument checks
def check_arguments(tolerance, seed, shapes=None, sizes=()):
    """The checkers' own arguments: tolerance > 0, a seed, and shapes as tuples of ``sizes`` positive ints."""
    tolerance = check.positive_real(tolerance, "tolerance")
    seed = check.seed(seed)
    if shapes is None:
        return tolerance, seed
    layout = f"({', '.join(sizes)})"
    if not isinstance(shapes, (tuple, list)) or not shapes:
        raise TypeError(f"shapes must be a non-empty list of {layout} tuples, got {shapes!r}")
    for shape in shapes:
        if not isinstance(shape, (tuple, list)) or len(shape) != len(sizes):
            raise ValueError(f"each entry of shapes must be a tuple {layout}, got {shape!r}")
        for name, size in zip(sizes, shape):
            check.positive_int(size, f"shapes: {name}")
    return tolerance, seed


def evaluate(formulas, values, overrides=None):
    """Evaluate ``formulas`` (term -> function of the values so far) in order, with some replaced.

    This is how the mistakes are written: the derivation is a table of one-line
    formulas, and a mistake replaces one or two of them (``overrides``).
    """
    overrides = overrides or {}
    v = dict(values)
    for term, formula in formulas.items():
        v[term] = overrides.get(term, formula)(_Namespace(v))
    return v


class _Namespace:
    """Attribute access to a dict (``v.i`` for ``v["i"]``), so formulas read like the equations;
    ``v["d" + gate]`` for formulas written once for every gate."""
    __slots__ = ("_values",)

    def __init__(self, values):
        self._values = values

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name):
        return self._values[name]


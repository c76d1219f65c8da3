"""The exercise on gradient checking itself: ``numerical_gradient(f, x, eps=1e-6)``.

The student's function takes a function ``f`` of no arguments that reads the array
``x``, perturbs ``x`` in place one entry at a time, and returns the central
differences ``(f(x + eps) - f(x - eps)) / (2 eps)``, of the shape of ``x``, with
``x`` restored. The checker calls it on three functions whose gradients are known
exactly (``sin``: f = sum(w * sin(3x)) on x (5,); ``quadratic``: f = |A x|^2 / 2 on
x (3, 4); ``cubic``: f = sum(w * x^3) / 3 on x (2, 3, 2)) with ``eps = 1e-5``, where
central differences are exact to ~1e-9 and one-sided ones are off by ~1e-5.
It checks that ``x`` is as before afterwards, and names the mistake: one-sided
differences (also recognised by their error shrinking like eps rather than eps**2),
a missing factor 2, ``x`` not restored, a copy of ``x`` perturbed, whole rows
perturbed at once.
"""
import numpy as np

from ._report import POINTS
from ._run import Case, Exercise, Mistake, check_arguments, library_kernels, output_hints_for, run_exercise

EPS = 1e-5
GRADIENT_TOLERANCE = 1e-7   # central differences at eps = 1e-5 are right to ~1e-9 here, one-sided to ~1e-5
FUNCTION_SHAPES = {"sin": (5,), "quadratic": (3, 4), "cubic": (2, 3, 2)}
_CENTRAL = "(f(x + eps) - f(x - eps)) / (2 * eps)"


def _sin(x, w):
    return lambda: float(np.sum(w * np.sin(3 * x))), lambda: 3 * w * np.cos(3 * x)


def _quadratic(x, A):
    return lambda: 0.5 * float(np.sum((A @ x) ** 2)), lambda: A.T @ (A @ x)


def _cubic(x, w):
    return lambda: float(np.sum(w * x ** 3)) / 3, lambda: w * x ** 2


FUNCTIONS = {"sin": _sin, "quadratic": _quadratic, "cubic": _cubic}   # name -> (x, params) -> (f, gradient)


# ------------------------------------------------------------------------ the check
def check_gradient_check(student_fn, tolerance=GRADIENT_TOLERANCE, seed=0):
    """Check a student's ``numerical_gradient(f, x, eps=1e-6)``.

    ``student_fn(f, x, eps)`` gets ``f``, a function of no arguments returning a float
    that reads ``x``; ``x``, a float64 array of any shape; and ``eps``. It returns an
    array of the shape of ``x``: the central difference quotient for every entry.

    Parameters
    ----------
    student_fn : callable
    tolerance : largest relative error against the exact gradient that counts as right
    seed : seeds the random x and function parameters

    Returns
    -------
    ExerciseReport, one output per function: "sin", "quadratic", "cubic"
    """
    tolerance, seed = check_arguments(tolerance, seed)
    rng = np.random.default_rng(seed)
    problems = tuple((name, rng.uniform(-1, 1, shape), _parameters(rng, name, shape))
                     for name, shape in FUNCTION_SHAPES.items())
    reference = [FUNCTIONS[name](x, params)[1]() for name, x, params in problems]
    case = Case(problems, reference)

    def diagnose(checks, results):
        return {**_one_sided_hint(student_fn, problems[0]),
                **output_hints_for(checks, GRADIENT_CHECK_EXERCISE.output_hints)}

    return run_exercise(GRADIENT_CHECK_EXERCISE, student_fn, [case], tolerance, GRADIENT_MISTAKES, diagnose)


def _parameters(rng, name, shape):
    if name == "quadratic":
        return rng.standard_normal((5, shape[0]))
    return rng.uniform(0.5, 2.0, shape)


def _prepare(problems):
    """The student's own ``(f, x, eps)`` per problem: a fresh x, and f reading that x."""
    prepared = []
    for name, x0, params in problems:
        x = x0.copy()
        prepared.append((FUNCTIONS[name](x, params)[0], x, EPS))
    return prepared


def _call(numerical_gradient, prepared):
    return tuple(numerical_gradient(f, x, eps) for f, x, eps in prepared)


def _not_restored(paths):
    where = ", ".join(sorted({path.split("[")[0] for path in paths}))
    return (f"x is not as it was after the call (for f = {where}): keep the original value, and put it "
            f"back after the two evaluations: original = x[index]; ...; x[index] = original")


GRADIENT_CHECK_EXERCISE = Exercise(
    name="numerical_gradient", arguments=tuple(FUNCTION_SHAPES), outputs=tuple(FUNCTION_SHAPES),
    compared=len(FUNCTION_SHAPES), max_points=POINTS["numerical_gradient"], prepare=_prepare, call=_call,
    restored_rtol=1e-12, mistakes_need_copies=True,
    in_place_term="restore", in_place_hint=_not_restored,
    output_hints={name: f"the gradient of f = {name} at x: {_CENTRAL} for every entry of x, the shape of x"
                  for name in FUNCTION_SHAPES},
    forbidden=library_kernels("gradcheck.numerical_gradient", "gradcheck.check_gradients"))


# ---------------------------------------------------------------- the known mistakes
def differences(f, x, eps, quotient=lambda f_plus, f_minus, f_x, eps: (f_plus - f_minus) / (2 * eps),
                restore=True, perturb=None, entries=None):
    """Finite differences with replaceable rules (the known mistakes); the defaults are right.

    quotient : (f(x + eps), f(x - eps), f(x), eps) -> the entry of the gradient
    restore : False leaves each entry at x - eps
    perturb : the array that is perturbed (x itself by default)
    entries : the indices perturbed one at a time (every entry of x by default)
    """
    target = x if perturb is None else perturb(x)
    f_x = f()
    grad = np.zeros(x.shape)
    for index in (np.ndindex(*x.shape) if entries is None else entries(x)):
        original = target[index].copy()
        target[index] = original + eps
        f_plus = f()
        target[index] = original - eps
        f_minus = f()
        if restore:
            target[index] = original
        grad[index] = quotient(f_plus, f_minus, f_x, eps)
    return grad


def _with(**rules):
    return lambda f, x, eps=1e-6: differences(f, x, eps, **rules)


_ONE_SIDED = (f"central: use the central difference {_CENTRAL}: its error shrinks like eps**2, while a "
              f"one-sided difference is off by about eps * f''(x) / 2")
GRADIENT_MISTAKES = [
    Mistake("forward difference", "central", _ONE_SIDED + "; you used (f(x + eps) - f(x)) / eps",
            _with(quotient=lambda f_plus, f_minus, f_x, eps: (f_plus - f_x) / eps)),
    Mistake("backward difference", "central", _ONE_SIDED + "; you used (f(x) - f(x - eps)) / eps",
            _with(quotient=lambda f_plus, f_minus, f_x, eps: (f_x - f_minus) / eps)),
    Mistake("divided by eps, not 2 eps", "2 eps", f"2 eps: {_CENTRAL}: the two points are 2 * eps apart",
            _with(quotient=lambda f_plus, f_minus, f_x, eps: (f_plus - f_minus) / eps)),
    Mistake("f(x - eps) evaluated at x", "x - eps",
            f"x - eps: {_CENTRAL}; your second evaluation is at x, not x - eps: after x[index] += eps, "
            f"subtracting eps only goes back to x (subtract 2 * eps, or set x[index] = original - eps)",
            _with(quotient=lambda f_plus, f_minus, f_x, eps: (f_plus - f_x) / (2 * eps))),
    Mistake("x not restored", "restore", "restore: put every entry back (x[index] = original) before moving "
            "on: otherwise the later entries are differentiated at a shifted point", _with(restore=False)),
    Mistake("a copy of x perturbed", "perturb x", "perturb x: f reads the array x itself, so perturb x in place "
            "(x[index] = original + eps); changing a copy leaves f unchanged and the gradient 0",
            _with(perturb=lambda x: x.copy())),
    Mistake("whole rows perturbed", "every entry",
            "every entry: perturb one entry at a time: for x of 2 or more dimensions, loop over "
            "np.ndindex(*x.shape) (or np.nditer with multi_index); x[i] with one index is a whole row",
            _with(entries=lambda x: range(len(x)))),
]


def _one_sided_hint(student_fn, problem):
    """When no known mistake matched: {"central": hint} if the error shrinks like eps (one-sided), not eps**2."""
    name, x0, params = problem
    exact, errors = FUNCTIONS[name](x0, params)[1](), []
    for eps in (1e-3, 1e-4):
        x = x0.copy()
        try:
            got = np.asarray(student_fn(FUNCTIONS[name](x, params)[0], x, eps), dtype=float)
        except Exception:      # only a help: the report already holds what the function did
            return {}
        if got.shape != exact.shape:
            return {}
        errors.append(np.linalg.norm(got - exact) / np.linalg.norm(exact))
    ratio = errors[0] / errors[1] if errors[1] > 0 else np.inf
    if not (3 < ratio < 30 and errors[0] > 1e-5):
        return {}
    return {"central": f"{_ONE_SIDED}; your error shrinks like eps (x{ratio:.0f} smaller for eps 10 times smaller)"}

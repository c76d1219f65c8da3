"""Grading a folder of submitted notebooks: ``python -m numpylstm.exercises grade SUBMISSIONS_DIR``.

A submission is a ``*.ipynb`` directly in the folder (the student's name is the file's
name without ``.ipynb``) or a sub-folder holding the student's notebooks (named after the
folder; its ``*.ipynb`` are read in the order of their names, so exercises spread over
several notebooks are graded together). The code cells tagged ``exercise``
(``metadata.tags`` holds "exercise") are run, and only those, in a fresh Python process,
with NumPy imported as ``np``; lines starting with ``%`` or ``!`` (IPython magics) are
skipped. Names starting with "." (``.ipynb_checkpoints``) are not submissions.
The checkers then run on the functions the cells defined, found by name
(``EXERCISES``). One line per student is printed::

    alice  11/12  rnn_step_forward ok, ..., lstm_step_backward WRONG (df), numerical_gradient ok

An exercise whose function is missing, raises, or runs longer than ``timeout``
seconds gets 0 points with the reason; the other exercises of that notebook are
still graded (a new process continues after a timeout). The student's code runs
with your permissions, as it would in Jupyter or nbgrader: grade in an account
or container you do not mind it running in.
"""
import argparse
import json
import linecache
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, NamedTuple

from .. import _validate as check
from ._report import POINTS
from .gradient_check import check_gradient_check
from .rnn import check_rnn_step_backward, check_rnn_step_forward
from .sequence import check_sequence_backward
from .step_backward import check_step_backward
from .step_forward import check_step_forward

# The function the exercise cells define -> its checker.
EXERCISES = {
    "rnn_step_forward": check_rnn_step_forward,
    "rnn_step_backward": check_rnn_step_backward,
    "lstm_step_forward": check_step_forward,
    "lstm_step_backward": check_step_backward,
    "lstm_sequence_backward": check_sequence_backward,
    "numerical_gradient": check_gradient_check,
}
DEFAULT_TIMEOUT = 30.0
_POLL_SECONDS = 0.02
_CHILD = "import sys; from numpylstm.exercises.grading import run_submission; run_submission(*sys.argv[1:])"


class ExerciseGrade(NamedTuple):
    """One exercise of one student."""
    function: str
    points: int
    max_points: int
    summary: str      # "ok", "WRONG (df)", "ERROR (...)", "missing", "TIMEOUT (...)", "not done"


class StudentGrade(NamedTuple):
    """All exercises of one student; ``line()`` is what ``grade`` prints."""
    student: str
    exercises: List[ExerciseGrade]

    @property
    def points(self):
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self):
        return sum(e.max_points for e in self.exercises)

    def line(self, width=0):
        done = ", ".join(f"{e.function} {e.summary}" for e in self.exercises)
        return f"{self.student:<{width}}  {self.points}/{self.max_points}  {done}"


# ----------------------------------------------------------------- the teacher's side
def grade_folder(path, timeout=DEFAULT_TIMEOUT):
    """Grade every submission in ``path``: a list of StudentGrade, sorted by name.

    Parameters
    ----------
    path : folder of submissions: one ``*.ipynb`` or one sub-folder of notebooks per student
    timeout : seconds each exercise (and running the exercise cells) may take
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"path must be a folder of submitted notebooks, got {str(path)!r}, which is not a folder")
    timeout = check.positive_real(timeout, "timeout")
    submissions = [p for p in folder.iterdir() if not p.name.startswith(".")
                   and (p.suffix == ".ipynb" and p.is_file() or p.is_dir() and any(p.glob("*.ipynb")))]
    return [grade_submission(p, timeout) for p in sorted(submissions, key=lambda p: p.name)]


def grade_submission(path, timeout=DEFAULT_TIMEOUT):
    """Grade one notebook, or the notebooks of one folder together: a StudentGrade named after it."""
    path = Path(path)
    student, notebooks = (path.name, sorted(path.glob("*.ipynb"))) if path.is_dir() else (path.stem, [path])
    try:
        cells = [source for notebook in notebooks for source in exercise_cells(notebook)]
    except ValueError as error:
        return StudentGrade(student, [ExerciseGrade(f, 0, POINTS[f], f"ERROR ({error})") for f in EXERCISES])
    results = _run_in_subprocesses(path if path.is_dir() else path.parent, cells, timeout)
    return StudentGrade(student, [ExerciseGrade(f, *results[f]) for f in EXERCISES])


def exercise_cells(notebook):
    """The source of every code cell tagged "exercise", IPython magics replaced by ``pass``."""
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{Path(notebook).name} is not a readable notebook: {type(error).__name__}: {error}") from None
    sources = []
    for cell in cells:
        if cell.get("cell_type") == "code" and "exercise" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            sources.append("\n".join(_without_magic(line) for line in source.splitlines()))
    return sources


def _without_magic(line):
    stripped = line.lstrip()
    return line[:len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line


def _run_in_subprocesses(folder, cells, timeout):
    """function -> (points, max points, summary), running the cells and checkers in child processes.

    A child that stops early (a timeout, a crash) costs the exercise it was grading; a new child
    grades the rest. One that stops while running the cells costs every exercise left.
    """
    results, remaining = {}, list(EXERCISES)
    with tempfile.TemporaryDirectory() as tmp:
        cells_file = Path(tmp, "cells.json")
        cells_file.write_text(json.dumps(cells), encoding="utf-8")
        while remaining:
            results_file = Path(tmp, f"results-{len(results)}.jsonl")
            lines, failure = _run_child(folder, cells_file, results_file, remaining, timeout)
            graded = [line for line in lines if "function" in line]
            for line in graded:
                results[line["function"]] = (line["points"], line["max_points"], line["summary"])
            if not failure:
                break
            if not any("cell_errors" in line for line in lines):   # it stopped in the cells themselves
                results.update((f, (0, POINTS[f], f"{failure} in the exercise cells")) for f in remaining)
                break
            stuck = remaining[len(graded)]   # the exercise in progress when it stopped
            results[stuck] = (0, POINTS[stuck], failure)
            remaining = [function for function in remaining if function not in results]
    return results


def _run_child(folder, cells_file, results_file, functions, timeout):
    """Run the cells and grade ``functions`` in a child; (result lines, why it stopped early or "")."""
    results_file.touch()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2])] +
                                                      os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    with open(results_file.with_suffix(".err"), "w") as stderr:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(cells_file), str(results_file), *functions],
                                 cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=stderr, start_new_session=True)
        seen, deadline = 0, time.monotonic() + timeout
        while child.poll() is None:
            count = len(_read_lines(results_file))
            if count > seen:   # each exercise gets its own `timeout` seconds
                seen, deadline = count, time.monotonic() + timeout
            if time.monotonic() > deadline:
                _stop(child)
                return _read_lines(results_file), f"TIMEOUT (more than {timeout:g} s)"
            time.sleep(_POLL_SECONDS)
    lines = _read_lines(results_file)
    if len([line for line in lines if "function" in line]) < len(functions):   # e.g. os._exit() or a crash
        last = (results_file.with_suffix(".err").read_text().strip().splitlines() or
                [f"exit code {child.returncode}"])[-1]
        return lines, f"ERROR (the process stopped: {last[:100]})"
    return lines, ""


def _stop(child):
    """End the child and anything it started (it runs in its own process group)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError, PermissionError):
        child.kill()
    child.wait()


def _read_lines(results_file):
    lines = []
    for text in results_file.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:   # a line being written right now
            break
    return lines


# ------------------------------------------------------------------ the child's side
def run_submission(cells_file, results_file, *functions):
    """In the child process: run the exercise cells, then grade ``functions``, one JSON line each."""
    import numpy
    namespace = {"__name__": "__student__", "np": numpy}
    errors = []
    for k, source in enumerate(json.loads(Path(cells_file).read_text(encoding="utf-8")), start=1):
        filename = f"<exercise cell {k}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)   # lines for errors
        try:
            exec(compile(source, filename, "exec"), namespace)
        except BaseException as error:   # noqa: B036 - a student's exit() or error must not end the grading
            errors.append(f"exercise cell {k} raised {type(error).__name__}: {error}")
    _write(results_file, {"cell_errors": errors})
    for function in functions:
        _write(results_file, dict(function=function, **_grade_function(function, namespace.get(function), errors)))


def _grade_function(function, student_fn, cell_errors):
    """{points, max_points, summary} of one exercise."""
    points = POINTS[function]
    if not callable(student_fn):
        reason = f"; {cell_errors[0]}" if cell_errors else ""
        return dict(points=0, max_points=points, summary=f"missing (no function {function}{reason})"[:160])
    try:
        report = EXERCISES[function](student_fn)
    except BaseException as error:   # noqa: B036 - e.g. SystemExit raised by the student's function
        return dict(points=0, max_points=points, summary=f"ERROR ({type(error).__name__}: {error})"[:160])
    return dict(points=report.points, max_points=report.max_points, summary=report.summary()[:160])


def _write(results_file, record):
    with open(results_file, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


# ---------------------------------------------------------------------- the command
def main(argv=None):
    """``python -m numpylstm.exercises grade SUBMISSIONS_DIR [--timeout S]``: one line per student."""
    parser = argparse.ArgumentParser(prog="python -m numpylstm.exercises",
                                     description="Grade submitted notebooks with numpylstm.exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade every *.ipynb in a folder, one line per student")
    grade.add_argument("submissions", help="folder of submissions: a notebook, or a folder of notebooks, per "
                                           "student (the student's name is the file's or folder's)")
    grade.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                       help=f"seconds per exercise (default {DEFAULT_TIMEOUT:g})")
    args = parser.parse_args(argv)
    try:
        grades = grade_folder(args.submissions, args.timeout)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    width = max((len(g.student) for g in grades), default=0)
    for student in grades:
        print(student.line(width))
    if not grades:
        print(f"no *.ipynb in {args.submissions}", file=sys.stderr)
    return 0

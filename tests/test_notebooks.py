"""The course notebooks, in both editions.

The committed notebooks are the teacher edition (solutions, mark schemes, outputs);
``notebooks/editions.py`` writes the student edition. These tests prove that

- the teacher edition is complete: every exercise is checked and passes, every inline question
  has an answer with a mark scheme, and the nbgrader metadata is what nbgrader accepts;
- the student edition holds no line of any solution, hidden test or answer, and its exercise
  cells only report "not yet implemented" until they are filled;
- a fresh run of each notebook reproduces its committed outputs (every number, within
  round-off) and passes the asserts that check the numbers its prose quotes.
"""
import ast
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assertions import raises_naming

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, NOTEBOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


editions = _load("editions")          # needs nothing but the standard library, like `make student`

EXPECTED = ["01_rnn", "02_lstm_cell", "03_lstm_bptt", "04_gradient_checking", "05_gates_and_gradient_flow",
            "06_time_series", "07_classification_and_char_lm", "08_seq2seq"]
PATHS = editions.notebook_paths()
# The function each exercise defines -> its checker (the names `python -m numpylstm.exercises grade` looks for).
CHECKERS = {"rnn_step_forward": "check_rnn_step_forward", "rnn_step_backward": "check_rnn_step_backward",
            "lstm_step_forward": "check_step_forward", "lstm_step_backward": "check_step_backward",
            "lstm_sequence_backward": "check_sequence_backward", "numerical_gradient": "check_gradient_check"}
QUESTION = re.compile(r"\*\*Inline Question (\d+)[ .(]")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def read(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def tagged(cell, tag):
    return tag in cell.get("metadata", {}).get("tags", [])


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def printed(cell):
    """What a code cell printed: its stream outputs and plain-text results, as one string."""
    texts = [o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
             for o in cell.get("outputs", [])]
    return "".join(t if isinstance(t, str) else "".join(t) for t in texts)


def defined_function(cell):
    """The name of the one function an exercise cell defines."""
    names = [node.name for node in ast.parse(editions.cell_source(cell)).body if isinstance(node, ast.FunctionDef)]
    assert len(names) == 1, f"an exercise cell must define exactly one function, got {names}"
    return names[0]


# ------------------------------------------------------------------------- the teacher edition
def test_the_numbered_notebooks_are_all_there():
    assert [p.stem for p in PATHS] == EXPECTED


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_notebook_has_outputs_and_no_errors(path):
    code = code_cells(read(path))
    assert code and all(c.get("outputs") is not None for c in code)
    assert any(c["outputs"] for c in code), "committed without outputs: run `make notebooks`"
    errors = [o for c in code for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was committed with an error output"
    source = "\n".join(editions.cell_source(c) for c in code)
    assert "sys.path" not in source, "notebooks import the installed package, not a path hack"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_notebook_draws_its_randomness_from_SEED(path):
    # notebooks/claims.py re-runs each notebook with other seeds by rewriting this line
    first_code = editions.cell_source(code_cells(read(path))[0])
    assert re.search(r"^SEED = 0 ", first_code, re.MULTILINE), f"{path.name}: the first code cell must set SEED = 0"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_each_notebook_asks_three_questions_and_answers_them_in_a_mark_scheme(path):
    cells = read(path)["cells"]
    asked = [(k, int(m.group(1))) for k, cell in enumerate(cells) if cell["cell_type"] == "markdown"
             for m in [QUESTION.search(editions.cell_source(cell))] if m]
    assert len(asked) >= 3, f"{path.name} asks {len(asked)} inline questions"
    assert [number for _, number in asked] == list(range(1, len(asked) + 1))
    for k, number in asked:
        answer = cells[k + 1]
        role = editions.grading_role(answer)
        text = editions.cell_source(answer)
        assert answer["cell_type"] == "markdown" and role.get("solution") and role.get("grade"), \
            f"{path.name}: question {number} is not followed by an nbgrader answer cell"
        assert text.startswith("**Your Answer:**")
        scheme = text.split("=== BEGIN MARK SCHEME ===")[1].split("=== END MARK SCHEME ===")[0]
        assert len(scheme.split()) > 20, f"{path.name}: the mark scheme of question {number} is too short"


def exercise_and_checker_pairs():
    """(notebook, exercise cell, the cell after it) for every exercise of the course."""
    return [(path, cell, cells[k + 1]) for path in PATHS for cells in [read(path)["cells"]]
            for k, cell in enumerate(cells) if tagged(cell, "exercise")]


def test_the_six_exercises_are_each_defined_once_and_checked_right_after():
    from numpylstm.exercises import POINTS
    pairs = exercise_and_checker_pairs()
    assert sorted(defined_function(cell) for _, cell, _ in pairs) == sorted(CHECKERS)
    for path, exercise, checker in pairs:
        function = defined_function(exercise)
        assert editions.grading_role(exercise).get("solution"), f"{path.name}: {function} is not a solution cell"
        assert editions.BEGIN_SOLUTION in editions.cell_source(exercise)
        role = editions.grading_role(checker)
        assert tagged(checker, "checker") and role.get("grade") and role.get("points") == POINTS[function]
        assert f"{CHECKERS[function]}({function})" in editions.cell_source(checker)


def test_every_checker_in_the_teacher_edition_reports_passed():
    for path, exercise, checker in exercise_and_checker_pairs():
        report = printed(checker)
        assert ": passed" in report, f"{path.name}: the checker of {defined_function(exercise)} printed {report!r}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_only_checkers_use_the_functions_the_student_writes(path):
    # so that the student edition, with stubs in the exercise cells, runs top to bottom
    cells = code_cells(read(path))
    written = {defined_function(c) for c in cells if tagged(c, "exercise")}
    for cell in cells:
        if tagged(cell, "exercise") or tagged(cell, "checker"):
            continue
        source = editions.cell_source(cell).replace("%matplotlib inline", "")
        used = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
        assert not used & written, f"{path.name}: a cell uses {used & written}, which the student writes"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_nbgrader_metadata_is_what_nbgrader_accepts(path):
    # nbgrader's CheckCellMetadata: ids of letters, digits, _ and -, unique; grade cells have points;
    # a markdown cell is a grade cell exactly when it is a solution cell
    ids = []
    for cell in read(path)["cells"]:
        role = editions.grading_role(cell)
        if not (role.get("grade") or role.get("solution")):
            continue
        assert re.fullmatch(r"[a-zA-Z0-9_\-]+", role.get("grade_id", "")), role
        ids.append(role["grade_id"])
        if role.get("grade"):
            float(role["points"])
        if cell["cell_type"] == "markdown":
            assert role.get("grade") == role.get("solution")
        assert role.get("schema_version") == 3
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade ids"


# ------------------------------------------------------------------------- the student edition
def hidden_lines(cell):
    """The lines of a teacher cell that the student must not see (stripped, non-empty)."""
    lines = editions.cell_source(cell).split("\n")
    if cell["cell_type"] == "markdown" and editions.grading_role(cell).get("solution"):
        return {line.strip() for line in lines if line.strip()} - {"**Your Answer:**"}
    hidden, inside = set(), False
    for line in lines:
        if line.strip() == editions.BEGIN_SOLUTION or any(
                marker in line for marker in (editions.BEGIN_HIDDEN_TESTS, editions.BEGIN_MARK_SCHEME)):
            inside = True
        elif line.strip() == editions.END_SOLUTION or any(
                marker in line for marker in (editions.END_HIDDEN_TESTS, editions.END_MARK_SCHEME)):
            inside = False
        elif inside and line.strip():
            hidden.add(line.strip())
    return hidden


def leaked(teacher, student):
    """Lines of the teacher's solutions, hidden tests and answers that appear in the student notebook."""
    secret = set().union(*(hidden_lines(cell) for cell in teacher["cells"]))
    shown = {line.strip() for cell in student["cells"] for line in editions.cell_source(cell).split("\n")}
    return secret & shown


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_student_edition_holds_no_solution_hidden_test_or_answer(path):
    teacher = read(path)
    student = editions.student_notebook(teacher, path.name)
    # the check must be able to see a leak: the teacher edition leaks every secret line it has
    secret = set().union(*(hidden_lines(cell) for cell in teacher["cells"]))
    assert secret and leaked(teacher, teacher) == secret
    assert leaked(teacher, student) == set()
    assert all(not c["outputs"] and c["execution_count"] is None for c in code_cells(student))
    answers = [c for c in student["cells"] if c["cell_type"] == "markdown" and editions.grading_role(c).get("solution")]
    assert answers and all(editions.cell_source(c) == editions.TEXT_STUB for c in answers)
    assert read(path) == teacher, "writing the student edition changed the teacher's notebook"


def test_a_solution_line_that_survives_is_caught():
    path = PATHS[0]
    teacher = read(path)
    student = editions.student_notebook(teacher, path.name)
    exercise = next(c for c in student["cells"] if tagged(c, "exercise"))
    exercise["source"] += "\n    h_next = np.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)"
    assert leaked(teacher, student) == {"h_next = np.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)"}


def test_student_exercise_cells_keep_the_function_and_stub_its_body():
    for path, exercise, _ in exercise_and_checker_pairs():
        student = editions.student_cell(exercise)
        source = editions.cell_source(student)
        assert defined_function(student) == defined_function(exercise)
        assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in source
        assert ast.get_docstring(ast.parse(source).body[-1]), "the docstring with the shapes stays"


def test_make_student_writes_the_student_edition(tmp_path):
    done = subprocess.run([sys.executable, str(NOTEBOOKS / "editions.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, check=True)
    assert f"{len(PATHS)} notebook(s)" in done.stdout
    for path in PATHS:
        assert read(tmp_path / path.name) == editions.student_notebook(read(path), path.name)


# ----------------------------------------------------------------- editions.py, cell by cell
def markdown(source, **role):
    return {"cell_type": "markdown", "metadata": {"nbgrader": role} if role else {}, "source": source}


def code(source, outputs=(), **role):
    return {"cell_type": "code", "execution_count": 3, "metadata": {"nbgrader": role} if role else {},
            "outputs": list(outputs), "source": source}


def test_a_solution_region_becomes_the_stub_at_its_indentation():
    cell = code("def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
                outputs=[{"output_type": "stream", "name": "stdout", "text": "4"}], solution=True)
    student = editions.student_cell(cell)
    assert student["source"] == "def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert student["outputs"] == [] and student["execution_count"] is None
    assert cell["source"].count("return 2 * x") == 1 and cell["outputs"], "the teacher's cell is unchanged"


def test_an_answer_cell_becomes_your_answer_here_and_hidden_tests_go():
    answer = markdown("**Your Answer:**\n\n=== BEGIN MARK SCHEME ===\nbecause\n=== END MARK SCHEME ===",
                      solution=True, grade=True, points=1)
    assert editions.student_cell(answer)["source"] == "YOUR ANSWER HERE"
    checker = code("print(report)\n### BEGIN HIDDEN TESTS\nassert report.passed\n### END HIDDEN TESTS", grade=True)
    assert editions.student_cell(checker)["source"] == "print(report)"
    task = markdown("Explain.\n=== BEGIN MARK SCHEME ===\nbecause\n=== END MARK SCHEME ===", task=True)
    assert editions.student_cell(task)["source"] == "Explain."


@pytest.mark.parametrize("cell, words", [
    (code("### BEGIN SOLUTION\nx = 1\n", solution=True), ["cell 7", "never closed"]),
    (code("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", solution=True), ["cell 7", "inside another"]),
    (code("x = 1\n### END SOLUTION", solution=True), ["cell 7", "never opened"]),
    (code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"), ["cell 7", "not an nbgrader solution cell"]),
    (code("### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS"), ["cell 7", "not an nbgrader grade cell"]),
    (markdown("=== BEGIN MARK SCHEME ===\nx\n=== END MARK SCHEME ==="), ["cell 7", "not an nbgrader task cell"]),
])
def test_a_region_that_would_leak_or_that_nbgrader_refuses_is_refused(cell, words):
    raises_naming(ValueError, lambda: editions.student_cell(cell, "a.ipynb, cell 7"), "a.ipynb", *words)


# --------------------------------------------------------------------------------- grading
def test_a_folder_of_submissions_is_graded_one_line_per_student(tmp_path):
    # one folder per student holding the course's notebooks: the six exercises, spread over
    # notebooks 1 to 4, are graded together
    from numpylstm.exercises import grade_folder
    for student, edition in (("ada", lambda notebook, name: notebook), ("bob", editions.student_notebook)):
        folder = tmp_path / student
        folder.mkdir()
        for path in PATHS:
            (folder / path.name).write_text(json.dumps(edition(read(path), path.name)), encoding="utf-8")
    grades = {grade.student: grade for grade in grade_folder(tmp_path)}
    assert sorted(grades) == ["ada", "bob"]
    assert grades["ada"].points == grades["ada"].max_points == 12
    assert "WRONG" not in grades["ada"].line() and "not done" not in grades["ada"].line()
    assert grades["bob"].points == 0 and grades["bob"].max_points == 12
    assert [e.function for e in grades["bob"].exercises] == list(CHECKERS)
    assert all(e.summary == "not done" for e in grades["bob"].exercises)


# -------------------------------------------------------------------- running the notebooks
try:   # `make test` installs the Jupyter client (the [test] extra); without it only these tests skip
    import nbclient  # noqa: F401
    import nbformat
except ImportError:
    nbformat = None
needs_jupyter = pytest.mark.skipif(nbformat is None, reason="the Jupyter client is not installed: "
                                                           "pip install numpylstm[test]")
execute = _load("execute") if nbformat else None


def printed_numbers(cell):
    return NUMBER.findall(printed(cell))


def same_number(fresh, committed):
    """Equal within round-off: the last printed digit, 0.1% of the value, or 1e-6 for tiny quantities
    (finite-difference errors of 1e-10 are themselves round-off)."""
    a, b = float(fresh), float(committed)
    digits = NUMBER.match(committed).group(0).lower().split("e")
    decimals = len(digits[0].split(".")[1]) if "." in digits[0] else 0
    last_digit = 10.0 ** (-decimals + (int(digits[1]) if len(digits) > 1 else 0))
    return abs(a - b) <= max(last_digit, 1e-3 * max(abs(a), abs(b)), 1e-6)


def test_same_number_tells_round_off_from_a_change():
    assert same_number("0.91", "0.91") and same_number("1.9e-16", "4.0e-16") and same_number("12.3456", "12.3449")
    assert not same_number("0.93", "0.91") and not same_number("2.1e-03", "2.3e-03") and not same_number("97", "95")


@pytest.mark.notebook
@needs_jupyter
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs_in_a_fresh_kernel_and_reproduces_its_outputs(path):
    committed = nbformat.read(path, as_version=4)
    fresh = execute.execute_notebook(path, write=False)          # raises if any cell (or claim) fails
    for index, (new, old) in enumerate(zip(fresh.cells, committed.cells)):
        if new.cell_type != "code":
            continue
        got, expected = printed_numbers(new), printed_numbers(old)
        assert len(got) == len(expected), f"{path.name}, cell {index}: prints other text than committed"
        wrong = [(g, e) for g, e in zip(got, expected) if not same_number(g, e)]
        assert not wrong, f"{path.name}, cell {index}: fresh vs committed numbers {wrong[:5]}; run `make notebooks`"


@pytest.mark.notebook
@needs_jupyter
def test_student_exercises_report_not_yet_implemented_and_do_not_stop_the_notebook():
    cells = [editions.student_cell(cell) for path in PATHS for cell in read(path)["cells"]
             if tagged(cell, "exercise") or tagged(cell, "checker")]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(editions.cell_source(cell)) for cell in cells]
    execute.run_notebook(notebook, NOTEBOOKS)                    # raises if a cell raises
    reports = [printed(cell) for cell, original in zip(notebook.cells, cells) if tagged(original, "checker")]
    assert len(reports) == len(CHECKERS)
    for report in reports:
        assert ": not yet implemented" in report and "raise NotImplementedError" in report, report

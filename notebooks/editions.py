"""Write the student edition of the course notebooks; nbgrader itself is not needed.

    python notebooks/editions.py                      # every numbered notebook -> build/student/
    python notebooks/editions.py --out DIR 01_*.ipynb # some notebooks, elsewhere

The committed notebooks are the teacher edition. They follow nbgrader's conventions, so a
teacher who uses nbgrader can run ``nbgrader generate_assignment`` on them unchanged; this
script applies the rules of nbgrader's ClearSolutions, ClearHiddenTests, ClearMarkScheme and
ClearOutput preprocessors, in that order:

1. In a code cell, every region between a line ``### BEGIN SOLUTION`` and a line
   ``### END SOLUTION`` becomes the stub ``# YOUR CODE HERE`` / ``raise NotImplementedError()``,
   indented like the ``### BEGIN SOLUTION`` line. Such cells must be nbgrader solution cells
   (``metadata.nbgrader.solution``). A markdown solution cell (a written answer, which nbgrader
   also makes a grade cell) without such a region becomes ``YOUR ANSWER HERE``.
2. In a grade cell (an exercise's checker), every region from a line containing
   ``BEGIN HIDDEN TESTS`` to one containing ``END HIDDEN TESTS`` is removed.
3. In a task cell, every region from a line containing ``BEGIN MARK SCHEME`` to one containing
   ``END MARK SCHEME`` is removed. (The course keeps its mark schemes inside the answer cells,
   which rule 1 empties as a whole.)
4. Outputs and execution counts are cleared.

A region that is opened and not closed, nested, or in a cell without the nbgrader metadata that
nbgrader requires for it is refused with a ValueError naming the notebook and the cell, so no
solution slips through.
"""
import argparse
import copy
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "build" / "student"

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
BEGIN_MARK_SCHEME, END_MARK_SCHEME = "BEGIN MARK SCHEME", "END MARK SCHEME"


def cell_source(cell):
    """A cell's source as one string (notebook files may store it as a list of lines)."""
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def grading_role(cell):
    """The cell's nbgrader metadata (a dict, empty for an ordinary cell)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def _replace_regions(lines, is_begin, is_end, stub_for, where):
    """``lines`` with each region from an ``is_begin`` line to an ``is_end`` line replaced by
    ``stub_for(begin_line)``; also whether there was one. ValueError on a nested or open region."""
    kept, inside, found = [], False, False
    for line in lines:
        if is_begin(line):
            if inside:
                raise ValueError(f"{where}: a region opens inside another one: {line.strip()!r}")
            inside = found = True
            kept.extend(stub_for(line))
        elif is_end(line):
            if not inside:
                raise ValueError(f"{where}: {line.strip()!r} closes a region that was never opened")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{where}: a region is opened and never closed")
    return kept, found


def _without_solutions(cell, where):
    """The source with solution regions stubbed (rule 1), and whether the cell had any."""
    stub = CODE_STUB if cell["cell_type"] == "code" else [TEXT_STUB]

    def indented_stub(begin_line):
        indent = begin_line[:len(begin_line) - len(begin_line.lstrip())]
        return [indent + line for line in stub]

    lines = cell_source(cell).split("\n")
    return _replace_regions(lines, lambda line: line.strip() == BEGIN_SOLUTION,
                            lambda line: line.strip() == END_SOLUTION, indented_stub, where)


def _without_region(lines, begin, end, where):
    """``lines`` without the regions from a line containing ``begin`` to one containing ``end``."""
    return _replace_regions(lines, lambda line: begin in line, lambda line: end in line, lambda line: [], where)


def student_cell(cell, where="cell"):
    """The student edition of one cell (a new dict; ``cell`` is not changed).

    ``where`` names the cell in error messages, e.g. ``"02_lstm_cell.ipynb, cell 7"``.
    """
    role = grading_role(cell)
    lines, had_solution = _without_solutions(cell, where)
    if had_solution and not role.get("solution"):
        raise ValueError(f"{where}: a solution region in a cell that is not an nbgrader solution cell "
                         "(metadata.nbgrader.solution); nbgrader would refuse it")
    if cell["cell_type"] == "markdown" and role.get("solution") and not had_solution:
        lines = [TEXT_STUB]
    lines, had_tests = _without_region(lines, BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, where)
    if had_tests and not role.get("grade"):
        raise ValueError(f"{where}: hidden tests in a cell that is not an nbgrader grade cell "
                         "(metadata.nbgrader.grade)")
    lines, had_mark_scheme = _without_region(lines, BEGIN_MARK_SCHEME, END_MARK_SCHEME, where)
    if had_mark_scheme and not role.get("task"):
        raise ValueError(f"{where}: a mark scheme in a cell that is not an nbgrader task cell "
                         "(metadata.nbgrader.task) nor inside an answer cell")
    student = copy.deepcopy(cell)
    student["source"] = "\n".join(lines)
    if student["cell_type"] == "code":
        student["outputs"], student["execution_count"] = [], None
    return student


def student_notebook(notebook, name="notebook"):
    """The student edition of a notebook (a dict as read by ``json.load``; it is not changed)."""
    student = copy.deepcopy(notebook)
    student["cells"] = [student_cell(cell, f"{name}, cell {k}") for k, cell in enumerate(notebook["cells"])]
    student["metadata"].pop("celltoolbar", None)
    return student


def notebook_paths():
    """Every numbered notebook of the course, in order."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def write_student_edition(paths, out_dir):
    """Write the student edition of each notebook in ``paths`` into ``out_dir``; returns the new paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in map(Path, paths):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        target = out_dir / path.name
        text = json.dumps(student_notebook(notebook, path.name), indent=1, sort_keys=True, ensure_ascii=False)
        target.write_text(text + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="teacher notebooks (default: every numbered notebook)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the student edition "
                        "(default: build/student)")
    args = parser.parse_args(argv)
    try:
        written = write_student_edition(args.notebooks or notebook_paths(), args.out)
    except ValueError as error:
        sys.exit(f"editions.py: {error}")
    print(f"wrote the student edition of {len(written)} notebook(s) to {args.out}")


if __name__ == "__main__":
    main()

"""Gather each student's exercise cells into one notebook, for ``python -m numpylstm.exercises grade``.

The six exercises are spread over notebooks 1 to 4, and the grader grades one notebook per
student. With the submissions laid out as one folder per student::

    submissions/alice/01_rnn.ipynb  submissions/alice/02_lstm_cell.ipynb  ...
    submissions/bob/01_rnn.ipynb    ...

    python notebooks/collect.py submissions --out graded    # graded/alice.ipynb, graded/bob.ipynb
    python -m numpylstm.exercises grade graded              # one line per student, out of 12

Every code cell tagged "exercise" of a student's notebooks is copied, in the order of the file
names, into ``<out>/<student>.ipynb``. Nothing is run, and the submissions are not changed.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from editions import cell_source  # noqa: E402  (the script beside this one)


def exercise_cells(notebook_path):
    """The code cells tagged "exercise" of one notebook, in order."""
    try:
        cells = json.loads(Path(notebook_path).read_text(encoding="utf-8"))["cells"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{notebook_path} is not a readable notebook: {type(error).__name__}: {error}") from None
    return [cell for cell in cells
            if cell.get("cell_type") == "code" and "exercise" in cell.get("metadata", {}).get("tags", [])]


def collect_student(folder):
    """One notebook (a dict) holding the exercise cells of every ``*.ipynb`` in ``folder``."""
    cells = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        for cell in exercise_cells(path):
            cells.append({"cell_type": "code", "execution_count": None, "id": f"exercise-{len(cells)}",
                          "metadata": {"tags": ["exercise"]}, "outputs": [], "source": cell_source(cell)})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def collect(submissions, out):
    """Write ``out/<student>.ipynb`` for every student folder in ``submissions``; returns the paths."""
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise ValueError(f"submissions must be a folder with one folder per student, got {str(submissions)!r}")
    students = sorted(p for p in submissions.iterdir() if p.is_dir())
    if not students:
        raise ValueError(f"submissions must hold one folder per student, found none in {str(submissions)!r}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for student in students:
        target = out / f"{student.name}.ipynb"
        target.write_text(json.dumps(collect_student(student), indent=1) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", help="folder with one folder of notebooks per student")
    parser.add_argument("--out", required=True, help="folder for the collected notebooks, one per student")
    args = parser.parse_args(argv)
    try:
        written = collect(args.submissions, args.out)
    except ValueError as error:
        sys.exit(f"collect.py: {error}")
    print(f"collected the exercise cells of {len(written)} student(s) into {args.out}")


if __name__ == "__main__":
    main()

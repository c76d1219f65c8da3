"""Re-run the notebooks with other seeds: do their claims hold?

    python notebooks/claims.py                          # every notebook, seeds 1 to 7
    python notebooks/claims.py --seeds 0 3 05_*.ipynb   # some seeds, some notebooks
    OPENBLAS_NUM_THREADS=2 python notebooks/claims.py   # ... with two BLAS threads

Every notebook sets ``SEED = 0`` in its first code cell and draws all its random numbers from
it, and every number its prose quotes is asserted in a cell, as a range ("below 3% of the
constant predictor's"). This script runs each notebook again with ``SEED = s`` for each seed,
lets every cell run, and prints, per notebook and seed, ``ok`` or the asserts that failed. What
the cells printed is saved to ``--out`` (one text file per notebook and seed), from which the
ranges quoted in the prose were read.

It trains every model once per seed: minutes per seed on a laptop, so it is not part of
``make test`` (which runs each notebook once, with ``SEED = 0``).
"""
import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from execute import notebook_paths, run_notebook  # noqa: E402  (the script beside this one)

SEED_LINE = re.compile(r"^SEED = \d+", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FAILING_LINE = re.compile(r"^-+>\s*\d+\s+(.*)$", re.MULTILINE)   # IPython marks the failing line "---> 12 ..."


def with_seed(notebook, seed, name):
    """A copy of ``notebook`` whose first ``SEED = ...`` line says ``SEED = seed``."""
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if cell.cell_type == "code" and SEED_LINE.search(cell.source):
            cell.source = SEED_LINE.sub(f"SEED = {seed}", cell.source, count=1)
            return copy
    raise ValueError(f"{name}: no code cell sets SEED = <number>; every notebook must draw its randomness from SEED")


def failures(notebook):
    """``(cell index, the failing line)`` for every cell that raised."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                trace = ANSI.sub("", "\n".join(output.get("traceback", [])))
                failing = FAILING_LINE.findall(trace)
                found.append((index, f"{output['ename']}: {failing[-1].strip() if failing else output['evalue']}"))
    return found


def printed_text(notebook):
    """Everything the cells printed, cell by cell."""
    blocks = []
    for index, cell in enumerate(notebook.cells):
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if text:
            blocks.append(f"--- cell {index}\n{text}")
    return "\n".join(blocks)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files (default: all numbered notebooks)")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 8)))
    parser.add_argument("--out", default=str(HERE.parent / "build" / "claims"),
                        help="folder for what the cells printed (default: build/claims)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    broken = 0
    for path in [Path(p) for p in args.notebooks] or notebook_paths():
        teacher = nbformat.read(path, as_version=4)
        for seed in args.seeds:
            ran = run_notebook(with_seed(teacher, seed, path.name), path.parent, allow_errors=True)
            (out / f"{path.stem}.seed{seed}.txt").write_text(printed_text(ran), encoding="utf-8")
            failed = failures(ran)
            broken += bool(failed)
            verdict = "ok" if not failed else "; ".join(f"cell {i}: {line}" for i, line in failed)
            print(f"{path.name} SEED={seed}: {verdict}", flush=True)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()

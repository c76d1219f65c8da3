"""Execute the teaching notebooks with a real Jupyter kernel.

    python notebooks/execute.py                 # run every notebook, report errors
    python notebooks/execute.py --write         # ... and save their outputs (make notebooks)
    python notebooks/execute.py 01_*.ipynb      # only some

The test suite imports ``execute_notebook`` from here, so `make test` and
`make notebooks` run the notebooks the same way.
"""
import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
TIMEOUT_PER_CELL = 300


def notebook_paths():
    """Every numbered notebook, in order."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def run_notebook(notebook, folder, allow_errors=False):
    """Run the cells of ``notebook`` (an nbformat node, changed in place) in a fresh kernel.

    ``folder`` is the kernel's working directory. Without ``allow_errors`` the first failing
    cell raises ``nbclient.exceptions.CellExecutionError``; with it, every cell runs and the
    errors stay in the cells' outputs.
    """
    # The kernel is started as `python -m ipykernel_launcher`: make `python` this interpreter,
    # so the notebooks import the numpylstm installed next to it.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("MPLBACKEND", "Agg")
    # The notebooks train small models: products of a few hundred rows, which OpenBLAS
    # splits over threads at a loss (10x slower on a busy 2-core machine). One thread,
    # unless the user chose otherwise; the kernel inherits it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    client = NotebookClient(notebook, timeout=TIMEOUT_PER_CELL, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


def execute_notebook(path, write=False):
    """Run ``path`` top to bottom in a fresh kernel; raises on the first failing cell."""
    notebook = run_notebook(nbformat.read(path, as_version=4), Path(path).parent)
    if write:
        nbformat.write(notebook, path)
    return notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files (default: all numbered notebooks)")
    parser.add_argument("--write", action="store_true", help="save the executed notebooks with their outputs")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or notebook_paths()
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        execute_notebook(path, write=args.write)
    print(f"{len(paths)} notebook(s) ran without errors" + (" and were saved" if args.write else ""))


if __name__ == "__main__":
    main()

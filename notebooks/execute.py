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


def execute_notebook(path, write=False):
    """Run ``path`` top to bottom in a fresh kernel; raises on the first failing cell."""
    # The kernel is started as `python -m ipykernel_launcher`: make `python` this interpreter,
    # so the notebooks import the numpylstm installed next to it.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("MPLBACKEND", "Agg")
    # The notebooks train small models: products of a few hundred rows, which OpenBLAS
    # splits over threads at a loss (10x slower on a busy 2-core machine). One thread,
    # unless the user chose otherwise; the kernel inherits it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=TIMEOUT_PER_CELL, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    client.execute()
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

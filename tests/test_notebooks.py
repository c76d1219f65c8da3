"""Every teaching notebook runs top to bottom in a real Jupyter kernel."""
import importlib.util
import json
from pathlib import Path

import pytest

# `make test` installs the Jupyter client (the [test] extra); a bare pytest elsewhere skips these.
pytest.importorskip("nbclient", reason="the Jupyter client is not installed: pip install numpylstm[test]")
pytest.importorskip("nbformat", reason="nbformat is not installed: pip install numpylstm[test]")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_spec = importlib.util.spec_from_file_location("execute", NOTEBOOKS / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)

EXPECTED = ["01_lstm_cell", "02_bptt_by_hand", "03_gradient_checking", "04_vanishing_gradients",
            "05_time_series", "06_seq2seq", "07_classification_and_char_lm", "08_exercises"]


def test_the_numbered_notebooks_are_all_there():
    assert [p.stem for p in execute.notebook_paths()] == EXPECTED


@pytest.mark.parametrize("path", execute.notebook_paths(), ids=lambda p: p.stem)
def test_committed_notebook_has_outputs_and_no_errors(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c.get("outputs") is not None for c in code)
    assert any(c["outputs"] for c in code), "committed without outputs: run `make notebooks`"
    errors = [o for c in code for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was committed with an error output"
    source = "\n".join("".join(c["source"]) for c in code)
    assert "sys.path" not in source, "notebooks import the installed package, not a path hack"


@pytest.mark.notebook
@pytest.mark.parametrize("path", execute.notebook_paths(), ids=lambda p: p.stem)
def test_notebook_runs_in_a_fresh_kernel(path):
    execute.execute_notebook(path, write=False)

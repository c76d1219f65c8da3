# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv on first use and install what they need into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test notebooks student bench bench-quick bench-gpu gradcheck dist clean readme-numbers

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files so that a second `make test` does not reinstall anything.
$(VENV)/.installed: setup.cfg pyproject.toml | $(PY)
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(PY)
	$(PIP) -e '.[test]'
	touch $@

# --force: each `make demo` replaces the files of the previous one in demo-output/.
demo: $(VENV)/.installed
	$(PY) -m numpylstm demo --force

test: $(VENV)/.installed-test
	$(PY) -m pytest

gradcheck: $(VENV)/.installed
	$(PY) -m numpylstm gradcheck

notebooks: $(VENV)/.installed-test
	$(PY) notebooks/execute.py --write

# The student edition of the course in build/student/: solutions, answers and outputs removed
# (nbgrader's conventions; nbgrader itself is not needed).
student: | $(PY)
	$(PY) notebooks/editions.py --out build/student

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_lstm.py

bench-quick: $(VENV)/.installed
	$(PY) benchmarks/bench_lstm.py --quick

# The README's results table (5 tasks x seeds 0-2 through `numpylstm train`, 10+ minutes) and
# its first-look output, recorded in benchmarks/readme_results.json and written into README.md.
readme-numbers: $(VENV)/.installed
	$(PY) benchmarks/readme_numbers.py

# Needs CuPy for your CUDA version (pip install cupy-cuda12x, say) and a GPU.
bench-gpu: $(VENV)/.installed
	$(PY) benchmarks/bench_gpu.py

$(VENV)/.installed-build: | $(PY)
	$(PIP) build
	touch $@

# The source package (numpylstm-VERSION.tar.gz) and the wheel, made afresh in dist/.
dist: $(VENV)/.installed-build
	rm -rf dist
	$(PY) -m build --outdir dist .

# Removes everything made here: the CLI's demo-output/ and runs/ (the weights and figures that
# `numpylstm train` and `make readme-numbers` saved) included.
clean:
	rm -rf $(VENV) demo-output runs build dist .pytest_cache .hypothesis *.egg-info

"""Regenerate the numbers README.md quotes, from runs anyone can repeat.

::

    python benchmarks/readme_numbers.py               # everything: 5 tasks x 3 seeds (10+ minutes)
    python benchmarks/readme_numbers.py --first-look  # only the "A first look" output (seconds)
    python benchmarks/readme_numbers.py --render      # README.md from the recorded JSON, no training
    make readme-numbers                               # the first line, in the project's .venv

The results table: every task of ``numpylstm train`` with the CLI's defaults and seeds 0, 1
and 2, run through the CLI itself (``cli.main``), the metrics read back from the weight
files it saved (their metadata), the wall time of each command, the machine and the date.
They are written to ``benchmarks/readme_results.json`` and rendered into README.md between
``<!-- results:begin -->`` and ``<!-- results:end -->``; the samples of the character
model (seed 0) between ``<!-- samples:begin/end -->``.

The first look: the Python snippet under "## A first look" is run and its output written
between ``<!-- first-look:begin/end -->``.

``tests/test_readme_numbers.py`` fails when README.md and the JSON, or the snippet and its
shown output, disagree.
"""
import argparse
import contextlib
import io as text_io
import json
import os
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from numpylstm import __version__, cli, io, tasks

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "readme_results.json"
RUNS = REPO / "runs" / "readme-numbers"   # the weights and figures of every run (make clean removes them)
SEEDS = (0, 1, 2)
SAMPLE_TEMPERATURES = (0.5, 0.8)
SAMPLE_LINES = 2   # lines of each sample the README shows


# ------------------------------------------------------------------------ README blocks
def block(text, name):
    """The text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``text``."""
    match = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    if match is None:
        raise ValueError(f"README.md has no block <!-- {name}:begin --> ... <!-- {name}:end -->")
    return match.group(1)


def replace_block(text, name, content):
    """``text`` with the block ``name`` holding ``content`` instead."""
    old = block(text, name)
    begin = f"<!-- {name}:begin -->\n"
    return text.replace(begin + old, begin + content, 1)


# ------------------------------------------------------------------------ first look
def first_look_code(readme_text):
    """The Python snippet under the README's "## A first look" heading."""
    match = re.search(r"## A first look\n.*?```python\n(.*?)```", readme_text, re.S)
    if match is None:
        raise ValueError("README.md has no ```python block under '## A first look'")
    return match.group(1)


def run_first_look(readme_text):
    """What the first-look snippet prints."""
    printed = text_io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(first_look_code(readme_text), "README.md: A first look", "exec"), {})
    return printed.getvalue()


def first_look_block(output):
    lines = [line.rstrip() for line in output.splitlines()]
    return "```\n" + "\n".join(lines) + "\n```\n"


# The relative errors are finite-difference round-off (about 1e-9): their digits, and so which
# tensor is the worst, differ between machines and BLAS libraries. The rest must match exactly.
_ROUND_OFF = [(re.compile(r"\d\.\d+e-\d\d"), "#.#e-##"), (re.compile(r"worst: \w+"), "worst: #")]


def without_round_off(text):
    """``text`` with the round-off numbers of a gradient report (and the worst tensor's name) masked,
    and no spaces at the ends of lines."""
    for pattern, mask in _ROUND_OFF:
        text = pattern.sub(mask, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


# ---------------------------------------------------------------------------- measure
def measure(seeds=SEEDS):
    """Train every task with the CLI's defaults for each seed; the record written to the JSON file."""
    runs = []
    started = time.time()
    for task in tasks.TASKS:
        for seed in seeds:
            runs.append(train(task, seed))
            print(f"{task:<9} seed {seed}: {headline(runs[-1])}, {runs[-1]['wall_seconds']:.1f} s", flush=True)
    return {"date": date.today().isoformat(), "numpylstm": __version__, "machine": machine(),
            "load_average": {"start": LOAD_AT_START, "end": _load_average()},
            "total_minutes": round((time.time() - started) / 60, 1),
            "command": "numpylstm train --task TASK --seed SEED (every other option its default)",
            "runs": runs, "samples": samples(RUNS / "chars-seed0" / "chars.npz")}


def train(task, seed):
    """One ``numpylstm train`` run; its settings, metrics (from the saved weight file) and wall time."""
    out = RUNS / f"{task}-seed{seed}"
    argv = ["train", "--task", task, "--seed", str(seed), "--out", str(out), "--quiet", "--force"]
    printed = text_io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = cli.main(argv)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"numpylstm {' '.join(argv)} failed ({code}):\n{printed.getvalue()}")
    saved = io.read_info(out / f"{task}.npz")["metadata"]
    return {"task": task, "seed": seed, "settings": saved["settings"], "metrics": saved["results"],
            "wall_seconds": round(seconds, 1)}


def samples(path):
    """What ``numpylstm sample PATH --temperature T`` prints, for the README's temperatures."""
    model = io.load_model(path)
    vocab = tasks.saved_vocabulary(io.read_info(path)["metadata"], model)
    return {str(t): tasks.sample_text(model, vocab, temperature=t, seed=0) for t in SAMPLE_TEMPERATURES}


def machine():
    """The processor, cores, system and the library versions the numbers depend on."""
    from threadpoolctl import threadpool_info
    blas = [f"{pool.get('internal_api')} {pool.get('version')}" for pool in threadpool_info()
            if pool.get("user_api") == "blas"]
    return {"processor": _processor_name(), "cores": os.cpu_count(), "system": platform.platform(terse=True),
            "python": platform.python_version(), "numpy": np.__version__, "blas": ", ".join(blas)}


def _processor_name():
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _load_average():
    return [round(x, 1) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


LOAD_AT_START = _load_average()


# ----------------------------------------------------------------------------- render
# Each task's row: (task cell, what is measured (from seed 0's metrics), one run's result).
def _sine_row(m):
    return "`sine`", "test MSE against the last-value forecast", f"{m['test_mse'] / m['baseline_mse']:.1%}"


def _adding_row(m):
    return ("`adding`, T = 50", f"validation MSE (always predicting 1.0 gives {m['constant_mse']:.3g} here; "
            "1/6 in expectation)", f"{m['val_mse']:.3g}")


def _reverse_row(m):
    return ("`reverse`, Seq2Seq, lengths 3–8 over 10 symbols",
            f"sequences decoded exactly by greedy decoding, {m['val_sequences']} new ones", f"{m['exact_match']:.1%}")


def _classify_row(m):
    return ("`classify`, 3 frequencies", f"validation accuracy (chance {m['chance']:.1%})", f"{m['val_accuracy']:.1%}")


def _chars_row(m):
    bits = 1 / np.log(2)
    return ("`chars`, sonnets 1–25", f"test cross-entropy in nats/char; the unigram entropy is "
            f"{m['unigram_entropy']:.3f} ({m['unigram_entropy'] * bits:.2f} bits)", f"{m['test_loss']:.3f}")


_ROWS = {"sine": _sine_row, "adding": _adding_row, "reverse": _reverse_row, "classify": _classify_row,
         "chars": _chars_row}
_UNITS = {"sine": " of the baseline", "chars": " nats/char"}


def results_block(record):
    """The README's results paragraph and table, from a record ``measure`` made."""
    m = record["machine"]
    lines = [f"Results with the defaults (seed 0 in bold, seeds 1 and 2 in brackets), measured with "
             f"`numpylstm train` on {record['date']} by `make readme-numbers` "
             f"(`benchmarks/readme_numbers.py`, which records them in `benchmarks/readme_results.json`) "
             f"on a machine with {m['cores']} cores ({m['processor']}) shared with other work "
             f"(load average {record['load_average']['start'][0]} at the start), NumPy {m['numpy']}:", "",
             "| task | what is measured | result | wall time |", "| --- | --- | --- | --- |"]
    for task in tasks.TASKS:
        runs = sorted((r for r in record["runs"] if r["task"] == task), key=lambda r: r["seed"])
        name, measured, first = _ROWS[task](runs[0]["metrics"])
        others = ", ".join(_ROWS[task](r["metrics"])[2] for r in runs[1:])
        seconds = [r["wall_seconds"] for r in runs]
        fastest, slowest = f"{min(seconds):.0f}", f"{max(seconds):.0f}"
        wall = fastest if fastest == slowest else f"{fastest}–{slowest}"   # "4 s", not "4–4 s"
        lines.append(f"| {name} | {measured} | **{first}**{_UNITS.get(task, '')} ({others}) | {wall} s |")
    return "\n".join(lines) + "\n"


def samples_block(record):
    """The character model's samples (seed 0), their first lines, as the README shows them."""
    lines = ["```"]
    for temperature, text in record["samples"].items():
        shown = text.splitlines()[:SAMPLE_LINES]
        lines.append(f"T={temperature}  {shown[0]}")
        lines += [f"       {line}" for line in shown[1:]]
    return "\n".join(lines + ["```"]) + "\n"


def render(readme_text, record):
    """README text with the results and samples blocks rendered from ``record``."""
    text = replace_block(readme_text, "results", results_block(record))
    return replace_block(text, "samples", samples_block(record))


def headline(run):
    return _ROWS[run["task"]](run["metrics"])[2]


# ------------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--first-look", action="store_true", help="only rerun the first-look snippet")
    which.add_argument("--render", action="store_true", help="only render README.md from the recorded JSON")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    if not (args.first_look or args.render):
        record = measure()
        RESULTS.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}")
    if not args.first_look:
        text = render(text, json.loads(RESULTS.read_text(encoding="utf-8")))
    if not args.render:
        text = replace_block(text, "first-look", first_look_block(run_first_look(text)))
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README}")


if __name__ == "__main__":
    sys.exit(main())

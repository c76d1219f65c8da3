"""README.md quotes only numbers the project regenerates (``benchmarks/readme_numbers.py``).

The results table and the character samples must be what the recorded runs in
``benchmarks/readme_results.json`` render to, those runs must be the CLI's defaults with
seeds 0, 1 and 2, and the "A first look" snippet must print what the README shows.
Regenerate with ``make readme-numbers`` (or ``--first-look`` / ``--render``) when one fails.
"""
import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest

from numpylstm import tasks

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_numbers", REPO / "benchmarks" / "readme_numbers.py")
readme_numbers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_numbers)

HEADLINE = {"sine": "test_mse", "adding": "val_mse", "reverse": "exact_match", "classify": "val_accuracy",
            "chars": "test_loss"}


@pytest.fixture(scope="module")
def readme():
    return (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def record():
    return json.loads(readme_numbers.RESULTS.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------ results
def test_the_results_table_and_samples_are_the_recorded_ones(readme, record):
    assert readme_numbers.block(readme, "results") == readme_numbers.results_block(record)
    assert readme_numbers.block(readme, "samples") == readme_numbers.samples_block(record)


@pytest.mark.parametrize("task", tasks.TASKS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_changed_number_in_any_run_is_caught(readme, record, task, seed):
    changed = copy.deepcopy(record)
    run = next(r for r in changed["runs"] if (r["task"], r["seed"]) == (task, seed))
    run["metrics"][HEADLINE[task]] *= 0.5
    assert readme_numbers.results_block(changed) != readme_numbers.block(readme, "results")


def test_the_stale_numbers_of_issue_15_are_gone(readme):
    table = readme_numbers.block(readme, "results")
    assert "**100%**" not in table and "**99.2%**" not in table and "**0.00042**" not in table


def test_the_recorded_runs_are_the_cli_defaults_with_seeds_0_1_2(record):
    for task in tasks.TASKS:
        runs = sorted((r for r in record["runs"] if r["task"] == task), key=lambda r: r["seed"])
        assert [r["seed"] for r in runs] == [0, 1, 2], task
        for r in runs:
            expected = tasks.DEFAULTS[task]._replace(seed=r["seed"])._asdict()
            if expected["samples"] is None:   # chars: all the windows, recorded as their number
                expected["samples"] = r["settings"]["samples"]
            assert r["settings"] == expected, (task, r["seed"])
            assert r["wall_seconds"] > 0


def test_the_record_names_its_machine_date_and_the_samples_command(record):
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", record["date"])
    assert {"processor", "cores", "system", "python", "numpy", "blas"} <= set(record["machine"])
    assert sorted(record["samples"]) == [str(t) for t in readme_numbers.SAMPLE_TEMPERATURES]
    assert all(text.startswith(tasks.SAMPLE_PROMPT) for text in record["samples"].values())


# ----------------------------------------------------------------------- first look
def test_the_first_look_snippet_prints_what_the_readme_shows(readme):
    printed = readme_numbers.first_look_block(readme_numbers.run_first_look(readme))
    shown = readme_numbers.block(readme, "first-look")
    assert readme_numbers.without_round_off(printed) == readme_numbers.without_round_off(shown)
    assert "all 9 gradients agree with finite differences" in printed


def test_the_first_look_comparison_masks_round_off_only(readme):
    shown = readme_numbers.block(readme, "first-look")
    same = readme_numbers.without_round_off(shown)
    other_round_off = re.sub(r"(\d\.\d+e-\d\d)", lambda m: "9" + m.group(1)[1:], shown)
    assert other_round_off != shown and readme_numbers.without_round_off(other_round_off) == same
    for change in [("(16, 4)", "(16, 3)"), ("ok", "WRONG"), ("0.", "1."), ("all 9", "all 8")]:
        assert change[0] in shown
        assert readme_numbers.without_round_off(shown.replace(change[0], change[1], 1)) != same, change

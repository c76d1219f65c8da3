"""The packages a user gets: the sdist holds what its tests and notebooks need, the wheel its texts.

Both are built (setuptools' own build hooks, no isolated environment: about 3 s) from a
copy of the source tree beside these tests. Where the tests run against an installed
numpylstm without that source (as .ci/run runs the unpacked sdist's tests), they skip.
"""
import ast
import configparser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1]
if not (SOURCE / "setup.cfg").is_file() or not (SOURCE / "numpylstm").is_dir():
    pytest.skip("no numpylstm source tree beside the tests (they run against an installed numpylstm)",
                allow_module_level=True)
pytest.importorskip("setuptools", reason="building the packages needs setuptools")

# What a checkout holds that the sdist must hold too: its tests with their helpers and
# conftest, the notebooks with the script that runs them, the benchmarks, the licence.
NEEDED_BY_THE_TESTS_AND_NOTEBOOKS = ("tests/*.py", "notebooks/*.ipynb", "notebooks/execute.py",
                                     "notebooks/README.md", "benchmarks/*", "examples/*", "numpylstm/**/*.py",
                                     "numpylstm/texts/*.txt", "LICENSE", "README.md", "ARCHITECTURE.md", "Makefile",
                                     "setup.cfg", "pyproject.toml", "MANIFEST.in")
NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "dist", "build", "*.egg-info", "__pycache__",
                                    ".hypothesis", ".pytest_cache", "runs", "demo-output")
# One process per package: after build_sdist, build_wheel in the same process writes its
# wheel into the source folder's sdist/ rather than the folder it was given (setuptools 84).
BUILD = """
import sys
from setuptools import build_meta
hook, folder = sys.argv[1:]
print("built:", getattr(build_meta, hook)(folder))
"""


class Built:
    """The sdist and the wheel built from a copy of the source, and what setuptools said meanwhile."""

    def __init__(self, folder):
        copy = folder / "source"
        shutil.copytree(SOURCE, copy, ignore=NOT_SOURCE)
        out = folder / "dist"
        self.log = ""
        sdist_name, wheel_name = (self._build(hook, copy, out) for hook in ("build_sdist", "build_wheel"))
        with tarfile.open(out / sdist_name) as sdist:
            top = sdist_name[:-len(".tar.gz")] + "/"
            self.sdist_files = {member.name[len(top):] for member in sdist.getmembers() if member.isfile()}
            self.metadata = Parser().parsestr(sdist.extractfile(top + "PKG-INFO").read().decode())
        with zipfile.ZipFile(out / wheel_name) as wheel:
            self.wheel_files = set(wheel.namelist())

    def _build(self, hook, source, out):
        """Run setuptools' PEP 517 ``hook`` in ``source``; returns the file name it wrote in ``out``."""
        result = subprocess.run([sys.executable, "-c", BUILD, hook, str(out)], cwd=source, capture_output=True,
                                text=True, timeout=300)
        self.log += result.stdout + result.stderr
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.splitlines()[-1].split()[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return Built(tmp_path_factory.mktemp("packaging"))


def source_version():
    """``__version__`` as numpylstm/__init__.py writes it (read, not imported: the tests may use a wheel)."""
    tree = ast.parse((SOURCE / "numpylstm" / "__init__.py").read_text())
    values = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
              and [target.id for target in node.targets if isinstance(target, ast.Name)] == ["__version__"]]
    assert len(values) == 1, "numpylstm/__init__.py must set __version__ exactly once"
    return values[0]


def test_the_sdist_holds_everything_its_tests_and_notebooks_need(built):
    needed = {path.relative_to(SOURCE).as_posix() for pattern in NEEDED_BY_THE_TESTS_AND_NOTEBOOKS
              for path in SOURCE.glob(pattern) if path.is_file() and "__pycache__" not in path.parts}
    assert {"tests/conftest.py", "tests/assertions.py", "tests/strategies.py", "tests/torch_reference.py",
            "notebooks/execute.py", "LICENSE", "numpylstm/texts/sonnets.txt"} <= needed
    assert sorted(needed - built.sdist_files) == []


def test_the_wheel_holds_the_package_its_texts_and_the_licence_and_no_tests(built):
    sources = {path.relative_to(SOURCE).as_posix() for path in (SOURCE / "numpylstm").rglob("*")
               if path.suffix in (".py", ".txt") and "__pycache__" not in path.parts}
    assert "numpylstm/texts/sonnets.txt" in sources
    assert sorted(sources - built.wheel_files) == []
    assert any(name.endswith(".dist-info/licenses/LICENSE") or name.endswith(".dist-info/LICENSE")
               for name in built.wheel_files)
    assert not [name for name in built.wheel_files if name.startswith(("tests/", "notebooks/"))]


def test_setuptools_finds_every_folder_of_the_package_in_packages(built):
    # The texts lived in numpylstm/data/, named like the module data.py, outside `packages`.
    assert "absent from the `packages` configuration" not in built.log


def test_the_version_is_written_once_and_reaches_the_metadata(built):
    setup = configparser.ConfigParser()
    setup.read(SOURCE / "setup.cfg")
    assert setup["metadata"]["version"] == "attr: numpylstm.__version__"
    assert built.metadata["Version"] == source_version()


def test_the_metadata_names_the_licence_pythons_and_no_exact_pins(built):
    classifiers = built.metadata.get_all("Classifier")
    assert "License :: OSI Approved :: MIT License" in classifiers
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 14)} <= set(classifiers)
    assert built.metadata["Requires-Python"] == ">=3.9"
    assert built.metadata["License-File"] == "LICENSE"
    requirements = built.metadata.get_all("Requires-Dist")
    assert any(requirement.startswith("threadpoolctl>=") for requirement in requirements)
    # an exact pin of torch or CuPy would clash with the one a user already has
    assert [requirement for requirement in requirements if "==" in requirement.split(";")[0]] == []


def test_the_licence_is_mit_and_names_its_holder():
    licence = (SOURCE / "LICENSE").read_text()
    assert licence.startswith("MIT License\n")
    assert "Copyright (c) 2026 the numpylstm authors" in licence
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in licence

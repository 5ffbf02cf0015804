"""The tree in layers: the import contracts of pyproject.toml (checked by `lint-imports`) cover every module,
and the public imports of the flat 0.1 layout still work."""

import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from hashbench.harness.grid import tomllib
from hashbench.moved import MOVED

ROOT = Path(__file__).resolve().parents[1]
# Above the contract but at the top of the package: the public name of the dev kit's checks, and the aliases.
OUTSIDE_THE_LAYERS = {"hashbench.testing", "hashbench.moved"}


def layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = (c for c in config["contracts"] if c["type"] == "layers")
    return [{name.strip() for name in layer.replace(":", "|").split("|")} for layer in contract["layers"]]


def test_every_module_of_hashbench_is_in_a_layer():
    top = {f"hashbench.{path.stem}" for path in (ROOT / "hashbench").glob("*.py") if path.stem != "__init__"}
    packages = {f"hashbench.{path.parent.name}" for path in (ROOT / "hashbench").glob("*/__init__.py")}
    *upper, contract = layers()
    assert contract == top - OUTSIDE_THE_LAYERS
    assert set().union(*upper) == packages


def test_old_public_imports_still_work_without_a_warning():
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "from hashbench import HashMethod, CrossModalDataset, TrainView, UsageError, Reference, sign_bits\n"
        "from hashbench import register_method, register_dataset\n"
        "from hashbench.testing import assert_method_conforms, assert_dataset_conforms, check_method\n"
        "from hashbench.cli import main\n"
        "from hashbench.method import HashMethod as M; assert M is HashMethod\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_module_imports_under_its_old_name_with_a_deprecation_warning(old):
    module = importlib.import_module(MOVED[old])
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        assert importlib.import_module(old) is module
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module(old) is module  # once imported, it is the module itself, no second warning


def test_the_flat_layouts_from_imports_give_the_moved_objects():
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from hashbench.metrics import evaluate\n"
        "from hashbench.scoring.metrics import evaluate as new\n"
        "from hashbench.standard import StandardDataset\n"
        "from hashbench.ingest.layouts import StandardDataset as NewDataset\n"
        "import hashbench.runner\n"
        "assert evaluate is new and StandardDataset is NewDataset and hashbench.runner.__name__ == "
        "'hashbench.harness.runner'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

"""The import contracts of pyproject.toml (checked by `lint-imports`) cover every module of the harness."""

from pathlib import Path

from hashbench.grid import tomllib

ROOT = Path(__file__).resolve().parents[1]
COMMAND_LINE = {"hashbench.cli", "hashbench.datasetcommands"}


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["name"]: contract for contract in config["contracts"]}


def test_every_module_below_the_command_line_is_forbidden_to_import_it():
    (below,) = (c for name, c in contracts().items() if name == "Nothing below the command line imports it")
    modules = {f"hashbench.{path.stem}" for path in (ROOT / "hashbench").glob("*.py") if path.stem != "__init__"}
    assert set(below["forbidden_modules"]) == COMMAND_LINE
    assert modules - COMMAND_LINE == {m for m in below["source_modules"] if m.startswith("hashbench.")}
    assert {"methods", "datasets"} <= set(below["source_modules"])

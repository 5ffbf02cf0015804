"""Modules that moved into sub-packages stay importable under their old names, with a DeprecationWarning.

``import hashbench.runner`` (or ``from hashbench.metrics import evaluate``) gives the very module now at
``hashbench.harness.runner`` (``hashbench.scoring.metrics``), so scripts and plug-ins written against the flat
layout of hashbench 0.1 keep working while they move to the new names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED = {
    "hashbench.argtypes": "hashbench.cli.options",
    "hashbench.benchsearch": "hashbench.scoring.bench",
    "hashbench.conformance": "hashbench.devkit.conformance",
    "hashbench.datasetcommands": "hashbench.cli.datasets",
    "hashbench.experiment": "hashbench.harness.runcache",
    "hashbench.external": "hashbench.harness.external",
    "hashbench.extract": "hashbench.ingest.extract",
    "hashbench.featurefile": "hashbench.ingest.single_file",
    "hashbench.grid": "hashbench.harness.grid",
    "hashbench.kernels": "hashbench.scoring.kernels",
    "hashbench.matrixfile": "hashbench.ingest.matrixfile",
    "hashbench.memory": "hashbench.harness.memory",
    "hashbench.metrics": "hashbench.scoring.metrics",
    "hashbench.plots": "hashbench.reports.plots",
    "hashbench.prepared": "hashbench.ingest.prepared",
    "hashbench.published": "hashbench.reports.published",
    "hashbench.record": "hashbench.harness.record",
    "hashbench.report": "hashbench.reports.site",
    "hashbench.rescore": "hashbench.harness.rescore",
    "hashbench.runner": "hashbench.harness.runner",
    "hashbench.scaffold": "hashbench.devkit.scaffold",
    "hashbench.search": "hashbench.scoring.search",
    "hashbench.standard": "hashbench.ingest.layouts",
    "hashbench.store": "hashbench.harness.store",
    "hashbench.tables": "hashbench.reports.tables",
    "hashbench.textfiles": "hashbench.ingest.textfiles",
    "hashbench.tracking": "hashbench.harness.tracking",
    "hashbench.tuning": "hashbench.harness.tuning",
}


class _MovedModuleLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return ModuleType(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        new = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} moved to {new}; import it from there", DeprecationWarning, stacklevel=_caller_level()
        )
        # The import system returns what sys.modules holds once this returns: the module at its new place.
        sys.modules[module.__name__] = importlib.import_module(new)


def _caller_level() -> int:
    """The stack level of the first frame outside importlib, so the warning points at the import statement."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib") or frame.f_globals.get("__name__") == __name__
    ):
        frame, level = frame.f_back, level + 1
    return level


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old name of a moved module and hands out the module at its new place."""

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModuleLoader())


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())

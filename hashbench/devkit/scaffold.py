"""``hashbench new``: skeletons of a method or dataset plug-in, with a test that runs the conformance check.

Into a hashbench checkout (``methods/`` or ``datasets/`` of the current
folder), or as a stand-alone package that registers itself through the
``hashbench.methods`` / ``hashbench.datasets`` entry points.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from hashbench.errors import UsageError

_METHOD = '''"""{title}: one line on what the method does.

Reference: Authors, Title, Venue Year. Say here where this code departs from the authors' release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashbench import HashMethod, Reference, TrainView, register_method, sign_bits


@dataclass(frozen=True)
class {cls}Params:
    """Parameters with the paper's names and defaults."""

    ridge: float = 1e-3


@register_method("{name}")
class {cls}(HashMethod):
    """{title}. The body below is a placeholder (seeded random projections): replace it with the algorithm."""

    supervised = False
    kind = "shallow"
    reference = Reference("Authors", "Title", "Venue", 2026)
    Params = {cls}Params

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> {cls}:
        # A supervised method (supervised = True) reads its labels as self.training_labels(train).
        rng = np.random.default_rng(seed)
        self.means_, self.projections_ = {{}}, {{}}
        for modality in ("image", "text"):
            features = train.features(modality).astype(np.float64)
            self.means_[modality] = features.mean(axis=0)
            self.projections_[modality] = rng.standard_normal((features.shape[1], bits))
        return self

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        centred = features.astype(np.float64) - self.means_[modality]
        return sign_bits(centred @ self.projections_[modality])
'''

_METHOD_TEST = '''"""Conformance of the {name!r} method."""

from hashbench import registry
from hashbench.testing import assert_method_conforms
from {module} import {cls}


def test_{ident}_is_registered():
    assert registry.methods.get("{name}") is {cls}


def test_{ident}_conforms():
    assert_method_conforms({cls})
'''

_DATASET = '''"""{title}: where the files come from and which protocol the split follows."""

from __future__ import annotations

import numpy as np

from hashbench import CrossModalDataset, DatasetCard, UsageError, register_dataset

CARD = DatasetCard(
    name="{name}",
    source="where the files come from",
    licence="the data's licence",
    protocol="which items are queries, database and training set",
    features={{"image": "what the image features are", "text": "what the text features are"}},
    labels="how many classes, single- or multi-label",
)


@register_dataset("{name}")
def load_{ident}() -> CrossModalDataset:
    """{title}. Placeholder arrays: replace them with the real files' contents."""
    rng = np.random.default_rng(0)
    labels = np.eye(4, dtype=bool)[rng.integers(0, 4, 120)]
    if not labels.any():
        raise UsageError("{name}: no labelled items")
    return CrossModalDataset(
        card=CARD,
        image=rng.standard_normal((120, 16)) + labels @ rng.standard_normal((4, 16)),
        text=rng.standard_normal((120, 8)) + labels @ rng.standard_normal((4, 8)),
        labels=labels,
        train=np.arange(100),
        query=np.arange(100, 120),
        database=np.arange(100),
    )
'''

_DATASET_TEST = '''"""Conformance of the {name!r} dataset."""

from hashbench import registry
from hashbench.testing import assert_dataset_conforms
from {module} import load_{ident}


def test_{ident}_is_registered():
    assert registry.datasets.get("{name}") is load_{ident}


def test_{ident}_conforms():
    assert_dataset_conforms(load_{ident})
'''

_PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "{title}: a hashbench {kind} plug-in"
requires-python = ">=3.10"
dependencies = ["hashbench"]

[project.entry-points."hashbench.{group}"]
{name} = "{module}:{target}"

[tool.setuptools]
packages = ["{package}"]
"""


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise UsageError(f"name {name!r}: expected lower-case letters, digits and '-', starting with a letter")
    ident = name.replace("-", "_")
    if keyword.iskeyword(ident):
        raise UsageError(f"name {name!r}: a Python keyword cannot name a module")
    return ident


def _write_new(files: dict[Path, str]) -> list[Path]:
    existing = [path for path in files if path.exists()]
    if existing:
        raise UsageError(f"{existing[0]}: already exists; expected a new plug-in name or another folder")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def scaffold(kind: str, name: str, *, repo: Path | None = None, package: Path | None = None) -> list[Path]:
    """Write the skeleton of a ``kind`` ("method" or "dataset") plug-in called ``name``; return the files.

    With ``package``, a stand-alone package in that folder; otherwise into the
    hashbench checkout ``repo`` (default: the current folder).
    """
    ident = _identifier(name)
    folder = {"method": "methods", "dataset": "datasets"}[kind]
    title = name.replace("-", " ").title().replace(" ", "")
    cls = title
    if package is None:
        repo = repo or Path.cwd()
        if not (repo / folder).is_dir() or not (repo / "hashbench").is_dir():
            raise UsageError(
                f"none given, and {repo} is not a hashbench checkout (no {folder}/ folder); expected one for a "
                "stand-alone plug-in, or a checkout",
                thing="package folder",
            )
        module = f"hashbench.{folder}.{ident}"
        code_path, test_path = repo / folder / f"{ident}.py", repo / "tests" / f"test_{kind}_{ident}.py"
        extra: dict[Path, str] = {}
    else:
        package_name = f"hashbench_{ident}"
        module = package_name
        code_path = package / package_name / "__init__.py"
        test_path = package / "tests" / f"test_{ident}.py"
        target = cls if kind == "method" else f"load_{ident}"
        extra = {
            package / "pyproject.toml": _PYPROJECT.format(
                distribution=f"hashbench-{name}",
                title=title,
                kind=kind,
                group=folder,
                name=name,
                module=module,
                target=target,
                package=package_name,
            )
        }
    fields = {"name": name, "ident": ident, "cls": cls, "title": title, "module": module}
    code, test = (_METHOD, _METHOD_TEST) if kind == "method" else (_DATASET, _DATASET_TEST)
    return _write_new({code_path: code.format(**fields), test_path: test.format(**fields), **extra})

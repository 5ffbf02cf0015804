"""`hashbench check`: every built-in conforms, and each deliberately broken plug-in fails its own rule."""

from dataclasses import dataclass

import numpy as np
import pytest

from hashbench import registry
from hashbench.cli import main
from hashbench.data import CrossModalDataset
from hashbench.devkit.conformance import RULES, check_dataset, check_method
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference, sign_bits
from hashbench.space import Choice, FloatRange, IntRange, SearchSpace


@dataclass(frozen=True)
class GoodParams:
    scale: float = 1.0


class Good(HashMethod):
    """A correct plug-in: centred random projections from the seed."""

    name = "good"
    reference = Reference("Test", "Good", "nowhere", 2026)
    Params = GoodParams

    def fit(self, train, bits, *, seed, device="cpu"):
        rng = np.random.default_rng(seed)
        self.means_ = {m: train.features(m).mean(axis=0) for m in ("image", "text")}
        self.w_ = {m: rng.standard_normal((train.features(m).shape[1], bits)) for m in ("image", "text")}
        return self

    def encode(self, modality, features):
        return sign_bits((features - self.means_[modality]) @ self.w_[modality] * self.params.scale)


def broken(name, base=Good, **attributes):
    return type(name, (base,), {"name": name.lower(), **attributes})


@dataclass(frozen=True)
class NoDefault:
    scale: float


@dataclass(frozen=True)
class ListParam:
    sizes: tuple = (1, 2)


@dataclass(frozen=True)
class PositiveParams:
    scale: float = 1.0

    def __post_init__(self):
        if self.scale <= 0:
            raise UsageError(f"scale={self.scale}: expected a positive number")


@dataclass(frozen=True)
class IntForFloat:
    scale: int = 1

    def __post_init__(self):
        object.__setattr__(self, "scale", float(self.scale))


def _fit_then(extra):
    def fit(self, train, bits, *, seed, device="cpu"):
        Good.fit(self, train, bits, seed=seed)
        return extra(self, train, bits, seed)

    return fit


class Supervised(Good):
    supervised = True

    def fit(self, train, bits, *, seed, device="cpu"):
        if train.labels is None:
            raise UsageError("supervised: needs labels")
        return Good.fit(self, train, bits, seed=seed)


BROKEN = {
    "metadata": broken("NoReference", reference=None),
    "params": [
        broken("NoDefaultParam", Params=NoDefault),
        broken("ListParam", Params=ListParam),
        broken("IntForFloat", Params=IntForFloat),
    ],
    "search-space": [
        broken("SpaceOfUnknown", search_space=SearchSpace(1, {"speed": FloatRange(0.1, 1.0)})),
        broken("SpaceOfWrongType", search_space=SearchSpace(1, {"scale": IntRange(1, 5)})),
        broken("SpaceChoiceOfOtherType", search_space=SearchSpace(1, {"scale": Choice((1, 2))})),
        broken("SpaceEmptyRange", search_space=SearchSpace(1, {"scale": FloatRange(2.0, 1.0)})),
        broken("SpaceNotAVersion", search_space=SearchSpace(0, {"scale": FloatRange(0.1, 1.0)})),
        broken(
            "SpaceBeyondValid", Params=PositiveParams, search_space=SearchSpace(1, {"scale": FloatRange(-1.0, 1.0)})
        ),
    ],
    "presets": broken("BadPreset", Params=PositiveParams, presets={"paper": {"scale": -2.0}}),
    "fit": [
        broken("Crashes", fit=lambda self, train, bits, *, seed, device="cpu": 1 / 0),
        broken("UsesLabels", fit=_fit_then(lambda self, train, bits, seed: train.labels.sum() and self)),
        broken("ReturnsNone", fit=_fit_then(lambda self, train, bits, seed: None)),
        broken("Mutates", fit=_fit_then(lambda self, train, bits, seed: train.image.__imul__(2) is None or self)),
    ],
    "codes": [
        broken("ShortCodes", encode=lambda self, m, f: Good.encode(self, m, f)[:, :-1]),
        broken("ThreeValues", encode=lambda self, m, f: Good.encode(self, m, f) * 2),
    ],
    "unified-codes": [
        broken("UndeclaredUnified", encode_unified=lambda self, image, text: Good.encode(self, "image", image)),
        broken("UnifiedWithoutCoder", unified_codes=True),
        broken(
            "UnifiedWrongRows",
            unified_codes=True,
            encode_unified=lambda self, image, text: Good.encode(self, "image", image)[:-1],
        ),
        broken(
            "UnifiedBatchMedian",
            unified_codes=True,
            encode_unified=lambda self, image, text: (
                image @ self.w_["image"] >= np.median(image @ self.w_["image"], axis=0)
            ).astype(np.uint8),
        ),
    ],
    "encode-deterministic": broken(
        "RandomEncode", encode=lambda self, m, f: np.random.default_rng().integers(0, 2, (len(f), 16))
    ),
    "encode-batch-independent": broken(
        "BatchMedian",
        encode=lambda self, m, f: (f @ self.w_[m] >= np.median(f @ self.w_[m], axis=0)).astype(np.uint8),
    ),
    "seed-reproducible": broken(
        "Unseeded",
        fit=lambda self, train, bits, *, seed, device="cpu": Good.fit(
            self, train, bits, seed=np.random.randint(1 << 30)
        ),
    ),
    "supervised-needs-labels": [
        broken("IgnoresMissingLabels", supervised=True),
        broken(
            "CrashesOnMissingLabels",
            supervised=True,
            fit=lambda self, train, bits, *, seed, device="cpu": (
                train.labels.any() and Good.fit(self, train, bits, seed=seed)
            ),
        ),
    ],
    "single-and-multi-label": broken(
        "OneHotOnly",
        Supervised,
        fit=lambda self, train, bits, *, seed, device="cpu": (
            (Supervised.fit(self, train, bits, seed=seed) if (train.labels.sum(axis=1) == 1).all() else 1 / 0)
            if train.labels is not None
            else Supervised.fit(self, train, bits, seed=seed)
        ),
    ),
}
CASES = [
    (rule, cls) for rule, classes in BROKEN.items() for cls in (classes if isinstance(classes, list) else [classes])
]


def test_every_rule_has_a_broken_plugin():
    assert set(BROKEN) == set(RULES)


def two_epochs(method_class):
    """A deep method with a two-epoch default budget: the same contract, checked in a fraction of the time."""
    if method_class.kind != "deep":
        return method_class

    class Quick(method_class):
        def __init__(self, **params):
            super().__init__(**{"epochs": 2, **params})

    return Quick


@pytest.mark.parametrize("name", registry.methods.names())
def test_every_builtin_method_conforms(name):
    assert check_method(two_epochs(registry.methods.get(name))) == []


def test_a_correct_plugin_conforms():
    assert check_method(Good) == [] and check_method(Supervised) == []


@pytest.mark.parametrize(("rule", "cls"), CASES, ids=[cls.__name__ for _, cls in CASES])
def test_a_broken_plugin_fails_its_rule_with_a_fix(rule, cls):
    violations = check_method(cls)
    assert [v.rule for v in violations] == [rule], violations
    assert violations[0].problem and violations[0].fix


def test_check_command_reports_each_rule_and_exits_1_on_failure(monkeypatch, capsys):
    assert main(["check", "cmfh"]) == 0
    out = capsys.readouterr().out
    assert all(f"ok   [{rule}]" in out for rule in RULES) and "conforms" in out
    monkeypatch.setattr(registry.methods, "get", lambda name: BROKEN["encode-batch-independent"])
    assert main(["check", "batchmedian"]) == 1
    out = capsys.readouterr().out
    assert "FAIL [encode-batch-independent]" in out and "fix: take thresholds" in out


def test_builtin_and_file_datasets_conform(capsys):
    assert main(["check-dataset", "wiki"]) == 0
    assert check_dataset(registry.datasets.get("wiki")) == []


def wiki_variant(**changes):
    wiki = registry.datasets.get("wiki")()
    fields = {f: getattr(wiki, f) for f in ("card", "image", "text", "labels", "train", "query", "database")}
    fields.update(changes)
    return lambda: CrossModalDataset(**fields)


@pytest.mark.parametrize(
    ("rule", "make"),
    [
        ("valid-arrays", lambda wiki: {"image": np.full_like(wiki.image, np.nan)}),
        ("card", lambda wiki: {"card": type(wiki.card)("x", "", "", "", {}, "")}),
        (
            "labelled-queries",
            lambda wiki: {"labels": np.where(np.arange(len(wiki.labels))[:, None] == 2200, False, wiki.labels)},
        ),
        ("train-query-disjoint", lambda wiki: {"train": np.arange(2300)}),
    ],
)
def test_a_broken_dataset_fails_its_rule(rule, make):
    loader = wiki_variant(**make(registry.datasets.get("wiki")()))
    violations = check_dataset(loader)
    assert [v.rule for v in violations] == [rule], violations

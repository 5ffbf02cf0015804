"""Conformance checks for plug-ins, in the spirit of scikit-learn's ``check_estimator``.

:func:`check_method` fits a method on small slices of the bundled Wikipedia
data (single-label, and the same features with multi-hot labels) and returns
one :class:`Violation` per broken rule, each naming the rule and how to fix
it. :func:`check_dataset` does the same for a dataset plug-in. The
``assert_*`` helpers raise ``AssertionError`` with every violation, for a
plug-in's own tests.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from hashbench import registry
from hashbench.codes import to_bits
from hashbench.data import MODALITIES, CrossModalDataset, TrainView
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference, parse_param
from hashbench.space import SearchSpace

CHECK_BITS = 16
_PLAIN_TYPES = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Violation:
    """A broken rule: which one, what happened, how to fix it."""

    rule: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.problem}\n    fix: {self.fix}"


class _Broken(Exception):
    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def _last_line(error: BaseException) -> str:
    return traceback.format_exception_only(type(error), error)[-1].strip()


#: The dataset the checks train on: the one whose real files ship with hashbench (its loader's registry name).
CHECK_DATASET = "wiki"


@cache
def check_datasets() -> tuple[CrossModalDataset, CrossModalDataset]:
    """A 300-item training slice and 60 queries of :data:`CHECK_DATASET`, single-label and multi-label."""
    wiki = registry.datasets.get(CHECK_DATASET)()
    rows = np.concatenate([wiki.train[:300], wiki.query[:60]])
    single = CrossModalDataset(
        card=dataclasses.replace(wiki.card, name="wiki-check"),
        image=wiki.image[rows],
        text=wiki.text[rows],
        labels=wiki.labels[rows],
        train=np.arange(300),
        query=np.arange(300, 360),
        database=np.arange(300),
    )
    extra = np.random.default_rng(0).random(single.labels.shape) < 0.2
    multi = dataclasses.replace(
        single, labels=single.labels | extra, card=dataclasses.replace(single.card, name="multi")
    )
    return single, multi


def _read_only(view: TrainView) -> TrainView:
    arrays = {}
    for field in ("image", "text", "labels"):
        array = getattr(view, field)
        if array is not None:
            array = array.copy()
            array.flags.writeable = False
        arrays[field] = array
    return TrainView(**arrays)


def _fit(method_class: type[HashMethod], dataset: CrossModalDataset, seed: int = 0, labels: bool | None = None):
    method = method_class()
    view = _read_only(dataset.train_view(with_labels=method_class.supervised if labels is None else labels))
    try:
        returned = method.fit(view, CHECK_BITS, seed=seed, device="cpu")
    except ValueError as error:
        if "read-only" in str(error):
            raise _Broken(
                f"fit wrote into its input arrays ({_last_line(error)})",
                "copy the training features before changing them; the harness reuses its arrays",
            ) from None
        raise
    if returned is not method:
        raise _Broken("fit did not return self", "end fit with `return self`, as scikit-learn estimators do")
    return method


def _codes(method: HashMethod, modality: str, features: np.ndarray) -> np.ndarray:
    try:
        return to_bits(method.encode(modality, features), CHECK_BITS)
    except ValueError as error:
        raise _Broken(
            f"encode({modality!r}) broke the code contract: {error}",
            f"return an (n, bits) array with only 0/1 (or -1/+1) values, bits = {CHECK_BITS} here",
        ) from None


def _rule_metadata(method_class: type[HashMethod]) -> None:
    problems = []
    if not isinstance(method_class.name, str) or not method_class.name:
        problems.append("no registry name")
    if method_class.kind not in ("shallow", "deep"):
        problems.append(f"kind {method_class.kind!r} is neither 'shallow' nor 'deep'")
    if not isinstance(method_class.supervised, bool):
        problems.append("supervised is not True or False")
    if not isinstance(method_class.reference, Reference):
        problems.append("no reference")
    if problems:
        raise _Broken(
            "; ".join(problems),
            "register with @register_method('name') and set kind, supervised and "
            "reference = Reference(authors, title, venue, year) as class attributes",
        )


def _rule_params(method_class: type[HashMethod]) -> None:
    if not dataclasses.is_dataclass(method_class.Params):
        raise _Broken("Params is not a dataclass", "declare parameters as a @dataclass(frozen=True) named Params")
    fields = dataclasses.fields(method_class.Params)
    without_default = [f.name for f in fields if f.default is dataclasses.MISSING]
    if without_default:
        raise _Broken(
            f"parameter {without_default[0]!r} has no default",
            "give every parameter the paper's default value, so the method runs with no --param",
        )
    not_plain = [f.name for f in fields if not isinstance(f.default, _PLAIN_TYPES)]
    if not_plain:
        raise _Broken(
            f"parameter {not_plain[0]!r} is not a plain value",
            "use bool, int, float, str or None, so parameters travel through --param, configs and records",
        )
    params = method_class().get_params()
    if json.loads(json.dumps(params)) != params or method_class(**params).get_params() != params:
        raise _Broken("parameters do not survive a JSON round trip", "keep parameters plain and stored unchanged")
    for name, value in params.items():
        text = "none" if value is None else str(value)
        try:
            parsed = parse_param(method_class, f"{name}={text}")
        except UsageError:
            parsed = None
        if parsed != (name, value):
            raise _Broken(
                f"--param {name}={text} does not give back {value!r}",
                "make the default's type match the values the parameter takes (e.g. 1.0, not 1, for a float)",
            )


def _rule_search_space(method_class: type[HashMethod]) -> None:
    space = method_class.search_space
    if space is None:
        return
    if not isinstance(space, SearchSpace):
        raise _Broken("search_space is not a SearchSpace", "declare search_space = SearchSpace(version, {...})")
    problems = space.problems(method_class.Params)
    if problems:
        raise _Broken(f"search space: {'; '.join(problems)}", "name Params fields, with ranges of their types")
    for extreme in space.extremes():
        try:
            method_class(**extreme)
        except UsageError as error:
            raise _Broken(
                f"the search space reaches parameters the method refuses: {error}",
                "narrow the ranges to values the method accepts",
            ) from None


def _rule_presets(method_class: type[HashMethod]) -> None:
    for name, preset in method_class.presets.items():
        try:
            method_class(**preset)
        except UsageError as error:
            raise _Broken(
                f"preset {name!r} is refused: {error}", "make every preset a valid set of parameters"
            ) from None


def _rule_codes(method_class, single, method) -> None:
    for modality in MODALITIES:
        _codes(method, modality, single.features(modality, "query"))


def _unified(method: HashMethod, image: np.ndarray, text: np.ndarray) -> np.ndarray:
    try:
        codes = to_bits(method.encode_unified(image, text), CHECK_BITS)
    except ValueError as error:
        raise _Broken(
            f"encode_unified broke the code contract: {error}",
            f"return an (n, bits) array with only 0/1 (or -1/+1) values, bits = {CHECK_BITS} here",
        ) from None
    if codes.shape[0] != image.shape[0]:
        raise _Broken("encode_unified returned the wrong number of rows", "return one code per (image, text) pair")
    return codes


def _rule_unified_codes(method_class, single, method) -> None:
    overrides = method_class.encode_unified is not HashMethod.encode_unified
    if not method_class.unified_codes:
        if overrides:
            raise _Broken(
                "encode_unified is implemented, but unified_codes is False, so the harness never calls it",
                "set unified_codes = True as a class attribute, or remove encode_unified",
            )
        return
    if not overrides:
        raise _Broken(
            "unified_codes is True, but encode_unified is not implemented",
            "implement encode_unified(image, text) -> one code per item from both modalities",
        )
    image, text = single.features("image", "database"), single.features("text", "database")
    whole = _unified(method, image, text)
    in_batches = np.vstack([_unified(method, image[i : i + 7], text[i : i + 7]) for i in range(0, len(image), 7)])
    if not (np.array_equal(whole, in_batches) and np.array_equal(whole, _unified(method, image, text))):
        raise _Broken(
            "unified codes change with the batch or between two calls",
            "encode_unified must be a pure function of each (image, text) row and the fitted state",
        )


def _rule_encode_deterministic(method_class, single, method) -> None:
    for modality in MODALITIES:
        features = single.features(modality, "query")
        if not np.array_equal(_codes(method, modality, features), _codes(method, modality, features)):
            raise _Broken(
                f"encoding the same {modality} features twice gave different codes",
                "encode must be a pure function of the features and the fitted state: no randomness at encode time",
            )


def _rule_batch_independent(method_class, single, method) -> None:
    for modality in MODALITIES:
        features = single.features(modality, "query")
        whole = _codes(method, modality, features)
        in_batches = np.vstack([_codes(method, modality, features[i : i + 7]) for i in range(0, len(features), 7)])
        reversed_order = _codes(method, modality, features[::-1])[::-1]
        if not (np.array_equal(whole, in_batches) and np.array_equal(whole, reversed_order)):
            raise _Broken(
                f"{modality} codes change with batch size or order",
                "take thresholds (means, medians) from the training set in fit, never from the batch being encoded",
            )


def _rule_seed(method_class, single, method) -> None:
    again = _fit(method_class, single, seed=0)
    for modality in MODALITIES:
        features = single.features(modality, "query")
        if not np.array_equal(_codes(method, modality, features), _codes(again, modality, features)):
            raise _Broken(
                "two fits with the same seed gave different codes",
                "draw all randomness from np.random.default_rng(seed) / torch.Generator seeded in fit",
            )


def _rule_labels(method_class, single, method) -> None:
    if method_class.supervised:
        try:
            _fit(method_class, single, labels=False)
        except UsageError:
            return
        except Exception as error:  # the point of the rule is how it fails
            raise _Broken(
                f"fit without labels failed with {_last_line(error)}",
                "read the labels as self.training_labels(train) before training: it refuses a view without labels",
            ) from None
        raise _Broken(
            "a supervised method trained without labels",
            "read the labels as self.training_labels(train) (it refuses a view without them), or declare "
            "supervised = False",
        )


def _rule_multi_label(method_class, single, method) -> None:
    _, multi = check_datasets()
    try:
        fitted = _fit(method_class, multi)
    except _Broken:
        raise
    except Exception as error:
        raise _Broken(
            f"fit failed on multi-label data: {_last_line(error)}",
            "labels are an n x classes 0/1 matrix and a row may hold several ones; do not assume one-hot rows",
        ) from None
    for modality in MODALITIES:
        _codes(fitted, modality, multi.features(modality, "query"))


_FITTED_RULES: list[tuple[str, Callable]] = [
    ("codes", _rule_codes),
    ("unified-codes", _rule_unified_codes),
    ("encode-deterministic", _rule_encode_deterministic),
    ("encode-batch-independent", _rule_batch_independent),
    ("seed-reproducible", _rule_seed),
    ("supervised-needs-labels", _rule_labels),
    ("single-and-multi-label", _rule_multi_label),
]

#: Every rule, in the order they run.
RULES = ("metadata", "params", "search-space", "presets", "fit", *(name for name, _ in _FITTED_RULES))

#: Rules that the later ones build on: when one of these breaks, the check stops there.
GATES = ("params", "fit", "codes", "encode-deterministic")


def _fit_rule(method_class: type[HashMethod]) -> HashMethod:
    single, _ = check_datasets()
    try:
        return _fit(method_class, single)
    except _Broken:
        raise
    except Exception as error:
        fix = (
            "an unsupervised method gets train.labels = None: use only train.image and train.text, "
            "or declare supervised = True"
            if not method_class.supervised and isinstance(error, TypeError | AttributeError)
            else "fit(train, bits, *, seed, device) must train on train.image / train.text (and train.labels)"
        )
        raise _Broken(f"fit failed on Wikipedia data: {_last_line(error)}", fix) from None


def check_method(method_class: type[HashMethod]) -> list[Violation]:
    """Run the rules on ``method_class`` in order; an empty list means it conforms.

    A broken gate rule (:data:`GATES`) ends the check, since the rules after it
    would only repeat its failure.
    """
    single, _ = check_datasets()
    fitted: dict[str, HashMethod] = {}
    steps: list[tuple[str, Callable[[], object]]] = [
        ("metadata", lambda: _rule_metadata(method_class)),
        ("params", lambda: _rule_params(method_class)),
        ("search-space", lambda: _rule_search_space(method_class)),
        ("presets", lambda: _rule_presets(method_class)),
        ("fit", lambda: fitted.setdefault("method", _fit_rule(method_class))),
        *[(rule, lambda f=function: f(method_class, single, fitted["method"])) for rule, function in _FITTED_RULES],
    ]
    violations = []
    for rule, step in steps:
        try:
            step()
        except _Broken as broken:
            violations.append(Violation(rule, broken.problem, broken.fix))
        except Exception as error:
            violations.append(Violation(rule, f"raised {_last_line(error)}", "see the traceback of this rule's call"))
        if violations and violations[-1].rule == rule and rule in GATES:
            break
    return violations


def check_dataset(loader: Callable[[], CrossModalDataset]) -> list[Violation]:
    """Load a dataset plug-in and check its arrays, split and card."""
    try:
        dataset = loader()
    except UsageError as error:
        return [Violation("valid-arrays", str(error), "fix the files or the loader so the dataset validates")]
    if not isinstance(dataset, CrossModalDataset):
        return [
            Violation(
                "returns-dataset",
                f"the loader returned {type(dataset).__name__}",
                "return a hashbench.CrossModalDataset",
            )
        ]
    violations = []
    card = dataset.card
    empty = [f.name for f in dataclasses.fields(card) if f.name != "reference" and not getattr(card, f.name)]
    if empty or set(card.features) != set(MODALITIES):
        violations.append(
            Violation(
                "card",
                f"card fields missing: {', '.join(empty) or 'features per modality'}",
                "fill name, source, licence, protocol, labels and features = {'image': ..., 'text': ...}",
            )
        )
    unlabelled = int((~dataset.split_labels("query").any(axis=1)).sum())
    if unlabelled:
        violations.append(
            Violation(
                "labelled-queries",
                f"{unlabelled} queries have no label, so nothing can be relevant to them",
                "drop unlabelled items before the split, as the MS-COCO protocol does",
            )
        )
    if np.intersect1d(dataset.train, dataset.query).size:
        violations.append(
            Violation(
                "train-query-disjoint",
                "training items are also queries",
                "draw the training set from the database side of the split, never from the queries",
            )
        )
    return violations


def _assert_none(violations: list[Violation], what: str) -> None:
    if violations:
        raise AssertionError(f"{what} breaks {len(violations)} rule(s):\n" + "\n".join(map(str, violations)))


def assert_method_conforms(method_class: type[HashMethod]) -> None:
    """For a plug-in's tests: fail with every violation of :func:`check_method`."""
    _assert_none(check_method(method_class), f"method {method_class.name!r}")


def assert_dataset_conforms(loader: Callable[[], CrossModalDataset]) -> None:
    """For a plug-in's tests: fail with every violation of :func:`check_dataset`."""
    _assert_none(check_dataset(loader), f"dataset loader {getattr(loader, '__name__', loader)!r}")

"""``hashbench tune``: choose a method's parameters on data carved from the training set, never the queries.

The protocol, the same for every method:

* a validation split drawn from the seed out of the **training items only**: ``val_fraction`` of them are the
  validation queries, the other training items are both what the method is fitted on and the validation
  database (as the training set is the database on Wikipedia);
* the objective of a parameter setting is the mean validation mAP of i2t and t2i, averaged over the code
  lengths asked for, with the run's database-code protocol;
* the search is Optuna's TPE sampler, seeded, over the method's declared :class:`~hashbench.space.SearchSpace`;
  its trials live in an SQLite file beside the output, so a killed tune resumes without repeating a finished
  trial. The sampler of the k-th trial is seeded from (seed, k), and TPE reads only finished trials, so a
  resumed tune draws what an uninterrupted one would.

The output is a TOML file: the chosen parameters under ``[params]`` and, under ``[tuned]``, how they were
chosen (method, dataset, code lengths, protocol, validation score, trial count, the space's version), which
``hashbench run --params FILE`` and a grid entry's ``params_from`` read back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hashbench import __version__, registry
from hashbench.data import CrossModalDataset, TrainView
from hashbench.errors import UsageError
from hashbench.files import atomic_write
from hashbench.harness.runner import check_bits, check_db_codes, database_codes, task_maps
from hashbench.method import HashMethod, parse_param

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Trials drawn at random before TPE models the finished ones (Optuna's default); not tied to the budget, so a
#: tune continued to more trials repeats the shorter tune's trials.
STARTUP_TRIALS = 10
OBJECTIVE = "mean validation mAP of i2t and t2i over the code lengths"


@dataclass(frozen=True)
class TuneConfig:
    """What a tune searches: a method, a dataset, code lengths, protocol and budget; ``fixed`` parameters are
    held at their values and taken out of the search."""

    method: str
    dataset: str = "wiki"
    bits: tuple[int, ...] = (16, 128)
    trials: int = 30
    val_fraction: float = 0.2
    seed: int = 0
    db_codes: str = "modality"
    fixed: tuple[tuple[str, Any], ...] = ()

    def identity(self, fingerprint: str, space_version: int) -> dict[str, Any]:
        """Everything a stored study must agree on to be resumed (the trial budget may grow)."""
        return {
            "method": self.method, "dataset": self.dataset, "dataset_fingerprint": fingerprint,
            "bits": list(self.bits), "val_fraction": self.val_fraction, "seed": self.seed,
            "db_codes": self.db_codes, "fixed": dict(self.fixed), "space_version": space_version,
        }  # fmt: skip


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, validation rows) of ``n`` training items: ``fraction`` of them held out, drawn from ``seed``."""
    if not 0 < fraction < 1:
        raise UsageError(f"validation fraction {fraction}: expected a number between 0 and 1")
    held_out = round(n * fraction)
    if held_out < 1 or n - held_out < 2:
        raise UsageError(f"validation fraction {fraction} of {n} training items leaves no validation or fit set")
    order = np.random.default_rng([seed, 2]).permutation(n)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def validation_map(
    method: HashMethod, labelled: TrainView, rows: tuple[np.ndarray, np.ndarray], bits: int, seed: int, db_codes: str
) -> float:
    """Fit ``method`` on the fit rows of the training items, then the mean i2t/t2i mAP of the validation rows
    as queries against the fit rows as database. ``labelled`` carries the training labels: the method sees
    them only when it is supervised; scoring always uses them."""
    fit_rows, val_rows = rows

    def take(array: np.ndarray | None, chosen: np.ndarray) -> np.ndarray | None:
        return None if array is None else np.asarray(array[chosen])

    labels = np.asarray(labelled.labels, dtype=bool)
    view = TrainView(take(labelled.image, fit_rows), take(labelled.text, fit_rows),
                     take(labels, fit_rows) if method.supervised else None)  # fmt: skip
    method.fit(view, bits, seed=seed, device="cpu")
    database = database_codes(method, view.image, view.text, db_codes)
    maps = task_maps(method, labelled.image[val_rows], labelled.text[val_rows], labels[val_rows], database,
                     labels[fit_rows], bits)  # fmt: skip
    return float(np.mean(list(maps.values())))


@dataclass
class TuneResult:
    """The outcome of a tune: the best parameters, their score, and the trials behind them."""

    params: dict[str, Any]
    value: float
    best_trial: int
    completed: int
    failed: int


def _study(config: TuneConfig, storage_path: Path, identity: dict[str, Any], resume: bool):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = "hashbench-" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    existed = storage_path.exists()
    storage = optuna.storages.RDBStorage(f"sqlite:///{storage_path}")
    studies = {summary.study_name for summary in optuna.get_all_study_summaries(storage)} if existed else set()
    if existed and not resume:
        raise UsageError(f"{storage_path}: holds an earlier tune; expected to resume it, or its removal")
    if resume and studies and name not in studies:
        raise UsageError(f"{storage_path}: holds a tune of other settings than these; expected the same settings")
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    study.set_user_attr("identity", identity)
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # killed mid-trial
    return study


def tune(
    config: TuneConfig,
    dataset: CrossModalDataset,
    storage_path: Path,
    *,
    resume: bool = False,
    progress: Callable[[int, float | None], None] = lambda done, best: None,
) -> TuneResult:
    """Search ``config.method``'s space on the training items of ``dataset``; trials are kept in the SQLite
    file ``storage_path``. ``progress(finished trials, best value so far)`` is called after each trial."""
    import optuna

    method_class = registry.methods.get(config.method)
    space = method_class.search_space
    if space is None:
        raise UsageError(f"method {config.method!r} declares no search space, so it cannot be tuned")
    check_db_codes(method_class, config.db_codes)
    bits = [check_bits(b) for b in config.bits]
    fixed = dict(config.fixed)
    searched = {name: distribution for name, distribution in space.params.items() if name not in fixed}
    if not searched:
        raise UsageError(f"every parameter in the search space of method {config.method!r} is fixed: nothing to search")
    method_class(**fixed)  # unknown or invalid fixed parameters stop the tune before any trial
    labelled = dataset.train_view(with_labels=True)
    rows = validation_split(labelled.n, config.val_fraction, config.seed)
    study = _study(config, storage_path, config.identity(dataset.fingerprint, space.version), resume)
    finished = (optuna.trial.TrialState.COMPLETE,)

    def completed() -> list:
        return study.get_trials(deepcopy=False, states=finished)

    def best_value() -> float | None:
        done = completed()
        return max(trial.value for trial in done) if done else None

    progress(len(completed()), best_value())
    while len(completed()) < config.trials:
        draw = int(np.random.SeedSequence([config.seed, len(completed())]).generate_state(1)[0])
        study.sampler = optuna.samplers.TPESampler(seed=draw, n_startup_trials=STARTUP_TRIALS)
        trial = study.ask()
        params = {**fixed, **dataclasses.replace(space, params=searched).suggest(trial)}
        try:
            method_class(**params)
        except UsageError as error:  # a combination the method refuses: a failed trial, not a failed tune
            trial.set_user_attr("error", str(error))
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        value = float(np.mean([validation_map(method_class(**params), labelled, rows, b, config.seed, config.db_codes)
                               for b in bits]))  # fmt: skip
        if math.isfinite(value):
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        progress(len(completed()), best_value())
    done = completed()
    best = max(done, key=lambda trial: (trial.value, -trial.number))
    failed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
    return TuneResult({**fixed, **best.params}, float(best.value), best.number, len(done), failed)


def write_tuning_file(path: Path, config: TuneConfig, result: TuneResult, dataset: CrossModalDataset,
                      command: str) -> None:  # fmt: skip
    """The chosen parameters and how they were chosen, as TOML, written atomically."""
    import tomli_w

    method_class = registry.methods.get(config.method)
    document = {
        "tuned": {
            "method": config.method, "dataset": config.dataset, "dataset_fingerprint": dataset.fingerprint,
            "bits": list(config.bits), "db_codes": config.db_codes, "val_fraction": config.val_fraction,
            "seed": config.seed, "objective": OBJECTIVE, "validation_map": result.value,
            "best_trial": result.best_trial, "trials": result.completed, "failed_trials": result.failed,
            "space_version": method_class.search_space.version, "space": method_class.search_space.describe(),
            "hashbench": __version__, "command": command,
        },
        "params": result.params,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda file: file.write(tomli_w.dumps(document).encode()))


@dataclass(frozen=True)
class TuningFile:
    """A tuning file read back: its parameters and where they came from (for the record)."""

    params: dict[str, Any]
    source: dict[str, Any]


def read_tuning_file(path: str | Path, method_class: type[HashMethod]) -> TuningFile:
    """The ``[params]`` of a tuning file for ``method_class``, typed as its ``Params``; a usage error naming the
    file when it cannot serve."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        document = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such tuning file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{path}: not a readable TOML tuning file ({error})") from None
    tuned, params = document.get("tuned"), document.get("params")
    if not isinstance(tuned, dict) or not isinstance(params, dict):
        raise UsageError(f"{path}: expected a [tuned] table and a [params] table, as hashbench tune writes")
    method = method_class.name
    if tuned.get("method") != method:
        raise UsageError(f"{path}: tunes method {tuned.get('method')!r}; expected a tuning file of {method!r}")
    try:
        params = dict(parse_param(method_class, f"{key}={value}") for key, value in params.items())
    except UsageError as error:
        raise UsageError(f"{path}: [params]: {error}") from None
    source = {
        "kind": "tuning file", "file": str(path), "sha256": hashlib.sha256(raw).hexdigest(),
        **{key: tuned.get(key) for key in ("dataset", "bits", "db_codes", "validation_map", "trials",
                                            "space_version")},
    }  # fmt: skip
    return TuningFile(params, source)


def resolve_params(
    method_class: type[HashMethod],
    *,
    preset: str | None = None,
    params_file: str | Path | None = None,
    given: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run's parameters and where they came from: a named preset of the method, then a tuning file, then
    parameters given one by one, each overriding the one before; the defaults fill the rest.

    The source is what the record keeps: ``{"kind": "defaults"}``, ``{"kind": "given"}``, ``{"kind": "preset",
    "name": ...}`` or the tuning file's (path, SHA-256, validation score, ...), with ``"overridden"`` listing
    the parameters given on top of a preset or file.
    """
    given = dict(given or {})
    params: dict[str, Any] = {}
    source: dict[str, Any] = {"kind": "given" if given else "defaults"}
    if preset is not None:
        if preset not in method_class.presets:
            known = ", ".join(sorted(method_class.presets)) or "(none)"
            raise UsageError(f"preset {preset!r} of method {method_class.name!r}: expected one of {known}")
        params |= method_class.presets[preset]
        source = {"kind": "preset", "name": preset}
    if params_file is not None:
        tuning = read_tuning_file(params_file, method_class)
        params |= tuning.params
        source = tuning.source if preset is None else {**tuning.source, "on_preset": preset}
    if given and source["kind"] != "given":
        source["overridden"] = sorted(given)
    params |= given
    method_class(**params)  # a preset or file that no longer fits the method stops here, before any run
    return params, source

"""One run: fit -> encode -> search -> metrics -> record, every phase timed.

The runner is the only place that sees both the method and the query and
database labels: the method gets a training view, the metrics get codes and
labels.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hashbench import __version__, registry
from hashbench.codes import pack, to_bits
from hashbench.data import CrossModalDataset, is_raw_images
from hashbench.device import resolve_device
from hashbench.errors import UsageError
from hashbench.harness import record as record_layout
from hashbench.harness.memory import peak_rss_bytes, reset_peak
from hashbench.ingest.single_file import load_feature_file, looks_like_path
from hashbench.machine import Timing, machine_before, machine_state, threads_limited, timed
from hashbench.method import HashMethod
from hashbench.scoring.metrics import CONVENTIONS, MAP_ONLY, EvalConfig, evaluate
from hashbench.scoring.search import knn, resolve_backend

MAX_BITS = 1024
TASKS = {"i2t": ("image", "text"), "t2i": ("text", "image")}  # task -> (query modality, database modality)
_WARMUP_ROWS = 16
#: The search that is timed: the nearest SEARCH_K database items of every query.
SEARCH_K = 100
#: How database items are hashed: "modality", each modality from itself (the default: the task of cross-modal
#: retrieval), or "unified", one code per item from both its modalities (for methods that have such codes).
DB_CODES = ("modality", "unified")


@dataclass(frozen=True)
class RunConfig:
    """What identifies a run: method with parameters, dataset, code length, seed, database-code protocol and
    thread count.

    ``threads`` sizes every thread pool while the run trains, encodes and scores. It identifies the run
    because sums split across threads round differently, so a method's codes can change with the thread
    count (measured: IMH, CMSSH, STMH, DCMH, SSAH and UDSPH). ``params_source`` says where the
    parameters came from (defaults, given, a preset, a tuning file); the record keeps it, but it is not part
    of the run id: the same parameters make the same codes.
    """

    method: str
    dataset: str = "wiki"
    bits: int = 32
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    db_codes: str = "modality"
    params_source: dict[str, Any] | None = None
    threads: int = 1


@dataclass
class RunResult:
    """A finished run: its record and its packed codes."""

    record: record_layout.RunRecord
    codes: dict[str, np.ndarray]


def check_bits(bits: int) -> int:
    """Code length must be a positive integer of at most :data:`MAX_BITS`."""
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 0 < bits <= MAX_BITS:
        raise UsageError(f"bits {bits!r}: expected a positive integer of at most {MAX_BITS}")
    return int(bits)


def load_dataset(name: str) -> CrossModalDataset:
    """A registered dataset by name, or a feature file when ``name`` is a path."""
    if looks_like_path(name):
        return load_feature_file(name)
    return registry.datasets.get(name)()


def check_db_codes(method_class: type[HashMethod], db_codes: str) -> str:
    """``db_codes`` if it is one of :data:`DB_CODES` that ``method_class`` can give; a usage error otherwise."""
    if db_codes not in DB_CODES:
        raise UsageError(f"database codes {db_codes!r}: expected one of {', '.join(DB_CODES)}")
    if db_codes == "unified" and not method_class.unified_codes:
        raise UsageError(
            f"method {method_class.name!r} has no unified codes (it hashes each modality on its own); "
            "expected database codes 'modality'"
        )
    return db_codes


def make_method(config: RunConfig) -> HashMethod:
    """Instantiate the configured method; unknown names and parameters, and database codes the method cannot
    give, are usage errors."""
    method_class = registry.methods.get(config.method)
    check_db_codes(method_class, config.db_codes)
    return method_class(**config.params)


def run_id(config: RunConfig, method: HashMethod, dataset: CrossModalDataset) -> str:
    """A stable id of the configuration (:func:`hashbench.harness.record.run_id`): the same run gets the same id, so it
    can be skipped on resume."""
    return record_layout.run_id(
        config.method, method.get_params(), dataset.card.name, dataset.fingerprint, config.bits, config.seed,
        config.db_codes, config.threads,
    )  # fmt: skip


def check_image_input(dataset: CrossModalDataset, method: HashMethod, name: str) -> None:
    """A usage error when the dataset's image modality (features or raw images) is not what the method takes."""
    raw = is_raw_images(dataset.image)
    if raw and not method.accepts_raw_images():
        raise UsageError(
            f"dataset {dataset.card.name!r} holds raw images, but method {name!r} with these parameters takes image "
            "features; expected a feature dataset, or a deep method with the parameter backbone=NAME"
        )
    if not raw and method.accepts_raw_images():
        raise UsageError(
            f"method {name!r} with these parameters takes raw images, but dataset {dataset.card.name!r} holds image "
            "features; expected a dataset of image paths or pixels, or backbone=none"
        )


def checkpoint_path(checkpoint_dir: Path, identity: str) -> Path:
    """Where a resumable method keeps its training checkpoint for the run ``identity``."""
    return Path(checkpoint_dir) / f"{identity}.pt"


def run_warnings(record: record_layout.RunRecord) -> list[str]:
    """Every warning of a record: the method's about its training, the machine's about its timings."""
    busy = (record.machine or {}).get("busy_warning")
    return [*record.warnings, *([busy] if busy else [])]


def _encode_timed(method: HashMethod, modality: str, features: np.ndarray, bits: int) -> tuple[np.ndarray, Timing]:
    method.encode(modality, features[:_WARMUP_ROWS])
    codes, timing = timed(method.encode, modality, features)
    return pack(to_bits(codes, bits)), timing


def database_codes(method: HashMethod, image: np.ndarray, text: np.ndarray, db_codes: str) -> dict[str, np.ndarray]:
    """The codes of database items under the protocol ``db_codes``: each modality's own, or one unified code
    (the same array for both modalities)."""
    if db_codes == "unified":
        unified = method.encode_unified(image, text)
        return {"image": unified, "text": unified}
    return {"image": method.encode("image", image), "text": method.encode("text", text)}


def _encode_database(method: HashMethod, dataset: CrossModalDataset, bits: int, db_codes: str) -> tuple[dict, Timing]:
    """Packed database codes per modality, encoded block by block so that a memory-mapped database is never
    copied whole (methods encode each item on its own: conformance rule encode-batch-independent). The time
    counts encoding only, not reading the blocks from disk."""
    encode = partial(database_codes, method, db_codes=db_codes)
    encode(*next(dataset.database_blocks(_WARMUP_ROWS)))
    blocks: dict[str, list[np.ndarray]] = {"image": [], "text": []}
    total = Timing(0.0, 0.0, 0.0)
    for image, text in dataset.database_blocks():
        codes, timing = timed(encode, image, text)
        total += timing
        for modality, packed in blocks.items():
            packed.append(pack(to_bits(codes[modality], bits)))
    return {modality: np.concatenate(packed) for modality, packed in blocks.items()}, total


#: Training-set fit is scored with at most this many training items as queries (drawn with a fixed seed).
TRAINING_FIT_QUERIES = 2000


def training_fit(
    method: HashMethod, dataset: CrossModalDataset, bits: int, db_codes: str, backend: str
) -> dict[str, float | int]:
    """mAP of i2t and t2i with training items as queries against the whole training set as database: how well
    the codes fit the data they were learned from (set beside the query scores, it shows over- or under-fitting).
    """
    image, text = dataset.features("image", "train"), dataset.features("text", "train")
    labels = dataset.split_labels("train")
    chosen = np.arange(len(labels))
    if len(chosen) > TRAINING_FIT_QUERIES:
        chosen = np.sort(np.random.default_rng(0).choice(len(chosen), TRAINING_FIT_QUERIES, replace=False))
    database = database_codes(method, image, text, db_codes)
    maps = task_maps(method, image[chosen], text[chosen], labels[chosen], database, labels, bits, backend)
    return {"queries": len(chosen), **maps}


def task_maps(
    method: HashMethod,
    query_image: np.ndarray,
    query_text: np.ndarray,
    query_labels: np.ndarray,
    database: dict[str, np.ndarray],
    database_labels: np.ndarray,
    bits: int,
    backend: str = "auto",
) -> dict[str, float]:
    """Whole-database mAP of each task (i2t, t2i): the method's codes of the query features against the database
    codes of :func:`database_codes`."""
    queries = {"image": query_image, "text": query_text}
    maps = {}
    for task, (query_modality, database_modality) in TASKS.items():
        query_codes = pack(to_bits(method.encode(query_modality, queries[query_modality]), bits))
        item_codes = pack(to_bits(database[database_modality], bits))
        result = evaluate(query_codes, item_codes, query_labels, database_labels, bits, MAP_ONLY, backend=backend)
        maps[task] = result.metrics["map"]
    return maps


@dataclass
class Scores:
    """The scores of one set of codes: per task (i2t, t2i) its metrics and curves, and the timed search."""

    metrics: dict[str, dict[str, float]]
    curves: dict[str, dict[str, Any]]
    timings: dict[str, Any]


def score_codes(
    codes: dict[str, np.ndarray],
    dataset: CrossModalDataset,
    bits: int,
    eval_config: EvalConfig | None = None,
    backend: str = "auto",
) -> Scores:
    """Search and score packed ``codes`` (``query_image``, ``query_text``, ``database_image``,
    ``database_text``) against the dataset's query and database labels, for every task of :data:`TASKS`.

    The search of the ``SEARCH_K`` nearest items is timed (wall and CPU) after a warm-up query, and so is each
    task's evaluation. Runs and external codes (:mod:`hashbench.harness.external`) are scored by this one function.
    """
    query_labels, database_labels = dataset.split_labels("query"), dataset.split_labels("database")
    n_query, n_database = len(query_labels), len(database_labels)
    metrics, curves, search_timings, metric_seconds = {}, {}, {}, {}
    for task, (query_modality, database_modality) in TASKS.items():
        query_codes, item_codes = codes[f"query_{query_modality}"], codes[f"database_{database_modality}"]
        knn(query_codes[:1], item_codes, SEARCH_K, backend=backend)  # warm-up (and numba compilation)
        _, search_timings[task] = timed(lambda q=query_codes, d=item_codes: knn(q, d, SEARCH_K, backend=backend))
        evaluation, metric_timing = timed(
            lambda q=query_codes, d=item_codes: evaluate(
                q, d, query_labels, database_labels, bits, eval_config, backend=backend
            )
        )
        metrics[task], curves[task], metric_seconds[task] = evaluation.metrics, evaluation.curves, metric_timing.wall_s
    search_seconds = {task: timing.wall_s for task, timing in search_timings.items()}
    total_search, searches = sum(search_seconds.values()), len(TASKS) * n_query
    timings = {
        "search_cpu_s_per_query": sum(timing.cpu_s for timing in search_timings.values()) / searches,
        "search_k": min(SEARCH_K, n_database),
        "search_s": search_seconds,
        "search_s_per_query": total_search / searches,
        "comparisons_per_s": searches * n_database / total_search if total_search > 0 else None,
        "metrics_s": metric_seconds,
    }
    return Scores(metrics, curves, timings)


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str | None]:
    """Versions of hashbench, Python, numpy and torch, and the git revision, for a record."""
    torch = sys.modules.get("torch")
    return {
        "hashbench": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "git": _git_revision(),
    }


def execute(
    config: RunConfig,
    dataset: CrossModalDataset,
    method: HashMethod,
    eval_config: EvalConfig | None = None,
    backend: str = "auto",
    device: str = "cpu",
    checkpoint_dir: Path | None = None,
) -> RunResult:
    """Train, encode, search and score one configuration; return its record and codes.

    ``backend`` picks the Hamming search and evaluation path (see :mod:`hashbench.scoring.search`),
    ``device`` the torch device of deep methods. A resumable method keeps its
    checkpoint in ``checkpoint_dir`` (named by the run id) while it trains;
    the caller deletes it once the record is stored. Every thread pool has ``config.threads`` threads
    for the run's duration.
    """
    bits = check_bits(config.bits)
    check_db_codes(type(method), config.db_codes)
    device = resolve_device(device)
    check_image_input(dataset, method, config.method)
    with threads_limited(config.threads):
        return _execute(config, dataset, method, bits, eval_config, backend, device, checkpoint_dir)


def _execute(config, dataset, method, bits, eval_config, backend, device, checkpoint_dir) -> RunResult:
    started = datetime.now(timezone.utc)
    memory_scope = reset_peak()
    train = dataset.train_view(with_labels=method.supervised)
    identity = run_id(config, method, dataset)
    if checkpoint_dir is not None and method.resumable:
        method.checkpoint_path = checkpoint_path(checkpoint_dir, identity)
    before = machine_before()
    _, fit_timing = timed(lambda: method.fit(train, bits, seed=config.seed, device=device))

    codes, encode_timings = {}, {}
    for modality in ("image", "text"):
        codes[f"query_{modality}"], encode_timings[f"query_{modality}"] = _encode_timed(
            method, modality, dataset.features(modality, "query"), bits
        )
    database, encode_timings["database"] = _encode_database(method, dataset, bits, config.db_codes)
    encode_seconds = {part: timing.wall_s for part, timing in encode_timings.items()}
    for modality in ("image", "text"):
        codes[f"database_{modality}"] = database[modality]

    backend = resolve_backend(backend)
    scores = score_codes(codes, dataset, bits, eval_config, backend)
    fit_on_training = training_fit(method, dataset, bits, config.db_codes, backend)
    n_query, n_database = dataset.query.size, dataset.database.size
    record = record_layout.RunRecord(
        run_id=identity,
        method=config.method,
        params=method.get_params(),
        params_source=config.params_source or {"kind": "given" if config.params else "defaults"},
        variant=method.variant(),
        method_kind=method.kind,
        supervised=method.supervised,
        reference=method.reference.short() if method.reference else None,
        dataset=dataset.card.name,
        dataset_fingerprint=dataset.fingerprint,
        dataset_summary=dataset.summary(),
        dataset_card=asdict(dataset.card),
        bits=bits,
        seed=config.seed,
        db_codes=config.db_codes,
        threads=config.threads,
        device=device,
        search_backend=backend,
        schema_version=record_layout.SCHEMA_VERSION,
        evaluation_version=record_layout.EVALUATION_VERSION,
        conventions=CONVENTIONS,
        metrics=scores.metrics,
        curves=scores.curves,
        fit_info=method.fit_info(),
        training_fit=fit_on_training,
        warnings=method.fit_warnings(),
        timings={
            "fit_s": fit_timing.wall_s,
            "fit_cpu_s": fit_timing.cpu_s,
            "encode_database_cpu_s_per_item": encode_timings["database"].cpu_s / n_database,
            "encode_query_image_s_per_item": encode_seconds["query_image"] / n_query,
            "encode_query_text_s_per_item": encode_seconds["query_text"] / n_query,
            "encode_database_s_per_item": encode_seconds["database"] / n_database,
            **scores.timings,
        },
        machine=machine_state(before, fit_timing, "fit"),
        code_bytes={"query": codes["query_image"].nbytes, "database": codes["database_text"].nbytes},
        peak_rss_bytes=peak_rss_bytes(),
        peak_rss_scope=memory_scope,
        versions=versions(),
        started_at=started.isoformat(),
        finished_at=datetime.now(timezone.utc).isoformat(),
    )
    return RunResult(record, codes)

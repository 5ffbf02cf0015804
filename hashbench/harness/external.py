"""Codes made elsewhere, scored as a hashbench run is: ``hashbench evaluate --codes FILE``.

A code file (``.npz``, ``.mat`` v5 or v7.3, ``.h5``/``.hdf5``) holds four
arrays, the query and database codes of each modality, one row per item of
the dataset's query and database splits, in the split's order. Three layouts
are read, by their array names (:data:`LAYOUTS`): hashbench's own store
(``query_image`` ...), the DCMH/SSAH releases (``qBX``, ``qBY``, ``rBX``,
``rBY``: X the images, Y the texts, q the queries, r the retrieval set) and
the DJSRH family (``qu_BI``, ``qu_BT``, ``re_BI``, ``re_BT``).

Codes may be ±1, 0/1 (any numeric or boolean type) or packed bytes (uint8 as
``np.packbits`` along each row, the first bit the most significant). A uint8
array whose values are all 0 and 1 is read as 0/1 codes, any other uint8
array as packed bytes; packed codes are ``8 x width`` bits long unless
``bits`` says otherwise.

The record has the run's layout (metrics, curves, search timings) with
``external`` (file, its SHA-256, layout) and no fit or encode time.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hashbench.codes import pack, to_bits, unpack
from hashbench.data import CrossModalDataset
from hashbench.errors import UsageError
from hashbench.harness.record import EVALUATION_VERSION, SCHEMA_VERSION, RunRecord, external_run_id
from hashbench.harness.runner import check_bits, score_codes, versions
from hashbench.harness.store import CODE_ARRAYS
from hashbench.ingest.matrixfile import open_arrays
from hashbench.scoring.metrics import CONVENTIONS, EvalConfig
from hashbench.scoring.search import resolve_backend

#: Array names of each layout, in the order of :data:`hashbench.harness.store.CODE_ARRAYS`
#: (query image, query text, database image, database text).
LAYOUTS = {
    "hashbench": CODE_ARRAYS,
    "dcmh": ("qBX", "qBY", "rBX", "rBY"),
    "djsrh": ("qu_BI", "qu_BT", "re_BI", "re_BT"),
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def detect_layout(names: set[str], path: Path) -> str:
    """The layout whose four array names ``names`` holds; a usage error naming what is missing otherwise."""
    for layout, arrays in LAYOUTS.items():
        if names.issuperset(arrays):
            return layout
    partial = [(layout, [a for a in arrays if a not in names]) for layout, arrays in LAYOUTS.items()]
    layout, missing = min(partial, key=lambda item: len(item[1]))
    if len(missing) < 4:
        raise UsageError(f"{path}: the {layout} layout lacks {', '.join(missing)}; expected all of "
                         f"{', '.join(LAYOUTS[layout])}")  # fmt: skip
    expected = "; ".join(f"{layout}: {', '.join(arrays)}" for layout, arrays in LAYOUTS.items())
    raise UsageError(f"{path}: no code arrays found (it holds {', '.join(sorted(names)) or 'no arrays'}); "
                     f"expected the four arrays of one layout ({expected})")  # fmt: skip


def _as_bits(array: Any, where: str, bits: int | None) -> np.ndarray:
    """One array of codes as a 0/1 uint8 matrix; a usage error naming ``where`` when it is not codes."""
    array = np.asarray(array)
    if array.ndim != 2 or 0 in array.shape:
        raise UsageError(f"{where}: shape {array.shape}; expected a non-empty matrix, one row of codes per item")
    if array.dtype == np.uint8 and not np.isin(np.unique(array), (0, 1)).all():
        width = array.shape[1]
        length = 8 * width if bits is None else bits
        if -(-length // 8) != width:
            raise UsageError(f"{where}: {width} bytes of packed codes per row; expected {-(-length // 8)} for "
                             f"{length}-bit codes")  # fmt: skip
        return unpack(array, length)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise UsageError(f"{where}: values of type {array.dtype}; expected numeric codes (±1, 0/1 or packed uint8)")
    try:
        return to_bits(array, array.shape[1])
    except ValueError:
        values = np.unique(array)[:5].tolist()
        raise UsageError(f"{where}: values {values}...; expected binary codes: ±1, 0/1 or packed uint8") from None


def read_codes(path: str | Path, dataset: CrossModalDataset, bits: int | None = None) -> tuple[dict, str, int]:
    """The packed codes of ``path`` (keys of :data:`hashbench.harness.store.CODE_ARRAYS`), its layout and code length,
    checked against the dataset's query and database splits."""
    path = Path(path)
    if bits is not None:
        bits = check_bits(bits)
    with open_arrays(path, expected="a code file (.npz, .mat or .h5)") as arrays:
        layout = detect_layout(set(arrays), path)
        decoded = {
            part: _as_bits(arrays[name], f"{path}: array {name!r}", bits)
            for part, name in zip(CODE_ARRAYS, LAYOUTS[layout], strict=True)
        }
    for part, name in zip(CODE_ARRAYS, LAYOUTS[layout], strict=True):
        split = part.split("_")[0]
        wanted, rows = getattr(dataset, split).size, decoded[part].shape[0]
        if rows != wanted:
            hint = " (one column per item: is it transposed?)" if decoded[part].shape[1] == wanted else ""
            raise UsageError(f"{path}: array {name!r} has {rows} rows{hint}; expected {wanted}, one per item of "
                             f"the {split} split of dataset {dataset.card.name!r}")  # fmt: skip
    lengths = {decoded[part].shape[1] for part in CODE_ARRAYS}
    if len(lengths) > 1:
        shown = ", ".join(f"{n} {decoded[p].shape[1]}" for p, n in zip(CODE_ARRAYS, LAYOUTS[layout], strict=True))
        raise UsageError(f"{path}: code lengths differ ({shown}); expected one length for all four arrays")
    try:
        length = check_bits(lengths.pop())
    except UsageError as error:
        raise UsageError(f"{path}: {error}") from None
    if bits is not None and length != bits:
        raise UsageError(f"{path}: {length}-bit codes; expected {bits}-bit codes, the length asked for")
    return {part: pack(decoded[part]) for part in CODE_ARRAYS}, layout, length


def check_name(name: str) -> str:
    """A label for tables and file names: letters, digits and ``_ . + -``."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"name {name!r}: expected letters, digits and _ . + - (it names the record's file)")
    return name


def evaluate_codes(
    path: str | Path,
    dataset: CrossModalDataset,
    name: str | None = None,
    *,
    bits: int | None = None,
    seed: int = 0,
    eval_config: EvalConfig | None = None,
    backend: str = "auto",
) -> tuple[RunRecord, dict[str, np.ndarray]]:
    """Score the codes of ``path`` on ``dataset``: a record (the run's layout, marked ``external``) and the packed
    codes, ready for :meth:`hashbench.harness.store.ResultsStore.write`. ``name`` (default the file's stem) labels the
    method in tables; ``seed`` is a label too, for codes of several seeds."""
    path = Path(path)
    name = check_name(name if name is not None else path.stem)
    started = datetime.now(timezone.utc)
    codes, layout, bits = read_codes(path, dataset, bits)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    backend = resolve_backend(backend)
    scores = score_codes(codes, dataset, bits, eval_config, backend)
    record = RunRecord(
        run_id=external_run_id(name, digest, dataset.fingerprint, seed),
        method=name,
        external={"file": str(path), "sha256": digest, "layout": layout},
        params={},
        params_source={"kind": "external codes", "file": str(path)},
        variant="",
        method_kind="external",
        reference=None,
        dataset=dataset.card.name,
        dataset_fingerprint=dataset.fingerprint,
        dataset_summary=dataset.summary(),
        bits=bits,
        seed=seed,
        db_codes="modality",
        search_backend=backend,
        schema_version=SCHEMA_VERSION,
        evaluation_version=EVALUATION_VERSION,
        conventions=CONVENTIONS,
        metrics=scores.metrics,
        curves=scores.curves,
        warnings=[],
        timings={"fit_s": None, **scores.timings},
        code_bytes={"query": codes["query_image"].nbytes, "database": codes["database_text"].nbytes},
        versions=versions(),
        started_at=started.isoformat(),
        finished_at=datetime.now(timezone.utc).isoformat(),
    )
    return record, codes

"""``hashbench datasets list | info NAME | prepare NAME --from DIR | extract NAME --images PATH``."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tabulate import tabulate

from hashbench import registry
from hashbench.cli.options import POSITIVE, SEED, Subcommands, flag
from hashbench.device import DEVICES
from hashbench.errors import UsageError
from hashbench.ingest.extract import EXTRACT_BACKBONES, extract
from hashbench.ingest.layouts import StandardDataset, info, prepare
from hashbench.ingest.prepared import dataset_folder, prepared_folder, read_card

COUNTS = ("items", "query", "database", "train")


def add_commands(commands: Subcommands) -> None:
    """The ``datasets`` sub-command and its actions, each with the options every command takes."""
    common = commands.common
    datasets = commands.add_parser("datasets", command, help="dataset files: list, info, prepare, extract")
    actions = datasets.add_subparsers(dest="action", required=True, parser_class=type(datasets))
    actions.add_parser("list", parents=[common], help="every dataset, with its state under the data root")
    about = actions.add_parser("info", parents=[common], help="counts, dims, label frequencies, where files go")
    about.add_argument("name")
    about.add_argument("--format", choices=("text", "json"), default="text")
    prepare_ = actions.add_parser("prepare", parents=[common], help="read, validate and cache a dataset's files")
    prepare_.add_argument("name")
    prepare_.add_argument("--from", dest="source", metavar="DIR", help="folder of the files (default: its data folder)")
    prepare_.add_argument("--split-seed", type=SEED, help="seed of the protocol's split (default: the protocol's, 0)")
    extract_ = actions.add_parser("extract", parents=[common], help="image features from pixels with a CNN")
    extract_.add_argument("name")
    extract_.add_argument("--images", required=True, metavar="PATH", help="folder of image files, or a .mat with IAll")
    extract_.add_argument("--backbone", choices=sorted(EXTRACT_BACKBONES), default="vgg16")
    extract_.add_argument("--batch-size", type=POSITIVE, default=64)
    extract_.add_argument("--device", choices=DEVICES, default="cpu")
    extract_.add_argument("--no-pretrained", action="store_true", help="random weights (for tests only)")


def _standard(name: str) -> StandardDataset:
    loader = registry.datasets.get(name)
    if not isinstance(loader, StandardDataset):
        raise UsageError(f"dataset {name!r} is bundled or defined in code; expected one whose files users bring")
    return loader


def _state(loader: Any) -> str:
    if not isinstance(loader, StandardDataset):
        return "loaded by its plug-in"  # its description says where the data come from (wiki: bundled)
    if read_card(prepared_folder(loader.name)) is not None:
        return "prepared"
    return "files in folder, not prepared" if dataset_folder(loader.name).is_dir() else "no files yet"


def _list() -> None:
    rows = [[entry.name, _state(entry.obj), describe(entry.obj)] for entry in registry.datasets.entries()]
    print(tabulate(rows, headers=["dataset", "state", "description"], tablefmt="github"))


def describe(loader: Any) -> str:
    """One line on a dataset plug-in: a standard dataset's title, else its loader's docstring's first line."""
    if isinstance(loader, StandardDataset):
        return loader.title
    return (loader.__doc__ or "").strip().splitlines()[0] if loader.__doc__ else ""


def _info(name: str) -> dict[str, Any]:
    loader = registry.datasets.get(name)
    if isinstance(loader, StandardDataset):
        return info(loader)
    dataset = loader()
    summary = dataset.summary()
    names = [f"class {j + 1}" for j in range(dataset.n_classes)]
    return {
        "state": _state(loader),
        "card": asdict(dataset.card),
        "counts": {key: summary[key] for key in COUNTS},
        "image_dim": summary["image_dim"],
        "text_dim": summary["text_dim"],
        "classes": dataset.n_classes,
        "label_frequencies": dict(zip(names, dataset.labels.sum(axis=0).tolist(), strict=True)),
    }


def _print_info(name: str, about: dict[str, Any]) -> None:
    card = about.get("card", {})
    summary = about.get("summary", {})
    counts = about.get("counts") or summary
    lines = [
        ("dataset", name),
        ("state", about["state"]),
        ("folder", about.get("folder", "")),
        ("layout", about.get("layout", "")),
        ("protocol", card.get("protocol") or about.get("protocol", "")),
        ("counts", _counts_line(counts)),
        ("image", (card.get("features") or {}).get("image") or _dim(about.get("image_dim", summary.get("image_dim")))),
        ("text", (card.get("features") or {}).get("text") or _dim(about.get("text_dim", summary.get("text_dim")))),
        ("fingerprint", about.get("fingerprint", "")),
        ("expected files", about.get("expected_files", "")),
    ]
    for key, value in lines:
        if value:
            print(f"{key + ':':<16}{value}")
    frequencies = about.get("label_frequencies")
    if frequencies:
        items = counts["items"]
        rows = [[label, count, f"{count / items:.1%}"] for label, count in frequencies.items()]
        print(tabulate(rows, headers=["label", "items", "share"], tablefmt="github"))


def _counts_line(counts: dict[str, int]) -> str:
    """``items 20,015 · query 2,000 · database 18,015 · train 10,000``, of the counts present."""
    return " · ".join(f"{key} {counts[key]:,}" for key in COUNTS if key in counts)


def _dim(width: int | None) -> str:
    return f"{width}-d" if width else ""


def command(args: argparse.Namespace) -> None:
    """Run one ``datasets`` action."""
    if args.action == "list":
        _list()
    elif args.action == "info":
        about = _info(args.name)
        if args.format == "json":
            print(json.dumps(about, indent=1))
        else:
            _print_info(args.name, about)
    elif args.action == "prepare":
        spec = _standard(args.name)
        folder = Path(args.source) if args.source else dataset_folder(spec.name)
        about = prepare(spec, folder, split_seed=args.split_seed)
        counts = _counts_line(about["summary"])
        print(f"prepared {spec.name} in {prepared_folder(spec.name)}: {counts}; fingerprint {about['fingerprint']}")
    else:
        spec = _standard(args.name)
        with flag("images", "--images"), flag("backbone", "--backbone"), flag("device", "--device"):
            path = extract(spec, Path(args.images), args.backbone, batch_size=args.batch_size, device=args.device,
                           pretrained=not args.no_pretrained)  # fmt: skip
        print(f"wrote {path}")

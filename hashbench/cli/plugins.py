"""``hashbench list | check | check-dataset | new``: the registered plug-ins, their conformance, new skeletons."""

from __future__ import annotations

import argparse
import fnmatch
from pathlib import Path

from tabulate import tabulate

from hashbench import registry
from hashbench.cli.datasets import describe
from hashbench.cli.options import Subcommands, flag
from hashbench.devkit.conformance import RULES, check_dataset, check_method
from hashbench.devkit.scaffold import scaffold
from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.ingest.single_file import looks_like_path

LIST_HEADERS = ["kind", "name", "type", "labels", "database codes", "tunable", "presets", "reference / description",
                "origin"]  # fmt: skip


def add_commands(commands: Subcommands) -> None:
    """The sub-commands of this module."""
    listing = commands.add_parser("list", _command_list, help="registered methods and datasets, with their origin")
    listing.add_argument("patterns", nargs="*", metavar="PATTERN", help="only names matching these, e.g. 'seph-*'")
    check = commands.add_parser("check", _command_check, help="conformance check of a method plug-in")
    check.add_argument("method")
    check_data = commands.add_parser(
        "check-dataset", _command_check_dataset, help="conformance check of a dataset plug-in"
    )
    check_data.add_argument("dataset")
    new = commands.add_parser("new", _command_new, help="write the skeleton of a new plug-in and its test")
    new.add_argument("kind", choices=("method", "dataset"))
    new.add_argument("name", help="registry name: lower-case letters, digits and '-'")
    new.add_argument("--package", metavar="DIR", help="write a stand-alone package with an entry point into DIR")


def _listed(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _command_list(args: argparse.Namespace) -> None:
    rows = [
        [
            "method",
            entry.name,
            entry.obj.kind,
            "supervised" if entry.obj.supervised else "unsupervised",
            "modality, unified" if entry.obj.unified_codes else "modality",
            "yes" if entry.obj.search_space is not None else "",
            ", ".join(sorted(entry.obj.presets)),
            entry.obj.reference.short() if entry.obj.reference else "",
            entry.origin,
        ]
        for entry in registry.methods.entries()
        if _listed(entry.name, args.patterns)
    ]
    rows += [
        ["dataset", entry.name, "", "", "", "", "", describe(entry.obj), entry.origin]
        for entry in registry.datasets.entries()
        if _listed(entry.name, args.patterns)
    ]
    if not rows:
        names = ", ".join([*registry.methods.names(), *registry.datasets.names()])
        raise UsageError(f"list {' '.join(args.patterns)}: no method or dataset name matches; the names: {names}")
    print(tabulate(rows, headers=LIST_HEADERS, tablefmt="github"))


def _report(what: str, violations: list) -> int:
    for violation in violations:
        print(f"FAIL {violation}")
    verdict = "conforms" if not violations else f"breaks {len(violations)} rule(s)"
    print(f"{what} {verdict}")
    return 1 if violations else 0


def _command_check(args: argparse.Namespace) -> int:
    method_class = registry.methods.get(args.method)
    violations = check_method(method_class)
    for rule in RULES:
        if rule not in {v.rule for v in violations}:
            print(f"ok   [{rule}]")
    return _report(f"method {args.method!r}", violations)


def _command_check_dataset(args: argparse.Namespace) -> int:
    loader = (
        (lambda: load_dataset(args.dataset)) if looks_like_path(args.dataset) else registry.datasets.get(args.dataset)
    )
    return _report(f"dataset {args.dataset!r}", check_dataset(loader))


def _command_new(args: argparse.Namespace) -> None:
    package = Path(args.package) if args.package else None
    with flag("package folder", "--package"):
        written = scaffold(args.kind, args.name, package=package)
    for path in written:
        print(f"wrote {path}")

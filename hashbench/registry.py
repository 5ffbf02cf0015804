"""Method and dataset registries: a decorator for built-ins, entry points for other packages.

Built-in plug-ins live in the ``hashbench.methods`` and ``hashbench.datasets``
packages (the ``methods/`` and ``datasets/`` folders of the repository) and
register themselves with :func:`register_method` / :func:`register_dataset`.
Another package adds its own through the entry-point groups
``hashbench.methods`` and ``hashbench.datasets``, each entry pointing at a
``HashMethod`` subclass or a dataset loader.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from hashbench.errors import UsageError, expected_one_of

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered plug-in and where it came from."""

    name: str
    obj: T
    origin: str  # "built-in" or "entry point <module:attr> (<distribution>)"


class Registry(Generic[T]):
    """Name -> plug-in, filled lazily from a built-in package and an entry-point group."""

    def __init__(self, kind: str, builtin_package: str, group: str) -> None:
        self.kind = kind
        self._builtin_package = builtin_package
        self._group = group
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False

    def register(self, name: str, obj: T, origin: str = "built-in") -> T:
        """Add ``obj`` under ``name``; a second plug-in of the same name is an error."""
        existing = self._entries.get(name)
        if existing is not None and existing.obj is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice: {existing.origin} and {origin}")
        self._entries[name] = Entry(name, obj, origin)
        return obj

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@register_method("cmfh")``-style decorator."""
        return lambda obj: self.register(name, obj)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self._builtin_package)
        for module in pkgutil.iter_modules(package.__path__, prefix=f"{self._builtin_package}."):
            if not module.name.rpartition(".")[2].startswith("_"):
                importlib.import_module(module.name)
        for point in entry_points(group=self._group):
            dist = getattr(point.dist, "name", "unknown distribution")
            self.register(point.name, point.load(), origin=f"entry point {point.value} ({dist})")

    def get(self, name: str) -> T:
        """The plug-in called ``name``; a :class:`UsageError` listing the known names otherwise."""
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        """The registry entry called ``name``, with its origin."""
        self._load()
        if name not in self._entries:
            raise UsageError(f"unknown {self.kind} {name!r}; {expected_one_of(name, self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """All entries, sorted by name."""
        return [self._entries[name] for name in self.names()]


methods: Registry[Any] = Registry("method", "hashbench.methods", "hashbench.methods")
datasets: Registry[Any] = Registry("dataset", "hashbench.datasets", "hashbench.datasets")


def register_method(name: str) -> Callable[[T], T]:
    """Register a ``HashMethod`` subclass under ``name`` (sets its ``name`` attribute)."""

    def decorate(cls: T) -> T:
        cls.name = name  # type: ignore[attr-defined]
        return methods.register(name, cls)

    return decorate


def register_dataset(name: str) -> Callable[[T], T]:
    """Register a dataset loader (a callable returning a ``CrossModalDataset``) under ``name``."""
    return datasets.decorator(name)

"""Search spaces: the parameters a method lets ``hashbench tune`` search, declared next to its ``Params``.

A method sets ``search_space = SearchSpace(version=1, params={"lr": FloatRange(1e-5, 1e-2, log=True), ...})``.
Each entry names a field of ``Params`` and the values it may take; ``version`` is bumped whenever the space
changes, so a tuning file says which space it came from. :meth:`SearchSpace.problems` is what
``hashbench check`` verifies. This module only describes spaces; :mod:`hashbench.harness.tuning` searches them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Protocol


class Trial(Protocol):
    """The part of an Optuna trial a space uses to draw values."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class FloatRange:
    """A float in [low, high], on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    def suggest(self, trial: Trial, name: str) -> float:
        """A value drawn through ``trial``."""
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def problem(self) -> str | None:
        """What is wrong with the distribution itself, or None."""
        finite = math.isfinite(self.low) and math.isfinite(self.high)
        if not finite or not self.low < self.high or (self.log and self.low <= 0):
            return f"FloatRange({self.low}, {self.high}, log={self.log}) is empty or not finite"
        return None


@dataclass(frozen=True)
class IntRange:
    """An integer in [low, high] in steps of ``step``, on a log scale when ``log``."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def suggest(self, trial: Trial, name: str) -> int:
        """A value drawn through ``trial``."""
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def problem(self) -> str | None:
        """What is wrong with the distribution itself, or None."""
        if not self.low < self.high or self.step < 1 or (self.log and (self.low < 1 or self.step != 1)):
            return f"IntRange({self.low}, {self.high}, log={self.log}, step={self.step}) is empty or invalid"
        return None


@dataclass(frozen=True)
class Choice:
    """One of a few plain values."""

    values: tuple[Any, ...]

    def suggest(self, trial: Trial, name: str) -> Any:
        """A value drawn through ``trial``."""
        return trial.suggest_categorical(name, list(self.values))

    def problem(self) -> str | None:
        """What is wrong with the distribution itself, or None."""
        if len(self.values) < 2 or not all(isinstance(v, bool | int | float | str) for v in self.values):
            return f"Choice{self.values!r} needs two or more plain values"
        return None


Distribution = FloatRange | IntRange | Choice


@dataclass(frozen=True)
class SearchSpace:
    """The tunable parameters of a method: parameter name -> its distribution, and the space's version."""

    version: int
    params: dict[str, Distribution] = field(default_factory=dict)

    def suggest(self, trial: Trial) -> dict[str, Any]:
        """One value per parameter, drawn through ``trial``."""
        return {name: distribution.suggest(trial, name) for name, distribution in self.params.items()}

    def describe(self) -> dict[str, str]:
        """Each parameter's distribution as text (for tuning files and ``hashbench list``)."""
        return {name: repr(distribution) for name, distribution in self.params.items()}

    def extremes(self) -> list[dict[str, Any]]:
        """The lowest and the highest value of every parameter at once (conformance builds Params of each)."""

        def ends(distribution: Distribution) -> tuple[Any, Any]:
            if isinstance(distribution, Choice):
                return distribution.values[0], distribution.values[-1]
            return distribution.low, distribution.high

        return [{name: ends(d)[side] for name, d in self.params.items()} for side in (0, 1)]

    def problems(self, params_class: type) -> list[str]:
        """What is wrong with this space for a method whose parameters are ``params_class`` (empty: nothing)."""
        if type(self.version) is not int or self.version < 1:
            return [f"version {self.version!r}: expected a positive integer"]
        if not self.params:
            return ["the space has no parameter"]
        fields = {f.name: f for f in dataclasses.fields(params_class)}
        found = []
        for name, distribution in self.params.items():
            if name not in fields:
                found.append(f"{name!r} is not a parameter")
                continue
            problem = distribution.problem()
            if problem:
                found.append(f"{name}: {problem}")
                continue
            default = fields[name].default
            kind = {FloatRange: float, IntRange: int}.get(type(distribution))
            if kind is not None and type(default) is not kind:
                found.append(f"{name}: a {type(distribution).__name__} for a parameter whose default is {default!r}")
            elif isinstance(distribution, Choice) and not all(type(v) is type(default) for v in distribution.values):
                found.append(f"{name}: choices of another type than the default {default!r}")
        return found

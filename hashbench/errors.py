"""The one exception type for mistakes a user can fix.

The command line turns a :class:`UsageError` into a single line on stderr and
exit status 2. Anything else is a bug and is left to raise with its traceback.

Below the command line an error names the thing in words ("results folder", "parameter"), never a flag: the
same function serves a flag, a grid file and a Python caller. The command line, which knows which flag gave
the value, puts the flag in the thing's place (:meth:`UsageError.naming`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsageError(ValueError):
    """Bad input from the user: an unknown name, a bad value, a missing or corrupt file.

    ``UsageError(problem, thing="device", value="cuda")`` reads ``"device cuda: <problem>"``; a plain
    ``UsageError(message)`` reads as given.
    """

    def __init__(self, problem: str, *, thing: str | None = None, value: object = None) -> None:
        self.problem, self.thing, self.value = problem, thing, value
        head = " ".join(str(part) for part in (thing, value) if part is not None)
        super().__init__(f"{head}: {problem}" if head else problem)

    def naming(self, flag: str) -> UsageError:
        """The same error with ``flag`` (e.g. ``--results``) in the place of the thing it names."""
        return UsageError(self.problem, thing=flag, value=self.value)


def expected_one_of(given: str, known: Iterable[str]) -> str:
    """``"expected one of: a, b, c"`` for an unknown name, led by ``"did you mean 'x'?"`` when some known names
    are close to ``given`` (difflib)."""
    known = sorted(known)
    close = difflib.get_close_matches(given, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(name) for name in close)}? " if close else ""
    return f"{hint}expected one of: {', '.join(known) or '(none)'}"

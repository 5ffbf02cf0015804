"""The one exception type for mistakes a user can fix.

The command line turns a :class:`UsageError` into a single line on stderr and
exit status 2. Anything else is a bug and is left to raise with its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsageError(ValueError):
    """Bad input from the user: an unknown name, a bad value, a missing or corrupt file."""


def expected_one_of(given: str, known: Iterable[str]) -> str:
    """``"expected one of: a, b, c"`` for an unknown name, led by ``"did you mean 'x'?"`` when some known names
    are close to ``given`` (difflib)."""
    known = sorted(known)
    close = difflib.get_close_matches(given, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(name) for name in close)}? " if close else ""
    return f"{hint}expected one of: {', '.join(known) or '(none)'}"

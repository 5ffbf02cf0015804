"""Files written whole or not at all: a temporary file renamed into place, with the permissions of a plain open.

Below the results store and every other writer (the store, checkpoints, plots, the site, tuning files,
extracted features), so that none of them needs another's module to write safely.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file, then rename it into place.

    The file gets the permissions a plain ``open`` would give (mkstemp's are owner-only), so a shared results
    folder stays readable.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    current = os.umask(0)
    os.umask(current)
    return current

"""argparse types that answer a bad value with one line saying what was expected."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def integer_type(minimum: int, maximum: int | None, expected: str) -> Callable[[str], int]:
    """An argparse type: an integer in [minimum, maximum], else one line saying what was ``expected``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
        return value

    return parse


POSITIVE = integer_type(1, None, "a positive integer")
SEED = integer_type(0, None, "a non-negative integer")

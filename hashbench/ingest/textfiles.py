"""The text files of the community releases, and bags of words built from them.

Every reader takes UTF-8 (with or without a byte-order mark) and any line
ending (LF, CRLF), one line per item. A bag of words is a sparse 0/1 matrix:
a word counts once per item however often it occurs, as in the DCMH-era text
features.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse

from hashbench.errors import UsageError

_WORD = re.compile(r"[a-z]+")


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, line endings removed; empty lines kept (they are items too)."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        line = _line_of(Path(path).read_bytes(), error.start)
        raise UsageError(f"{path}: line {line}: not UTF-8; expected a UTF-8 text file") from None
    return text.splitlines()


def _line_of(data: bytes, offset: int) -> int:
    """The 1-based line number of byte ``offset`` in ``data``."""
    return data.count(b"\n", 0, offset) + 1


def read_name_lists(path: Path) -> list[list[str]]:
    """One list of names per line: ``a,b,c`` (tags, or label names); an empty line is an empty list."""
    return [[name.strip() for name in line.split(",") if name.strip()] for line in read_lines(path)]


def read_label_names(path: Path, class_names: Sequence[str]) -> np.ndarray:
    """An items x classes 0/1 matrix from one line of comma-separated class names per item (empty: no label)."""
    column = {name: j for j, name in enumerate(class_names)}
    lists = read_name_lists(path)
    labels = np.zeros((len(lists), len(class_names)), dtype=bool)
    for row, names in enumerate(lists):
        unknown = next((name for name in names if name not in column), None)
        if unknown is not None:
            raise UsageError(f"{path}: line {row + 1}: unknown class {unknown!r}; expected one of {len(column)} names")
        labels[row, [column[name] for name in names]] = True
    return labels


def read_vocabulary(path: Path) -> list[str]:
    """One word per line, in column order; blank lines skipped, a repeated word is an error."""
    words = [line.strip() for line in read_lines(path) if line.strip()]
    seen: set[str] = set()
    for number, word in enumerate(words, start=1):
        if word in seen:
            raise UsageError(f"{path}: word {word!r} appears twice (entry {number}); expected each word once")
        seen.add(word)
    return words


def read_binary_rows(path: Path, columns: int | None = None) -> np.ndarray:
    """A matrix of 0/1 values, one row per line, separated by spaces or tabs (or not at all), as booleans."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror})") from None
    return parse_binary_rows(data, columns, str(path))


def parse_binary_rows(data: bytes, columns: int | None, where: str) -> np.ndarray:
    """:func:`read_binary_rows` of bytes already read; ``where`` names them in errors.

    Parsed as bytes, so the 270 million values of NUS-WIDE's tag matrix take seconds, not minutes.
    """
    lines = [line.translate(None, b" \t") for line in data.splitlines()]
    width = columns if columns is not None else len(lines[0]) if lines else 0
    lengths = np.fromiter((len(line) for line in lines), dtype=np.int64, count=len(lines))
    digits = b"".join(lines)
    if (lengths != width).any() or digits.translate(None, b"01"):
        bad = next(n for n, line in enumerate(lines, start=1) if len(line) != width or line.translate(None, b"01"))
        raise UsageError(f"{where}: line {bad}: expected {width} values of 0 or 1 separated by spaces")
    return (np.frombuffer(digits, dtype=np.uint8) == ord("1")).reshape(len(lines), width)


def caption_words(caption: str) -> list[str]:
    """The words of a sentence: lower-cased runs of letters a-z."""
    return _WORD.findall(caption.lower())


def most_frequent(documents: Iterable[Sequence[str]], top: int) -> list[str]:
    """The ``top`` words found in the most items (ties: alphabetical), most frequent first."""
    counts = Counter(word for document in documents for word in set(document))
    return sorted(counts, key=lambda word: (-counts[word], word))[:top]


def bag_of_words(documents: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> scipy.sparse.csr_matrix:
    """An items x vocabulary sparse 0/1 float32 matrix; words outside the vocabulary are left out."""
    column = {word: j for j, word in enumerate(vocabulary)}
    indptr, indices = [0], []
    for document in documents:
        indices.extend(sorted({column[word] for word in document if word in column}))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(len(documents), len(vocabulary)))

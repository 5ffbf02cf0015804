"""Binary codes: normalising what methods return, packing bits, Hamming distance by popcount.

Codes travel through hashbench as packed bytes (``np.packbits`` along each row,
most significant bit first), which is also how they are saved beside each
record. Distances are computed on 64-bit words with ``np.bitwise_count``.
"""

from __future__ import annotations

import numpy as np


def to_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """Normalise a method's codes ({0,1}, {-1,+1} or bool, n x bits) to a uint8 0/1 matrix.

    Raises ``ValueError`` when the shape or the values break the plug-in contract:
    that is a bug in the method, not a user error.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != bits:
        raise ValueError(f"codes: expected shape (n, {bits}), got {codes.shape}")
    if codes.dtype == bool:
        return codes.astype(np.uint8)
    values = np.unique(codes)
    if np.isin(values, (0, 1)).all():
        return codes.astype(np.uint8)
    if np.isin(values, (-1, 1)).all():
        return (codes > 0).astype(np.uint8)
    raise ValueError(f"codes: expected only {{0, 1}} or {{-1, +1}}, got values {values[:5].tolist()}")


def pack(bits01: np.ndarray) -> np.ndarray:
    """Pack a 0/1 matrix (n x bits) into bytes, n x ceil(bits / 8), as ``np.packbits(axis=1)``."""
    return np.packbits(np.asarray(bits01, dtype=np.uint8), axis=1)


def unpack(packed: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`: a uint8 0/1 matrix of ``bits`` columns."""
    return np.unpackbits(packed, axis=1, count=bits)


def as_words(packed: np.ndarray) -> np.ndarray:
    """View packed codes as uint64 words (zero-padded to a multiple of 8 bytes) for popcount."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    pad = -packed.shape[1] % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return packed.view(np.uint64)


def hamming_distances(query_words: np.ndarray, database_words: np.ndarray) -> np.ndarray:
    """All Hamming distances between two sets of word-packed codes, as a uint16 (nq x ndb) matrix."""
    distances = np.zeros((query_words.shape[0], database_words.shape[0]), dtype=np.uint16)
    for word in range(query_words.shape[1]):
        xor = np.bitwise_xor(query_words[:, word, None], database_words[None, :, word])
        distances += np.bitwise_count(xor)
    return distances

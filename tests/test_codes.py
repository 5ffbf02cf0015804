"""Bit packing and popcount Hamming distances."""

import numpy as np
import pytest

from hashbench.codes import as_words, hamming_distances, pack, to_bits, unpack
from hashbench.scoring.search import hamming_ranking, rank


@pytest.mark.parametrize("bits", [1, 7, 8, 63, 64, 65, 130])
def test_popcount_distances_equal_counting_differing_bits(bits):
    rng = np.random.default_rng(bits)
    query, database = rng.integers(0, 2, (9, bits), dtype=np.uint8), rng.integers(0, 2, (31, bits), dtype=np.uint8)
    expected = (query[:, None, :] != database[None, :, :]).sum(axis=2)
    got = hamming_distances(as_words(pack(query)), as_words(pack(database)))
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("bits", [1, 12, 64, 100])
def test_pack_then_unpack_is_identity(bits):
    codes = np.random.default_rng(0).integers(0, 2, (5, bits), dtype=np.uint8)
    packed = pack(codes)
    assert packed.shape == (5, (bits + 7) // 8)
    np.testing.assert_array_equal(packed, np.packbits(codes, axis=1))
    np.testing.assert_array_equal(unpack(packed, bits), codes)


def test_to_bits_normalises_plus_minus_one_and_bool():
    signs = np.array([[1, -1, 1], [-1, -1, 1]])
    np.testing.assert_array_equal(to_bits(signs, 3), [[1, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(to_bits(signs > 0, 3), [[1, 0, 1], [0, 0, 1]])
    np.testing.assert_array_equal(to_bits(np.array([[0.0, 1.0, 1.0]]), 3), [[0, 1, 1]])


@pytest.mark.parametrize(
    ("codes", "message"),
    [(np.array([[0, 1, 2]]), "only"), (np.array([[0.5, 1, 0]]), "only"), (np.zeros((2, 4)), "shape")],
)
def test_to_bits_rejects_codes_that_break_the_contract(codes, message):
    with pytest.raises(ValueError, match=message):
        to_bits(codes, 3)


def test_ranking_is_stable_for_ties():
    distances = np.array([[2, 0, 2, 1, 0]], dtype=np.uint16)
    np.testing.assert_array_equal(rank(distances), [[1, 4, 3, 0, 2]])


def test_ranking_chunks_cover_every_query_in_order():
    rng = np.random.default_rng(1)
    query, database = pack(rng.integers(0, 2, (10, 16))), pack(rng.integers(0, 2, (7, 16)))
    chunks = list(hamming_ranking(query, database, chunk_entries=21))
    assert [c.queries for c in chunks] == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    whole = hamming_distances(as_words(query), as_words(database))
    np.testing.assert_array_equal(np.vstack([c.distances for c in chunks]), whole)

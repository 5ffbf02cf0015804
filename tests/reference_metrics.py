"""Slow, obvious reference implementations of the metrics, one query at a time in plain Python.

They share no code with ``hashbench.scoring.metrics``: distances are counted bit by
bit, rankings are built with ``sorted`` on (distance, index), and every
formula is written the way a textbook states it.
"""

from __future__ import annotations

import itertools

import numpy as np


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    return sum(int(x != y) for x, y in zip(a.tolist(), b.tolist(), strict=True))


def ranking(query_bits: np.ndarray, database_bits: np.ndarray) -> tuple[list[int], list[int]]:
    """(distances, order) with ties broken by database index."""
    distances = [hamming(query_bits, item) for item in database_bits]
    order = sorted(range(len(distances)), key=lambda j: (distances[j], j))
    return distances, order


def relevant(query_labels: np.ndarray, item_labels: np.ndarray) -> bool:
    return any(bool(a) and bool(b) for a, b in zip(query_labels.tolist(), item_labels.tolist(), strict=True))


def average_precision(relevance_in_order: list[bool]) -> float:
    precisions, found = [], 0
    for rank, is_relevant in enumerate(relevance_in_order, start=1):
        if is_relevant:
            found += 1
            precisions.append(found / rank)
    return sum(precisions) / len(precisions) if precisions else 0.0


def expected_average_precision(distances: list[int], flags: list[bool]) -> float:
    """Mean AP over every order of tied items, by enumeration (tiny inputs only)."""
    groups = [[flags[j] for j in range(len(distances)) if distances[j] == d] for d in sorted(set(distances))]
    orders = [list(itertools.permutations(group)) for group in groups]
    total, count = 0.0, 0
    for choice in itertools.product(*orders):
        total += average_precision([flag for group in choice for flag in group])
        count += 1
    return total / count


def evaluate(query_bits, database_bits, query_labels, database_labels, bits, map_at, precision_at, radius):
    """Every metric of ``hashbench.scoring.metrics.evaluate``, query by query."""
    out = {"map": [], "map_tie_aware": [], "no_relevant": 0, f"p@r{radius}": []}
    out.update({f"map@{k}": [] for k in map_at})
    out.update({f"p@{k}": [] for k in precision_at})
    pr_precision = [[] for _ in range(bits + 1)]
    pr_recall = [[] for _ in range(bits + 1)]
    for q in range(len(query_bits)):
        distances, order = ranking(query_bits[q], database_bits)
        flags = [relevant(query_labels[q], database_labels[j]) for j in range(len(database_bits))]
        in_order = [flags[j] for j in order]
        n_relevant = sum(flags)
        out["no_relevant"] += n_relevant == 0
        out["map"].append(average_precision(in_order))
        for k in map_at:
            out[f"map@{k}"].append(average_precision(in_order[:k]))
        for k in precision_at:
            out[f"p@{k}"].append(sum(in_order[:k]) / k)
        if len(database_bits) <= 8:
            out["map_tie_aware"].append(expected_average_precision(distances, flags))
        for r in range(bits + 1):
            retrieved = [j for j in range(len(distances)) if distances[j] <= r]
            good = sum(flags[j] for j in retrieved)
            pr_precision[r].append(good / len(retrieved) if retrieved else 0.0)
            pr_recall[r].append(good / n_relevant if n_relevant else 0.0)
            if r == radius:
                out[f"p@r{radius}"].append(pr_precision[r][-1])
    result = {key: float(np.mean(values)) for key, values in out.items() if isinstance(values, list) and values}
    result["queries_without_relevant"] = out["no_relevant"]
    result["pr_precision"] = [float(np.mean(v)) for v in pr_precision]
    result["pr_recall"] = [float(np.mean(v)) for v in pr_recall]
    return result

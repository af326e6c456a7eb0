"""Ranking and rating metrics for one user at a time, and their averages.

Recall@k divides by ``min(k, |relevant|)`` (Liang et al., 2018, "Variational autoencoders for
collaborative filtering"), so a user with more relevant films than ``k`` can still reach 1.
NDCG@k uses binary relevance and the ideal ordering of ``min(k, |relevant|)`` hits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recall_at_k(top: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Share of the relevant films in the first ``k`` of ``top`` (capped denominator)."""
    if relevant.size == 0:
        raise ValueError("recall needs at least one relevant film")
    hits = np.isin(top[:k], relevant).sum()
    return float(hits / min(k, relevant.size))


def ndcg_at_k(top: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Discounted cumulative gain of the first ``k`` of ``top`` over the best possible."""
    if relevant.size == 0:
        raise ValueError("NDCG needs at least one relevant film")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    hits = np.isin(top[:k], relevant)
    ideal = discounts[: min(k, relevant.size)].sum()
    return float(discounts[: hits.size][hits].sum() / ideal)


def coverage(tops: Sequence[np.ndarray], k: int, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's first ``k``."""
    shown = {int(i) for top in tops for i in top[:k]}
    return len(shown) / n_items if n_items else 0.0


def mean_popularity(tops: Sequence[np.ndarray], k: int, popularity: np.ndarray) -> float:
    """Mean ``popularity`` (e.g. share of users who rated the film) of every film shown."""
    shown = np.concatenate([top[:k] for top in tops]) if tops else np.empty(0, dtype=np.intp)
    return float(popularity[shown].mean()) if shown.size else 0.0


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    if predicted.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))

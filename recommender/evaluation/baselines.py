"""The baselines: popularity, and EASE (Steck, 2019, "Embarrassingly shallow autoencoders for
sparse data"), a closed-form item-item model that is hard to beat on MovieLens.

EASE learns from presence (every rating counts as 1, as in the paper). Its weight matrix is
dense films × films, so it is restricted to the ``max_items`` most-rated films: on ml-32m the
84,000 rated films would need 28 GB; 20,000 films need 1.6 GB (float32).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.evaluation.recommenders import Universe, lookup, top_k
from recommender.item_item import ease_weights, gram

log = logging.getLogger(__name__)

EASE_MAX_ITEMS = 20_000
# Films rated by fewer training users almost never reach anyone's top 100, and every film
# kept costs cubic time: on ml-latest-small this keeps a third of the films and all of the
# recall (docs/evaluation.md has the numbers).
EASE_MIN_COUNT = 5


class Popularity:
    """Every user gets the most-rated films they have not rated; stars are the user's mean."""

    name = "popularity"

    def __init__(self, universe: Universe) -> None:
        self.universe = universe

    def top(self, ids: np.ndarray, stars: np.ndarray, k: int) -> np.ndarray:
        seen = self.universe.positions(ids)
        top = top_k(self.universe.counts.astype(np.float64), seen[seen >= 0], k)
        return self.universe.item_ids[top]

    def predict_stars(
        self, ids: np.ndarray, stars: np.ndarray, targets: np.ndarray
    ) -> np.ndarray | None:
        return np.full(len(targets), float(np.mean(stars)) if len(stars) else 3.5)


EASE_ROW_BLOCK = 1024


@dataclass
class Ease:
    """EASE over ``item_ids``: ``scores = x B`` with ``x`` the user's rated films (0/1)."""

    item_ids: np.ndarray
    weights: np.ndarray  # films × films, zero diagonal
    lam: float
    name: str = "EASE"

    def top(self, ids: np.ndarray, stars: np.ndarray, k: int) -> np.ndarray:
        pos = lookup(self.item_ids, ids)
        pos = pos[pos >= 0]
        # Summed a block of rows at a time: a heavy ml-32m rater's rows gathered at once would
        # be |pos| × 20,000 floats (over a gigabyte).
        scores = np.zeros(self.weights.shape[1], dtype=np.float64)
        for start in range(0, pos.size, EASE_ROW_BLOCK):
            scores += self.weights[pos[start : start + EASE_ROW_BLOCK]].sum(axis=0)
        return self.item_ids[top_k(scores, pos, k)]

    def predict_stars(
        self, ids: np.ndarray, stars: np.ndarray, targets: np.ndarray
    ) -> np.ndarray | None:
        return None  # EASE ranks; it does not predict ratings


def ease_items(
    universe: Universe, max_items: int = EASE_MAX_ITEMS, min_count: int = EASE_MIN_COUNT
) -> np.ndarray:
    """The films EASE models: the most-rated, at most ``max_items``, each rated ``min_count``+."""
    order = np.lexsort((universe.item_ids, -universe.counts))[:max_items]
    order = order[universe.counts[order] >= min_count]
    return np.sort(universe.item_ids[order])


def fit_ease(
    train: pd.DataFrame,
    lam: float,
    universe: Universe | None = None,
    max_items: int = EASE_MAX_ITEMS,
    min_count: int = EASE_MIN_COUNT,
) -> Ease:
    start = time.perf_counter()
    universe = universe or Universe.from_ratings(train)
    items = ease_items(universe, max_items, min_count)
    weights = ease_weights(gram(train, items), lam, overwrite=True)
    log.info("EASE λ=%g on %d films in %.1f s", lam, items.size, time.perf_counter() - start)
    return Ease(item_ids=items, weights=weights, lam=lam)

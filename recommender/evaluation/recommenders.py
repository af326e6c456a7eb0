"""What every evaluated model offers: the films it would show a user, and its predicted stars.

A user is what a Letterboxd export gives: MovieLens ids and stars. Models answer in MovieLens
ids, so models trained on different film sets are scored against the same targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from recommender.model_store import lookup

__all__ = ["Recommender", "Universe", "lookup", "top_k"]


@dataclass(frozen=True)
class Universe:
    """The films a model trained on ``train`` could know, and how many users rated each."""

    item_ids: np.ndarray  # sorted MovieLens ids
    counts: np.ndarray  # training ratings per film
    n_users: int

    @classmethod
    def from_ratings(cls, train: pd.DataFrame) -> Universe:
        counts = train["movieId"].value_counts().sort_index()
        return cls(
            item_ids=counts.index.to_numpy(np.int64),
            counts=counts.to_numpy(np.int64),
            n_users=int(train["userId"].nunique()),
        )

    def positions(self, movie_ids: np.ndarray) -> np.ndarray:
        """Index of each id in ``item_ids``, -1 when unknown."""
        return lookup(self.item_ids, movie_ids)

    @property
    def popularity(self) -> np.ndarray:
        """Share of training users who rated each film."""
        return self.counts / max(self.n_users, 1)


class Recommender(Protocol):
    """A fitted model as the evaluation sees it."""

    name: str

    def top(self, ids: np.ndarray, stars: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` films (MovieLens ids, best first) for a user who rated ``ids``; never those."""
        ...

    def predict_stars(
        self, ids: np.ndarray, stars: np.ndarray, targets: np.ndarray
    ) -> np.ndarray | None:
        """Predicted stars for ``targets``, or ``None`` when the model predicts none."""
        ...


def top_k(scores: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores outside ``exclude`` (indices), ties by index."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    scores[exclude] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.lexsort((top, -scores[top]))]

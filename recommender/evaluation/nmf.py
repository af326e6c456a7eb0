"""NMF models as the product runs them: the service's fold-in, ranking and predicted stars.

A user's films become a ``UserVector`` exactly as ``RecommenderService`` builds one (scale from
all their ratings, values from an evidence policy), then ``ranking.rank`` orders the films.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recommender.evaluation.recommenders import top_k
from recommender.evidence import user_values
from recommender.film_bias import ARRAY as BIAS_ARRAY
from recommender.film_bias import film_bias, stored_bias
from recommender.foldin import FoldIn
from recommender.item_item import META, ItemItemConfig, fit_item_item, stored_item_item
from recommender.model_store import NMFModel
from recommender.ranking import UserVector, rank, user_scores
from recommender.scaling import UserScale, fit_user_scale
from recommender.service import POOL_FACTOR, POOL_SIZE, shown_order
from recommender.training import TrainConfig, train

log = logging.getLogger(__name__)

Policy = Callable[[np.ndarray, UserScale], np.ndarray]
# "score": the model's own order. "shown": the order the service shows, the top POOL_SIZE by
# score with each block of ten sorted by predicted stars (service.shown_order).
Order = Literal["score", "shown"]
# "neighbours": the service's predicted stars (the user's own stars over similar films).
# "score": the notebook's way, the reconstructed scaled value mapped back to stars.
StarsFrom = Literal["neighbours", "score"]


TARGET_BLOCK = 500  # target films whose stars are predicted together


@dataclass
class NMFRecommender:
    name: str
    model: NMFModel
    policy: Policy = user_values
    order: Order = "score"
    stars_from: StarsFrom = "neighbours"

    def __post_init__(self) -> None:
        bias = stored_bias(dict(self.model.extras), len(self.model.item_ids))
        pairs = stored_item_item(self.model.extras, self.model.metadata, len(self.model.item_ids))
        self.foldin = FoldIn(self.model.components, bias, pairs)

    def with_options(self, name: str, **changes: object) -> NMFRecommender:
        """The same fitted model read another way (another policy, order or star rule)."""
        out = replace(self, name=name, **changes)  # type: ignore[arg-type]
        out.foldin = self.foldin  # the Gram matrix depends on the model only
        return out

    def user(self, ids: np.ndarray, stars: np.ndarray) -> tuple[UserVector, np.ndarray]:
        """The user's vector and the model columns to exclude (every film they rated)."""
        stars = np.asarray(stars, dtype=np.float64)
        scale = fit_user_scale(stars[np.isfinite(stars)])
        pos = self.model.positions(ids)
        keep = pos >= 0
        user = UserVector(
            positions=pos[keep],
            stars=stars[keep],
            values=self.policy(stars[keep], scale),
            scale=scale,
        )
        exclude = np.zeros(len(self.model.item_ids), dtype=bool)
        exclude[pos[keep]] = True
        return user, exclude

    def top(self, ids: np.ndarray, stars: np.ndarray, k: int) -> np.ndarray:
        user, exclude = self.user(ids, stars)
        if not np.any(user.values > 0):
            return np.empty(0, dtype=np.int64)  # the service refuses: nothing says what they like
        if self.order == "shown":
            pool = rank(self.foldin, user, exclude, max(POOL_SIZE, POOL_FACTOR * k))
            return self.model.item_ids[[r.position for r in shown_order(pool)[:k]]]
        # The model's own order: rank()'s first k without the explanations it also computes.
        scores = self.scores(user)
        return self.model.item_ids[top_k(scores, np.flatnonzero(exclude), k)]

    def scores(self, user: UserVector) -> np.ndarray:
        """The model's score for every film (model columns) for this user."""
        w = self.foldin.transform(user.positions, user.values)
        return user_scores(self.foldin, user, w)[0].astype(np.float64)

    def predict_stars(
        self, ids: np.ndarray, stars: np.ndarray, targets: np.ndarray
    ) -> np.ndarray | None:
        user, _ = self.user(ids, stars)
        fallback = float(np.clip(user.scale.mean, 0.5, 5.0))
        out = np.full(len(targets), fallback)
        cols = self.model.positions(targets)
        known = cols >= 0
        if not known.any() or user.positions.size == 0:
            return out
        if self.stars_from == "score":
            w = self.foldin.transform(user.positions, user.values)
            scores = self.foldin.scores(w)[cols[known]]
            out[known] = user.scale.to_stars(scores)
            return out
        # rank() over exactly the target columns returns each with the service's stars; in
        # blocks, since its kernel is targets × the user's films (a heavy ml-32m rater's
        # thousands of targets at once would take gigabytes).
        predicted: dict[int, float | None] = {}
        wanted = np.unique(cols[known])
        for start in range(0, wanted.size, TARGET_BLOCK):
            block = wanted[start : start + TARGET_BLOCK]
            only = np.ones(len(self.model.item_ids), dtype=bool)
            only[block] = False
            predicted.update(
                (r.position, r.stars) for r in rank(self.foldin, user, only, block.size)
            )
        out[known] = [fallback if predicted.get(c) is None else predicted[c] for c in cols[known]]
        return out


def model_from_fit(
    name: str,
    components: np.ndarray,
    item_ids: np.ndarray,
    counts: np.ndarray,
    ratings: pd.DataFrame | None = None,
    pairs: ItemItemConfig | None = None,
) -> NMFModel:
    """An in-memory ``NMFModel`` (never written to disk) from a training run's arrays; with
    ``ratings``, the film bias the product stores (pipeline.train_and_save) computed from them,
    and with ``pairs`` too (weight above 0), its item-item half."""
    order = np.argsort(item_ids)
    sorted_ids = np.asarray(item_ids, dtype=np.int64)[order]
    extras: dict[str, np.ndarray] = {}
    metadata: dict[str, object] = {"name": name}
    if ratings is not None:
        extras[BIAS_ARRAY] = film_bias(ratings, sorted_ids)
        if pairs is not None and pairs.weight > 0:
            arrays, metadata[META] = fit_item_item(ratings, sorted_ids, pairs)
            extras.update(arrays)
    return NMFModel(
        path=Path(name),
        components=np.ascontiguousarray(components[:, order], dtype=np.float32),
        item_ids=sorted_ids,
        item_counts=np.asarray(counts)[order],
        metadata=metadata,
        extras=extras,
    )


def train_nmf(name: str, ratings: pd.DataFrame, cfg: TrainConfig) -> NMFModel:
    """Train with the product's pipeline (filters, scaling, fit_nmf) on ``ratings``."""
    fit, matrix, _ = train(ratings, cfg)
    log.info(
        "%s: %d users x %d films, %d iterations in %.1f s",
        name,
        *matrix.matrix.shape,
        fit.n_iter,
        fit.seconds,
    )
    return model_from_fit(
        name, fit.components, matrix.item_ids, matrix.item_counts, ratings, cfg.item_item()
    )

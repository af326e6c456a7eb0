"""Score one fitted model on held-out users: ranking metrics, coverage, popularity, RMSE."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from recommender.evaluation import metrics
from recommender.evaluation.recommenders import Recommender, Universe

log = logging.getLogger(__name__)

RELEVANT_STARS = 4.0  # a held-out film rated this or more is one the user would want
RECALL_KS = (20, 50)
NDCG_K = 100
LIST_K = 20  # coverage and popularity describe the list a user would see first


@dataclass(frozen=True)
class EvalUser:
    """One held-out user: the films folded in, and the films to find."""

    user_id: int
    ids: np.ndarray
    stars: np.ndarray
    target_ids: np.ndarray
    target_stars: np.ndarray

    @property
    def relevant(self) -> np.ndarray:
        return self.target_ids[self.target_stars >= RELEVANT_STARS]


def eval_users(
    foldin: pd.DataFrame, target: pd.DataFrame, max_users: int | None = None, seed: int = 0
) -> list[EvalUser]:
    """Held-out users with at least one target, by userId; a seeded sample of ``max_users``
    of them (drawn before any per-user work, so 40,000 held-out users on ml-32m cost little)."""
    candidates = np.intersect1d(target["userId"].unique(), foldin["userId"].unique())
    if max_users is not None and candidates.size > max_users:
        pick = np.random.default_rng(seed).choice(candidates.size, max_users, replace=False)
        candidates = np.sort(candidates[pick])
    fold = _by_user(foldin, candidates)
    goal = _by_user(target, candidates)
    return [
        EvalUser(int(u), f_ids, f_stars, t_ids, t_stars)
        for u, (f_ids, f_stars), (t_ids, t_stars) in zip(candidates, fold, goal, strict=True)
    ]


def _by_user(frame: pd.DataFrame, users: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(movieIds, ratings) of each of ``users`` (sorted, every one present in ``frame``)."""
    frame = frame[frame["userId"].isin(users)]
    order = np.argsort(frame["userId"].to_numpy(), kind="stable")
    ids = frame["movieId"].to_numpy(np.int64)[order]
    stars = frame["rating"].to_numpy(np.float64)[order]
    bounds = np.searchsorted(frame["userId"].to_numpy()[order], users[1:])
    return list(zip(np.split(ids, bounds), np.split(stars, bounds), strict=True))


def score_model(
    model: Recommender,
    users: Sequence[EvalUser],
    universe: Universe,
    per_user: list[float] | None = None,
) -> dict[str, float | int | str | None]:
    """Every metric of ``model`` over ``users``, under plain keys (``recall@20``, ``rmse``…).

    Ranking metrics average over the users with at least one relevant target. ``coverage`` is
    the share of the training films that appear in some user's first ``LIST_K``;
    ``mean_popularity`` is the mean share of training users who rated those films.
    ``per_user``, when given, receives each of those users' recall@20 in order, so that two
    models scored on the same users can be compared user by user (``sweep.paired``).
    """
    start = time.perf_counter()
    k_max = max(*RECALL_KS, NDCG_K)
    recalls: dict[int, list[float]] = {k: [] for k in RECALL_KS}
    ndcgs: list[float] = []
    tops: list[np.ndarray] = []
    predicted: list[np.ndarray] = []
    actual: list[np.ndarray] = []
    # One BLAS thread: each user costs a few k×k solves, where threads only contend.
    with threadpool_limits(limits=1, user_api="blas"):
        for user in users:
            top = model.top(user.ids, user.stars, k_max)
            tops.append(universe.positions(top))
            if user.relevant.size:
                for k in RECALL_KS:
                    recalls[k].append(metrics.recall_at_k(top, user.relevant, k))
                ndcgs.append(metrics.ndcg_at_k(top, user.relevant, NDCG_K))
            stars = model.predict_stars(user.ids, user.stars, user.target_ids)
            if stars is not None:
                predicted.append(stars)
                actual.append(user.target_stars)
    shown = [t[t >= 0] for t in tops]
    out: dict[str, float | int | str | None] = {"name": model.name}
    for k in RECALL_KS:
        out[f"recall@{k}"] = float(np.mean(recalls[k])) if recalls[k] else 0.0
    out[f"ndcg@{NDCG_K}"] = float(np.mean(ndcgs)) if ndcgs else 0.0
    out["coverage"] = metrics.coverage(shown, LIST_K, universe.item_ids.size)
    out["mean_popularity"] = metrics.mean_popularity(shown, LIST_K, universe.popularity)
    out["rmse"] = (
        metrics.rmse(np.concatenate(predicted), np.concatenate(actual)) if predicted else None
    )
    # The noise in recall@20: the standard error of its mean over users.
    first = recalls[RECALL_KS[0]]
    if per_user is not None:
        per_user.extend(first)
    out[f"recall@{RECALL_KS[0]}_se"] = (
        float(np.std(first, ddof=1) / np.sqrt(len(first))) if len(first) > 1 else None
    )
    out["users"] = len(ndcgs)
    out["seconds"] = round(time.perf_counter() - start, 2)
    log.info("scored %s on %d users in %.1f s", model.name, len(users), out["seconds"])
    return out

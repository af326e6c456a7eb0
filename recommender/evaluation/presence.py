"""The presence trap, measured: does a film the user hated pull similar films up?

Missing ratings are 0 in training and the lowest ratings scale to about 0, so the model learns
*that* a film was rated more than *how*. For each held-out user we add one film they have not
rated, at a low rating, and watch where that film's neighbours move in the user's ranking.
Neighbours come from the training data (cosine similarity of who rated what), not from the
model, so the yardstick does not depend on what is measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import trim_mean
from threadpoolctl import threadpool_limits

from recommender.evaluation.nmf import NMFRecommender
from recommender.evaluation.recommenders import lookup
from recommender.evaluation.scoring import EvalUser

N_NEIGHBOURS = 10
PROBE_POOL = 300  # probe films are drawn from the most-rated films: they have clear neighbours
PROBE_STARS = (0.5, 2.0)
MAX_USERS = 1_000  # users probed (the first of the scored users): plenty for a mean shift
# The share cut from each end before averaging the users' gains. Adding a 0.5★ film lowers
# the user's average, so for a few users many films at that average become "liked" at once;
# their whole list reshuffles and films thousands of places deep move by thousands, either
# way (seed 0: 4 of 120 users, mean +28.9 places, median 0). A plain mean cannot tell that
# from the trap; the trimmed mean can, and still shows the trap plainly where it is.
TRIM = 0.1
VISIBLE = 100  # "entered the top 100": the part of the list people actually see


@dataclass(frozen=True)
class Neighbours:
    """Each film's most similar films by who rated them (cosine of the binary columns)."""

    item_ids: np.ndarray
    matrix: sp.csc_matrix  # users × films, binary
    norms: np.ndarray

    @classmethod
    def from_ratings(cls, train: pd.DataFrame, item_ids: np.ndarray) -> Neighbours:
        cols = lookup(item_ids, train["movieId"].to_numpy())
        keep = cols >= 0
        rows, _ = pd.factorize(train["userId"].to_numpy()[keep])
        x = sp.csc_matrix(
            (np.ones(int(keep.sum())), (rows, cols[keep])),
            shape=(int(rows.max()) + 1, item_ids.size),
        )
        x.data[:] = 1.0
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        return cls(item_ids=item_ids, matrix=x, norms=norms)

    def of(self, movie_id: int, n: int = N_NEIGHBOURS) -> np.ndarray:
        """The ``n`` films most often rated by the same users as ``movie_id``, best first."""
        j = int(lookup(self.item_ids, np.array([movie_id]))[0])
        co = np.asarray((self.matrix.T @ self.matrix[:, j]).todense()).ravel()
        sims = co / np.maximum(self.norms * self.norms[j], 1e-12)
        sims[j] = -np.inf
        top = np.argpartition(-sims, n)[:n]
        return self.item_ids[top[np.argsort(-sims[top])]]


def _ranks(
    model: NMFRecommender, ids: np.ndarray, stars: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """The rank (0 = first) of model columns ``cols`` among every film for this user, by
    score, ties by column (the order ``ranking.rank`` gives)."""
    user, _ = model.user(ids, stars)
    scores = model.scores(user)
    mine = scores[cols][:, None]
    above = (scores[None, :] > mine) | (
        (scores[None, :] == mine) & (np.arange(scores.size)[None, :] < cols[:, None])
    )
    return above.sum(axis=1)


def measure_trap(
    model: NMFRecommender,
    users: Sequence[EvalUser],
    neighbours: Neighbours,
    stars: float,
    seed: int = 0,
) -> dict[str, object]:
    """Add one unseen popular film at ``stars`` to each user; how far do its neighbours move?

    ``rank_gain`` is the number of places the neighbours climb (negative: they fall), the
    mean over users with ``TRIM`` cut from each end (``mean_rank_gain`` keeps every user);
    ``rose`` and ``fell`` are the shares of users whose neighbours, on average, moved so;
    ``top100_change`` is the mean change in how many neighbours are in the user's top 100.
    """
    rng = np.random.default_rng(seed)
    counts = np.asarray(neighbours.matrix.sum(axis=0)).ravel()
    pool = neighbours.item_ids[np.argsort(-counts, kind="stable")[:PROBE_POOL]]
    near_of: dict[int, np.ndarray] = {}
    gains: list[float] = []
    visible: list[int] = []
    with threadpool_limits(limits=1, user_api="blas"):
        for user in users[:MAX_USERS]:
            unseen = pool[~np.isin(pool, user.ids)]
            if unseen.size == 0:
                continue
            probe = int(rng.choice(unseen))
            if probe not in near_of:
                near_of[probe] = neighbours.of(probe)
            near = model.model.positions(near_of[probe])
            near = near[(near >= 0) & ~np.isin(model.model.item_ids[near], user.ids)]
            if near.size == 0:
                continue
            before = _ranks(model, user.ids, user.stars, near)
            after = _ranks(model, np.append(user.ids, probe), np.append(user.stars, stars), near)
            gains.append(float(np.mean(before - after)))
            visible.append(int(np.sum(after < VISIBLE)) - int(np.sum(before < VISIBLE)))
    g = np.array(gains)
    return {
        "name": model.name,
        "stars": stars,
        "users": int(g.size),
        "rank_gain": float(trim_mean(g, TRIM)) if g.size else 0.0,
        "mean_rank_gain": float(g.mean()) if g.size else 0.0,
        "top100_change": float(np.mean(visible)) if g.size else 0.0,
        "rose": float(np.mean(g > 0)) if g.size else 0.0,
        "fell": float(np.mean(g < 0)) if g.size else 0.0,
    }

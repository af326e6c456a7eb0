"""The same question on real people: would their favourite films have been recommended?

The gold sets are real Letterboxd exports with each film's correct MovieLens id (found through
IMDb links, not through our matcher), so matching mistakes cannot flatter or hurt the model.
Each of a person's top-rated films (4.5★ and up) is hidden in turn, the rest is folded in, and
a hit is the hidden film in the top ``k`` of the films they have not rated: leave-one-out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from recommender.evaluation.recommenders import Recommender, Universe

log = logging.getLogger(__name__)

TOP_STARS = 4.5
HIT_KS = (20, 50)


@dataclass(frozen=True)
class GoldPerson:
    """One real export: the films with a known MovieLens id and their stars."""

    name: str
    ids: np.ndarray
    stars: np.ndarray


def read_gold(folder: Path) -> list[GoldPerson]:
    """Every ``gold_*.csv`` in ``folder``: rated films with a linked ``gold_movieId``."""
    people = []
    for path in sorted(folder.glob("gold_*.csv")):
        frame = pd.read_csv(path)
        frame = frame[(frame["status"] == "linked") & frame["Rating"].notna()]
        frame = frame.drop_duplicates("gold_movieId")
        people.append(
            GoldPerson(
                name=path.stem,
                ids=frame["gold_movieId"].to_numpy(np.int64),
                stars=frame["Rating"].to_numpy(np.float64),
            )
        )
    return people


def hit_rates(
    model: Recommender, people: Sequence[GoldPerson], universe: Universe
) -> dict[str, object]:
    """Leave-one-out hit rate at each of ``HIT_KS`` over every person's top-rated films."""
    hits = {k: 0 for k in HIT_KS}
    cases = 0
    with threadpool_limits(limits=1, user_api="blas"):
        for person in people:
            known = universe.positions(person.ids) >= 0
            for i in np.flatnonzero((person.stars >= TOP_STARS) & known):
                rest = np.arange(person.ids.size) != i
                top = model.top(person.ids[rest], person.stars[rest], max(HIT_KS))
                cases += 1
                for k in HIT_KS:
                    hits[k] += int(person.ids[i] in top[:k])
    out: dict[str, object] = {"name": model.name, "cases": cases}
    for k in HIT_KS:
        out[f"hit@{k}"] = hits[k] / cases if cases else 0.0
    log.info("gold hit rates for %s: %s", model.name, out)
    return out

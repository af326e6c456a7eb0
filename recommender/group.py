"""/movienight: films a group of 2 to 8 people will enjoy together, that none of them has seen.

1. **Members.** Each member is folded in once (``recommender/person.py``). A member the model
   learns nothing from stops the night with a message naming them.
2. **Candidates.** Model films no member has watched or hidden, within the filters (genres,
   decades). With rewatches allowed, only films a member rated low (2 stars or less, or half a
   standard deviation below their own average) or marked "not interested" are left out.
3. **Pool.** Each member's model score for every candidate (tilted toward less-known films by
   the obscurity filter, as /recommend does) is divided by their best candidate's score, so a
   member with a long history weighs no more than one with a short one. The ``POOL_SIZE``
   candidates with the best blend of the group's lowest and mean relative score form the pool.
4. **Predicted stars.** The ranking kernel of /recommend gives every member's predicted stars for
   every pool film, on their own scale. Each becomes the member's *normalised preference*: the
   z-score of the predicted stars against their own ratings (how far above their usual).
5. **Fair aggregate.** ``fair = BLEND · min + (1 − BLEND) · mean`` of the members' normalised
   preferences, with ``BLEND = 0.5``: half least misery (nobody should sit through a film they
   would hate), half average (a film most of the group would love is not thrown away for one
   lukewarm member).
6. **Best for.** Each pick names the member whose predicted stars are furthest above their own
   average rating (the *lift*, in stars, shown next to the stars), so the name agrees with the
   numbers beside it: a generous rater's ★4.6 can be a smaller lift than a tough critic's ★4.2.
7. **Order.** As /recommend shows a list (``service.shown_order``): the pool by its relevance
   (step 3, itself the same blend over the members' model scores, tilted by the popularity
   control) in blocks of ten, each block by the fair aggregate of predicted stars. Ordering the
   whole pool by predicted stars would ignore the popularity control and the model's ranking,
   which is what finds films people go on to watch and like (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recommender.errors import BoxdrecError
from recommender.evidence import LOW_STARS
from recommender.filters import ListFilters
from recommender.person import (
    FilmCard,
    Person,
    film_card,
    person,
    predict,
    seen_ids,
    stars_or_nan,
    zscores,
)
from recommender.ranking import Ranked, user_scores
from recommender.service import SHOWN_BLOCK, RecommenderService, stars_text
from recommender.user_films import UserFilms

MIN_MEMBERS, MAX_MEMBERS = 2, 8
BLEND = 0.5  # weight of least misery (the minimum) against the mean
POOL_SIZE = 300  # candidates whose stars are predicted for every member
LOW_Z = 0.5  # rated this far below their average: "rated low", never suggested as a rewatch
# A member's guard against titles that matched nothing runs on this many top picks at most.
GUARD_FACTOR = 4


class NoFilmsLeft(BoxdrecError):
    """The filters and what the members have seen leave no film: only new settings help."""


@dataclass(frozen=True, slots=True)
class GroupPick:
    rank: int
    film: FilmCard
    stars: tuple[float | None, ...]  # each member's predicted stars, in member order
    lift: tuple[float | None, ...]  # each member's shown stars minus their average, 0.1 steps
    preference: tuple[float, ...]  # each member's normalised preference (z of those stars)
    fair: float  # the aggregate the picks are ordered by
    best_for: int  # index of the member with the largest lift (the first of any tie)
    reason: str


@dataclass(frozen=True)
class GroupResult:
    picks: tuple[GroupPick, ...]
    names: tuple[str, ...]
    filters: ListFilters
    allow_rewatch: bool
    n_candidates: int  # films that passed every member's exclusions and the filters


def movie_night(
    service: RecommenderService,
    members: Sequence[UserFilms],
    n: int = 10,
    filters: ListFilters | None = None,
    allow_rewatch: bool = False,
    *,
    names: Sequence[str] | None = None,
    hidden: Sequence[Mapping[int, str]] | None = None,
) -> GroupResult:
    """The ``n`` films the group should watch; see the module docstring for how.

    ``names`` label members in reasons and errors; ``hidden`` holds each member's hidden films
    (movieId -> "seen" | "not_interested"), left out like watched ones.
    """
    names = (
        tuple(names) if names is not None else tuple(f"member {i + 1}" for i in range(len(members)))
    )
    if not MIN_MEMBERS <= len(members) <= MAX_MEMBERS:
        raise BoxdrecError(
            f"A movie night needs {MIN_MEMBERS} to {MAX_MEMBERS} people; "
            f"this one has {len(members)}."
        )
    if len(names) != len(members):
        raise ValueError("one name per member")
    hidden = hidden if hidden is not None else [{} for _ in members]
    filters = filters or ListFilters()
    people = [_member(service, films, name) for films, name in zip(members, names, strict=True)]

    exclude = ~service.facts.allowed(filters)
    for who, hid in zip(people, hidden, strict=True):
        exclude |= _exclusions(service, who, hid, allow_rewatch)
    n_candidates = int((~exclude).sum())
    if n_candidates == 0:
        raise NoFilmsLeft(
            "No film is left that fits the filters and that nobody has seen"
            + (f" ({filters.describe()})" if filters.active else "")
            + ": widen the filters or allow rewatches."
        )

    relevance = _relevance(service, people, filters.obscurity, exclude)
    pool = _top(relevance, exclude, POOL_SIZE)
    verdicts = [predict(service, who, pool) for who in people]
    stars = np.array(
        [[stars_or_nan(v.get(int(p))) for p in pool] for v in verdicts], dtype=np.float64
    )  # members × pool
    prefs = np.vstack(
        [
            np.nan_to_num(zscores(who.scale, row), nan=0.0)
            for who, row in zip(people, stars, strict=True)
        ]
    )
    fair = fair_scores(prefs)
    order = _shown_order(relevance[pool], fair, pool)

    guards = [service.seen_guard(who.films) for who in people]
    means = [who.scale.mean if who.films.ratings else None for who in people]
    picks: list[GroupPick] = []
    for i in order[: GUARD_FACTOR * max(n, 1)]:
        if len(picks) >= n:
            break
        position = int(pool[i])
        if any(guard(position) for guard in guards):
            continue  # a member logged a film that matched nothing but looks like this one
        member_stars = tuple(None if np.isnan(s) else round(float(s), 1) for s in stars[:, i])
        lift = lifts(member_stars, means)
        by_lift = lift_order(lift)
        picks.append(
            GroupPick(
                rank=len(picks) + 1,
                film=film_card(service, int(service.model.item_ids[position])),
                stars=member_stars,
                lift=lift,
                preference=tuple(round(float(z), 3) for z in prefs[:, i]),
                fair=float(fair[i]),
                best_for=by_lift[0],
                reason=_reason(names, people, [v.get(position) for v in verdicts], lift, by_lift),
            )
        )
    return GroupResult(
        picks=tuple(picks),
        names=names,
        filters=filters,
        allow_rewatch=allow_rewatch,
        n_candidates=n_candidates,
    )


def _shown_order(relevance: np.ndarray, fair: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Indices into the pool: by the group's (tilted) relevance in blocks of SHOWN_BLOCK, each
    block by the fair aggregate of predicted stars, as /recommend shows a list."""
    by_relevance = np.lexsort((pool, -relevance))
    out = []
    for start in range(0, by_relevance.size, SHOWN_BLOCK):
        block = by_relevance[start : start + SHOWN_BLOCK]
        out.extend(block[np.lexsort((pool[block], -relevance[block], -np.round(fair[block], 6)))])
    return np.asarray(out, dtype=np.intp)


def lifts(stars: Sequence[float | None], means: Sequence[float | None]) -> tuple[float | None, ...]:
    """Each member's shown stars (0.1 steps) minus their own average, to 0.1; None when
    either is unknown."""
    return tuple(
        None if s is None or m is None else round(s - m, 1) + 0.0  # + 0.0: never "-0.0"
        for s, m in zip(stars, means, strict=True)
    )


def lift_order(lift: Sequence[float | None]) -> list[int]:
    """Member indices by lift, largest first, ties in member order, unknown lifts last."""
    return sorted(range(len(lift)), key=lambda m: (lift[m] is None, -(lift[m] or 0.0), m))


def fair_scores(preferences: np.ndarray) -> np.ndarray:
    """``BLEND · min + (1 − BLEND) · mean`` over members (rows) for each film (column)."""
    preferences = np.asarray(preferences, dtype=np.float64)
    return BLEND * preferences.min(axis=0) + (1.0 - BLEND) * preferences.mean(axis=0)


# -- steps -----------------------------------------------------------------------------------


def _member(service: RecommenderService, films: UserFilms, name: str) -> Person:
    try:
        return person(service, films)
    except BoxdrecError as error:
        raise BoxdrecError(
            f"{name}'s saved films say too little about their taste for a movie night (the "
            "model needs a few films they rated above their own average). They can upload a "
            "fuller Letterboxd export with /recommend, or leave the lobby."
        ) from error


def _exclusions(
    service: RecommenderService, who: Person, hidden: Mapping[int, str], allow_rewatch: bool
) -> np.ndarray:
    """Model columns this member rules out."""
    films = who.films
    if allow_rewatch:
        rated = films.rated
        stars = np.array([f.stars for f in rated], dtype=np.float64)
        low = (stars <= LOW_STARS) | (who.z(stars) <= -LOW_Z)
        out = {f.movie_id for f, bad in zip(rated, low, strict=True) if bad}
        out |= {m for m, kind in hidden.items() if kind != "seen"}
    else:
        out = seen_ids(films) | set(hidden)
    mask = np.zeros(len(service.model.item_ids), dtype=bool)
    if out:
        positions = service.model.positions(np.array(sorted(out), dtype=np.int64))
        mask[positions[positions >= 0]] = True
    return mask


def _relevance(
    service: RecommenderService, people: Sequence[Person], obscurity: float, exclude: np.ndarray
) -> np.ndarray:
    """Blend of the lowest and the mean of each member's score relative to their best candidate."""
    rows = []
    for who in people:
        assert who.w is not None  # person(strict=True) guarantees it
        assert who.user is not None
        raw, _ = user_scores(service.foldin, who.user, who.w)
        scores = service.facts.adjust(raw.astype(np.float64), obscurity)
        best = float(scores[~exclude].max())
        rows.append(scores / best if best > 0 else np.zeros_like(scores))
    relative = np.vstack(rows)
    out = fair_scores(relative)
    out[exclude] = -np.inf
    return out


def _top(values: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` largest ``values`` outside ``exclude``, in no particular order."""
    candidates = np.flatnonzero(~exclude)
    if candidates.size <= k:
        return candidates
    return candidates[np.argpartition(-values[candidates], k - 1)[:k]]


def _reason(
    names: Sequence[str],
    people: Sequence[Person],
    verdicts: Sequence[Ranked | None],
    lift: Sequence[float | None],
    order: Sequence[int],
) -> str:
    """ "Best for Ana (+0.9★ above their average). Ana's Heat ★★★★★ and Bo's Alien ★★★★ point
    to it." The members with the largest lift come first, as the stars beside it show."""
    parts = []
    for m in order[:2]:
        ranked, who = verdicts[m], people[m]
        if ranked is None or not ranked.drivers or who.user is None:
            continue
        j = ranked.drivers[0][0]
        film = who.used[j]
        stars = who.user.stars[j]
        rating = f" {stars_text(float(stars))}" if np.isfinite(stars) else ""
        parts.append(f"{names[m]}'s {film.name}{rating}")
    text = best_for_text(names, lift, order)
    if parts:
        text += " " + " and ".join(parts) + (" point" if len(parts) > 1 else " points") + " to it."
    return text


def best_for_text(names: Sequence[str], lift: Sequence[float | None], order: Sequence[int]) -> str:
    """Who the film lifts most above their own average, in the stars shown beside it."""
    top = lift[order[0]] if order else None
    if top is None:
        return "No member has ratings to measure it against."
    tied = [names[m] for m in order if lift[m] == top]
    who = tied[0] if len(tied) == 1 else ", ".join(tied[:-1]) + " and " + tied[-1]
    if top > 0:
        return f"Best for {who} ({top:+.1f}★ above their average)."
    return f"Nobody is predicted above their own average; closest for {who} ({top:+.1f}★)."

"""The list controls of /recommend: discover (how well known), genres in and out, decades.

Slash options arrive as plain values; :func:`build_filters` turns them into one
:class:`ListFilters` and says clearly what is wrong (an unknown genre, decades the wrong way
round, filters that leave no film) before any work starts.

Discover levels. ``balanced`` is obscurity 0, the model's own order by predicted stars. The two
others are disjoint bands of training popularity, cut at :data:`OBSCURE_QUANTILE` of the
model's films (9 ratings on ml-latest-small), so "obscure" can never show the same list as
"less-known":

* ``less-known``: obscurity 0.75 over films *above* the cut (enough raters for the model to
  place them well): The Seventh Seal and Rosemary's Baby rather than The Godfather;
* ``obscure``: obscurity 1.0 over films *at or below* the cut, "films hardly anyone has rated"
  (Jules and Jim, La Strada, Hour of the Wolf).

Measured on five real exports with the 128-component ml-latest-small model, mean training
ratings of the top 20: balanced 114–157, less-known 29–62, obscure 1.4–3.4 (before the bands,
obscurity 0.75 and 1.0 alone gave 2.2–40 and 2.0–4.5, and one export got the same films for
both). Predicted stars stay within 0.4 of balanced for less-known. Values between 0 and 0.6
are not offered: a tilt that small switches the list from predicted-stars order to the tilted
score order, which on two exports of six is *more* popular than 0.
"""

from __future__ import annotations

from discord import app_commands

from bot.errors import UserFacingError
from recommender.errors import BoxdrecError
from recommender.filters import FilmFacts, ListFilters, decade_range
from recommender.service import RecommenderService

MAX_CHOICES = 25

OBSCURITY = {"balanced": 0.0, "less-known": 0.75, "obscure": 1.0}
OBSCURE_QUANTILE = 0.75  # films at or below this popularity quantile are "obscure"
DISCOVER_NAMES = {
    "balanced": "balanced: the films you will most likely love (default)",
    "less-known": "less-known: lean toward films fewer people have seen",
    "obscure": "obscure: films hardly anyone has rated",
}
DISCOVER_CHOICES = [app_commands.Choice(name=n, value=v) for v, n in DISCOVER_NAMES.items()]
FIRST_DECADE, LAST_DECADE = 1900, 2020
DECADE_CHOICES = [
    app_commands.Choice(name=f"{decade}s", value=decade)
    for decade in range(FIRST_DECADE, LAST_DECADE + 1, 10)
]


class BadFilter(UserFacingError):
    """A list control the catalogue cannot honour; the message says what to change."""


def split_genres(text: str | None) -> tuple[str, ...]:
    """ "Horror, thriller" -> ("Horror", "thriller"): one or more genres, comma-separated."""
    if not text:
        return ()
    return tuple(g.strip() for g in text.split(",") if g.strip())


def build_filters(
    service: RecommenderService,
    discover: str = "balanced",
    genre: str | None = None,
    exclude_genre: str | None = None,
    from_decade: int | None = None,
    to_decade: int | None = None,
) -> ListFilters:
    """The options as one :class:`ListFilters`, checked against the model's films."""
    if (discover, genre, exclude_genre, from_decade, to_decade) == ("balanced", *[None] * 4):
        return ListFilters()  # no control used: nothing to check
    facts = service.facts
    if discover not in OBSCURITY:
        raise BadFilter(f"discover must be one of {', '.join(OBSCURITY)}; not {discover!r}.")
    try:
        genres = _canonical(facts, split_genres(genre))
        excluded = _canonical(facts, split_genres(exclude_genre))
        year_from, year_to = decade_range(from_decade, to_decade)
    except BoxdrecError as error:
        raise BadFilter(str(error)) from error
    if both := sorted(set(genres) & set(excluded)):
        raise BadFilter(f"{', '.join(both)} is both wanted and excluded: pick one.")
    cut = facts.ratings_at(OBSCURE_QUANTILE)
    filters = ListFilters(
        genres=genres,
        exclude_genres=excluded,
        year_from=year_from,
        year_to=year_to,
        obscurity=OBSCURITY[discover],
        min_ratings=cut + 1 if discover == "less-known" else None,
        max_ratings=cut if discover == "obscure" else None,
    )
    if not facts.allowed(filters).any():
        raise BadFilter(f"No film the model knows fits {filters.describe()}: widen the filters.")
    return filters


def _canonical(facts: FilmFacts, names: tuple[str, ...]) -> tuple[str, ...]:
    """Genre names as the catalogue spells them ("sci-fi" -> "Sci-Fi"); unknown ones raise."""
    facts.genre_mask(names)  # raises with the list of genres to choose from
    lookup = {g.casefold(): g for g in facts.genres}
    return tuple(dict.fromkeys(lookup[n.casefold()] for n in names))


def genre_choices(facts: FilmFacts, current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete for a genre option that takes several, comma-separated: the last one typed
    is completed, the ones before it are kept ("Horror, Thr" -> "Horror, Thriller")."""
    done, _, typing = current.rpartition(",")
    before = [g for g in split_genres(done) if g.casefold() in {x.casefold() for x in facts.genres}]
    prefix = typing.strip().casefold()
    taken = {g.casefold() for g in before}
    names = [g for g in facts.genres if g.casefold() not in taken]
    names.sort(key=lambda g: (not g.casefold().startswith(prefix), g))
    names = [g for g in names if prefix in g.casefold()]
    head = ", ".join(before)
    return [
        app_commands.Choice(name=value, value=value)
        for value in ((f"{head}, {g}" if head else g) for g in names[:MAX_CHOICES])
        if len(value) <= 100
    ]

"""The /profile embed from a ``TasteProfile``: pure formatting, no Discord I/O.

Limits that bind: title 256, field names 256 and values 1024, 6000 characters in all. Film
titles come from MovieLens and the user's export, so they are escaped and cut to fit.
"""

from __future__ import annotations

from datetime import datetime

import discord

from bot.embeds import COLOUR
from recommender.crowd import MIN_FILM_RATINGS, MIN_SHARED_FILMS, Generosity
from recommender.taste import Preference, TasteDimension, TasteProfile

CHART_NAME = "profile.png"
TITLE_LIMIT = 256
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
TOTAL_LIMIT = 6000
NAME_LIMIT = 80  # a display name is at most 32 characters; a nickname too, but be safe


def fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _esc(text: str) -> str:
    return discord.utils.escape_markdown(text)


def _films(n: int) -> str:
    return f"{n:,} film{'' if n == 1 else 's'}"


def stars(value: float) -> str:
    return f"★{value:.1f}"


def counts_line(profile: TasteProfile) -> str:
    """ "1,678 films rated · 1,678 watched · average ★3.8" (the first line of the embed)."""
    parts = [f"**{profile.n_rated:,}** rated", f"**{profile.n_watched:,}** watched"]
    if profile.mean_stars is not None:
        parts.append(f"average **{stars(profile.mean_stars)}** ({profile.mean_stars:.2f})")
    parts.append(f"{_films(profile.n_films)} matched to MovieLens")
    return " · ".join(parts)


def generosity_line(g: Generosity | None, n_rated: int, *, own: bool = True) -> str:
    """How generously they rate, with the evidence behind it and its uncertainty."""
    you, your = ("you", "your") if own else ("they", "their")
    if g is None:
        return "This model has no MovieLens crowd statistics, so generosity cannot be measured."
    if n_rated == 0:
        return f"No ratings in {your} films, so there is nothing to compare with MovieLens raters."
    if g.percentile is None or g.offset is None or g.low is None or g.high is None:
        return (
            f"Only {_films(g.n_films)} {you} rated {'has' if g.n_films == 1 else 'have'} "
            f"{MIN_FILM_RATINGS}+ MovieLens ratings; {MIN_SHARED_FILMS} are needed to say how "
            f"generously {you} rate."
        )
    pct = round(g.percentile)
    if pct >= 50:
        head = f"More generous than **{pct}%** of MovieLens raters"
    else:
        head = f"Tougher than **{100 - pct}%** of MovieLens raters"
    direction = "above" if g.offset >= 0 else "below"
    line = (
        f"{head}: {abs(g.offset):.2f}★ {direction} their average on the {_films(g.n_films)} "
        f"{you} share with them"
    )
    # The plausible range (± one posterior sd) always, so every profile reads the same way.
    low, high = round(g.low), round(g.high)
    line += f" (likely {low}%)" if low == high else f" (likely {low}–{high}%)"
    return line + "."


def preference_lines(
    prefs: tuple[Preference, ...], basis: str, mean: float | None = None, *, own: bool = True
) -> str:
    """One line a genre or decade: its stars and how far that is from the person's ``mean``
    (the plain difference; the order comes from a shrunk liking, docs/architecture.md)."""
    if not prefs:
        return "Nothing stands out yet: rate more films."
    your = "your" if own else "their"
    if basis == "ratings":
        lines = []
        for p in prefs:
            line = f"**{_esc(p.name)}** · {stars(p.mean_stars or 0)} on {_films(p.films)}"
            if mean is not None and p.mean_stars is not None:
                line += f" ({p.mean_stars - mean:+.1f}★ vs {your} average)"
            lines.append(line)
    else:
        lines = [f"**{_esc(p.name)}** · {_films(p.films)} ({p.liking:.0%})" for p in prefs]
        lines.append("_By films watched: too few ratings to weigh them._")
    return "\n".join(lines)


def dimension_field(d: TasteDimension, whose: str) -> tuple[str, str]:
    """("Crime dramas: heist, mafia · 46% of your taste", "Like … \nYours: …"); ``whose`` is
    "your" or "their"."""
    name = fit(f"{d.name} · {d.share:.0%} of {whose} taste", FIELD_NAME_LIMIT)
    examples = ", ".join(
        _esc(e.title) + (f" ({e.year})" if e.year is not None else "") for e in d.examples
    )
    value = f"Like {examples}" if examples else "No example films"
    if d.yours:
        label = "Yours" if whose == "your" else "Theirs"
        value += f"\n{label}: " + ", ".join(_esc(n) for n in d.yours)
    return name, fit(value, FIELD_VALUE_LIMIT)


NO_DIMENSIONS = (
    "The model cannot read a taste from your films yet: rate a few films you enjoyed "
    "(above your average) that MovieLens knows."
)
NO_DIMENSIONS_THEIRS = (
    "The model cannot read a taste from their films yet: too few of the films they rated "
    "above their average are ones MovieLens knows."
)


def profile_embed(
    profile: TasteProfile, name: str, *, own: bool, saved_at: datetime | None = None
) -> discord.Embed:
    """One embed; the chart is attached as :data:`CHART_NAME` and shown as its image."""
    name = fit(name, NAME_LIMIT)
    whose = "Your" if own else f"{_esc(name)}'s"
    embed = discord.Embed(
        title=fit(profile.signature, TITLE_LIMIT),
        description=counts_line(profile)
        + "\n\n"
        + generosity_line(profile.generosity, profile.n_rated, own=own),
        colour=COLOUR,
    )
    embed.set_author(name=fit(f"{name}'s taste profile", TITLE_LIMIT))
    embed.add_field(
        name=f"{whose} favourite genres",
        value=fit(
            preference_lines(profile.favourite_genres, profile.basis, profile.mean_stars, own=own),
            FIELD_VALUE_LIMIT,
        ),
        inline=False,
    )
    # The favourite decades are chosen by liking, then listed in time order ("1920s, 1950s").
    decades = tuple(sorted(profile.favourite_decades, key=lambda p: p.name))
    embed.add_field(
        name=f"{whose} favourite decades",
        value=fit(
            preference_lines(decades, profile.basis, profile.mean_stars, own=own),
            FIELD_VALUE_LIMIT,
        ),
        inline=False,
    )
    if profile.dimensions:
        for d in profile.dimensions:
            field_name, value = dimension_field(d, "your" if own else "their")
            embed.add_field(name=field_name, value=value, inline=False)
    else:
        embed.add_field(
            name="Taste dimensions",
            value=NO_DIMENSIONS if own else NO_DIMENSIONS_THEIRS,
            inline=False,
        )
    embed.set_image(url=f"attachment://{CHART_NAME}")
    footer = f"Model {profile.model_name} · MovieLens ratings by GroupLens"
    if saved_at is not None:
        footer += f" · films saved {saved_at:%Y-%m-%d}"
    embed.set_footer(text=footer)
    if len(embed) > TOTAL_LIMIT:  # only absurd names get here: drop the "yours" lines
        for i, field in enumerate(embed.fields):
            embed.set_field_at(
                i,
                name=field.name or "",
                value=fit(str(field.value).split("\nYours:")[0], 300),
                inline=False,
            )
    return embed

"""Pages of embeds from a ``RecommendationResult``: pure formatting, no Discord I/O.

Discord's limits bind here: description 4096 characters, title 256, footer 2048 and 6000 for
the whole embed. Reasons are the part that gives way (they name the user's own films, whose
titles can be long); titles, links and predicted stars always fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import discord

from recommender.service import Recommendation, RecommendationResult

PER_PAGE = 5
DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
COLOUR = discord.Colour(0x00E054)  # Letterboxd green
ELLIPSIS = "…"
# "<" too: "<@123>" or "<#123>" typed into a name would render as a mention pill.
_MARKUP = re.compile(r"[\\*_~|`\[\]<]")
NOTHING_LEFT = "The model has no film left that you have not already seen."


def page_count(n_items: int) -> int:
    return max(1, -(-n_items // PER_PAGE))


def page_title(n_items: int, owner: str | None = None) -> str:
    """The title: "Your top 10 films", or "Ana's top 10 films" for the public copy."""
    whose = "Your" if owner is None else f"{_escape(owner)}'s"
    films = "film" if n_items == 1 else f"{n_items} films"
    return _cut(f"{whose} top {films}", TITLE_LIMIT)


def film_heading(rec: Recommendation) -> str:
    """**1. [The Prestige (2006)](https://letterboxd.com/tmdb/1124/)** · predicted ★4.3"""
    name = _escape(rec.title) + (f" ({rec.year})" if rec.year is not None else "")
    url = rec.letterboxd_url
    linked = f"[{name}]({url})" if url else name
    head = f"**{rec.rank}. {linked}**"
    if rec.predicted_stars is not None:
        head += f" · predicted ★{rec.predicted_stars:.1f}"
    return head


def film_entry(rec: Recommendation, reason_limit: int | None = None) -> str:
    reason = _escape(rec.reason)
    if reason_limit is not None:
        reason = _cut(reason, reason_limit)
    return f"{film_heading(rec)}\n{reason}" if reason else film_heading(rec)


def describe(items: Sequence[Recommendation], limit: int) -> str:
    """The entries, one blank line apart, with reasons shortened evenly until they fit."""
    if not items:
        return NOTHING_LEFT
    text = "\n\n".join(film_entry(r) for r in items)
    if len(text) <= limit:
        return text
    fixed = sum(len(film_heading(r)) + 1 for r in items) + 2 * (len(items) - 1)
    per_reason = max(0, (limit - fixed) // len(items))
    text = "\n\n".join(film_entry(r, per_reason) for r in items)
    # Only absurd titles get here: cut the text itself rather than fail to send.
    return _cut(text, limit)


def build_pages(
    result: RecommendationResult, owner: str | None = None, *, public: bool = False
) -> list[discord.Embed]:
    """One embed per page of :data:`PER_PAGE` films.

    The private pages carry the match summary in the footer; the public copy (``public=True``,
    titled with ``owner``) shows only which films of the list it holds.
    """
    items = result.items
    n_pages = page_count(len(items))
    title = page_title(len(items), owner if public else None)
    # The list controls in force (genres, decades, discover), so a list is never misread.
    filters = f" · {result.filters.describe()}" if result.filters.active else ""
    pages = []
    for page in range(n_pages):
        chunk = items[page * PER_PAGE : (page + 1) * PER_PAGE]
        if public:
            first, last = page * PER_PAGE + 1, page * PER_PAGE + len(chunk)
            footer = f"Films {first}–{last} of {len(items)}{filters} · boxdrec /recommend"
        else:
            footer = f"{result.summary}{filters} · Page {page + 1}/{n_pages}"
        footer = _cut(footer, FOOTER_LIMIT)
        room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - len(title) - len(footer))
        embed = discord.Embed(title=title, description=describe(chunk, room), colour=COLOUR)
        embed.set_footer(text=footer)
        pages.append(embed)
    return pages


def _escape(text: str) -> str:
    # Film titles come from the user's export and from MovieLens: neither may format the embed
    # or end a link early. No user text starts a line, so only inline markup needs escaping.
    return _MARKUP.sub(r"\\\g<0>", text)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS if limit > 0 else ""


# The same escaping and cutting for the other replies' builders (/compare, /movienight).
escape_markup, cut = _escape, _cut

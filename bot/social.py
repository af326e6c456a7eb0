"""What /compare and /movienight share: film lines, stale buttons.

Their buttons carry ``boxdrec:<kind>:<id>:<action>`` custom ids: kind ``compare``,
``movienight``, or another command's name for its Share button (bot/share.py). Views live in
memory only, so after a restart or a timeout a press on one of them would get no answer:
:func:`stale_message` tells ``BoxdBot.on_interaction`` what to say."""

from __future__ import annotations

from discord.ext import commands

from bot.embeds import cut, escape_markup
from bot.errors import UserFacingError
from bot.jobs import JobQueue
from bot.settings import Settings
from bot.storage import ProfileStore
from recommender.person import FilmCard
from recommender.service import RecommenderService

FIELD_LIMIT = 900  # below Discord's 1024 a field, so six fields stay within 6000 an embed
NAME_LIMIT = 32  # a display name as shown inside a line
TITLE_LIMIT = 120  # a film title as shown inside a line

# What a press on an expired button of each kind is told; other kinds (a Share button under
# /similar, /predict…) are told to run their command again.
STALE_MESSAGES = {
    "movienight": (
        "This movie night has ended (or the bot restarted): start a new one with /movienight."
    ),
}

_live: set[tuple[str, int]] = set()  # (kind, id) of the views alive in this process


class SocialCog(commands.Cog):
    """A cog that needs the recommender, the job queue, the profile store and the settings."""

    def __init__(
        self,
        service: RecommenderService,
        jobs: JobQueue,
        store: ProfileStore,
        settings: Settings,
    ) -> None:
        self.service = service
        self.jobs = jobs
        self.store = store
        self.settings = settings


class SocialRejected(UserFacingError):
    """The recommender's own message (a ``BoxdrecError``) for /compare or /movienight."""


def custom_id(kind: str, view_id: int, action: str) -> str:
    return f"boxdrec:{kind}:{view_id}:{action}"


def mark_live(kind: str, view_id: int, alive: bool) -> None:
    if alive:
        _live.add((kind, view_id))
    else:
        _live.discard((kind, view_id))


def stale_message(custom_id_value: str) -> str | None:
    """What to answer a press on a ``boxdrec:<kind>:…`` button whose view is gone, else None."""
    parts = custom_id_value.split(":")
    if len(parts) != 4 or parts[0] != "boxdrec" or not parts[1].isalpha():
        return None
    kind, view_id = parts[1], parts[2]
    if not view_id.isdigit() or (kind, int(view_id)) in _live:
        return None
    return STALE_MESSAGES.get(
        kind, f"This button has expired (or the bot restarted): run /{kind} again."
    )


def name(display_name: str) -> str:
    """A display name for an embed: markup escaped, cut to :data:`NAME_LIMIT`."""
    return escape_markup(cut(display_name, NAME_LIMIT))


def film_link(film: FilmCard) -> str:
    """[The Prestige (2006)](https://letterboxd.com/tmdb/1124/)"""
    text = escape_markup(cut(film.title, TITLE_LIMIT))
    text += f" ({film.year})" if film.year is not None else ""
    url = film.letterboxd_url
    return f"[{text}]({url})" if url else text


def predicted(stars: float | None) -> str:
    """A predicted rating: ★4.3, or ★? when the model cannot tell."""
    return "★?" if stars is None else f"★{stars:.1f}"


def lines_field(lines: list[str], limit: int = FIELD_LIMIT, empty: str = "None.") -> str:
    """As many whole lines as fit in ``limit`` characters (a link is never cut in half)."""
    out: list[str] = []
    size = 0
    for line in lines:
        line = cut(line, limit)
        if size + len(line) + (1 if out else 0) > limit:
            break
        out.append(line)
        size += len(line) + (1 if len(out) > 1 else 0)
    return "\n".join(out) if out else empty

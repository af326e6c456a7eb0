"""Getting someone's saved films for a command, with the message to show when there are none."""

from __future__ import annotations

import discord

from bot.errors import UserFacingError
from bot.storage import ProfileStore, StoredProfile

NO_FILMS_OWN = (
    "I have no films saved for you: run /recommend with your Letterboxd export (and keep your "
    "films when asked)."
)
NO_FILMS_DECLINED = (
    "I have no films saved for you: you chose not to keep them. To use this, run "
    "`/privacy keep_films:true`, then /recommend with your Letterboxd export."
)


class NoProfile(UserFacingError):
    """The user (or the person they asked about) has no saved films, or hides them."""


def _name(user: discord.abc.User) -> str:
    return discord.utils.escape_markdown(user.display_name)


async def require_profile(
    store: ProfileStore, user: discord.abc.User, *, viewer_id: int
) -> StoredProfile:
    """``user``'s saved films as ``viewer_id`` may see them, else a clear :class:`NoProfile`.

    Someone else's films need their consent: ``allow_compare`` (on unless they turned it off
    with /privacy).
    """
    profile = await store.load(user.id)
    if user.id == viewer_id:
        if profile is None:
            # Their own "no" is theirs to know about (never said about someone else).
            summary = await store.summary(user.id)
            declined = summary is not None and not summary.keep_films
            raise NoProfile(NO_FILMS_DECLINED if declined else NO_FILMS_OWN)
        return profile
    if profile is None:
        raise NoProfile(
            f"{_name(user)} has no saved films: they can run /recommend with their Letterboxd "
            "export and keep their films when asked."
        )
    if not profile.allow_compare:
        raise NoProfile(f"{_name(user)} does not allow comparisons.")
    return profile


OWN_FILMS_GONE = "Your saved films have since been deleted, so this can't be shared."


async def share_refusal(
    store: ProfileStore, owner: discord.abc.User, friend: discord.abc.User | None = None
) -> str | None:
    """Why a reply built from saved films may no longer be posted to the channel, else None.

    A Share button can be pressed minutes after the reply was made: by then the owner may have
    run /forget, or the friend in it /forget or ``/privacy allow_compare:false``. Their consent
    is read again at the press, never taken from the time of the reply.
    """
    mine = await store.summary(owner.id)
    if mine is None or mine.film_count is None:
        return OWN_FILMS_GONE
    if friend is None:
        return None
    theirs = await store.summary(friend.id)
    if theirs is None or theirs.film_count is None:
        return f"{_name(friend)} has since removed their saved films, so this can't be shared."
    if not theirs.allow_compare:
        return f"{_name(friend)} has since turned comparisons off, so this can't be shared."
    return None

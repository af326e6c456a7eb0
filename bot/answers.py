"""Running a command's job through the fair queue, and answering where the user is looking.

A job that has to wait turns the "thinking…" message into a place-in-line notice. From then on
that message is the one to answer in (:func:`answer` edits it), so the notice never lingers
beside the answer and the answer stays ``@original``, which views edit on timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord

from bot.errors import NOTICE_KEY, UserFacingError, notice_shown
from bot.jobs import JobQueue
from recommender.errors import BoxdrecError

T = TypeVar("T")


def place_in_line(position: int) -> str:
    """The notice a waiting user sees: 1 -> "You're next in line…"."""
    where = "next" if position == 1 else f"number {position}"
    return f"⏳ You're {where} in line: I'll answer here as soon as it's your turn."


async def run_job(
    jobs: JobQueue,
    asker: discord.Interaction | int,
    timeout: float,
    fn: Callable[..., T],
    *args: Any,
    rejected: type[UserFacingError] | None = None,
) -> T:
    """``fn(*args)`` in the pool when the asker's turn comes, with a time limit on running.

    ``asker`` is the command's interaction (deferred with "thinking", so a wait is shown in it)
    or, for a button press that answers in place, just the user's id. A recommender error
    becomes ``rejected`` with the same text, so it reaches the user as written.
    """
    interaction = asker if isinstance(asker, discord.Interaction) else None
    user_id = interaction.user.id if interaction is not None else int(asker)

    async def show(position: int) -> None:
        if interaction is None or not interaction.response.is_done():
            return
        try:
            await interaction.edit_original_response(content=place_in_line(position))
        except discord.HTTPException:
            return  # the answer still comes; only the notice is lost
        interaction.extras[NOTICE_KEY] = True

    try:
        return await jobs.run(user_id, fn, *args, timeout=timeout, on_wait=show)
    except BoxdrecError as error:
        if rejected is None:
            raise
        raise rejected(str(error)) from error


async def answer(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    file: discord.File | None = None,
    view: discord.ui.View | None = None,
) -> None:
    """The private answer to a deferred command: a followup, or an edit of the queue notice."""
    if notice_shown(interaction):
        extra: dict[str, Any] = {"attachments": [file]} if file is not None else {}
        if view is not None:
            extra["view"] = view
        await interaction.edit_original_response(content=content, embed=embed, **extra)
        return
    extra = {"view": view} if view is not None else {}
    if file is not None:
        extra["file"] = file
    if embed is not None:
        extra["embed"] = embed
    await interaction.followup.send(content, ephemeral=True, **extra)

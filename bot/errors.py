"""What a user sees when something fails, and the one function that tells them.

Every failure a user can cause is a :class:`UserFacingError` whose text is the whole reply.
Anything else is our fault: the user gets an apology with a short error id, and the log gets
the traceback under the same id. Discord failing is not: a reply to an interaction Discord no
longer knows (token expired, never acknowledged) is impossible, so that is one warning and no
second attempt; a 5xx that outlasted discord.py's retries is a warning and a "try again".
"""

from __future__ import annotations

import logging
import math
import secrets

import discord
from discord import app_commands

log = logging.getLogger(__name__)

MIB = 1024 * 1024


class UserFacingError(app_commands.AppCommandError):
    """A problem the user can fix; ``str(error)`` is shown to them as it is."""


class WrongFileType(UserFacingError):
    def __init__(self, filename: str) -> None:
        super().__init__(
            f"Attach a .csv or .zip file: {_quote(filename)} is neither. On letterboxd.com, "
            "Settings → Data → Export your data gives you a zip; attach it, or the "
            "ratings.csv inside it."
        )


class FileTooBig(UserFacingError):
    def __init__(self, filename: str, size: int, limit: int) -> None:
        super().__init__(
            f"{_quote(filename)} is {megabytes(size)}; the limit is {megabytes(limit)}. "
            "Attach ratings.csv on its own (a 10,000-film export is about 1 MB)."
        )


class BadCount(UserFacingError):
    def __init__(self, count: int, low: int, high: int) -> None:
        super().__init__(f"count must be between {low} and {high}; you asked for {count}.")


class DownloadFailed(UserFacingError):
    def __init__(self) -> None:
        super().__init__("Could not download your file from Discord; upload it again.")


class OnCooldown(UserFacingError):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"You asked a moment ago: try again in {_seconds(retry_after)}.")


def _seconds(value: float) -> str:
    """12.2 -> "13 seconds", 0.4 -> "1 second"."""
    seconds = max(1, math.ceil(value))
    return f"{seconds} second" if seconds == 1 else f"{seconds} seconds"


class Busy(UserFacingError):
    def __init__(self, retry_after: float = 60.0) -> None:
        self.retry_after = retry_after
        super().__init__(
            "The bot is busy with other people's requests right now: try again in "
            f"{_seconds(retry_after)}."
        )


class TooManyJobs(UserFacingError):
    def __init__(self, limit: int) -> None:
        requests = "request" if limit == 1 else "requests"
        super().__init__(
            f"You already have {limit} {requests} in progress: wait for "
            f"{'it' if limit == 1 else 'them'} to finish, then ask again."
        )


class JobTimeout(UserFacingError):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"Reading your export took longer than {seconds:g} seconds, so I stopped. Try "
            "again in a few minutes, or attach ratings.csv on its own."
        )


class DiscordFailed(UserFacingError):
    """Discord kept answering 5xx to a call the command made (discord.py retried, then gave up)."""

    def __init__(self, status: int) -> None:
        super().__init__(
            f"Discord had a server error ({status}) while I was answering, so my reply did not "
            "get through: try again in a minute."
        )


class ExportRejected(UserFacingError):
    """The recommender's own message (a ``BoxdrecError``): not an export, nothing matched…"""


def megabytes(size: int) -> str:
    """10485760 -> "10 MB", 12897485 -> "12.3 MB", 5000 -> "4.9 KB" (binary units, as Discord)."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = (size / MIB, "MB") if size >= MIB else (size / 1024, "KB")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _quote(filename: str) -> str:
    name = filename if len(filename) <= 80 else filename[:79] + "…"
    return f"“{discord.utils.escape_markdown(name)}”"


# Set in ``interaction.extras`` once a place-in-line notice replaced "thinking…" (bot/answers.py).
NOTICE_KEY = "boxdrec_queue_notice"


def notice_shown(interaction: discord.Interaction) -> bool:
    """Whether this interaction's message is a place-in-line notice, to be answered by edit."""
    extras = getattr(interaction, "extras", None)
    return isinstance(extras, dict) and extras.get(NOTICE_KEY) is True


# Discord refuses every reply to an interaction whose token is gone: 10015 Unknown Webhook,
# 10062 Unknown interaction (not acknowledged within 3 s), 50027 Invalid Webhook Token (past
# its 15 minutes; HTTP 401).
DEAD_INTERACTION_CODES = frozenset({10015, 10062, 50027})


def interaction_gone(error: BaseException) -> bool:
    """Whether ``error`` says the interaction can no longer be answered at all."""
    return isinstance(error, discord.HTTPException) and (
        error.status == 401 or error.code in DEAD_INTERACTION_CODES
    )


def new_error_id() -> str:
    return secrets.token_hex(4)


def user_message(error: BaseException, error_id: str) -> str:
    if isinstance(error, UserFacingError):
        return str(error)
    return f"Sorry, something went wrong on our side (error id {error_id})."


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer the interaction with one ephemeral line; log what the user must not see.

    Never raises: an error handler that fails leaves the user with "The application did not
    respond".
    """
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    error_id = new_error_id()
    command = interaction.command.qualified_name if interaction.command else None
    if interaction_gone(error):
        # Another reply would be refused the same way: say what happened and stop.
        log.warning(
            "could not answer user %s in %s: the interaction expired or Discord no longer "
            "knows it (%s)",
            interaction.user.id,
            command,
            error,
        )
        return
    if isinstance(error, discord.DiscordServerError):
        log.warning(
            "could not answer user %s in %s: Discord kept failing (%s); telling them to try again",
            interaction.user.id,
            command,
            error,
        )
        error = DiscordFailed(error.status)
    elif isinstance(error, UserFacingError):
        log.info(
            "user error in %s for user %s: %s", command, interaction.user.id, type(error).__name__
        )
    else:
        log.exception(
            "unexpected error %s in %s (user %s, guild %s)",
            error_id,
            command,
            interaction.user.id,
            interaction.guild_id,
            exc_info=error,
        )
    message = user_message(error, error_id)
    try:
        if notice_shown(interaction):  # the message reads "you're number N in line": replace it
            await interaction.edit_original_response(content=message, embed=None, view=None)
        elif interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell user %s about error %s", interaction.user.id, error_id)

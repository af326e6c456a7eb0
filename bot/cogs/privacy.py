"""/forget and /privacy: delete everything at once, and say exactly what is kept and until when.

Both answer privately. They defer first: the database normally answers in milliseconds, but
another process holding its write lock could make a call wait past Discord's 3 seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import COLOUR
from bot.storage import ProfileStore, StoredSummary

log = logging.getLogger(__name__)

WHAT_IS_KEPT = (
    "Only if you keep your films after /recommend (the default; the reply says so and offers "
    "**Don't keep my films**): the MovieLens ids of your films, your stars, whether each is "
    "watched, on your watchlist or liked, your own names for your films and the rating values "
    "you gave. Never your email address or anything else from your Letterboxd profile, and "
    "never the file you uploaded. Also kept: films you hid with **Seen it** or **Not "
    "interested**, and your comparison choice below."
)
NOTHING_STORED = "I have nothing stored about you: no films, no settings. Nothing to delete."


def _when(moment: datetime, style: str = "D") -> str:
    """A Discord timestamp: every reader sees it in their own time zone."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def _films(n: int) -> str:
    return f"{n:,} film{'' if n == 1 else 's'}"


def forget_message(summary: StoredSummary | None, rows: int) -> str:
    if rows == 0:
        return NOTHING_STORED
    if summary is None or summary.film_count is None:
        return "Deleted everything I kept about you. Nothing about you is stored any more."
    extra = f" and {_films(summary.hidden_count)} you hid" if summary.hidden_count else ""
    return (
        f"Deleted everything I kept about you: your {_films(summary.film_count)}{extra}. "
        "Nothing about you is stored any more; /recommend with your export to start again."
    )


def compare_line(allow: bool) -> str:
    if allow:
        return "Others may /compare with you and see your /profile."
    return "Nobody may /compare with you or see your /profile."


def privacy_embed(summary: StoredSummary | None, retention_days: float) -> discord.Embed:
    embed = discord.Embed(title="What boxdrec keeps about you", colour=COLOUR)
    embed.add_field(name="What is kept", value=WHAT_IS_KEPT, inline=False)
    embed.add_field(
        name="Where and for how long",
        value=(
            "In this bot's own database (a SQLite file on its server), under your Discord user "
            f"id; shared with no one. Kept {retention_days:g} days after your last upload or "
            "change, then deleted automatically."
        ),
        inline=False,
    )
    if summary is None:
        yours = "Nothing is stored about you."
    else:
        parts = []
        if summary.film_count is not None and summary.saved_at is not None:
            parts.append(f"{_films(summary.film_count)} saved {_when(summary.saved_at)}.")
        else:
            parts.append("No films saved.")
        if summary.hidden_count:
            parts.append(f"{_films(summary.hidden_count)} hidden from your lists.")
        parts.append(
            f"Expires {_when(summary.expires_at)} ({_when(summary.expires_at, 'R')}) unless "
            "you upload or change something before then."
        )
        yours = " ".join(parts)
    embed.add_field(name="Yours now", value=yours, inline=False)
    allow = True if summary is None else summary.allow_compare
    embed.add_field(
        name="Comparisons",
        value=f"{compare_line(allow)} Change it with `/privacy allow_compare:`.",
        inline=False,
    )
    embed.add_field(name="Delete", value="`/forget` deletes all of it at once.", inline=False)
    return embed


class Privacy(commands.Cog):
    def __init__(self, store: ProfileStore, retention_days: float) -> None:
        self.store = store
        self.retention_days = retention_days

    @app_commands.command(name="forget", description="Delete everything boxdrec keeps about you")
    async def forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = interaction.user.id
        summary = await self.store.summary(user_id)
        rows = await self.store.forget(user_id)
        await interaction.followup.send(forget_message(summary, rows), ephemeral=True)

    @app_commands.command(
        name="privacy", description="What boxdrec keeps about you, for how long, and who sees it"
    )
    @app_commands.describe(
        allow_compare="Let others /compare with you and see your /profile (default: allowed)"
    )
    async def privacy(
        self, interaction: discord.Interaction, allow_compare: bool | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = interaction.user.id
        content = None
        if allow_compare is not None:
            await self.store.set_allow_compare(user_id, allow_compare)
            log.info("user %s set allow_compare=%s", user_id, allow_compare)
            content = f"Done: {compare_line(allow_compare)}"
        summary = await self.store.summary(user_id)
        embed = privacy_embed(summary, self.retention_days)
        await interaction.followup.send(content, embed=embed, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.privacy needs a BoxdBot (it brings the profile store)")
    await bot.add_cog(Privacy(bot.store, bot.settings.retention_days))

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
    "**Don't keep my films**): for each film that matched MovieLens, its MovieLens id, your "
    "own title and year for it, your stars and whether it is watched, on your watchlist or "
    "liked; the MovieLens ids of the films you watched; every rating value in your export; the "
    "titles and years of films that matched no MovieLens film (so they are never recommended "
    "back); the match summary and its counts (rows, matched, ambiguous, duplicates, not in "
    "MovieLens, not in the model, watched, rated); and when you saved them. Never your email "
    "address or anything else from your Letterboxd profile, and never the file you uploaded. "
    "Also kept: films you hid with **Seen it** or **Not interested** (which film, which button, "
    "when), your two choices below, and when you last changed something (for the expiry)."
)
CHOICES_KEPT = (
    "Your choices (may others compare with you, and do I keep your films) are kept until you "
    "change them or use /forget, also after your films expire: they hold only your Discord user "
    "id, two yes/no answers and the date of your last change, so that a no stays a no."
)
NOTHING_STORED = "I have nothing stored about you: no films, no settings. Nothing to delete."
SAVED_AGAIN = (
    "Your next /recommend upload will be saved again unless you press **Don't keep my films** "
    "or use `/privacy keep_films:false`."
)


def _when(moment: datetime, style: str = "D") -> str:
    """A Discord timestamp: every reader sees it in their own time zone."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def _films(n: int) -> str:
    return f"{n:,} film{'' if n == 1 else 's'}"


def forget_message(summary: StoredSummary | None, rows: int) -> str:
    if rows == 0:
        return NOTHING_STORED
    items = []
    if summary is not None:
        if summary.film_count is not None:
            items.append(f"your {_films(summary.film_count)}")
        if summary.hidden_count:
            items.append(f"{_films(summary.hidden_count)} you hid")
        if summary.has_choices:
            items.append("your /privacy choices")
    what = ""
    if items:
        what = ": " + (items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1])
    text = f"Deleted everything I kept about you{what}. Nothing about you is stored any more."
    return f"{text} {SAVED_AGAIN}"


def compare_line(allow: bool) -> str:
    if allow:
        return "Others may /compare with you and see your /profile."
    return "Nobody may /compare with you or see your /profile."


def keep_line(keep: bool) -> str:
    if keep:
        return "Your films are saved when you upload them with /recommend."
    return (
        "Your films are not saved when you upload them, so /profile, /compare and /movienight "
        "do not work for you."
    )


def kept_done(keep: bool, deleted: int) -> str:
    """The answer to `/privacy keep_films:`."""
    if keep:
        return "Done: your films will be saved from your next /recommend upload."
    gone = " I deleted the films (and hidden films) I had saved." if deleted else ""
    return f"Done: I will not save your films when you upload them.{gone}"


def privacy_embed(summary: StoredSummary | None, retention_days: float) -> discord.Embed:
    embed = discord.Embed(title="What boxdrec keeps about you", colour=COLOUR)
    embed.add_field(name="What is kept", value=WHAT_IS_KEPT, inline=False)
    embed.add_field(
        name="Where and for how long",
        value=(
            "In this bot's own database (a SQLite file on its server), under your Discord user "
            f"id; shared with no one. Films and hidden films are kept {retention_days:g} days "
            f"after your last upload or change, then deleted automatically. {CHOICES_KEPT}"
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
        if summary.expires_at is not None:
            parts.append(
                f"Expires {_when(summary.expires_at)} ({_when(summary.expires_at, 'R')}) unless "
                "you upload or change something before then."
            )
        if summary.has_choices:
            parts.append("Your choices below are kept until you change them or use /forget.")
        yours = " ".join(parts)
    embed.add_field(name="Yours now", value=yours, inline=False)
    allow = True if summary is None else summary.allow_compare
    keep = True if summary is None else summary.keep_films
    embed.add_field(
        name="Comparisons",
        value=f"{compare_line(allow)} Change it with `/privacy allow_compare:`.",
        inline=False,
    )
    embed.add_field(
        name="Saving your films",
        value=f"{keep_line(keep)} Change it with `/privacy keep_films:`.",
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
        allow_compare="Let others /compare with you and see your /profile (default: allowed)",
        keep_films="Save your films when you upload them (default: yes; no also deletes them)",
    )
    async def privacy(
        self,
        interaction: discord.Interaction,
        allow_compare: bool | None = None,
        keep_films: bool | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = interaction.user.id
        done = []
        if allow_compare is not None:
            await self.store.set_allow_compare(user_id, allow_compare)
            log.info("user %s set allow_compare=%s", user_id, allow_compare)
            done.append(f"Done: {compare_line(allow_compare)}")
        if keep_films is not None:
            deleted = await self.store.set_keep_films(user_id, keep_films)
            done.append(kept_done(keep_films, deleted))
        summary = await self.store.summary(user_id)
        embed = privacy_embed(summary, self.retention_days)
        await interaction.followup.send("\n".join(done) or None, embed=embed, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.privacy needs a BoxdBot (it brings the profile store)")
    await bot.add_cog(Privacy(bot.store, bot.settings.retention_days))

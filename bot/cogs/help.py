"""/help: how to get a Letterboxd export, what the bot reads, and what it keeps (nothing)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.embeds import COLOUR
from bot.errors import megabytes

TITLE = "boxdrec: films you will probably love, from your Letterboxd"
INTRO = (
    "Attach your Letterboxd export to `/recommend` and get films you have not seen yet, each "
    "with a predicted star rating and the films of yours that point to it."
)
GET_EXPORT = (
    "On letterboxd.com: **Settings → Data → Export your data**. You get a zip: attach it, or "
    "the ratings.csv inside it, to `/recommend file:`. Files up to {limit}."
)
FILES_READ = (
    "From the zip: ratings.csv, watched.csv, watchlist.csv, diary.csv and likes/films.csv. "
    "Never profile.csv (it holds your email address)."
)
KEPT = (
    "Nothing. Your upload is processed in memory and discarded. Replies are visible only to "
    "you unless you press **Share to channel**."
)
OPTIONS = (
    "`count`: how many films, 1–50 (default 10). `exclude_watchlist`: leave out films on your "
    "watchlist (by default they stay in, marked). **Download CSV** gives a file Letterboxd's "
    "list importer reads."
)


def help_embed(max_upload_bytes: int, model_name: str) -> discord.Embed:
    embed = discord.Embed(title=TITLE, description=INTRO, colour=COLOUR)
    embed.add_field(
        name="Get your export",
        value=GET_EXPORT.format(limit=megabytes(max_upload_bytes)),
        inline=False,
    )
    embed.add_field(name="What is read", value=FILES_READ, inline=False)
    embed.add_field(name="What the bot keeps", value=KEPT, inline=False)
    embed.add_field(name="Options", value=OPTIONS, inline=False)
    embed.set_footer(text=f"Model: {model_name}, trained on MovieLens ratings (GroupLens).")
    return embed


class Help(commands.Cog):
    def __init__(self, max_upload_bytes: int, model_name: str) -> None:
        self.embed = help_embed(max_upload_bytes, model_name)

    @app_commands.command(
        name="help", description="How to use boxdrec and what it does with your file"
    )
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=self.embed, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.help needs a BoxdBot")
    await bot.add_cog(Help(bot.settings.max_upload_bytes, bot.service.model.name))

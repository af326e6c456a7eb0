"""/help: how to get a Letterboxd export, what the bot reads, and what it keeps."""

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
    "Your file is read in memory and discarded. Your matched films (ids, stars, flags, your "
    "titles, unmatched titles and the match summary; never your email) are saved so other "
    "commands need no re-upload, unless you press **Don't keep my films** (remembered for "
    "later uploads). `/privacy`: what is kept, for how long, who may compare with you, and "
    "whether your films are kept. `/forget`: delete it all at once. Replies are visible only "
    "to you unless you press **Share to channel** (a `/movienight` lobby is public)."
)
PROFILE = (
    "`/profile`: your taste from your saved films: genres and decades you rate above your "
    "average, how generously you rate next to MovieLens raters, your strongest taste "
    "dimensions and a chart. `/profile user:` shows someone's in a server you share, if "
    "they allow it."
)
TOGETHER = (
    "`/compare user:@friend`: how your ratings agree on films you both rated (after allowing "
    "for how generously each of you rates, and honest about how few films you share), how "
    "alike your tastes are, and films each of you loved that the other has not seen. "
    "`/movienight`: a lobby where 2 to 8 people press **Join**; the starter picks filters "
    "(genre, decades, well-known or less-known) and presses **Start** for films none of "
    "you has seen, fair to everyone, with each person's predicted stars."
)
OPTIONS = (
    "`count`: how many films, 1–50 (default 10). `exclude_watchlist`: leave out films on your "
    "watchlist (by default they stay in, marked). `discover`: balanced, less-known or "
    "obscure. `genre` / `exclude_genre`: one or more genres, comma-separated. `from_decade` / "
    "`to_decade`: a range of decades. Under the list, **Seen it** / **Not interested** takes "
    "a film out and re-ranks at once (remembered while your films are kept). **Download "
    "CSV** gives a file Letterboxd's list importer reads."
)
ONE_FILM = (
    "`/similar film:` the films nearest to one film in the model's taste space. "
    "`/predict film:` your predicted stars for one film, with the films of yours behind "
    "them (needs your saved films). Start typing a title and pick it from the list."
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
    embed.add_field(name="Your taste", value=PROFILE, inline=False)
    embed.add_field(name="With friends", value=TOGETHER, inline=False)
    embed.add_field(name="One film", value=ONE_FILM, inline=False)
    embed.add_field(name="/recommend options", value=OPTIONS, inline=False)
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

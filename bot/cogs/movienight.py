"""/movienight: the starter picks filters and posts a public lobby; the group joins; Start ranks.

The lobby (bot/lobby.py) is public because a movie night is a group activity; everything a
single person is told (no saved films, the lobby is full, only the starter can start) is
private. Filters are checked at once, so a typo in a genre never reaches the lobby.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.errors import UserFacingError
from bot.list_options import DECADE_CHOICES, DISCOVER_CHOICES, build_filters, genre_choices
from bot.lobby import Lobby, NightSettings
from bot.profiles import require_profile
from bot.social import SocialCog

log = logging.getLogger(__name__)

MIN_COUNT, MAX_COUNT, DEFAULT_COUNT = 1, 10, 5
# The profile look-up happens before the public lobby is posted, inside Discord's 3 seconds.
STORE_TIMEOUT = 2.0


class NotInServer(UserFacingError):
    def __init__(self) -> None:
        super().__init__("Start a movie night in a server channel, where your friends can join.")


class StoreBusy(UserFacingError):
    def __init__(self) -> None:
        super().__init__("The bot's database is busy right now: try again in a moment.")


class MovieNight(SocialCog):
    """The service, pool, store and settings come from :class:`SocialCog`."""

    @app_commands.command(
        name="movienight",
        description="Pick films a group will enjoy: friends join, you press Start",
    )
    @app_commands.guild_only()
    @app_commands.describe(
        discover="Well-known films, or less-known ones (default: balanced)",
        genre="Only these genres (one, or several separated by commas)",
        exclude_genre="Leave out these genres (one, or several separated by commas)",
        from_decade="Only films from this decade on",
        to_decade="Only films up to this decade",
        allow_rewatches="Also films someone has seen (never one someone rated low)",
        count=f"How many films ({MIN_COUNT}–{MAX_COUNT}, default {DEFAULT_COUNT})",
    )
    @app_commands.choices(
        discover=DISCOVER_CHOICES, from_decade=DECADE_CHOICES, to_decade=DECADE_CHOICES
    )
    async def movienight(
        self,
        interaction: discord.Interaction,
        discover: str = "balanced",
        genre: str | None = None,
        exclude_genre: str | None = None,
        from_decade: int | None = None,
        to_decade: int | None = None,
        allow_rewatches: bool = False,
        count: app_commands.Range[int, MIN_COUNT, MAX_COUNT] = DEFAULT_COUNT,
    ) -> None:
        if interaction.guild_id is None:
            raise NotInServer()
        # The same controls as /recommend, checked the same way (an unknown genre, decades the
        # wrong way round, filters that leave no film), before the public lobby is posted.
        filters = build_filters(
            self.service, discover, genre, exclude_genre, from_decade, to_decade
        )
        night = NightSettings(
            filters=filters,
            allow_rewatch=allow_rewatches,
            count=min(max(count, MIN_COUNT), MAX_COUNT),  # Discord enforces it; discord.py not
        )
        user = interaction.user
        try:
            await asyncio.wait_for(
                require_profile(self.store, user, viewer_id=user.id), STORE_TIMEOUT
            )
        except TimeoutError:
            raise StoreBusy() from None
        lobby = Lobby(
            interaction,
            night,
            service=self.service,
            store=self.store,
            jobs=self.jobs,
            job_timeout=self.settings.job_timeout_seconds,
        )
        log.info("user %s opened movie night %s (%s)", user.id, interaction.id, night.describe())
        try:
            await interaction.response.send_message(embed=lobby.embed, view=lobby)
        except Exception:
            lobby.stop()
            raise

    @movienight.autocomplete("genre")
    @movienight.autocomplete("exclude_genre")
    async def genre_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        return genre_choices(self.service.facts, current)


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.movienight needs a BoxdBot (it brings the service and the store)")
    await bot.add_cog(MovieNight(bot.service, bot.jobs, bot.store, bot.settings))

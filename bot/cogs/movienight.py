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
from bot.lobby import Lobby, NightSettings
from bot.profiles import require_profile
from bot.social import SocialCog, SocialRejected
from recommender.errors import BoxdrecError
from recommender.filters import ListFilters, decade_range

log = logging.getLogger(__name__)

MIN_COUNT, MAX_COUNT, DEFAULT_COUNT = 1, 10, 5
FIRST_DECADE, LAST_DECADE = 1870, 2030
# The profile look-up happens before the public lobby is posted, inside Discord's 3 seconds.
STORE_TIMEOUT = 2.0
POPULARITY = {"known": 0.0, "mixed": 0.5, "obscure": 1.0}
AUTOCOMPLETE_LIMIT = 25  # Discord shows at most 25 choices


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
        genre="Only films of this genre",
        exclude_genre="No films of this genre",
        decade_from="From this decade on, e.g. 1970",
        decade_to="Up to this decade, e.g. 1990",
        popularity="Well-known films, a mix, or less-known films",
        allow_rewatches="Also films someone has seen (never one someone rated low)",
        count=f"How many films ({MIN_COUNT}–{MAX_COUNT}, default {DEFAULT_COUNT})",
    )
    @app_commands.choices(
        popularity=[
            Choice(name="Well-known films", value="known"),
            Choice(name="A mix", value="mixed"),
            Choice(name="Less-known films", value="obscure"),
        ]
    )
    async def movienight(
        self,
        interaction: discord.Interaction,
        genre: str | None = None,
        exclude_genre: str | None = None,
        decade_from: app_commands.Range[int, FIRST_DECADE, LAST_DECADE] | None = None,
        decade_to: app_commands.Range[int, FIRST_DECADE, LAST_DECADE] | None = None,
        popularity: Choice[str] | None = None,
        allow_rewatches: bool = False,
        count: app_commands.Range[int, MIN_COUNT, MAX_COUNT] = DEFAULT_COUNT,
    ) -> None:
        if interaction.guild_id is None:
            raise NotInServer()
        night = NightSettings(
            filters=self._filters(genre, exclude_genre, decade_from, decade_to, popularity),
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

    def _filters(
        self,
        genre: str | None,
        exclude_genre: str | None,
        decade_from: int | None,
        decade_to: int | None,
        popularity: Choice[str] | None,
    ) -> ListFilters:
        try:
            low, high = decade_range(decade_from, decade_to)
            filters = ListFilters(
                genres=self._genre(genre),
                exclude_genres=self._genre(exclude_genre),
                year_from=low,
                year_to=high,
                obscurity=POPULARITY.get(popularity.value, 0.0) if popularity else 0.0,
            )
            if not self.service.facts.allowed(filters).any():  # also checks the genre names
                raise BoxdrecError(
                    f"No film in the catalogue fits those filters ({filters.describe()}): "
                    "widen them."
                )
        except BoxdrecError as error:
            raise SocialRejected(str(error)) from error
        return filters

    def _genre(self, typed: str | None) -> tuple[str, ...]:
        """The catalogue's spelling of a typed genre ("sci-fi" -> "Sci-Fi"); unknown names are
        kept as typed, for the filter check to name them."""
        if not typed or not typed.strip():
            return ()
        known = {g.casefold(): g for g in self.service.facts.genres}
        return (known.get(typed.strip().casefold(), typed.strip()),)

    @movienight.autocomplete("genre")
    @movienight.autocomplete("exclude_genre")
    async def genre_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        typed = current.strip().casefold()
        names = [g for g in self.service.facts.genres if typed in g.casefold()]
        return [Choice(name=g, value=g) for g in names[:AUTOCOMPLETE_LIMIT]]


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.movienight needs a BoxdBot (it brings the service and the store)")
    await bot.add_cog(MovieNight(bot.service, bot.jobs, bot.store, bot.settings))

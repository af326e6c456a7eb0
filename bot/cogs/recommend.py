"""/recommend: a Letterboxd export in, a private page of films out.

Instant checks (cooldown, count, file type and size, a full queue) answer at once; everything
else happens after ``defer`` so Discord's 3-second deadline holds whatever the load. Parsing and
ranking wait their turn in the bot's fair queue (bot/jobs.py) and run in its pool, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Literal

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import answer, run_job
from bot.errors import (
    BadCount,
    DownloadFailed,
    ExportRejected,
    FileTooBig,
    OnCooldown,
    WrongFileType,
)
from bot.jobs import JobQueue
from bot.list_options import DECADE_CHOICES, DISCOVER_CHOICES, build_filters, genre_choices
from bot.settings import Settings
from bot.storage import ProfileSnapshot, ProfileStore
from bot.views import RecommendationView, saved_line
from recommender.filters import ListFilters
from recommender.service import RecommendationResult, RecommenderService
from recommender.user_films import UserFilms

log = logging.getLogger(__name__)

MIN_COUNT, MAX_COUNT, DEFAULT_COUNT = 1, 50, 10
ALLOWED_SUFFIXES = (".csv", ".zip")

# What became of the uploaded films: saved; not saved because the user said no before
# ("Don't keep my films", /privacy keep_films:false); not saved because the database failed.
Kept = Literal["saved", "declined", "failed"]
DECLINED_LINE = (
    "Not saved, as you asked; /privacy keep_films:true to save them from your next upload."
)
FAILED_LINE = (
    "Your films could not be saved this time, so /profile, /compare and /movienight will need "
    "a new upload."
)


class Recommend(commands.Cog):
    """Holds the per-user cooldowns; the service, job queue and settings are injected."""

    def __init__(
        self,
        service: RecommenderService,
        jobs: JobQueue,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        store: ProfileStore | None = None,
    ) -> None:
        self.service = service
        self.store = store  # None: nothing is saved (and the reply says nothing about it)
        self.jobs = jobs
        self.settings = settings
        self.clock = clock
        self._last_start: dict[int, float] = {}

    @app_commands.command(
        name="recommend", description="Films you have not seen, from your Letterboxd export"
    )
    @app_commands.describe(
        file="Your Letterboxd export: the .zip, or the ratings.csv inside it",
        count=f"How many films ({MIN_COUNT}–{MAX_COUNT}, default {DEFAULT_COUNT})",
        exclude_watchlist="Leave out films on your watchlist (default: keep them, marked)",
        discover="Well-known films, or less-known ones (default: balanced)",
        genre="Only these genres (one, or several separated by commas)",
        exclude_genre="Leave out these genres (one, or several separated by commas)",
        from_decade="Only films from this decade on",
        to_decade="Only films up to this decade",
    )
    @app_commands.choices(
        discover=DISCOVER_CHOICES, from_decade=DECADE_CHOICES, to_decade=DECADE_CHOICES
    )
    async def recommend(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        count: app_commands.Range[int, MIN_COUNT, MAX_COUNT] = DEFAULT_COUNT,
        exclude_watchlist: bool = False,
        discover: str = "balanced",
        genre: str | None = None,
        exclude_genre: str | None = None,
        from_decade: int | None = None,
        to_decade: int | None = None,
    ) -> None:
        user_id = interaction.user.id
        self._check_cooldown(user_id)
        if not MIN_COUNT <= count <= MAX_COUNT:  # Discord enforces it; discord.py does not
            raise BadCount(count, MIN_COUNT, MAX_COUNT)
        filters = build_filters(
            self.service, discover, genre, exclude_genre, from_decade, to_decade
        )
        limit = self._size_limit(interaction)
        self._check_attachment(file, limit)
        self.jobs.check(user_id)  # a full line, or too many of theirs: say so at once

        # Started before the first await: a burst must not all pass the cooldown at once.
        self._last_start[user_id] = self.clock()
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self._download(file)
        if len(data) > limit:  # the attachment's size field is only a claim
            raise FileTooBig(file.filename, len(data), limit)
        hidden = await self._hidden(user_id)
        result, films = await run_job(
            self.jobs,
            interaction,
            self.settings.job_timeout_seconds,
            self._job,
            data,
            file.filename,
            count,
            exclude_watchlist,
            filters,
            hidden,
            rejected=ExportRejected,
        )
        log.info(
            "recommended %d films to user %s in %.2f s (%s)",
            len(result.items),
            user_id,
            result.seconds,
            result.summary,
        )
        # Saved before the answer, so a command right after it finds the films; taken back if
        # the answer (which says so and offers "Don't keep") never reaches the user.
        previous = await self._previous_films(user_id)
        kept = await self._keep(user_id, films)
        rerank = partial(self._rerank, user_id, films, count, exclude_watchlist, filters)
        view = RecommendationView(
            result,
            interaction,
            store=self.store if kept == "saved" else None,  # "Don't keep" only for saved films
            rerank=rerank,
            hidden=hidden,
            saved_count=len(films.films),
        )
        try:
            await answer(interaction, self._kept_line(kept, films), embed=view.current, view=view)
        except Exception:
            view.stop()  # nobody can press its buttons: do not keep it until the timeout
            if kept == "saved":
                await self._take_back(user_id, previous)
            raise

    @recommend.autocomplete("genre")
    @recommend.autocomplete("exclude_genre")
    async def _genres(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return genre_choices(self.service.facts, current)

    # -- hidden films: "Seen it" / "Not interested" ------------------------------------------

    async def _hidden(self, user_id: int) -> frozenset[int]:
        """The films the user hid before (remembered only while their films are kept)."""
        if self.store is None:
            return frozenset()
        try:
            return frozenset(await self.store.hidden(user_id))
        except Exception:  # the database costs the hiding, never the recommendations
            log.exception("could not read the hidden films of user %s", user_id)
            return frozenset()

    async def _rerank(
        self,
        user_id: int,
        films: UserFilms,
        count: int,
        exclude_watchlist: bool,
        filters: ListFilters,
        hidden: frozenset[int],
    ) -> RecommendationResult:
        """The same list again without ``hidden``, in the pool (a press on "Seen it")."""
        return await run_job(
            self.jobs,
            user_id,
            self.settings.job_timeout_seconds,
            self.service.recommend_films,
            films,
            count,
            exclude_watchlist,
            filters,
            hidden,
        )

    # -- consent: saved by default, "Don't keep my films" under the reply --------------------

    async def _keep(self, user_id: int, films: UserFilms) -> Kept | None:
        """Save the films unless the user said no before; ``None`` without a store."""
        if self.store is None:
            return None
        try:
            saved = await self.store.save_films(user_id, films)
        except Exception:  # a full disk costs the saving, never the recommendations
            log.exception("could not save the films of user %s", user_id)
            return "failed"
        return "saved" if saved else "declined"

    async def _previous_films(self, user_id: int) -> ProfileSnapshot | Literal[False]:
        """The profile row before this upload, to put back if its answer never arrives
        (``False``: unreadable, so nothing is ever taken back)."""
        if self.store is None:
            return False
        try:
            return await self.store.snapshot(user_id)
        except Exception:
            log.exception("could not read the saved films of user %s", user_id)
            return False

    async def _take_back(self, user_id: int, previous: ProfileSnapshot | Literal[False]) -> None:
        if self.store is None or previous is False:
            return
        try:
            await self.store.restore(user_id, previous)
        except Exception:
            log.exception("could not take back the films of user %s", user_id)

    def _kept_line(self, kept: Kept | None, films: UserFilms) -> str | None:
        if kept is None or self.store is None:
            return None
        if kept == "declined":
            return DECLINED_LINE
        if kept == "failed":
            return FAILED_LINE
        return saved_line(len(films.films), self.store.retention_days)

    # -- checks ------------------------------------------------------------------------------

    def _check_cooldown(self, user_id: int) -> None:
        cooldown = self.settings.user_cooldown_seconds
        if cooldown <= 0:
            return
        now = self.clock()
        last = self._last_start.get(user_id)
        if last is not None and now - last < cooldown:
            raise OnCooldown(cooldown - (now - last))
        if len(self._last_start) > 1000:
            self._last_start = {u: t for u, t in self._last_start.items() if now - t < cooldown}

    def _size_limit(self, interaction: discord.Interaction) -> int:
        limit = self.settings.max_upload_bytes
        # Discord's own attachment limit for this interaction: an extra cap when present.
        discord_limit = getattr(interaction, "filesize_limit", None)
        if isinstance(discord_limit, int) and discord_limit > 0:
            limit = min(limit, discord_limit)
        return limit

    @staticmethod
    def _check_attachment(file: discord.Attachment, limit: int) -> None:
        if not file.filename.lower().endswith(ALLOWED_SUFFIXES):
            raise WrongFileType(file.filename)
        if file.size > limit:
            raise FileTooBig(file.filename, file.size, limit)

    # -- the slow part -----------------------------------------------------------------------

    async def _download(self, file: discord.Attachment) -> bytes:
        try:
            return await asyncio.wait_for(file.read(), self.settings.download_timeout_seconds)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as error:
            log.warning("download of attachment %s failed: %r", file.id, error)
            raise DownloadFailed() from error

    def _job(
        self,
        data: bytes,
        filename: str,
        count: int,
        exclude_watchlist: bool,
        filters: ListFilters | None = None,
        hidden: frozenset[int] = frozenset(),
    ) -> tuple[RecommendationResult, UserFilms]:
        start = time.perf_counter()
        export = self.service.read_export(data, filename)
        films, report = self.service.user_films(export)  # what is saved, with consent
        result = self.service.recommend_films(
            films, n=count, exclude_watchlist=exclude_watchlist, filters=filters, hidden=hidden
        )
        return replace(result, report=report, seconds=time.perf_counter() - start), films


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.recommend needs a BoxdBot (it brings the service and pool)")
    await bot.add_cog(Recommend(bot.service, bot.jobs, bot.settings, store=bot.store))

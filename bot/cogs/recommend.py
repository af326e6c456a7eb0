"""/recommend: a Letterboxd export in, a private page of films out.

Instant checks (cooldown, count, file type and size) answer at once; everything else happens
after ``defer`` so Discord's 3-second deadline holds whatever the load. Parsing and ranking run
in the bot's bounded pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import (
    BadCount,
    Busy,
    DownloadFailed,
    ExportRejected,
    FileTooBig,
    JobTimeout,
    OnCooldown,
    WrongFileType,
)
from bot.settings import Settings
from bot.views import RecommendationView
from recommender.errors import BoxdrecError
from recommender.service import RecommendationResult, RecommenderService

log = logging.getLogger(__name__)

MIN_COUNT, MAX_COUNT, DEFAULT_COUNT = 1, 50, 10
ALLOWED_SUFFIXES = (".csv", ".zip")
# Jobs waiting for the pool beyond this many per worker are turned away rather than queued.
QUEUE_PER_WORKER = 4


class Recommend(commands.Cog):
    """Holds the per-user cooldowns; the service, pool and settings are injected."""

    def __init__(
        self,
        service: RecommenderService,
        executor: Executor,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.executor = executor
        self.settings = settings
        self.clock = clock
        self.max_jobs = settings.max_concurrent_jobs * QUEUE_PER_WORKER
        self.jobs = 0
        self._last_start: dict[int, float] = {}

    @app_commands.command(
        name="recommend", description="Films you have not seen, from your Letterboxd export"
    )
    @app_commands.describe(
        file="Your Letterboxd export: the .zip, or the ratings.csv inside it",
        count=f"How many films ({MIN_COUNT}–{MAX_COUNT}, default {DEFAULT_COUNT})",
        exclude_watchlist="Leave out films on your watchlist (default: keep them, marked)",
    )
    async def recommend(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment,
        count: app_commands.Range[int, MIN_COUNT, MAX_COUNT] = DEFAULT_COUNT,
        exclude_watchlist: bool = False,
    ) -> None:
        user_id = interaction.user.id
        self._check_cooldown(user_id)
        if not MIN_COUNT <= count <= MAX_COUNT:  # Discord enforces it; discord.py does not
            raise BadCount(count, MIN_COUNT, MAX_COUNT)
        limit = self._size_limit(interaction)
        self._check_attachment(file, limit)
        if self.jobs >= self.max_jobs:
            raise Busy()

        # Counted before the first await: a burst must not all pass the check above at once.
        self.jobs += 1
        self._last_start[user_id] = self.clock()
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            data = await self._download(file)
            if len(data) > limit:  # the attachment's size field is only a claim
                raise FileTooBig(file.filename, len(data), limit)
            result = await self._run(data, file.filename, count, exclude_watchlist)
        finally:
            self.jobs -= 1
        log.info(
            "recommended %d films to user %s in %.2f s (%s)",
            len(result.items),
            user_id,
            result.seconds,
            result.summary,
        )
        view = RecommendationView(result, interaction)
        try:
            await interaction.followup.send(embed=view.current, view=view, ephemeral=True)
        except Exception:
            view.stop()  # nobody can press its buttons: do not keep it until the timeout
            raise

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

    async def _run(
        self, data: bytes, filename: str, count: int, exclude_watchlist: bool
    ) -> RecommendationResult:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(
            self.executor, self._job, data, filename, count, exclude_watchlist
        )
        try:
            return await asyncio.wait_for(job, self.settings.job_timeout_seconds)
        except TimeoutError:
            raise JobTimeout(self.settings.job_timeout_seconds) from None
        except BoxdrecError as error:
            raise ExportRejected(str(error)) from error

    def _job(
        self, data: bytes, filename: str, count: int, exclude_watchlist: bool
    ) -> RecommendationResult:
        export = self.service.read_export(data, filename)
        return self.service.recommend(export, n=count, exclude_watchlist=exclude_watchlist)


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.recommend needs a BoxdBot (it brings the service and pool)")
    await bot.add_cog(Recommend(bot.service, bot.executor, bot.settings))

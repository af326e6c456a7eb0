"""The Bot: settings in, recommender loaded once, a bounded pool for the heavy work.

``setup_hook`` runs once after login and before the gateway connects: it loads the
recommender off the event loop, loads the extensions and, only when asked, syncs the command
tree.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from concurrent.futures import ThreadPoolExecutor

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.errors import report_error
from bot.jobs import JobQueue
from bot.settings import Settings
from bot.social import stale_message
from bot.storage import ProfileStore
from bot.views import EXPIRED_MESSAGE, stale_origin
from recommender.pipeline import load_service
from recommender.service import RecommenderService

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600.0  # expired saved films go within the hour

EXTENSIONS: tuple[str, ...] = (
    "bot.cogs.recommend",
    "bot.cogs.help",
    "bot.cogs.privacy",
    "bot.cogs.profile",
    "bot.cogs.compare",
    "bot.cogs.movienight",
    "bot.cogs.films",
)


class BoxdTree(app_commands.CommandTree):
    """The command tree with the one error handler every command shares."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


def apply_endpoints(settings: Settings) -> None:
    """Point discord.py at a REST proxy and gateway (or a local fake) when they are set."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
        log.info("REST API base: %s", settings.discord_api_base)
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
        log.info("gateway: %s", settings.discord_gateway_url)


def load_recommender(settings: Settings) -> RecommenderService:
    """Blocking: find or train the model and build the service (run it in a thread)."""
    return load_service(
        settings.data_dir, settings.model_dir, settings.model, limits=settings.import_limits
    )


class BoxdBot(commands.Bot):
    """commands.Bot with the recommender, the job pool and the settings attached."""

    def __init__(
        self,
        settings: Settings,
        *,
        sync_commands: bool = False,
        service: RecommenderService | None = None,
        store: ProfileStore | None = None,
    ) -> None:
        # No voice here: spare the log discord.py's "PyNaCl/davey is not installed" warnings.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=discord.Intents.default(),
            tree_cls=BoxdTree,
            guild_ready_timeout=settings.guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.sync_commands = sync_commands
        self._service = service
        self._store = store  # tests inject one; otherwise opened in setup_hook
        self._purger: asyncio.Task[None] | None = None
        self.executor = ThreadPoolExecutor(
            max_workers=settings.max_concurrent_jobs, thread_name_prefix="boxdrec-job"
        )
        # Every command's heavy work goes through this fair, bounded line (bot/jobs.py).
        self.jobs = JobQueue(
            self.executor,
            workers=settings.max_concurrent_jobs,
            max_waiting=settings.max_queued_jobs,
            per_user=settings.max_jobs_per_user,
        )

    @property
    def service(self) -> RecommenderService:
        if self._service is None:
            raise RuntimeError("the recommender is loaded in setup_hook; it is not ready yet")
        return self._service

    @property
    def store(self) -> ProfileStore:
        if self._store is None:
            raise RuntimeError("the profile store is opened in setup_hook; it is not ready yet")
        return self._store

    async def open_store(self) -> ProfileStore:
        """Open the database, purge what expired while the bot was down, then hourly."""
        if self._store is None:
            self._store = await ProfileStore.open(
                self.settings.database, self.settings.retention_days
            )
        await self._store.purge_expired()
        self._purger = asyncio.create_task(self._purge_periodically(), name="boxdrec-purge")
        return self._store

    async def _purge_periodically(self) -> None:
        # The module constant is read each round, so a test can shorten the wait.
        while True:
            await asyncio.sleep(PURGE_EVERY_SECONDS)
            await self.purge_once()

    async def purge_once(self) -> int:
        """One round of the hourly purge: how many users' expired data went (0 on failure)."""
        try:
            return await self.store.purge_expired()
        except Exception:  # a full disk now must not stop the purge for good
            log.exception("purging expired profiles failed; retrying in an hour")
            return 0

    async def setup_hook(self) -> None:
        await self.open_store()
        if self._service is None:
            log.info("loading model %s from %s", self.settings.model, self.settings.model_dir)
            self._service = await asyncio.to_thread(load_recommender, self.settings)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # The catalogue, the title index the cogs built and the model are hundreds of thousands
        # of long-lived objects: move them out of the garbage collector's sight, so that full
        # collections stop pausing requests (bench/request.py: p99 120 ms -> 60 ms).
        gc.collect()
        gc.freeze()
        if self.sync_commands:
            synced = await self.tree.sync()
            log.info(
                "synced %d global commands: %s", len(synced), ", ".join(c.name for c in synced)
            )
        log.info(
            "recommender ready: model %s, %d jobs at a time",
            self.service.model.name,
            self.settings.max_concurrent_jobs,
        )

    async def on_ready(self) -> None:
        user = self.user
        log.info(
            "bot ready: logged in as %s (id %s), model %s",
            user,
            user.id if user else "?",
            self.service.model.name,
        )

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # A press on buttons whose view is gone (timed out, or from before a restart) would
        # otherwise get no answer at all and Discord would show "This interaction failed".
        if interaction.type is not discord.InteractionType.component:
            return
        data = interaction.data or {}
        value = str(data.get("custom_id", ""))
        message = EXPIRED_MESSAGE if stale_origin(value) is not None else stale_message(value)
        if message is None:
            return
        if not interaction.response.is_done():
            await interaction.response.send_message(message, ephemeral=True)

    async def close(self) -> None:
        await super().close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._purger is not None:
            self._purger.cancel()
        if self._store is not None:
            await self._store.close()
            self._store = None

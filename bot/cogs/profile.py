"""/profile [user]: someone's film taste from their saved films, with a chart.

Your own profile always; someone else's only in a server you share (the ``user`` option must
resolve to a member of this server) and only if they allow it (/privacy). The profile and the
chart are computed in the bot's pool; the reply is private, with a Share button for your own.
"""

from __future__ import annotations

import asyncio
import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import answer, run_job
from bot.errors import JobTimeout, UserFacingError
from bot.profile_embed import CHART_NAME, profile_embed
from bot.profiles import require_profile, share_refusal
from bot.share import ShareCheck, ShareView
from bot.social import SocialCog
from recommender.service import RecommenderService
from recommender.taste import TasteProfile, build_profile
from recommender.user_films import UserFilms

log = logging.getLogger(__name__)

DM_ONLY_YOURSELF = (
    "In a DM I can only show your own profile: run /profile without a user, or ask in a "
    "server you share with them."
)


class ProfileRefused(UserFacingError):
    """Asking for a profile the asker may not see."""


class ProfileTimeout(UserFacingError):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"Drawing the profile took longer than {seconds:g} seconds, so I stopped: the bot "
            "is busy. Try again in a few minutes."
        )


def not_a_member(name: str) -> str:
    return (
        f"{discord.utils.escape_markdown(name)} is not a member of this server: you can see "
        "the profile of people in a server you share."
    )


def bot_has_no_films(name: str) -> str:
    return f"{discord.utils.escape_markdown(name)} is a bot, and bots keep no films: pick a person."


def profile_job(
    service: RecommenderService, films: UserFilms, name: str | None = None
) -> tuple[TasteProfile, bytes]:
    """The profile and its chart, ``name`` on its bars (runs in the pool: matplotlib is
    imported here, not at start)."""
    from recommender.charts import profile_chart

    profile = build_profile(service, films)
    return profile, profile_chart(profile, name)


def warm_up(service: RecommenderService) -> None:
    """Load the crowd statistics and import matplotlib before the first /profile asks."""
    import recommender.charts  # noqa: F401  (the import is the point)

    service.taste_data.get()


class ProfileShareView(ShareView):
    """bot/share.py's Share button, posting the chart along with the embed."""

    def __init__(
        self,
        public: discord.Embed,
        origin: discord.Interaction,
        chart: bytes,
        check: ShareCheck | None = None,
    ) -> None:
        super().__init__(public, origin, "profile", check=check)
        self.chart = chart

    @discord.ui.button(label="Share to channel", style=discord.ButtonStyle.primary)
    async def share(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        if await self.refused(interaction):
            return
        log.info("user %s shared their profile", self.owner_id)
        await interaction.response.send_message(
            embed=self.public, file=chart_file(self.chart), ephemeral=False
        )


def chart_file(chart: bytes) -> discord.File:
    """A fresh File each send: discord.py consumes it."""
    return discord.File(io.BytesIO(chart), filename=CHART_NAME)


class Profile(SocialCog):
    """Holds nothing per user: the service, pool, store and settings come from the bot."""

    @app_commands.command(
        name="profile", description="Film taste: genres, decades, rating style, taste dimensions"
    )
    @app_commands.describe(user="Someone in this server who allows it (default: you)")
    async def profile(
        self, interaction: discord.Interaction, user: discord.User | None = None
    ) -> None:
        viewer = interaction.user
        target = user or viewer
        own = target.id == viewer.id
        if not own:
            self._check_may_ask(interaction, target)
        await interaction.response.defer(ephemeral=True, thinking=True)
        stored = await require_profile(self.store, target, viewer_id=viewer.id)
        # The chart names the person, not "you": the same picture goes with a shared copy.
        profile, chart = await self._run(interaction, stored.films, target.display_name)
        embed = profile_embed(profile, target.display_name, own=own, saved_at=stored.saved_at)
        log.info(
            "profile of user %s for user %s: %d films, %d dimensions, chart %d bytes",
            target.id,
            viewer.id,
            profile.n_films,
            len(profile.dimensions),
            len(chart),
        )
        if not own:  # someone else's profile is for the asker's eyes only: no Share
            await answer(interaction, embed=embed, file=chart_file(chart))
            return
        public = profile_embed(profile, target.display_name, own=False)
        store = self.store

        async def consent() -> str | None:  # their films may be gone (/forget) by the press
            return await share_refusal(store, viewer)

        view = ProfileShareView(public, interaction, chart, check=consent)
        try:
            await answer(interaction, embed=embed, file=chart_file(chart), view=view)
        except Exception:
            view.stop()
            raise

    @staticmethod
    def _check_may_ask(interaction: discord.Interaction, target: discord.abc.User) -> None:
        """Someone else's profile: only in a server, and only of a member of it."""
        if target.bot:
            raise ProfileRefused(bot_has_no_films(target.display_name))
        if interaction.guild_id is None:
            raise ProfileRefused(DM_ONLY_YOURSELF)
        if not isinstance(target, discord.Member) or target.guild.id != interaction.guild_id:
            raise ProfileRefused(not_a_member(target.display_name))

    async def _run(
        self, interaction: discord.Interaction, films: UserFilms, name: str
    ) -> tuple[TasteProfile, bytes]:
        timeout = self.settings.job_timeout_seconds
        try:
            return await run_job(
                self.jobs, interaction, timeout, profile_job, self.service, films, name
            )
        except JobTimeout:
            raise ProfileTimeout(timeout) from None


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.profile needs a BoxdBot (it brings the service and store)")
    await bot.add_cog(Profile(bot.service, bot.jobs, bot.store, bot.settings))
    warm = asyncio.get_running_loop().run_in_executor(bot.executor, warm_up, bot.service)
    warm.add_done_callback(_log_warm_up)


def _log_warm_up(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and (error := done.exception()) is not None:
        log.error("preparing /profile data failed: %r", error)

"""/compare user:@friend: how your taste compares with a friend's, privately unless you share it.

Both people need saved films, and the friend must allow comparisons (/privacy) and be a member
of the server the command runs in (the "server you share"). The instant checks (a server, not
yourself, not a bot) answer at once; the rest happens after ``defer``, with the comparison
computed in the bot's pool.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import answer, run_job
from bot.embeds import COLOUR, cut
from bot.errors import UserFacingError
from bot.profiles import require_profile, share_refusal
from bot.share import ShareView
from bot.social import SocialCog, SocialRejected, film_link, lines_field, name, predicted
from recommender.compare import (
    MIN_SHARED,
    TASTE_FILMS,
    Comparison,
    LovedFilm,
    SharedFilm,
    agreement_words,
    compare,
    taste_words,
)
from recommender.service import stars_text

log = logging.getLogger(__name__)

FOOTER = (
    "Agreement: how alike you two rate the films you both rated, after allowing for how "
    "generously each of you rates; with few shared films it is pulled toward 0. Taste: how "
    f"alike the model ranks the {TASTE_FILMS:,} best-known films for each of you, from -1 "
    "(opposite) to +1 (the same); it needs no shared films. Confidence grows with the number "
    "of films behind each."
)


class NotInServer(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            "Use /compare in a server you share with the friend you want to compare with."
        )


class NotAMember(UserFacingError):
    def __init__(self, who: str) -> None:
        super().__init__(f"{who} is not a member of this server: compare with someone here.")


class CompareWithSelf(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            "Pick someone else: /compare user:@friend compares your films with a friend's."
        )


class CompareWithBot(UserFacingError):
    def __init__(self, who: str) -> None:
        super().__init__(f"{who} is a bot, and bots keep no films: pick a person.")


# -- the embed --------------------------------------------------------------------------------


def compare_embed(result: Comparison, me: str | None, friend: str) -> discord.Embed:
    """The comparison as ``me`` sees it (``None``: "you", the private reply) or as the channel
    sees it (``me`` named, the shared copy). Names are display names, not yet escaped."""
    friend_n = name(friend)
    me_n = "you" if me is None else name(me)
    title = f"{'You' if me is None else me_n} and {friend_n}"
    embed = discord.Embed(title=cut(title, 256), description=result.verdict, colour=COLOUR)
    embed.add_field(name="Agreement on shared films", value=_agreement(result), inline=False)
    embed.add_field(name="Taste similarity", value=_taste(result), inline=False)
    embed.add_field(
        name="Shared favourites",
        value=lines_field([_shared(f, me_n, friend_n) for f in result.shared_favourites]),
        inline=False,
    )
    embed.add_field(
        name="Where you disagree most",
        value=lines_field([_shared(f, me_n, friend_n) for f in result.disagreements]),
        inline=False,
    )
    whose = "your" if me is None else f"{me_n}'s"
    embed.add_field(
        name=cut(f"For {me_n}, from {friend_n}'s favourites", 256),
        value=lines_field([_loved(f, friend_n, whose) for f in result.for_a], empty=NOTHING),
        inline=False,
    )
    embed.add_field(
        name=cut(f"For {friend_n}, from {whose} favourites", 256),
        value=lines_field([_loved(f, me_n, f"{friend_n}'s") for f in result.for_b], empty=NOTHING),
        inline=False,
    )
    embed.set_footer(text=FOOTER)
    return embed


NOTHING = "Nothing: every film they loved is one already seen (or they have few ratings)."


def _agreement(result: Comparison) -> str:
    if result.agreement is None:
        return (
            f"Not measured: {result.n_shared} film{'' if result.n_shared == 1 else 's'} rated "
            f"by both ({MIN_SHARED} needed)."
        )
    return (
        f"**{result.agreement:+.2f}** ({agreement_words(result.agreement)}) · confidence "
        f"{result.confidence_label}"
    )


def _taste(result: Comparison) -> str:
    if result.taste_similarity is None:
        return "Not measured: the model learned nothing from one of the two profiles."
    return (
        f"**{result.taste_similarity:+.2f}** ({taste_words(result.taste_similarity)}) · "
        f"confidence {result.taste_confidence_label}; works even without shared films"
    )


def _shared(film: SharedFilm, me: str, friend: str) -> str:
    return (
        f"{film_link(film.film)} · {me} {stars_text(film.stars_a)} · "
        f"{friend} {stars_text(film.stars_b)}"
    )


def _loved(film: LovedFilm, lover: str, whose: str) -> str:
    line = (
        f"{film_link(film.film)} · {lover} {stars_text(film.their_stars)} · "
        f"{whose} predicted {predicted(film.predicted_stars)}"
    )
    return line + (" · on the watchlist" if film.on_watchlist else "")


# -- the command ------------------------------------------------------------------------------


class Compare(SocialCog):
    """The service, pool, store and settings come from :class:`SocialCog`."""

    @app_commands.command(
        name="compare", description="How your film taste compares with a friend's"
    )
    @app_commands.guild_only()
    @app_commands.describe(user="A member of this server who saved their films with /recommend")
    async def compare(self, interaction: discord.Interaction, user: discord.User) -> None:
        me = interaction.user
        if interaction.guild_id is None:
            raise NotInServer()
        if user.id == me.id:
            raise CompareWithSelf()
        if user.bot:
            raise CompareWithBot(name(user.display_name))
        if not isinstance(user, discord.Member):
            raise NotAMember(name(user.display_name))
        await interaction.response.defer(ephemeral=True, thinking=True)
        mine = await require_profile(self.store, me, viewer_id=me.id)
        theirs = await require_profile(self.store, user, viewer_id=me.id)
        result = await run_job(
            self.jobs,
            interaction,
            self.settings.job_timeout_seconds,
            compare,
            self.service,
            mine.films,
            theirs.films,
            frozenset(mine.hidden),
            frozenset(theirs.hidden),
            rejected=SocialRejected,
        )
        log.info(
            "compared user %s with %s: %d shared films, agreement %s, taste %s",
            me.id,
            user.id,
            result.n_shared,
            "none" if result.agreement is None else f"{result.agreement:+.2f}",
            "none" if result.taste_similarity is None else f"{result.taste_similarity:+.2f}",
        )
        public = compare_embed(result, me.display_name, user.display_name)
        store = self.store

        async def consent() -> str | None:  # read again at the press: Bob may have opted out
            return await share_refusal(store, me, user)

        view = ShareView(public, interaction, "compare", check=consent)
        try:
            await answer(
                interaction, embed=compare_embed(result, None, user.display_name), view=view
            )
        except Exception:
            view.stop()
            raise


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.compare needs a BoxdBot (it brings the service and the store)")
    await bot.add_cog(Compare(bot.service, bot.jobs, bot.store, bot.settings))

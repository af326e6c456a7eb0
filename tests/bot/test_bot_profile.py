"""/profile's callback with autospecced interactions, a real store and the real service.

Failures go through ``invoke`` (the tree's error routing), so each refusal is asserted as the
exact text the user reads.
"""
# ruff: noqa: F811 (the jobs and store fixtures come from social_helpers)

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import discord
import matplotlib.image
import numpy as np
import pytest
from bot_helpers import invoke, make_interaction, make_settings, sent_text
from social_helpers import jobs, store  # noqa: F401  (fixtures; parameters reuse the names)

from bot.cogs.profile import DM_ONLY_YOURSELF, Profile, ProfileShareView, not_a_member
from bot.jobs import JobQueue
from bot.profile_embed import (
    CHART_NAME,
    FIELD_VALUE_LIMIT,
    TOTAL_LIMIT,
    generosity_line,
    profile_embed,
)
from bot.profiles import NO_FILMS_OWN, OWN_FILMS_GONE
from bot.social import stale_message
from bot.storage import ProfileStore
from recommender.crowd import Generosity
from recommender.taste import ExampleFilm, Preference, TasteDimension, build_profile

pytestmark = pytest.mark.movielens

GUILD = 42
ANA, BEA, CAL = 1001, 2002, 3003


@pytest.fixture(scope="module")
def films(service, letterboxd_dir: Path):
    export = service.read_export_file(letterboxd_dir / "real" / "ratings_2026_cjk.csv")
    return service.user_films(export)[0]


@pytest.fixture
def cog(service, jobs: JobQueue, store: ProfileStore) -> Profile:
    return Profile(service, jobs, store, make_settings())


def member(user_id: int, name: str, guild_id: int = GUILD, *, bot: bool = False) -> Any:
    someone = mock.MagicMock(spec=discord.Member)
    someone.id = user_id
    someone.display_name = name
    someone.guild.id = guild_id
    someone.bot = bot
    return someone


def a_user(user_id: int, name: str) -> Any:
    """A Discord user who is not a member of the guild the command runs in."""
    someone = mock.MagicMock(spec=discord.User)
    someone.id = user_id
    someone.display_name = name
    someone.bot = False
    return someone


def followup(interaction: Any) -> dict[str, Any]:
    call = interaction.followup.send.await_args
    assert call is not None, "no followup was sent"
    return call.kwargs


# -- your own profile -------------------------------------------------------------------------


async def test_own_profile_is_private_with_the_chart_and_a_share_button(
    cog: Profile, store: ProfileStore, films, service
):
    await store.save_films(ANA, films)
    interaction, events = make_interaction(user_id=ANA, name="ana")
    await invoke(cog.profile, interaction)

    assert events.names == ["defer", "followup"]
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    sent = followup(interaction)
    assert sent["ephemeral"] is True
    file: discord.File = sent["file"]
    assert file.filename == CHART_NAME
    png = file.fp.read()
    assert png.startswith(b"\x89PNG") and matplotlib.image.imread(io.BytesIO(png)).shape[:2] == (
        500,
        1000,
    )
    embed: discord.Embed = sent["embed"]
    assert embed.image.url == "attachment://profile.png"

    expected = build_profile(service, films)
    assert embed.title == expected.signature
    assert embed.author.name == "ana's taste profile"
    assert f"**{expected.n_rated:,}** rated" in embed.description
    assert f"average **★{expected.mean_stars:.1f}**" in embed.description
    pct = round(expected.generosity.percentile)
    assert f"More generous than **{pct}%** of MovieLens raters" in embed.description
    fields = {f.name: f.value for f in embed.fields}
    genres = fields["Your favourite genres"]
    assert [line.split("**")[1] for line in genres.splitlines()] == [
        p.name for p in expected.favourite_genres
    ]
    # The favourite decades (chosen by liking) are listed in time order.
    decades = [line.split("**")[1] for line in fields["Your favourite decades"].splitlines()]
    assert decades == sorted(p.name for p in expected.favourite_decades)
    assert len(decades) >= 2 and decades == sorted(decades, key=lambda d: int(d[:4]))
    for d in expected.dimensions:
        name = f"{d.name} · {d.share:.0%} of your taste"
        assert name in fields, list(fields)
        value = fields[name]
        assert value.startswith("Like ") and all(
            discord.utils.escape_markdown(e.title) in value for e in d.examples
        )
    assert len(embed) <= TOTAL_LIMIT

    view = sent["view"]
    assert isinstance(view, ProfileShareView)
    assert [b.label for b in view.children] == ["Share to channel"]
    share_id = view.share.custom_id
    assert share_id == f"boxdrec:profile:{interaction.id}:share"
    assert stale_message(share_id) is None  # alive: the view answers it
    view.stop()  # gone: the bot answers the press itself
    assert stale_message(share_id) == (
        "This button has expired (or the bot restarted): run /profile again."
    )


async def test_share_posts_the_profile_publicly_with_the_chart(
    cog: Profile, store: ProfileStore, films
):
    await store.save_films(ANA, films)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await invoke(cog.profile, interaction)
    view: ProfileShareView = followup(interaction)["view"]
    try:
        press, _ = make_interaction(interaction_id=7770001, user_id=ANA, name="ana")
        await view.share.callback(press)
        call = press.response.send_message.await_args
        assert call.kwargs["ephemeral"] is False
        assert call.kwargs["file"].filename == CHART_NAME
        public: discord.Embed = call.kwargs["embed"]
        assert "ana's favourite genres" in [f.name for f in public.fields]
        assert "films saved" not in (public.footer.text or "")

        other, _ = make_interaction(interaction_id=7770002, user_id=BEA, name="bea")
        assert await view.interaction_check(other) is False
        assert sent_text(other) == "This button belongs to the person who asked."
    finally:
        view.stop()


async def test_a_profile_is_not_shared_after_its_owner_ran_forget(
    cog: Profile, store: ProfileStore, films
):
    """The private reply was made before /forget; the Share press after it posts nothing."""
    await store.save_films(ANA, films)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await invoke(cog.profile, interaction)
    view: ProfileShareView = followup(interaction)["view"]
    try:
        await store.forget(ANA)
        press, _ = make_interaction(interaction_id=7770003, user_id=ANA, name="ana")
        await view.share.callback(press)
        assert sent_text(press) == OWN_FILMS_GONE
        assert (
            OWN_FILMS_GONE == "Your saved films have since been deleted, so this can't be shared."
        )
        [call] = press.response.send_message.await_args_list
        assert "embed" not in call.kwargs and "file" not in call.kwargs  # nothing public
        assert view.share.disabled and view.is_finished()
        edited = interaction.edit_original_response.await_args.kwargs
        assert edited["view"] is view and edited["view"].share.disabled
    finally:
        view.stop()


async def test_the_chart_is_drawn_off_the_event_loop(
    cog: Profile, store: ProfileStore, films, monkeypatch: pytest.MonkeyPatch
):
    """matplotlib takes hundreds of milliseconds: drawn on the event loop it would stall every
    other user's buttons. The real chart function, wrapped to note the thread it runs on."""
    import recommender.charts

    real = recommender.charts.profile_chart
    drawn: list[tuple[int, bytes]] = []

    def recording(*args: Any, **kwargs: Any) -> bytes:
        png = real(*args, **kwargs)
        drawn.append((threading.get_ident(), png))
        return png

    monkeypatch.setattr(recommender.charts, "profile_chart", recording)
    await store.save_films(ANA, films)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await invoke(cog.profile, interaction)
    sent = followup(interaction)
    sent["view"].stop()

    loop_thread = threading.get_ident()  # the test's coroutine runs on the event loop's thread
    [(thread, png)] = drawn
    assert thread != loop_thread
    assert sent["file"].fp.read() == png  # the chart sent is the one drawn in that thread


async def test_no_saved_films_says_how_to_save_them(cog: Profile):
    interaction, events = make_interaction(user_id=ANA)
    await invoke(cog.profile, interaction)
    assert events.names == ["defer", "followup"]
    assert sent_text(interaction) == NO_FILMS_OWN


# -- someone else's -------------------------------------------------------------------------


async def test_another_members_profile_when_they_allow_it(cog: Profile, store: ProfileStore, films):
    await store.save_films(BEA, films)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await invoke(cog.profile, interaction, member(BEA, "bea"))
    sent = followup(interaction)
    assert sent["ephemeral"] is True
    assert "view" not in sent  # only the owner may share their profile
    embed: discord.Embed = sent["embed"]
    assert embed.author.name == "bea's taste profile"
    assert "bea's favourite genres" in [f.name for f in embed.fields]
    assert sent["file"].filename == CHART_NAME


async def test_refused_when_they_opted_out(cog: Profile, store: ProfileStore, films):
    await store.save_films(BEA, films)
    await store.set_allow_compare(BEA, False)
    interaction, _ = make_interaction(user_id=ANA)
    await invoke(cog.profile, interaction, member(BEA, "bea"))
    assert sent_text(interaction) == "bea does not allow comparisons."
    assert "file" not in followup(interaction)


async def test_a_bots_profile_says_bots_keep_no_films(cog: Profile):
    interaction, events = make_interaction(user_id=ANA)
    await invoke(cog.profile, interaction, member(77, "boxdrec", bot=True))
    assert events.names == ["send_message"]  # at once, as /compare answers it
    assert sent_text(interaction) == "boxdrec is a bot, and bots keep no films: pick a person."


async def test_refused_for_someone_without_films(cog: Profile):
    interaction, _ = make_interaction(user_id=ANA)
    await invoke(cog.profile, interaction, member(CAL, "cal"))
    assert sent_text(interaction).startswith("cal has no saved films")


async def test_refused_for_someone_outside_this_server(cog: Profile, store: ProfileStore, films):
    await store.save_films(BEA, films)
    for outsider in (a_user(BEA, "bea"), member(BEA, "bea", guild_id=99)):
        interaction, events = make_interaction(user_id=ANA)
        await invoke(cog.profile, interaction, outsider)
        assert events.names == ["send_message"]  # at once, without deferring
        assert sent_text(interaction) == not_a_member("bea")


async def test_in_a_dm_only_your_own(cog: Profile, store: ProfileStore, films):
    await store.save_films(ANA, films)
    await store.save_films(BEA, films)
    interaction, _ = make_interaction(user_id=ANA)
    interaction.guild_id = None
    await invoke(cog.profile, interaction, a_user(BEA, "bea"))
    assert sent_text(interaction) == DM_ONLY_YOURSELF

    own, _ = make_interaction(user_id=ANA, name="ana")
    own.guild_id = None
    await invoke(cog.profile, own, a_user(ANA, "ana"))  # naming yourself is fine
    assert followup(own)["embed"].author.name == "ana's taste profile"
    followup(own)["view"].stop()


# -- the embed on its own ---------------------------------------------------------------------


def test_generosity_line_wording():
    few = Generosity(3, 1.2, 0.6, None, None, None)
    assert "Only 3 films you rated have 5+ MovieLens ratings" in generosity_line(few, 10)
    tough = Generosity(200, -0.41, -0.4, 12.4, 10.0, 14.0)
    line = generosity_line(tough, 300)
    # The range is shown however narrow it is, so every profile reads the same way.
    assert line == (
        "Tougher than **88%** of MovieLens raters: 0.41★ below their average on the 200 films "
        "you share with them (likely 10–14%)."
    )
    sure = Generosity(900, 0.3, 0.3, 70.2, 69.8, 70.4)
    assert generosity_line(sure, 900).endswith("the 900 films you share with them (likely 70%).")
    unsure = Generosity(8, 1.0, 0.7, 94.6, 83.2, 99.1)
    assert generosity_line(unsure, 8).endswith("the 8 films you share with them (likely 83–99%).")
    theirs = generosity_line(unsure, 8, own=False)
    assert theirs.endswith("the 8 films they share with them (likely 83–99%).")
    assert "Only 3 films they rated have" in generosity_line(few, 10, own=False)
    assert "how generously they rate" in generosity_line(few, 10, own=False)
    assert "no MovieLens crowd statistics" in generosity_line(None, 8)
    assert "No ratings" in generosity_line(Generosity(0, None, None, None, None, None), 0)


def test_embed_stays_within_discord_limits_with_absurd_titles(service, films):
    profile = build_profile(service, films)
    long = "W" * 400 + " *bold* [link](x)"
    dims = tuple(
        TasteDimension(
            i, "N" * 300, 0.3, tuple(ExampleFilm(1, long, 1999) for _ in range(3)), (long, long)
        )
        for i in range(3)
    )
    profile = type(profile)(**{**profile.__dict__, "dimensions": dims, "signature": "S" * 400})
    embed = profile_embed(profile, "x" * 300, own=False, saved_at=datetime.now(UTC))
    assert len(embed) <= TOTAL_LIMIT
    assert len(embed.title) <= 256 and len(embed.author.name) <= 256
    assert all(len(f.name) <= 256 and len(f.value) <= FIELD_VALUE_LIMIT for f in embed.fields)
    assert all("\\*bold\\*" in f.value for f in embed.fields if f.value.startswith("Like"))


def test_favourite_decades_are_listed_in_time_order(service, films):
    """Chosen by liking (1950s first), shown by their numbers: 1920s, 1950s, 1960s."""
    profile = build_profile(service, films)
    decades = (
        Preference("1950s", 102, 4.2, 0.45),
        Preference("1920s", 29, 4.6, 0.40),
        Preference("1960s", 100, 4.2, 0.35),
        Preference("1990s", 2, 5.0, 0.9),  # too few films to be a favourite
    )
    profile = type(profile)(**{**profile.__dict__, "decades": decades, "mean_stars": 3.8})
    embed = profile_embed(profile, "ana", own=True)
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Your favourite decades"] == (
        "**1920s** · ★4.6 on 29 films (+0.8★ vs your average)\n"
        "**1950s** · ★4.2 on 102 films (+0.4★ vs your average)\n"
        "**1960s** · ★4.2 on 100 films (+0.4★ vs your average)"
    )


def test_no_dimensions_says_why(service, films):
    profile = build_profile(service, films)
    profile = type(profile)(**{**profile.__dict__, "dimensions": ()})
    embed = profile_embed(profile, "ana", own=True)
    fields = {f.name: f.value for f in embed.fields}
    assert "cannot read a taste" in fields["Taste dimensions"]
    assert np.isfinite(profile.mean_stars)

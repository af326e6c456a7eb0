"""Consent after /recommend, the "Don't keep my films" button, /forget, /privacy, require_profile.

Callbacks run with autospecced interactions against a real store in a temporary file; what is
left in the database is read back with the stdlib sqlite3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import platformdirs
import pytest
from bot_helpers import (
    clear_settings_env,
    invoke,
    job_queue,
    make_attachment,
    make_interaction,
    make_settings,
    rec,
    result_of,
)
from pydantic import ValidationError
from storage_child import tagged_films

from bot.client import BoxdBot
from bot.cogs.privacy import NOTHING_STORED, WHAT_IS_KEPT, Privacy
from bot.cogs.recommend import Recommend
from bot.errors import UserFacingError
from bot.jobs import JobQueue
from bot.profiles import NO_FILMS_DECLINED, NO_FILMS_OWN, require_profile
from bot.settings import Settings, settings_error_line
from bot.storage import ProfileStore
from bot.views import FORGOTTEN_MESSAGE, NOT_KEPT_LINE, RecommendationView, stale_origin

TABLES = ("users", "profiles", "preferences", "hidden")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "boxdrec.sqlite3"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[ProfileStore]:
    opened = await ProfileStore.open(db_path, 180)
    yield opened
    await opened.close()


@pytest.fixture
def cog(store: ProfileStore) -> Privacy:
    return Privacy(store, 180)


def rows(path: Path, user_id: int) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {
            t: db.execute(f"SELECT COUNT(*) FROM {t} WHERE user_id = ?", (user_id,)).fetchone()[0]
            for t in TABLES
        }


def followup(interaction: Any) -> tuple[str | None, discord.Embed | None]:
    """The one private followup after a deferral: its text and embed."""
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    call = interaction.followup.send.await_args
    assert interaction.followup.send.await_count == 1 and call.kwargs["ephemeral"] is True
    content = call.args[0] if call.args else call.kwargs.get("content")
    return content, call.kwargs.get("embed")


def embed_text(embed: discord.Embed) -> str:
    return "\n".join(f"{f.name}: {f.value}" for f in embed.fields)


# -- /forget -----------------------------------------------------------------------------------


async def test_forget_with_nothing_stored_says_so(cog: Privacy):
    interaction, events = make_interaction(user_id=1001)
    await invoke(cog.forget, interaction)
    assert events.names == ["defer", "followup"]
    assert followup(interaction)[0] == NOTHING_STORED


async def test_forget_deletes_films_choice_and_hidden_films_at_once(
    cog: Privacy, store: ProfileStore, db_path: Path
):
    await store.save_films(1001, tagged_films("ana", 30))
    await store.set_allow_compare(1001, False)
    await store.hide(1001, 5, "seen")
    await store.save_films(2002, tagged_films("bob", 4))

    interaction, _ = make_interaction(user_id=1001)
    await invoke(cog.forget, interaction)
    assert followup(interaction)[0] == (
        "Deleted everything I kept about you: your 30 films, 1 film you hid and your /privacy "
        "choices. Nothing about you is stored any more. Your next /recommend upload will be "
        "saved again unless you press **Don't keep my films** or use `/privacy keep_films:false`."
    )
    assert rows(db_path, 1001) == dict.fromkeys(TABLES, 0)
    assert rows(db_path, 2002)["profiles"] == 1

    again, _ = make_interaction(interaction_id=5550002, user_id=1001)
    await invoke(cog.forget, again)
    assert followup(again)[0] == NOTHING_STORED


# -- /privacy ----------------------------------------------------------------------------------


async def test_forget_after_saying_no_deletes_the_choice_and_says_uploads_are_saved_again(
    cog: Privacy, store: ProfileStore, db_path: Path
):
    await store.set_keep_films(1001, False)
    interaction, _ = make_interaction(user_id=1001)
    await invoke(cog.forget, interaction)
    assert followup(interaction)[0] == (
        "Deleted everything I kept about you: your /privacy choices. Nothing about you is stored "
        "any more. Your next /recommend upload will be saved again unless you press **Don't keep "
        "my films** or use `/privacy keep_films:false`."
    )
    assert rows(db_path, 1001) == dict.fromkeys(TABLES, 0)
    assert await store.save_films(1001, tagged_films("ana", 2)) is True


async def test_privacy_with_nothing_stored_says_what_would_be_kept(cog: Privacy):
    interaction, _ = make_interaction()
    await invoke(cog.privacy, interaction)
    content, embed = followup(interaction)
    assert content is None and embed is not None
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Yours now"] == "Nothing is stored about you."
    # Everything UserFilms.to_dict() holds is named: matched films, watched ids, rating values,
    # unmatched titles and years, the match summary and counts.
    assert fields["What is kept"] == WHAT_IS_KEPT
    for stored in (
        "its MovieLens id, your own title and year for it, your stars",
        "the MovieLens ids of the films you watched",
        "every rating value in your export",
        "the titles and years of films that matched no MovieLens film",
        "the match summary and its counts (rows, matched, ambiguous, duplicates, not in "
        "MovieLens, not in the model, watched, rated)",
        "Never your email address",
    ):
        assert stored in fields["What is kept"], stored
    assert fields["Where and for how long"].endswith(
        "Films and hidden films are kept 180 days after your last upload or change, then deleted "
        "automatically. Your choices (may others compare with you, and do I keep your films) "
        "are kept until you change them or use /forget, also after your films expire: they hold "
        "only your Discord user id, two yes/no answers and the date of your last change, so "
        "that a no stays a no."
    )
    assert fields["Comparisons"] == (
        "Others may /compare with you and see your /profile. Change it with "
        "`/privacy allow_compare:`."
    )
    assert fields["Saving your films"] == (
        "Your films are saved when you upload them with /recommend. Change it with "
        "`/privacy keep_films:`."
    )
    assert fields["Delete"] == "`/forget` deletes all of it at once."
    assert len(embed) <= 6000 and all(len(f.value) <= 1024 for f in embed.fields)


async def test_privacy_shows_your_films_and_when_they_expire(cog: Privacy, store: ProfileStore):
    await store.save_films(1001, tagged_films("ana", 12))
    summary = await store.summary(1001)
    assert summary is not None and summary.saved_at is not None
    interaction, _ = make_interaction(user_id=1001)
    await invoke(cog.privacy, interaction)
    text = embed_text(followup(interaction)[1])
    saved, expires = int(summary.saved_at.timestamp()), int(summary.expires_at.timestamp())
    assert f"12 films saved <t:{saved}:D>." in text
    assert f"Expires <t:{expires}:D> (<t:{expires}:R>)" in text
    assert expires - saved == 180 * 86400
    assert "Your choices below are kept" not in text  # none were made


async def test_privacy_keep_films_false_deletes_the_films_and_remembers_the_no(
    cog: Privacy, store: ProfileStore, db_path: Path
):
    await store.save_films(1001, tagged_films("ana", 12))
    await store.hide(1001, 5, "seen")
    interaction, _ = make_interaction(user_id=1001)
    await invoke(cog.privacy, interaction, allow_compare=False, keep_films=False)
    content, embed = followup(interaction)
    assert content == (
        "Done: Nobody may /compare with you or see your /profile.\n"
        "Done: I will not save your films when you upload them. I deleted the films (and hidden "
        "films) I had saved."
    )
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Yours now"] == (
        "No films saved. Your choices below are kept until you change them or use /forget."
    )
    assert fields["Saving your films"] == (
        "Your films are not saved when you upload them, so /profile, /compare and /movienight "
        "do not work for you. Change it with `/privacy keep_films:`."
    )
    assert fields["Comparisons"].startswith("Nobody may /compare with you")
    assert rows(db_path, 1001) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert await store.save_films(1001, tagged_films("ana", 3)) is False

    # Their own commands say why there are no films, and how to change it.
    with pytest.raises(UserFacingError) as own:
        await require_profile(store, interaction.user, viewer_id=1001)
    assert str(own.value) == NO_FILMS_DECLINED
    # Someone else is not told about the choice.
    with pytest.raises(UserFacingError) as other:
        await require_profile(store, interaction.user, viewer_id=2002)
    assert str(other.value).startswith("ana has no saved films: they can run /recommend")

    yes, _ = make_interaction(interaction_id=5550004, user_id=1001)
    await invoke(cog.privacy, yes, keep_films=True)
    content, embed = followup(yes)
    assert content == "Done: your films will be saved from your next /recommend upload."
    assert "Your films are saved when you upload them" in embed_text(embed)
    assert "Nobody may /compare with you" in embed_text(embed)  # the other choice stays
    assert await store.save_films(1001, tagged_films("ana", 3)) is True


async def test_privacy_turns_comparisons_off_and_others_are_told(cog: Privacy, store: ProfileStore):
    await store.save_films(1001, tagged_films("ana", 3))
    interaction, _ = make_interaction(user_id=1001)
    await invoke(cog.privacy, interaction, allow_compare=False)
    content, embed = followup(interaction)
    assert content == "Done: Nobody may /compare with you or see your /profile."
    assert "Comparisons: Nobody may /compare with you" in embed_text(embed)
    profile = await store.load(1001)
    assert profile is not None and profile.allow_compare is False

    with pytest.raises(UserFacingError, match=r"^ana does not allow comparisons\.$"):
        await require_profile(store, interaction.user, viewer_id=2002)
    # Their own commands still work.
    assert (await require_profile(store, interaction.user, viewer_id=1001)).films.summary == "ana"

    back_on, _ = make_interaction(interaction_id=5550003, user_id=1001)
    await invoke(cog.privacy, back_on, allow_compare=True)
    assert followup(back_on)[0] == "Done: Others may /compare with you and see your /profile."
    assert (await require_profile(store, interaction.user, viewer_id=2002)).user_id == 1001


async def test_require_profile_says_who_has_no_films(store: ProfileStore):
    ana, _ = make_interaction(user_id=1001, name="ana_b")
    with pytest.raises(UserFacingError) as own:
        await require_profile(store, ana.user, viewer_id=1001)
    assert str(own.value) == NO_FILMS_OWN
    with pytest.raises(UserFacingError) as other:
        await require_profile(store, ana.user, viewer_id=2002)
    assert str(other.value).startswith(r"ana\_b has no saved films: they can run /recommend")


# -- consent on /recommend -----------------------------------------------------------------------


@pytest.fixture
def jobs() -> Iterator[JobQueue]:
    with job_queue(1) as queue:
        yield queue


@pytest.fixture(scope="module")
def small_export(letterboxd_dir: Path) -> bytes:
    return (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()


def sent_view(interaction: Any) -> tuple[str | None, RecommendationView]:
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True
    return (call.args[0] if call.args else None), call.kwargs["view"]


@pytest.mark.movielens
async def test_recommend_saves_the_films_says_so_and_offers_not_to_keep_them(
    service, jobs: JobQueue, store: ProfileStore, db_path: Path, small_export: bytes
):
    cog = Recommend(service, jobs, make_settings(), store=store)
    interaction, _ = make_interaction(interaction_id=4242, user_id=1001)
    await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
    content, view = sent_view(interaction)
    try:
        profile = await store.load(1001)
        expected, _ = service.user_films(service.read_export(small_export, "ratings.csv"))
        assert profile is not None and profile.films == expected
        n = len(expected.films)
        assert content == (
            f"Saved your {n} films so /profile, /compare and /movienight work without "
            "re-uploading; kept 180 days (see /privacy). Rather not? Press **Don't keep my films**."
        )
        buttons = {c.label: c for c in view.children if isinstance(c, discord.ui.Button)}
        dont = buttons["Don't keep my films"]
        assert (dont.custom_id, dont.style, dont.row) == (
            "boxdrec:4242:forget",
            discord.ButtonStyle.danger,
            1,
        )

        # Someone else cannot press it; the owner can, and the films go at once.
        mallory, _ = make_interaction(user_id=6666, name="mallory")
        assert await view.interaction_check(mallory) is False
        press, events = make_interaction(interaction_id=4243, user_id=1001)
        assert await view.interaction_check(press) is True
        await dont.callback(press)
        assert events.names == ["defer", "followup"]
        press.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
        press.followup.send.assert_awaited_once_with(FORGOTTEN_MESSAGE, ephemeral=True)
        # The films go; the "no" stays, as a row with no film data.
        assert rows(db_path, 1001) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
        edit = interaction.edit_original_response.await_args.kwargs
        assert edit["content"] == NOT_KEPT_LINE and edit["view"] is view
        assert dont not in view.children
    finally:
        view.stop()


class FullDisk:
    async def save_films(self, *args: Any) -> None:
        raise OSError(28, "No space left on device")


@pytest.mark.movielens
async def test_when_saving_fails_the_recommendations_still_arrive(
    service, jobs: JobQueue, small_export: bytes
):
    cog = Recommend(service, jobs, make_settings(), store=FullDisk())  # type: ignore[arg-type]
    interaction, _ = make_interaction(user_id=1001)
    await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
    content, view = sent_view(interaction)
    try:
        assert content == (
            "Your films could not be saved this time, so /profile, /compare and /movienight "
            "will need a new upload."
        )
        assert interaction.followup.send.await_args.kwargs["embed"].title == "Your top 10 films"
        assert "Don't keep my films" not in [getattr(c, "label", "") for c in view.children]
    finally:
        view.stop()


async def test_without_a_store_the_view_has_no_forget_button():
    origin, _ = make_interaction(interaction_id=777)
    view = RecommendationView(result_of([rec(1)]), origin)
    try:
        ids = [getattr(c, "custom_id", "") for c in view.children]
        assert "boxdrec:777:csv" in ids and "boxdrec:777:forget" not in ids
    finally:
        view.stop()


def test_a_forget_press_after_a_restart_counts_as_stale():
    # BoxdBot.on_interaction then answers it with the "expired" message.
    assert stale_origin("boxdrec:99999:forget") == 99999


# -- settings ------------------------------------------------------------------------------------


def test_database_and_retention_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    clear_settings_env(monkeypatch)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    settings = Settings()
    assert settings.database == Path(platformdirs.user_data_dir("boxdrec")) / "boxdrec.sqlite3"
    assert settings.retention_days == 180

    monkeypatch.setenv("BOXDREC_DATABASE", str(tmp_path / "x.sqlite3"))
    monkeypatch.setenv("BOXDREC_RETENTION_DAYS", "7.5")
    settings = Settings()
    assert (settings.database, settings.retention_days) == (tmp_path / "x.sqlite3", 7.5)

    for bad, problem in (
        ("0", "must be above 0"),
        ("-3", "must be above 0"),
        ("inf", "must be a number"),
        ("soon", "must be a number"),
        ("99999", "must be at most 36500"),
    ):
        monkeypatch.setenv("BOXDREC_RETENTION_DAYS", bad)
        with pytest.raises(ValidationError) as caught:
            Settings()
        assert settings_error_line(caught.value) == (
            f"BOXDREC_RETENTION_DAYS {problem} (see .env.example)."
        )


# -- the hourly purge --------------------------------------------------------------------------


async def test_the_periodic_purge_deletes_expired_films_and_survives_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    now = [1_750_000_000.0]
    path = tmp_path / "boxdrec.sqlite3"
    store = await ProfileStore.open(path, 180, clock=lambda: now[0])
    bot = BoxdBot(make_settings(database=path), store=store)
    try:
        await store.save_films(1001, tagged_films("old", 3))
        await store.set_allow_compare(1001, False)
        now[0] += 100 * 86400
        await store.save_films(2002, tagged_films("recent", 3))
        now[0] += 81 * 86400  # 1001's last write is 181 days old, 2002's 81

        real_purge = store.purge_expired
        rounds: list[str] = []
        purged: list[int] = []
        done = asyncio.Event()

        async def purge() -> int:
            rounds.append("round")
            if len(rounds) == 1:  # the first round hits a full disk
                raise OSError(28, "No space left on device")
            purged.append(await real_purge())
            done.set()
            return purged[-1]

        monkeypatch.setattr(store, "purge_expired", purge)
        monkeypatch.setattr("bot.client.PURGE_EVERY_SECONDS", 0.0)
        with caplog.at_level(logging.ERROR, logger="bot.client"):
            loop = asyncio.create_task(bot._purge_periodically())
            try:
                await asyncio.wait_for(done.wait(), 30)
            finally:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
        assert [r.getMessage() for r in caplog.records][:1] == [
            "purging expired profiles failed; retrying in an hour"
        ]
        assert purged[0] == 1
        # 1001's films went, their "no comparisons" choice stayed; 2002 is untouched.
        assert rows(path, 1001) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
        assert rows(path, 2002)["profiles"] == 1
        assert await bot.purge_once() == 0  # nothing more to purge
    finally:
        bot.executor.shutdown(wait=False)
        await store.close()

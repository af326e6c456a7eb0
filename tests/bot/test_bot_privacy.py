"""Consent after /recommend, the "Don't keep my films" button, /forget, /privacy, require_profile.

Callbacks run with autospecced interactions against a real store in a temporary file; what is
left in the database is read back with the stdlib sqlite3.
"""

from __future__ import annotations

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

from bot.cogs.privacy import NOTHING_STORED, Privacy
from bot.cogs.recommend import Recommend
from bot.errors import UserFacingError
from bot.jobs import JobQueue
from bot.profiles import NO_FILMS_OWN, require_profile
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
        "Deleted everything I kept about you: your 30 films and 1 film you hid. Nothing about "
        "you is stored any more; /recommend with your export to start again."
    )
    assert rows(db_path, 1001) == dict.fromkeys(TABLES, 0)
    assert rows(db_path, 2002)["profiles"] == 1

    again, _ = make_interaction(interaction_id=5550002, user_id=1001)
    await invoke(cog.forget, again)
    assert followup(again)[0] == NOTHING_STORED


# -- /privacy ----------------------------------------------------------------------------------


async def test_privacy_with_nothing_stored_says_what_would_be_kept(cog: Privacy):
    interaction, _ = make_interaction()
    await invoke(cog.privacy, interaction)
    content, embed = followup(interaction)
    assert content is None and embed is not None
    text = embed_text(embed)
    assert "Yours now: Nothing is stored about you." in text
    assert "the MovieLens ids of your films, your stars" in text
    assert "Never your email address" in text
    assert "Kept 180 days after your last upload or change" in text
    assert "Others may /compare with you" in text
    assert "`/forget` deletes all of it at once." in text
    assert len(embed) <= 6000


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
        assert events.names == ["send_message"]
        press.response.send_message.assert_awaited_once_with(FORGOTTEN_MESSAGE, ephemeral=True)
        assert rows(db_path, 1001) == dict.fromkeys(TABLES, 0)
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

    for bad in ("0", "-3", "inf", "soon"):
        monkeypatch.setenv("BOXDREC_RETENTION_DAYS", bad)
        with pytest.raises(ValidationError) as caught:
            Settings()
        assert settings_error_line(caught.value).startswith("BOXDREC_RETENTION_DAYS: ")

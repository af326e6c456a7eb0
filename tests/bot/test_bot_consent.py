"""Saying no is remembered: after "Don't keep my films" (or /privacy keep_films:false) later
/recommend uploads are not saved, the reply says so, and the comparison choice stays.

The real /recommend callback and the real service, with a real store in a temporary file; what
is left in the database is read back with the stdlib sqlite3.
"""

# ruff: noqa: F811 (the jobs and store fixtures come from social_helpers)
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import discord
import pytest
from bot_helpers import invoke, make_attachment, make_interaction, make_settings
from social_helpers import jobs, store  # noqa: F401  (fixtures; parameters reuse the names)

from bot.cogs.privacy import Privacy
from bot.cogs.recommend import Recommend
from bot.jobs import JobQueue
from bot.storage import ProfileStore
from bot.views import RecommendationView

pytestmark = pytest.mark.movielens

ANA = 1001
TABLES = ("users", "profiles", "preferences", "hidden")


@pytest.fixture
def cog(service, jobs: JobQueue, store: ProfileStore) -> Recommend:
    return Recommend(service, jobs, make_settings(user_cooldown_seconds=0), store=store)


@pytest.fixture(scope="module")
def export(letterboxd_dir: Path) -> bytes:
    return (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()


def rows(store: ProfileStore, user_id: int) -> dict[str, int]:
    with sqlite3.connect(store.path) as db:
        return {
            t: db.execute(f"SELECT COUNT(*) FROM {t} WHERE user_id = ?", (user_id,)).fetchone()[0]
            for t in TABLES
        }


def choices(store: ProfileStore, user_id: int) -> tuple[int, int] | None:
    with sqlite3.connect(store.path) as db:
        return db.execute(
            "SELECT allow_compare, keep_films FROM preferences WHERE user_id = ?", (user_id,)
        ).fetchone()


async def upload(cog: Recommend, export: bytes) -> tuple[Any, str | None, RecommendationView]:
    interaction, _ = make_interaction(user_id=ANA)
    await invoke(cog.recommend, interaction, make_attachment(export)[0])
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True and call.kwargs["embed"].title == "Your top 10 films"
    return interaction, (call.args[0] if call.args else None), call.kwargs["view"]


def labels(view: RecommendationView) -> list[str]:
    return [c.label for c in view.children if isinstance(c, discord.ui.Button)]


async def test_dont_keep_is_remembered_for_later_uploads_and_keeps_allow_compare_off(
    cog: Recommend, store: ProfileStore, export: bytes
):
    await store.set_allow_compare(ANA, False)
    _, content, view = await upload(cog, export)
    try:
        assert content is not None and content.startswith("Saved your ")
        press, events = make_interaction(user_id=ANA)
        await view.dont_keep.callback(press)
        assert events.names == ["defer", "followup"]
        press.followup.send.assert_awaited_once_with(
            "Done: I deleted the films I had saved for you (and any films you hid), and I will "
            "not save your films when you upload again. /profile, /compare and /movienight need "
            "saved films: to use them, run `/privacy keep_films:true` and upload again.",
            ephemeral=True,
        )
        assert view.origin.edit_original_response.await_args.kwargs["content"] == (
            "Your films were not kept: you asked me to delete them, and later uploads will not "
            "be saved either (`/privacy keep_films:true` changes that)."
        )
    finally:
        view.stop()
    assert rows(store, ANA) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert choices(store, ANA) == (0, 0), "Don't keep turned comparisons back on"

    # The next upload: recommendations as usual, nothing saved, no "Don't keep" to press.
    _, content, view = await upload(cog, export)
    view.stop()
    assert content == (
        "Not saved, as you asked; /privacy keep_films:true to save them from your next upload."
    )
    assert "Don't keep my films" not in labels(view) and view.store is None
    assert await store.load(ANA) is None
    assert rows(store, ANA) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert choices(store, ANA) == (0, 0)

    # /privacy keep_films:true, and the upload after it is saved again, still not comparable.
    privacy, _ = make_interaction(user_id=ANA)
    await invoke(Privacy(store, 180).privacy, privacy, keep_films=True)
    _, content, view = await upload(cog, export)
    view.stop()
    assert content is not None and content.startswith("Saved your ")
    assert "Don't keep my films" in labels(view)
    profile = await store.load(ANA)
    assert profile is not None and profile.allow_compare is False


async def test_a_hide_on_a_list_from_before_dont_keep_is_not_remembered(
    cog: Recommend, store: ProfileStore, export: bytes
):
    """Two lists open; "Don't keep" on the second; "Seen it" on the first stores nothing."""
    _, _, first = await upload(cog, export)
    _, _, second = await upload(cog, export)
    try:
        press, _ = make_interaction(user_id=ANA)
        await second.dont_keep.callback(press)
        gone = first.result.items[0]
        hide, _ = make_interaction(user_id=ANA)
        first.mark._values = [f"seen:{gone.movie_id}"]
        await first.mark.callback(hide)
        assert hide.edit_original_response.await_args.kwargs["content"] == (
            f"Seen it: **{discord.utils.escape_markdown(gone.title)}** is out of this list only. "
            "Your films are not kept, so I do not remember it either."
        )
        assert gone.movie_id not in [r.movie_id for r in first.result.items]
    finally:
        first.stop()
        second.stop()
    assert rows(store, ANA) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}

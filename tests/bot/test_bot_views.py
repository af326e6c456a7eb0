"""The buttons: paging, owner-only presses, public share, the CSV file, "Don't keep my films",
and the timeout."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from unittest import mock

import discord
import pytest
import pytest_asyncio
from bot_helpers import make_interaction, rec, result_of, sent_text
from storage_child import tagged_films

from bot.letterboxd_csv import recommendations_csv
from bot.storage import ProfileStore
from bot.views import CSV_MESSAGE, FORGOTTEN_MESSAGE, NOT_KEPT_LINE, RecommendationView


@pytest.fixture
def view():
    origin, _ = make_interaction(interaction_id=777, user_id=1001, name="ana")
    view = RecommendationView(result_of([rec(i) for i in range(1, 13)]), origin)
    yield view
    view.stop()


def components(view: RecommendationView) -> list[dict]:
    [row] = view.to_components()
    return row["components"]


async def test_one_row_of_four_buttons_with_predictable_custom_ids(view: RecommendationView):
    assert [(c["label"], c["custom_id"], c.get("disabled", False)) for c in components(view)] == [
        ("◀ Previous", "boxdrec:777:prev", True),
        ("Next ▶", "boxdrec:777:next", False),
        ("Share to channel", "boxdrec:777:share", False),
        ("Download CSV", "boxdrec:777:csv", False),
    ]
    assert view.timeout == 600


async def test_next_and_previous_edit_the_message_and_stop_at_the_ends(view: RecommendationView):
    for expected_page in (2, 3):
        press, events = make_interaction()
        await view.next_page.callback(press)
        assert events.names == ["edit_message"]
        kwargs = press.response.edit_message.await_args.kwargs
        assert kwargs["view"] is view
        assert kwargs["embed"].footer.text.endswith(f"Page {expected_page}/3")
    assert view.next_page.disabled and not view.previous_page.disabled
    press, _ = make_interaction()
    await view.previous_page.callback(press)
    assert press.response.edit_message.await_args.kwargs["embed"] is view.pages[1]
    assert not view.next_page.disabled


async def test_only_the_owner_may_press(view: RecommendationView):
    owner, _ = make_interaction(user_id=1001)
    assert await view.interaction_check(owner) is True
    owner.response.send_message.assert_not_awaited()
    mallory, _ = make_interaction(user_id=6666, name="mallory")
    assert await view.interaction_check(mallory) is False
    assert sent_text(mallory) == "These buttons belong to ana's recommendations."


async def test_share_posts_the_current_page_publicly(view: RecommendationView):
    await view.next_page.callback(make_interaction()[0])
    press, _ = make_interaction()
    await view.share.callback(press)
    call = press.response.send_message.await_args
    assert call.kwargs["ephemeral"] is False
    embed = call.kwargs["embed"]
    assert embed.title == "ana's top 12 films"
    assert embed.footer.text == "Films 6–10 of 12 · boxdrec /recommend"
    assert "https://letterboxd.com/tmdb/506/" in embed.description


async def test_download_csv_sends_the_list_file_privately(view: RecommendationView):
    press, _ = make_interaction()
    await view.download_csv.callback(press)
    call = press.response.send_message.await_args
    assert call.args == (CSV_MESSAGE,)
    assert call.kwargs["ephemeral"] is True
    file: discord.File = call.kwargs["file"]
    assert file.filename == "boxdrec-recommendations.csv"
    assert file.fp.read() == recommendations_csv(view.result.items)


async def test_timeout_disables_every_button_and_edits_the_original(view: RecommendationView):
    await view.on_timeout()
    assert all(c.get("disabled") for c in components(view))
    view.origin.edit_original_response.assert_awaited_once_with(view=view)


async def test_timeout_ignores_an_expired_token(view: RecommendationView):
    view.origin.edit_original_response.side_effect = discord.NotFound(
        mock.Mock(status=404, reason="Not Found"), "Unknown Webhook"
    )
    await view.on_timeout()  # no exception


async def test_a_button_that_fails_apologises(view: RecommendationView):
    press, _ = make_interaction()
    await view.on_error(press, RuntimeError("boom"), view.share)
    assert re.fullmatch(
        r"Sorry, something went wrong on our side \(error id [0-9a-f]{8}\)\.", sent_text(press)
    )


# -- "Don't keep my films" -------------------------------------------------------------------


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[ProfileStore]:
    opened = await ProfileStore.open(tmp_path / "boxdrec.sqlite3", 180)
    yield opened
    await opened.close()


@pytest.fixture
def kept_view(store: ProfileStore) -> Iterator[RecommendationView]:
    """A list whose 12 films were just saved: it offers "Don't keep my films"."""
    origin, _ = make_interaction(interaction_id=778, user_id=1001, name="ana")
    view = RecommendationView(
        result_of([rec(i) for i in range(1, 13)]), origin, store=store, saved_count=12
    )
    yield view
    view.stop()


async def test_timeout_points_the_saved_line_to_the_commands(kept_view: RecommendationView):
    await kept_view.on_timeout()
    assert kept_view.dont_keep.disabled
    kept_view.origin.edit_original_response.assert_awaited_once_with(
        content=(
            "Saved your 12 films so /profile, /compare and /movienight work without re-uploading; "
            "kept 180 days (see /privacy). Rather not? `/privacy keep_films:false` deletes them "
            "and stops saving later uploads; `/forget` deletes everything."
        ),
        view=kept_view,
    )
    assert "Don't keep" not in kept_view.origin.edit_original_response.await_args.kwargs["content"]


async def test_timeout_after_dont_keep_leaves_the_not_kept_line(
    kept_view: RecommendationView, store: ProfileStore
):
    await store.save_films(1001, tagged_films("ana", 12))
    press, _ = make_interaction(user_id=1001)
    await kept_view.dont_keep.callback(press)
    kept_view.origin.edit_original_response.reset_mock()
    await kept_view.on_timeout()
    kept_view.origin.edit_original_response.assert_awaited_once_with(view=kept_view)


async def test_dont_keep_answers_before_it_touches_the_database(
    kept_view: RecommendationView, store: ProfileStore, monkeypatch: pytest.MonkeyPatch
):
    """The store may wait seconds for another process's write lock: Discord's 3-second deadline
    is met by deferring first, and the answer follows the deletion."""
    await store.save_films(1001, tagged_films("ana", 12))
    press, events = make_interaction(user_id=1001)
    real = store.set_keep_films

    async def locked_for_a_while(user_id: int, keep: bool) -> int:
        events.names.append("store")  # by now Discord must have had its answer
        return await real(user_id, keep)

    monkeypatch.setattr(store, "set_keep_films", locked_for_a_while)
    await kept_view.dont_keep.callback(press)
    assert events.names == ["defer", "store", "followup"]
    press.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    press.followup.send.assert_awaited_once_with(FORGOTTEN_MESSAGE, ephemeral=True)
    assert await store.load(1001) is None
    summary = await store.summary(1001)
    assert summary is not None and summary.keep_films is False
    assert kept_view.origin.edit_original_response.await_args.kwargs["content"] == NOT_KEPT_LINE
    assert kept_view.dont_keep not in kept_view.children

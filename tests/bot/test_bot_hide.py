""" "Seen it" / "Not interested" under a /recommend reply: the list re-ranks at once, the choice
is remembered while the user's films are kept, and later lists leave the film out."""

# ruff: noqa: F811 (the jobs and store fixtures come from social_helpers)
from __future__ import annotations

from pathlib import Path

import discord
import pytest
from bot_helpers import invoke, make_attachment, make_interaction, make_settings
from social_helpers import jobs, store  # noqa: F401  (fixtures; parameters reuse the names)

from bot.cogs.recommend import Recommend
from bot.jobs import JobQueue
from bot.storage import ProfileStore
from bot.views import RecommendationView

pytestmark = pytest.mark.movielens

OWNER = 1001


@pytest.fixture
def cog(service, jobs: JobQueue, store: ProfileStore) -> Recommend:
    return Recommend(service, jobs, make_settings(user_cooldown_seconds=0), store=store)


@pytest.fixture(scope="module")
def export(letterboxd_dir: Path) -> bytes:
    return (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()


async def recommend(cog: Recommend, export: bytes, **options) -> RecommendationView:
    interaction, _ = make_interaction(user_id=OWNER)
    await invoke(cog.recommend, interaction, make_attachment(export)[0], **options)
    return interaction.followup.send.await_args.kwargs["view"]


def listed(view: RecommendationView) -> list[int]:
    return [r.movie_id for r in view.result.items]


async def pick(view: RecommendationView, value: str, user_id: int = OWNER):
    """Choose ``value`` in the "Seen it / Not interested" menu, as discord.py would."""
    interaction, events = make_interaction(user_id=user_id)
    if not await view.interaction_check(interaction):
        return interaction, events
    view.mark._values = [value]
    await view.mark.callback(interaction)
    return interaction, events


async def test_the_menu_offers_both_choices_for_each_film_on_the_page(
    cog: Recommend, export: bytes
):
    view = await recommend(cog, export)
    try:
        page = view.result.items[:5]
        assert [(o.label, o.value) for o in view.mark.options] == [
            (f"{label}: {r.title} ({r.year})", f"{kind}:{r.movie_id}")
            for r in page
            for kind, label in (("seen", "Seen it"), ("not_interested", "Not interested"))
        ]
        assert view.mark.custom_id == f"boxdrec:{view.origin.id}:mark"
        rows = view.to_components()
        assert len(rows) <= 5 and rows[-1]["components"][0]["type"] == 3  # the select, alone
        # Turning the page offers the next page's films.
        press, _ = make_interaction(user_id=OWNER)
        await view.next_page.callback(press)
        assert view.mark.options[0].value == f"seen:{view.result.items[5].movie_id}"
    finally:
        view.stop()


async def test_not_interested_reranks_at_once_and_is_remembered(
    cog: Recommend, export: bytes, store: ProfileStore
):
    view = await recommend(cog, export)
    try:
        before = listed(view)
        gone = view.result.items[1]
        press, events = await pick(view, f"not_interested:{gone.movie_id}")
        assert events.names == ["defer"]  # acknowledged at once, edited after the re-rank
        press.response.defer.assert_awaited_once_with()
        edit = press.edit_original_response.await_args.kwargs
        assert edit["view"] is view
        assert gone.movie_id not in listed(view) and len(listed(view)) == len(before)
        # The rest keep their order; the film that moves up takes its place by its stars.
        after = listed(view)
        assert [m for m in after if m in before] == [m for m in before if m != gone.movie_id]
        assert len(set(after) - set(before)) == 1
        assert gone.letterboxd_url not in edit["embed"].description
        assert view.result.items[1].letterboxd_url in edit["embed"].description
        assert edit["content"] == (
            f"Not interested: **{discord.utils.escape_markdown(gone.title)}** is out of this "
            "list and will stay out of your lists (/forget clears it)."
        )
        assert await store.hidden(OWNER) == {gone.movie_id: "not_interested"}
    finally:
        view.stop()
    # Remembered: the next /recommend leaves it out from the start.
    again = await recommend(cog, export)
    again.stop()
    assert gone.movie_id not in listed(again)
    assert again.hidden == {gone.movie_id}


async def test_seen_it_is_stored_as_seen(cog: Recommend, export: bytes, store: ProfileStore):
    view = await recommend(cog, export)
    try:
        first = view.result.items[0]
        _, events = await pick(view, f"seen:{first.movie_id}")
        assert events.names == ["defer"]
        assert await store.hidden(OWNER) == {first.movie_id: "seen"}
        second = view.result.items[0]
        await pick(view, f"seen:{second.movie_id}")
        assert {first.movie_id, second.movie_id}.isdisjoint(listed(view))
    finally:
        view.stop()


async def test_without_kept_films_a_hide_lasts_for_this_list_only(
    cog: Recommend, export: bytes, store: ProfileStore
):
    view = await recommend(cog, export)
    try:
        press, _ = make_interaction(user_id=OWNER)
        await view.dont_keep.callback(press)  # the user withdraws consent
        gone = view.result.items[0]
        hide, _ = await pick(view, f"not_interested:{gone.movie_id}")
        assert gone.movie_id not in listed(view)
        assert hide.edit_original_response.await_args.kwargs["content"].endswith(
            "is out of this list only. Your films are not kept, so I do not remember it either."
        )
        assert await store.hidden(OWNER) == {}
    finally:
        view.stop()


async def test_only_the_owner_may_hide(cog: Recommend, export: bytes, store: ProfileStore):
    view = await recommend(cog, export)
    try:
        before = listed(view)
        _, events = await pick(view, f"seen:{before[0]}", user_id=6666)
        assert events.names == ["send_message"]
        assert listed(view) == before and await store.hidden(OWNER) == {}
    finally:
        view.stop()


async def test_filters_hold_when_the_list_reranks(cog: Recommend, export: bytes):
    view = await recommend(cog, export, genre="Comedy", from_decade=1990, to_decade=1990)
    try:
        await pick(view, f"not_interested:{view.result.items[0].movie_id}")
        for r in view.result.items:
            assert "Comedy" in r.genres and 1990 <= r.year <= 1999, r.title
        assert view.current.footer.text.endswith("· Comedy · 1990–1999 · Page 1/2")
    finally:
        view.stop()


async def test_timeout_disables_the_menu_too(cog: Recommend, export: bytes):
    view = await recommend(cog, export)
    await view.on_timeout()
    assert view.mark.disabled and view.next_page.disabled


async def test_a_hide_while_the_bot_is_busy_is_still_remembered_and_says_so(
    cog: Recommend, export: bytes, store: ProfileStore
):
    from bot.errors import Busy

    view = await recommend(cog, export)
    try:
        gone = view.result.items[0]

        async def busy(hidden: frozenset[int]):
            raise Busy(12)

        view.rerank = busy
        press, events = await pick(view, f"seen:{gone.movie_id}")
        assert events.names == ["defer"]
        edit = press.edit_original_response.await_args.kwargs
        assert edit["content"] == (
            f"Seen it: **{discord.utils.escape_markdown(gone.title)}** is out of this list and "
            "will stay out of your lists (/forget clears it). The list below could not be "
            "refreshed just now: The bot is busy with other people's requests right now: try "
            "again in 12 seconds."
        )
        assert "embed" not in edit  # the list stays as it was; nothing claims it changed
        assert await store.hidden(OWNER) == {gone.movie_id: "seen"}
    finally:
        view.stop()

"""/recommend's callback with autospecced interactions and the real recommender service.

Failures go through ``invoke``, which routes them to the central handler as the tree does, so
each test asserts the exact text the user reads.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import discord
import pytest
from bot_helpers import MIB, invoke, make_attachment, make_interaction, make_settings, sent_text

from bot.cogs.recommend import Recommend
from bot.embeds import film_heading
from bot.views import RecommendationView
from recommender.errors import BoxdrecError
from recommender.filters import ListFilters

pytestmark = pytest.mark.movielens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def small_export(letterboxd_dir: Path) -> bytes:
    return (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=2)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_cog(service: Any, executor: ThreadPoolExecutor, clock: Clock, **settings: Any):
    return Recommend(service, executor, make_settings(**settings), clock=clock)


@pytest.fixture
def cog(service, executor: ThreadPoolExecutor, clock: Clock) -> Recommend:
    return make_cog(service, executor, clock)


async def test_defers_first_then_answers_privately_with_the_first_page(
    cog: Recommend, service, small_export: bytes
):
    interaction, events = make_interaction()
    attachment, cdn = make_attachment(small_export)
    await invoke(cog.recommend, interaction, attachment)

    assert events.names == ["defer", "followup"]
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    cdn.assert_awaited_once_with(attachment.url)
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True
    embed: discord.Embed = call.kwargs["embed"]
    expected = service.recommend(service.read_export(small_export, "ratings.csv"), n=10)
    first = expected.items[0]
    assert embed.title == "Your top 10 films"
    assert first.title in embed.description and first.letterboxd_url in embed.description
    assert embed.description.startswith(film_heading(first))
    assert embed.footer.text == f"{expected.report.summary_line()} · Page 1/2"
    view = call.kwargs["view"]
    assert isinstance(view, RecommendationView) and view.current is embed
    assert [i.custom_id for i in view.children] == [
        f"boxdrec:{interaction.id}:{a}" for a in ("prev", "next", "share", "csv", "mark")
    ]
    view.stop()


async def test_count_and_exclude_watchlist_reach_the_recommender(
    service, executor: ThreadPoolExecutor, clock: Clock, small_export: bytes
):
    spy = mock.Mock(wraps=service)
    cog = make_cog(spy, executor, clock)
    interaction, _ = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(small_export)[0], 3, True)
    spy.recommend_films.assert_called_once()
    assert spy.recommend_films.call_args.kwargs == {
        "n": 3,
        "exclude_watchlist": True,
        "filters": ListFilters(),
        "hidden": frozenset(),
    }
    embed = interaction.followup.send.await_args.kwargs["embed"]
    assert embed.title == "Your top 3 films"
    assert embed.footer.text.endswith(" · Page 1/1")
    interaction.followup.send.await_args.kwargs["view"].stop()


async def test_wrong_file_type_is_refused_before_download(cog: Recommend):
    interaction, events = make_interaction()
    attachment, cdn = make_attachment(b"\x89PNG", filename="poster.png")
    await invoke(cog.recommend, interaction, attachment)
    assert events.names == ["send_message"]
    assert sent_text(interaction) == (
        "Attach a .csv or .zip file: “poster.png” is neither. On letterboxd.com, Settings → "
        "Data → Export your data gives you a zip; attach it, or the ratings.csv inside it."
    )
    cdn.assert_not_awaited()


async def test_suffix_check_ignores_case(cog: Recommend, small_export: bytes):
    interaction, events = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(small_export, "RATINGS.CSV")[0])
    assert events.names == ["defer", "followup"]
    interaction.followup.send.await_args.kwargs["view"].stop()


async def test_too_big_is_refused_before_download(cog: Recommend):
    interaction, _ = make_interaction()
    attachment, cdn = make_attachment(b"", size=int(12.3 * MIB))
    await invoke(cog.recommend, interaction, attachment)
    assert sent_text(interaction) == (
        "“ratings.csv” is 12.3 MB; the limit is 10 MB. Attach ratings.csv on its own (a "
        "10,000-film export is about 1 MB)."
    )
    cdn.assert_not_awaited()


async def test_discords_own_attachment_limit_caps_ours(cog: Recommend):
    interaction, _ = make_interaction(filesize_limit=8 * MIB)
    await invoke(cog.recommend, interaction, make_attachment(b"", size=9 * MIB)[0])
    assert "is 9 MB; the limit is 8 MB." in sent_text(interaction)


async def test_a_file_bigger_than_it_claimed_is_refused_after_download(
    service, executor: ThreadPoolExecutor, clock: Clock
):
    cog = make_cog(service, executor, clock, max_upload_bytes=1000)
    interaction, events = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(b"x" * 5000, size=10)[0])
    assert events.names == ["defer", "followup"]
    assert sent_text(interaction).startswith("“ratings.csv” is 4.9 KB; the limit is 1000 bytes.")


async def test_count_out_of_range_is_refused(cog: Recommend, small_export: bytes):
    interaction, _ = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(small_export)[0], 99)
    assert sent_text(interaction) == "count must be between 1 and 50; you asked for 99."


async def test_a_list_export_gets_the_recommenders_message(
    cog: Recommend, service, letterboxd_dir: Path
):
    data = (letterboxd_dir / "real" / "list_v7_export.csv").read_bytes()
    with pytest.raises(BoxdrecError) as expected:
        service.recommend(service.read_export(data, "list.csv"))
    interaction, events = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(data, "list.csv")[0])
    assert events.names == ["defer", "followup"]
    assert sent_text(interaction) == str(expected.value)
    assert "Letterboxd list export" in sent_text(interaction)


async def test_nothing_matched_gets_the_recommenders_message(cog: Recommend):
    data = (
        b"Date,Name,Year,Letterboxd URI,Rating\n2020-01-01,Qwxzy Plorb,1066,https://boxd.it/x,4\n"
    )
    interaction, _ = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(data)[0])
    assert sent_text(interaction).startswith("None of the 1 films in your export matched")


async def test_cooldown_is_per_user_and_starts_only_when_a_job_starts(
    cog: Recommend, clock: Clock, small_export: bytes
):
    wrong, _ = make_interaction()
    await invoke(cog.recommend, wrong, make_attachment(b"x", "notes.txt")[0])
    first, _ = make_interaction()
    await invoke(cog.recommend, first, make_attachment(small_export)[0])
    first.followup.send.await_args.kwargs["view"].stop()

    clock.now += 3.2
    again, events = make_interaction()
    attachment, cdn = make_attachment(small_export)
    await invoke(cog.recommend, again, attachment)
    assert events.names == ["send_message"]
    assert sent_text(again) == "You asked a moment ago: try again in 7 seconds."
    cdn.assert_not_awaited()

    other, events = make_interaction(user_id=2002, name="bob")
    await invoke(cog.recommend, other, make_attachment(small_export)[0])
    assert events.names == ["defer", "followup"]
    other.followup.send.await_args.kwargs["view"].stop()

    clock.now += 6.3  # 9.5 s after the first
    late, _ = make_interaction()
    await invoke(cog.recommend, late, make_attachment(small_export)[0])
    assert sent_text(late) == "You asked a moment ago: try again in 1 second."
    clock.now += 1
    later, events = make_interaction()
    await invoke(cog.recommend, later, make_attachment(small_export)[0])
    assert events.names == ["defer", "followup"]
    later.followup.send.await_args.kwargs["view"].stop()


async def test_busy_when_too_many_jobs_wait(cog: Recommend, small_export: bytes):
    cog.jobs = cog.max_jobs
    interaction, _ = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
    assert sent_text(interaction) == (
        "The bot is busy with other people's requests right now: try again in 60 seconds."
    )


@pytest.mark.parametrize(
    "failure",
    [
        discord.NotFound(mock.Mock(status=404, reason="Not Found"), "gone"),
        discord.HTTPException(mock.Mock(status=403, reason="Forbidden"), "expired"),
        "slow",
    ],
)
async def test_a_failed_download_asks_for_the_file_again(
    service, executor: ThreadPoolExecutor, clock: Clock, failure: Any
):
    cog = make_cog(service, executor, clock, download_timeout_seconds=0.05)
    interaction, events = make_interaction()
    attachment, cdn = make_attachment(b"")
    if failure == "slow":

        async def hang(url: str) -> bytes:
            await asyncio.sleep(10)
            return b""

        cdn.side_effect = hang
    else:
        cdn.side_effect = failure
    await invoke(cog.recommend, interaction, attachment)
    assert events.names == ["defer", "followup"]
    assert sent_text(interaction) == "Could not download your file from Discord; upload it again."
    assert cog.jobs == 0


class SlowService:
    def read_export(self, data: bytes, filename: str) -> None:
        import time

        time.sleep(0.5)

    def user_films(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("not reached")


async def test_a_job_that_takes_too_long_is_abandoned(
    executor: ThreadPoolExecutor, clock: Clock, small_export: bytes
):
    cog = make_cog(SlowService(), executor, clock, job_timeout_seconds=0.05)
    interaction, _ = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
    assert sent_text(interaction) == (
        "Reading your export took longer than 0.05 seconds, so I stopped. Try again in a few "
        "minutes, or attach ratings.csv on its own."
    )
    assert cog.jobs == 0


class BrokenService:
    def read_export(self, data: bytes, filename: str) -> None:
        return None

    def user_films(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("internal detail: /srv/models/ml-32m is corrupt")


async def test_an_unexpected_error_is_an_apology_with_an_id_that_is_in_the_log(
    executor: ThreadPoolExecutor,
    clock: Clock,
    small_export: bytes,
    caplog: pytest.LogCaptureFixture,
):
    cog = make_cog(BrokenService(), executor, clock)
    interaction, _ = make_interaction()
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
    text = sent_text(interaction)
    found = re.fullmatch(
        r"Sorry, something went wrong on our side \(error id ([0-9a-f]{8})\)\.", text
    )
    assert found, text
    [record] = [r for r in caplog.records if found[1] in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info
    assert isinstance(record.exc_info[1], RuntimeError)
    assert "internal detail" not in text


async def test_an_error_reply_that_fails_is_logged_not_raised(
    cog: Recommend, caplog: pytest.LogCaptureFixture
):
    interaction, _ = make_interaction()
    interaction.response.send_message.side_effect = discord.NotFound(
        mock.Mock(status=404, reason="Not Found"), "Unknown interaction"
    )
    with caplog.at_level(logging.WARNING, logger="bot.errors"):
        await invoke(cog.recommend, interaction, make_attachment(b"x", "notes.txt")[0])
    assert "could not tell user 1001" in caplog.text

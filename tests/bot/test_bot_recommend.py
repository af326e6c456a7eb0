"""/recommend's callback with autospecced interactions and the real recommender service.

Failures go through ``invoke``, which routes them to the central handler as the tree does, so
each test asserts the exact text the user reads.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import discord
import pytest
from bot_helpers import (
    MIB,
    invoke,
    job_queue,
    make_attachment,
    make_interaction,
    make_settings,
    sent_text,
)

from bot.cogs.recommend import Recommend
from bot.embeds import film_heading
from bot.jobs import JobQueue
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
def jobs() -> Iterator[JobQueue]:
    with job_queue(2) as queue:
        yield queue


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_cog(service: Any, jobs: JobQueue, clock: Clock, **settings: Any):
    return Recommend(service, jobs, make_settings(**settings), clock=clock)


@pytest.fixture
def cog(service, jobs: JobQueue, clock: Clock) -> Recommend:
    return make_cog(service, jobs, clock)


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
    service, jobs: JobQueue, clock: Clock, small_export: bytes
):
    spy = mock.Mock(wraps=service)
    cog = make_cog(spy, jobs, clock)
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
    service, jobs: JobQueue, clock: Clock
):
    cog = make_cog(service, jobs, clock, max_upload_bytes=1000)
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


class Gate:
    """A job that holds a worker until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started = threading.Event()

    def hold(self) -> str:
        self.started.set()
        assert self.opened.wait(10), "the test never opened the gate"
        return "held"

    async def occupy(self, jobs: JobQueue, user_id: int) -> asyncio.Task[str]:
        """Start a job of ``user_id`` holding a worker; returns once it runs."""
        task = asyncio.create_task(jobs.run(user_id, self.hold, timeout=30))
        while not self.started.is_set():
            await asyncio.sleep(0.005)
        return task


async def test_busy_when_the_line_is_full_says_when_to_come_back(service, small_export: bytes):
    gate = Gate()
    with job_queue(1, max_waiting=1) as jobs:
        cog = make_cog(service, jobs, Clock())
        holder = await gate.occupy(jobs, user_id=7)
        waiter = asyncio.create_task(jobs.run(8, str, timeout=30))
        await asyncio.sleep(0)
        interaction, events = make_interaction(user_id=1001)
        await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
        # Refused before deferring: one worker busy and one job waiting, 2 s a job on average.
        assert events.names == ["send_message"]
        assert sent_text(interaction) == (
            "The bot is busy with other people's requests right now: try again in 4 seconds."
        )
        gate.opened.set()
        assert (await holder, await waiter) == ("held", "")
    assert jobs.running == jobs.waiting == 0


async def test_too_many_requests_of_one_person_are_refused_at_once(service, small_export):
    gate = Gate()
    with job_queue(2, per_user=1) as jobs:
        cog = make_cog(service, jobs, Clock())
        holder = await gate.occupy(jobs, user_id=1001)
        interaction, events = make_interaction(user_id=1001)
        await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
        assert events.names == ["send_message"]
        assert sent_text(interaction) == (
            "You already have 1 request in progress: wait for it to finish, then ask again."
        )
        gate.opened.set()
        await holder


async def test_a_waiting_user_sees_their_place_then_the_answer_in_the_same_message(
    service, small_export: bytes
):
    gate = Gate()
    with job_queue(1) as jobs:
        cog = make_cog(service, jobs, Clock())
        holder = await gate.occupy(jobs, user_id=7)
        interaction, events = make_interaction(user_id=1001)
        asking = asyncio.create_task(
            invoke(cog.recommend, interaction, make_attachment(small_export)[0])
        )
        while not interaction.edit_original_response.await_count:
            await asyncio.sleep(0.005)
        assert interaction.edit_original_response.await_args.kwargs == {
            "content": "⏳ You're next in line: I'll answer here as soon as it's your turn."
        }
        gate.opened.set()
        await holder
        await asyncio.wait_for(asking, 30)
    # The notice is replaced by the answer (no second message beside it).
    assert events.names == ["defer"]
    interaction.followup.send.assert_not_awaited()
    final = interaction.edit_original_response.await_args.kwargs
    assert final["content"] is None  # clears the notice (nothing is saved without a store)
    assert final["embed"].title == "Your top 10 films"
    assert final["view"].result.items[0].title in final["embed"].description
    final["view"].stop()


async def test_an_error_after_the_notice_replaces_the_notice(service):
    gate = Gate()
    with job_queue(1) as jobs:
        cog = make_cog(service, jobs, Clock())
        holder = await gate.occupy(jobs, user_id=7)
        interaction, _ = make_interaction(user_id=1001)
        not_an_export = make_attachment(b"Date,Name\n")[0]
        asking = asyncio.create_task(invoke(cog.recommend, interaction, not_an_export))
        while not interaction.edit_original_response.await_count:
            await asyncio.sleep(0.005)
        gate.opened.set()
        await holder
        await asyncio.wait_for(asking, 30)
    interaction.followup.send.assert_not_awaited()
    final = interaction.edit_original_response.await_args.kwargs
    assert final["embed"] is None and final["view"] is None
    assert "Name" in final["content"] and "Year" in final["content"]


@pytest.mark.parametrize(
    "failure",
    [
        discord.NotFound(mock.Mock(status=404, reason="Not Found"), "gone"),
        discord.HTTPException(mock.Mock(status=403, reason="Forbidden"), "expired"),
        "slow",
    ],
)
async def test_a_failed_download_asks_for_the_file_again(
    service, jobs: JobQueue, clock: Clock, failure: Any
):
    cog = make_cog(service, jobs, clock, download_timeout_seconds=0.05)
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
    assert cog.jobs.running == cog.jobs.waiting == cog.jobs.in_flight(1001) == 0


class SlowService:
    def read_export(self, data: bytes, filename: str) -> None:
        import time

        time.sleep(0.5)

    def user_films(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("not reached")


async def test_a_job_that_takes_too_long_is_abandoned(
    jobs: JobQueue, clock: Clock, small_export: bytes
):
    cog = make_cog(SlowService(), jobs, clock, job_timeout_seconds=0.05)
    interaction, _ = make_interaction()
    await invoke(cog.recommend, interaction, make_attachment(small_export)[0])
    assert sent_text(interaction) == (
        "Reading your export took longer than 0.05 seconds, so I stopped. Try again in a few "
        "minutes, or attach ratings.csv on its own."
    )
    # A thread cannot be stopped: the worker stays taken (and counts against the user) until
    # the job ends, then everything is free again.
    assert (cog.jobs.running, cog.jobs.in_flight(1001)) == (1, 1)
    for _ in range(200):
        if not cog.jobs.running:
            break
        await asyncio.sleep(0.01)
    assert cog.jobs.running == cog.jobs.waiting == cog.jobs.in_flight(1001) == 0


class BrokenService:
    def read_export(self, data: bytes, filename: str) -> None:
        return None

    def user_films(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("internal detail: /srv/models/ml-32m is corrupt")


async def test_an_unexpected_error_is_an_apology_with_an_id_that_is_in_the_log(
    jobs: JobQueue,
    clock: Clock,
    small_export: bytes,
    caplog: pytest.LogCaptureFixture,
):
    cog = make_cog(BrokenService(), jobs, clock)
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

"""Fairness through /recommend itself, with the bot's default settings.

One person sends 50 uploads over 20 seconds (an injected clock) while their first two are still
being read; someone else sends one. The cog, the queue and the pool are built as ``BoxdBot``
builds them from default settings (2 workers, 64 waiting, 2 requests per person, a 10-second
cooldown), the recommender is the real one, and each interaction goes through the cog's
callback and the central error handler, as the command tree routes it. The flooder's jobs are
held in ``read_export`` until the test lets them go, so what is refused, what waits and what
runs is decided by the bot, not by how fast this machine is.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest
from bot_helpers import Events, invoke, make_attachment, make_interaction

from bot.client import BoxdBot
from bot.cogs.recommend import Recommend
from bot.settings import Settings
from recommender.service import RecommenderService

pytestmark = pytest.mark.movielens

FLOODER, OTHER = 1001, 2002
COOLDOWN = "You asked a moment ago: try again in 10 seconds."
IN_PROGRESS = "You already have 2 requests in progress: wait for them to finish, then ask again."
NEXT_IN_LINE = "⏳ You're next in line: I'll answer here as soon as it's your turn."


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldService:
    """The real service, except that the flooder's exports (named ``flood-…``) wait in
    ``read_export`` until the test opens the gate; everything else passes straight through."""

    def __init__(self, service: RecommenderService) -> None:
        self._service = service
        self.opened = threading.Event()
        self.held = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def read_export(self, data: bytes, filename: str) -> Any:
        if filename.startswith("flood-"):
            with self._lock:
                self.held += 1
            assert self.opened.wait(30), "the test never let the flooder's jobs go"
        return self._service.read_export(data, filename)


async def until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


@pytest.fixture
def default_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a deployment with only the token and paths set has them."""
    for name in list(os.environ):
        if name.startswith(("BOXDREC_", "DISCORD_")) or name == "LOG_LEVEL":
            monkeypatch.delenv(name)
    settings = Settings(
        _env_file=None,
        discord_token="test-token-not-real",
        data_dir=Path("/nonexistent/movielens"),
        model_dir=Path("/nonexistent/models"),
        model="ml-latest-small",
        database=Path("/nonexistent/boxdrec.sqlite3"),
    )
    fields = Settings.model_fields
    for name in ("max_concurrent_jobs", "max_queued_jobs", "max_jobs_per_user"):
        assert getattr(settings, name) == fields[name].default
    assert settings.user_cooldown_seconds == fields["user_cooldown_seconds"].default
    # The numbers the expected texts below depend on.
    assert (settings.max_concurrent_jobs, settings.max_jobs_per_user) == (2, 2)
    assert settings.user_cooldown_seconds == 10
    return settings


@pytest.fixture
def held(service: RecommenderService) -> Iterator[HeldService]:
    wrapper = HeldService(service)
    yield wrapper
    wrapper.opened.set()  # never leave a worker thread waiting, whatever the test did


@dataclass
class Sent:
    """One /recommend as the user sent it: the interaction, what the bot did, the task."""

    interaction: Any
    events: Events
    task: asyncio.Task[None]


def text_of(interaction: Any) -> str:
    """The one line a refused request got, at once and privately (never deferred)."""
    interaction.response.defer.assert_not_awaited()
    interaction.followup.send.assert_not_awaited()
    call = interaction.response.send_message.await_args
    assert interaction.response.send_message.await_count == 1
    assert call.kwargs == {"ephemeral": True}, call
    return call.args[0]


def assert_films(embed: discord.Embed, expected_first: str) -> None:
    assert embed.title == "Your top 10 films"
    assert expected_first in (embed.description or "")
    assert embed.footer.text and "Page 1/" in embed.footer.text


async def test_fifty_uploads_from_one_person_do_not_starve_someone_elses_one(
    default_settings: Settings, held: HeldService, service: RecommenderService, letterboxd_dir: Path
):
    flood_data = (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()
    other_data = (letterboxd_dir / "real" / "ratings_2022_empty_year_crlf.csv").read_bytes()
    bot = BoxdBot(default_settings, service=held)  # type: ignore[arg-type]
    clock = Clock()
    cog = Recommend(bot.service, bot.jobs, bot.settings, clock=clock)
    jobs = bot.jobs
    flood: list[Sent] = []
    ids = iter(range(7_000_000, 8_000_000))

    def send(user_id: int, data: bytes, filename: str) -> Sent:
        interaction, events = make_interaction(interaction_id=next(ids), user_id=user_id)
        attachment, _ = make_attachment(data, filename)
        task = asyncio.create_task(invoke(cog.recommend, interaction, attachment))
        return Sent(interaction, events, task)

    def burst(n: int) -> list[Sent]:
        sent = [send(FLOODER, flood_data, f"flood-{len(flood) + i}.csv") for i in range(n)]
        flood.extend(sent)
        return sent

    def settled(sent: list[Sent], running: int) -> Callable[[], bool]:
        return lambda: all(s.task.done() for s in sent[1:]) and held.held == running

    try:
        # 0 s: 17 uploads at once. The first is taken; the rest are inside the cooldown.
        first = burst(17)
        await until(settled(first, running=1))
        # 10 s: 16 more. The first passes the cooldown and waits for its turn (one person
        # never holds both workers); the rest are inside the cooldown again.
        clock.now += 10
        second = burst(16)
        waiting = second[0].interaction
        await until(lambda: all(s.task.done() for s in second[1:]))
        await until(lambda: waiting.edit_original_response.await_count == 1)
        assert waiting.edit_original_response.await_args.kwargs == {"content": NEXT_IN_LINE}
        assert (jobs.running, jobs.waiting, jobs.in_flight(FLOODER)) == (1, 1, 2)
        # 20 s: 17 more, with the other person's one upload in the middle of them. The
        # flooder's are past the cooldown but over the limit of 2 requests in flight.
        clock.now += 10
        third = burst(8)
        other = send(OTHER, other_data, "ratings.csv")
        third += burst(9)
        assert len(flood) == 50

        # The other person is answered while the flooder's first two are still held.
        await asyncio.wait_for(other.task, 60)
        assert not held.opened.is_set() and jobs.in_flight(FLOODER) == 2
        assert other.events.names == ["defer", "followup"]
        other.interaction.edit_original_response.assert_not_awaited()  # no notice: no wait
        answer = other.interaction.followup.send.await_args
        assert answer.kwargs["ephemeral"] is True
        expected = service.recommend(service.read_export(other_data, "ratings.csv"), n=10)
        assert_films(answer.kwargs["embed"], expected.items[0].title)
        answer.kwargs["view"].stop()

        # Everything the flooder's 48 refused uploads were told, at once and privately.
        refused = first[1:] + second[1:] + third
        assert all(s.events.names == ["send_message"] for s in refused)
        assert Counter(text_of(s.interaction) for s in refused) == {COOLDOWN: 31, IN_PROGRESS: 17}

        # Let the flooder's two go: both are answered with films, the second in place of its
        # "next in line" notice.
        held.opened.set()
        await asyncio.wait_for(asyncio.gather(*(s.task for s in flood)), 60)
        mine = service.recommend(service.read_export(flood_data, "ratings.csv"), n=10)
        assert first[0].events.names == ["defer", "followup"]
        taken = first[0].interaction.followup.send.await_args
        assert taken.kwargs["ephemeral"] is True
        assert_films(taken.kwargs["embed"], mine.items[0].title)
        taken.kwargs["view"].stop()
        assert second[0].events.names == ["defer"]  # answered by editing its notice
        waiting.followup.send.assert_not_awaited()
        final = waiting.edit_original_response.await_args.kwargs
        assert_films(final["embed"], mine.items[0].title)
        final["view"].stop()
        assert jobs.running == jobs.waiting == jobs.in_flight(FLOODER) == 0
    finally:
        held.opened.set()
        bot.executor.shutdown(wait=False, cancel_futures=True)

"""The fair job queue: bounded, round-robin across users, positions, limits and time-outs."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.errors import Busy, JobTimeout, TooManyJobs
from bot.jobs import JobQueue


class Gate:
    """Jobs that record when they start and block until the test opens their gate."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, threading.Event] = {}

    def job(self, name: str) -> str:
        self.started.append(name)
        self.gates.setdefault(name, threading.Event()).wait(10)
        return name

    def open(self, name: str) -> None:
        self.gates.setdefault(name, threading.Event()).set()


@pytest.fixture
def pool():
    executor = ThreadPoolExecutor(max_workers=1)
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


async def until(predicate, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_one_users_burst_waits_behind_everyone_elses_first_job(pool):
    queue = JobQueue(pool, workers=1, max_waiting=10, per_user=3)
    gate = Gate()
    positions: dict[str, int] = {}

    def submit(user: int, name: str):
        async def told(position: int) -> None:
            positions[name] = position

        return asyncio.create_task(
            queue.run(user, gate.job, name, timeout=10, on_wait=told), name=name
        )

    a1 = submit(1, "a1")
    await until(lambda: gate.started == ["a1"])
    a2, a3 = submit(1, "a2"), submit(1, "a3")
    b1 = submit(2, "b1")
    c1 = submit(3, "c1")
    await until(lambda: len(positions) == 4)
    # Each is told its place when it joins. User 1 was just served, so users 2 and 3 go
    # ahead of user 1's next jobs: b1 is next even though a2 joined first.
    assert positions == {"a2": 1, "a3": 2, "b1": 1, "c1": 2}
    for name in ("a1", "b1", "c1", "a2", "a3"):
        gate.open(name)
    assert await asyncio.gather(a1, a2, a3, b1, c1) == ["a1", "a2", "a3", "b1", "c1"]
    assert gate.started == ["a1", "b1", "c1", "a2", "a3"]
    assert queue.running == 0 and queue.waiting == 0 and queue.in_flight(1) == 0


async def test_per_user_limit_refuses_with_a_clear_message(pool):
    queue = JobQueue(pool, workers=1, max_waiting=10, per_user=2)
    gate = Gate()
    first = asyncio.create_task(queue.run(7, gate.job, "x", timeout=10))
    second = asyncio.create_task(queue.run(7, gate.job, "y", timeout=10))
    await until(lambda: queue.in_flight(7) == 2)
    with pytest.raises(TooManyJobs) as refused:
        await queue.run(7, gate.job, "z", timeout=10)
    assert str(refused.value) == (
        "You already have 2 requests in progress: wait for them to finish, then ask again."
    )
    # Someone else is not affected by user 7's limit.
    other = asyncio.create_task(queue.run(8, gate.job, "o", timeout=10))
    for name in "xyo":
        gate.open(name)
    assert await asyncio.gather(first, second, other) == ["x", "y", "o"]


async def test_a_full_line_says_how_long_to_wait(pool):
    queue = JobQueue(pool, workers=1, max_waiting=2, per_user=5)
    queue.average_seconds = 4.0
    gate = Gate()
    tasks = [asyncio.create_task(queue.run(u, gate.job, str(u), timeout=10)) for u in (1, 2, 3)]
    await until(lambda: queue.running == 1 and queue.waiting == 2)
    with pytest.raises(Busy) as busy:
        queue.check(4)
    # Three jobs ahead on one worker at 4 s each.
    assert busy.value.retry_after == 12
    assert str(busy.value) == (
        "The bot is busy with other people's requests right now: try again in 12 seconds."
    )
    for u in (1, 2, 3):
        gate.open(str(u))
    assert await asyncio.gather(*tasks) == ["1", "2", "3"]


async def test_time_limit_counts_running_time_and_frees_the_slot(pool):
    queue = JobQueue(pool, workers=1, max_waiting=5, per_user=5)
    gate = Gate()
    with pytest.raises(JobTimeout):
        await queue.run(1, gate.job, "slow", timeout=0.05)
    # The thread still runs: the slot stays taken until it really ends.
    assert queue.running == 1
    gate.open("slow")
    await until(lambda: queue.running == 0)
    assert queue.in_flight(1) == 0


async def test_a_failing_job_raises_to_its_caller_and_the_queue_goes_on(pool):
    queue = JobQueue(pool, workers=1, max_waiting=5, per_user=5)

    def boom() -> None:
        raise ValueError("bad export")

    with pytest.raises(ValueError, match="bad export"):
        await queue.run(1, boom, timeout=5)
    assert await queue.run(1, lambda: 42, timeout=5) == 42


async def test_a_caller_cancelled_while_waiting_leaves_the_line(pool):
    queue = JobQueue(pool, workers=1, max_waiting=5, per_user=5)
    gate = Gate()
    running = asyncio.create_task(queue.run(1, gate.job, "r", timeout=10))
    await until(lambda: gate.started == ["r"])
    waiting = asyncio.create_task(queue.run(2, gate.job, "w", timeout=10))
    await until(lambda: queue.waiting == 1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert queue.waiting == 0 and queue.in_flight(2) == 0
    gate.open("r")
    assert await running == "r"
    assert gate.started == ["r"]


async def test_a_caller_cancelled_while_its_job_runs_frees_the_slot_when_the_job_ends(pool):
    # A command task cancelled mid-job (the bot closing, discord.py giving up on it): the thread
    # cannot be stopped, so the slot stays taken until it ends, and then nothing is stuck.
    queue = JobQueue(pool, workers=1, max_waiting=5, per_user=1)
    gate = Gate()
    running = asyncio.create_task(queue.run(1, gate.job, "r", timeout=10))
    await until(lambda: gate.started == ["r"])
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert (queue.running, queue.in_flight(1)) == (1, 1)
    with pytest.raises(TooManyJobs):
        queue.check(1)
    gate.open("r")
    await until(lambda: queue.running == 0)
    assert queue.in_flight(1) == 0 and queue.waiting == 0
    assert await queue.run(1, lambda: "again", timeout=5) == "again"


async def test_fifty_uploads_from_one_user_leave_a_worker_for_everyone_else():
    """One user's burst never takes every worker: the next person starts at once."""
    executor = ThreadPoolExecutor(max_workers=2)
    try:
        queue = JobQueue(executor, workers=2, max_waiting=64, per_user=50)
        gate = Gate()
        burst = [
            asyncio.create_task(queue.run(1, gate.job, f"a{i}", timeout=10)) for i in range(50)
        ]
        await until(lambda: gate.started == ["a0"] and queue.waiting == 49)
        assert queue.running == 1  # the second worker stays free while only user 1 waits
        told: list[int] = []

        async def on_wait(position: int) -> None:
            told.append(position)

        other = asyncio.create_task(queue.run(2, gate.job, "b", timeout=10, on_wait=on_wait))
        await until(lambda: "b" in gate.started)
        assert told == []  # never waited: it started at once, beside user 1's first job
        assert gate.started == ["a0", "b"]
        gate.open("b")
        assert await other == "b"
        for i in range(50):
            gate.open(f"a{i}")
        assert await asyncio.gather(*burst) == [f"a{i}" for i in range(50)]
        assert gate.started[2:] == [f"a{i}" for i in range(1, 50)]
        assert queue.running == 0 and queue.waiting == 0
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


async def test_with_one_worker_one_user_may_still_use_it(pool):
    queue = JobQueue(pool, workers=1, max_waiting=5, per_user=5)
    assert queue.max_running_per_user == 1
    assert await queue.run(1, lambda: "only", timeout=5) == "only"

"""A fair, bounded queue in front of the job pool: nobody's burst starves anyone else.

Every heavy job (parsing an export, ranking, drawing a chart) goes through :class:`JobQueue`.
It runs at most ``workers`` jobs at once, keeps at most ``max_waiting`` waiting, lets one user
have at most ``per_user`` jobs in flight, and starts waiting jobs round-robin across users, so
one user's tenth upload waits behind everyone else's first. One user never runs on every worker
at once (at most ``workers - 1``, when there are two or more): a job can run for up to the time
limit, so someone arriving behind a burst would otherwise wait that long for a free worker. A
user whose job must wait is told their place in line; when the line is full they are told how
long to wait.

Everything here runs on the event loop thread; only the jobs themselves run in the executor.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.errors import Busy, JobTimeout, TooManyJobs

log = logging.getLogger(__name__)

T = TypeVar("T")
OnWait = Callable[[int], Awaitable[None]]

# The first estimate of a job's duration, before any job has finished (seconds).
INITIAL_JOB_SECONDS = 2.0
SMOOTHING = 0.2  # weight of the newest job in the running average of job durations


@dataclass(eq=False)
class _Job:
    user_id: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    result: asyncio.Future[Any]
    started: bool = False
    begun: asyncio.Event = field(default_factory=asyncio.Event)


class JobQueue:
    """Round-robin across users over a bounded executor; see the module docstring."""

    def __init__(
        self,
        executor: Executor,
        *,
        workers: int,
        max_waiting: int,
        per_user: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.executor = executor
        self.workers = workers
        self.max_waiting = max_waiting
        self.per_user = per_user
        self.clock = clock
        self.running = 0
        self.max_running_per_user = max(1, workers - 1)
        self._running_of: dict[int, int] = {}
        self.average_seconds = INITIAL_JOB_SECONDS
        self._waiting: dict[int, deque[_Job]] = {}  # in order of arrival
        self._in_flight: dict[int, int] = {}
        self._served: dict[int, int] = {}  # user -> serial number of their last job started
        self._serial = 0

    # -- what callers see --------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def in_flight(self, user_id: int) -> int:
        """Jobs of this user waiting or running."""
        return self._in_flight.get(user_id, 0)

    def retry_after(self) -> float:
        """Seconds until the line has room again, from the average job duration."""
        rounds = (self.waiting + self.running) / max(self.workers, 1)
        return max(1.0, math.ceil(rounds * self.average_seconds))

    def check(self, user_id: int) -> None:
        """Raise at once when a job of ``user_id`` would be refused (call before deferring)."""
        if self.in_flight(user_id) >= self.per_user:
            raise TooManyJobs(self.per_user)
        if self.running >= self.workers and self.waiting >= self.max_waiting:
            raise Busy(self.retry_after())

    async def run(
        self,
        user_id: int,
        fn: Callable[..., T],
        *args: Any,
        timeout: float,
        on_wait: OnWait | None = None,
    ) -> T:
        """Run ``fn(*args)`` in the pool when its turn comes; ``timeout`` counts running time.

        ``on_wait(position)`` is awaited once when the job has to wait (position 1 = next).
        """
        self.check(user_id)
        job = _Job(user_id, fn, args, asyncio.get_running_loop().create_future())
        # A caller that timed out no longer reads the result: mark it read so asyncio does
        # not log "exception was never retrieved" when the job fails later.
        job.result.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._in_flight[user_id] = self.in_flight(user_id) + 1
        self._waiting.setdefault(user_id, deque()).append(job)
        self._pump()
        try:
            if not job.started:
                log.info("job of user %s waits at position %d", user_id, self.position(job))
                if on_wait is not None:
                    await on_wait(self.position(job))
            return await self._result(job, timeout)
        finally:
            self._forget_if_waiting(job)

    def position(self, job: _Job) -> int:
        """1-based place in line (0 once started), replaying the order jobs will start in."""
        if job.started:
            return 0
        left = {user: len(jobs) for user, jobs in self._waiting.items()}
        taken = dict.fromkeys(left, 0)
        served = dict(self._served)
        target = self._waiting[job.user_id].index(job)
        step = self._serial
        for place in range(1, self.waiting + 1):
            user = self._next_user(left, served)
            if user == job.user_id and taken[user] == target:
                return place
            taken[user] += 1
            left[user] -= 1
            if not left[user]:
                del left[user]
            served[user] = step = step + 1
        raise AssertionError("a waiting job is always in line")

    # -- internals ---------------------------------------------------------------------------

    async def _result(self, job: _Job, timeout: float) -> Any:
        # Waiting in line does not count against the job's time limit; running does.
        await job.begun.wait()
        try:
            return await asyncio.wait_for(asyncio.shield(job.result), timeout)
        except TimeoutError:
            log.warning("job of user %s ran over %g s", job.user_id, timeout)
            raise JobTimeout(timeout) from None

    def _pump(self) -> None:
        """Start waiting jobs while workers are free: the user served longest ago goes first."""
        while self.running < self.workers and self._waiting:
            lengths = {
                user: len(jobs)
                for user, jobs in self._waiting.items()
                if self._running_of.get(user, 0) < self.max_running_per_user
            }
            if not lengths:  # only users already on their share of the workers are waiting
                return
            user_id = self._next_user(lengths, self._served)
            queue = self._waiting[user_id]
            job = queue.popleft()
            if not queue:
                del self._waiting[user_id]
            self._serial += 1
            self._served[user_id] = self._serial
            self._start(job)

    @staticmethod
    def _next_user(waiting: dict[int, int], served: dict[int, int]) -> int:
        # Never served (or not recently) first; among equals, whoever has waited longest
        # (dict order is arrival order).
        return min(waiting, key=lambda user: served.get(user, 0))

    def _start(self, job: _Job) -> None:
        job.started = True
        self.running += 1
        self._running_of[job.user_id] = self._running_of.get(job.user_id, 0) + 1
        loop = asyncio.get_running_loop()
        started = self.clock()
        running = loop.run_in_executor(self.executor, job.fn, *job.args)

        def finished(done: asyncio.Future[Any]) -> None:
            self.running -= 1
            left = self._running_of.get(job.user_id, 0) - 1
            if left > 0:
                self._running_of[job.user_id] = left
            else:
                self._running_of.pop(job.user_id, None)
            self._release(job.user_id)
            elapsed = self.clock() - started
            self.average_seconds += SMOOTHING * (elapsed - self.average_seconds)
            if not job.result.done():
                if done.cancelled():
                    job.result.cancel()
                elif (error := done.exception()) is not None:
                    job.result.set_exception(error)
                else:
                    job.result.set_result(done.result())
            elif not done.cancelled():
                done.exception()  # retrieved, so asyncio does not log it as never retrieved
            self._pump()

        running.add_done_callback(finished)
        job.begun.set()

    def _forget_if_waiting(self, job: _Job) -> None:
        """A caller that gave up (cancelled) while waiting leaves the line."""
        if job.started:
            return
        queue = self._waiting.get(job.user_id)
        if queue is not None and job in queue:
            queue.remove(job)
            if not queue:
                del self._waiting[job.user_id]
            self._release(job.user_id)

    def _release(self, user_id: int) -> None:
        left = self._in_flight.get(user_id, 0) - 1
        if left > 0:
            self._in_flight[user_id] = left
        else:
            self._in_flight.pop(user_id, None)
            self._served.pop(user_id, None)  # an idle user starts afresh: the map stays small

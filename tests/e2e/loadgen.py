"""Helpers shared by the loop-lag test and ``bench/load.py``: load, lag and what the bot said.

* :class:`LagSampler` runs on the event loop under test and records how late each ~10 ms tick
  woke up and how much CPU the loop's own thread used meanwhile: a job run on the loop shows
  as a long, busy gap; a loop thread starved of the GIL by worker threads as a long, idle one.
* :func:`outcomes` reads the fake's recorded requests and says, per interaction, when it was
  acknowledged and how (deferral or message) and when and with what it was answered.
* :func:`big_ratings_export` builds a large ``ratings.csv`` from the real exports.

Like the other e2e modules this one is imported as a top-level module (``tests/e2e`` on
``sys.path``).
"""

from __future__ import annotations

import asyncio
import csv
import gc
import hashlib
import io
import math
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_discord import FakeDiscord, Request

# A recommendation page's footer ("… matched 412 of 500 …"); error messages have none.
MATCHED = re.compile(r"matched \d+ of \d+")

# -- event-loop lag --------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    start: float  # loop.time()
    end: float


@dataclass(frozen=True)
class Tick:
    at: float  # loop.time() at wake-up
    gap: float  # s since the previous wake-up
    cpu: float  # CPU s the loop's thread used in that gap (time.thread_time)
    gc: float  # of which CPU s in garbage collections the loop's thread ran

    @property
    def busy(self) -> float:
        """CPU s the loop's thread spent running code (callbacks, tasks) in the gap."""
        return max(0.0, self.cpu - self.gc)


class LagSampler:
    """A task that sleeps ``interval`` s at a time and records every gap between wake-ups.

    The *lag* of a tick is its gap minus ``interval``: how late the loop got round to it, for
    whatever reason (work on the loop, a garbage collection the loop's thread happened to
    trigger, or the loop's thread waiting for the GIL while other threads compute). The *busy*
    time of a tick is the CPU time the loop's own thread used in the gap outside garbage
    collection: code run on the loop, which is what a job run on the loop shows as. The GC
    time is kept apart (``gc.callbacks``): which thread pays for a full collection is chance.
    Bounded: it stops after ``max_seconds`` or ``max_ticks`` on its own.
    """

    def __init__(
        self, interval: float = 0.010, max_seconds: float = 600, max_ticks: int = 200_000
    ) -> None:
        self.interval = interval
        self.max_seconds = max_seconds
        self.max_ticks = max_ticks
        self.ticks: list[Tick] = []
        self.phases: list[Phase] = []
        self.gc_pauses: list[tuple[float, int, float]] = []  # (loop.time(), generation, s)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._gc_cpu = 0.0
        self._gc_started: tuple[float, float] | None = None

    def start(self) -> LagSampler:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        gc.callbacks.append(self._on_gc)
        self._task = self._loop.create_task(self._run(), name="loop-lag-sampler")
        return self

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self._thread:
            return
        if phase == "start":
            self._gc_started = (time.thread_time(), time.perf_counter())
        elif self._gc_started is not None:
            cpu, wall = self._gc_started
            self._gc_cpu += time.thread_time() - cpu
            pause = time.perf_counter() - wall
            self.gc_pauses.append((self._loop.time(), info["generation"], pause))
            self._gc_started = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = started = loop.time()
        last_cpu, last_gc = time.thread_time(), self._gc_cpu
        while not self._stop.is_set() and len(self.ticks) < self.max_ticks:
            await asyncio.sleep(self.interval)
            now, cpu, gc_cpu = loop.time(), time.thread_time(), self._gc_cpu
            self.ticks.append(Tick(now, now - last, cpu - last_cpu, gc_cpu - last_gc))
            last, last_cpu, last_gc = now, cpu, gc_cpu
            if now - started > self.max_seconds:
                break

    async def stop(self) -> None:
        self._stop.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            if self._on_gc in gc.callbacks:
                gc.callbacks.remove(self._on_gc)

    def now(self) -> float:
        return self._loop.time()

    def phase(self, name: str, start: float, end: float | None = None) -> Phase:
        """Name the window ``[start, end]`` (loop.time() values; end: now)."""
        phase = Phase(name, start, self.now() if end is None else end)
        self.phases.append(phase)
        return phase

    def window(self, phase: Phase | None = None) -> list[Tick]:
        """The ticks whose gap overlaps ``phase`` (all ticks when None).

        A stall that began inside the window and ended after it still counts, as it should.
        """
        if phase is None:
            return list(self.ticks)
        return [t for t in self.ticks if t.at > phase.start and t.at - t.gap < phase.end]

    def lags(self, phase: Phase | None = None) -> list[float]:
        return [max(0.0, t.gap - self.interval) for t in self.window(phase)]

    def busy(self, phase: Phase | None = None) -> list[float]:
        return [t.busy for t in self.window(phase)]

    def worst_gc(self, phase: Phase | None = None) -> float:
        """The longest garbage collection the loop's thread ran in ``phase``, in s."""
        start, end = (phase.start, phase.end) if phase else (-math.inf, math.inf)
        return max((s for at, _, s in self.gc_pauses if start < at <= end), default=0.0)

    def worst_lag(self, phase: Phase | None = None) -> float:
        return max(self.lags(phase), default=0.0)

    def worst_busy(self, phase: Phase | None = None) -> float:
        return max(self.busy(phase), default=0.0)

    def summary(self, phase: Phase | None = None) -> str:
        name = phase.name if phase else "all"
        lags = sorted(self.lags(phase))
        if not lags:
            return f"{name}: no ticks"
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
        return (
            f"{name}: {len(lags)} ticks of {1e3 * self.interval:.0f} ms; lag p50 "
            f"{1e3 * lags[len(lags) // 2]:.1f} ms, p99 {1e3 * p99:.1f} ms, worst "
            f"{1e3 * lags[-1]:.1f} ms, {sum(x > 0.05 for x in lags)} ticks over 50 ms; "
            f"loop thread busy worst {1e3 * self.worst_busy(phase):.1f} ms per tick, longest "
            f"GC in it {1e3 * self.worst_gc(phase):.1f} ms"
        )


# -- what the bot answered -------------------------------------------------------------------


@dataclass
class Outcome:
    """One interaction as the fake saw it; times are ``time.monotonic()`` values."""

    token: str
    sent: float
    ack: Request | None = None  # the first callback (deferral type 5, or a message type 4)
    # The deferral's 2xx followup, an edit of @original that replaced a queue notice, or the
    # type-4 callback.
    answer: Request | None = None
    queued: bool = False  # a place-in-line notice was shown first (bot/answers.py)
    requests: list[Request] = field(default_factory=list)

    @property
    def deferred(self) -> bool:
        return self.ack is not None and self.ack.status == 200 and self.ack.json["type"] == 5

    @property
    def ack_s(self) -> float | None:
        return None if self.ack is None else self.ack.at - self.sent

    @property
    def answer_s(self) -> float | None:
        return None if self.answer is None else self.answer.at - self.sent

    def _message(self) -> dict:
        """The message the answer carries: a followup's body, or a callback's ``data``."""
        assert self.answer is not None
        body = self.answer.json or {}
        return (body.get("data") or {}) if self.answer.path.endswith("/callback") else body

    @property
    def kind(self) -> str:
        """One of: recommendations, message (a refusal or an error), lost (no answer yet)."""
        if self.answer is None:
            return "lost"
        body = self._message()
        footers = [(e.get("footer") or {}).get("text", "") for e in body.get("embeds") or []]
        return "recommendations" if any(MATCHED.search(f) for f in footers) else "message"

    @property
    def text(self) -> str:
        """The answer's text (content and embed descriptions), for reports."""
        if self.answer is None:
            return ""
        body = self._message()
        parts = [body.get("content") or ""]
        parts += [e.get("description") or "" for e in body.get("embeds") or []]
        return " ".join(p for p in parts if p)

    @property
    def settled(self) -> bool:
        """Answered, or nothing good can come: a refused ack or a followup refused with a 4xx
        (discord.py retries a 5xx, so that is not final)."""
        if self.answer is not None:
            return True
        if self.ack is not None and self.ack.status >= 300:
            return True
        return any("/webhooks/" in r.path and 400 <= r.status < 500 for r in self.requests)


def is_notice(req: Request) -> bool:
    """The place-in-line notice a waiting job shows in @original (bot/answers.py): no answer."""
    body = req.json or {}
    return (body.get("content") or "").startswith("⏳") and not body.get("embeds")


def outcomes(fake: FakeDiscord, sent: Sequence[tuple[dict[str, Any], float]]) -> list[Outcome]:
    """Per ``(payload, sent_at)``: its acknowledgement and answer among the fake's requests."""
    by_token = {p["token"]: Outcome(p["token"], at) for p, at in sent}
    followup = re.compile(rf"^/webhooks/{fake.app_id}/([^/]+)$")
    original = re.compile(rf"^/webhooks/{fake.app_id}/([^/]+)/messages/@original$")
    callback = re.compile(r"^/interactions/\d+/([^/]+)/callback$")
    for req in list(fake.requests):  # a copy: the fake's thread appends to it
        if req.method == "PATCH" and (m := original.match(req.path)):
            if (out := by_token.get(m[1])) is None or not 200 <= req.status < 300:
                continue
            out.requests.append(req)
            if is_notice(req):
                out.queued = True
            elif out.answer is None:
                out.answer = req
            continue
        if req.method != "POST":
            continue
        if (m := callback.match(req.path)) and (out := by_token.get(m[1])):
            out.requests.append(req)
            if out.ack is None:
                out.ack = req
                if req.status == 200 and req.json["type"] == 4:
                    out.answer = req
        elif (m := followup.match(req.path)) and (out := by_token.get(m[1])):
            out.requests.append(req)
            if out.answer is None and 200 <= req.status < 300:
                out.answer = req
    return list(by_token.values())


def wait_settled(
    fake: FakeDiscord, sent: Sequence[tuple[dict[str, Any], float]], timeout: float
) -> list[Outcome]:
    """Block (a thread, not a loop) until every interaction is settled or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        found = outcomes(fake, sent)
        if all(o.settled for o in found) or time.monotonic() >= deadline:
            return found
        time.sleep(0.02)


async def wait_settled_async(
    fake: FakeDiscord, sent: Sequence[tuple[dict[str, Any], float]], timeout: float
) -> list[Outcome]:
    """The same on an event loop: polls the fake's record every 20 ms, never blocks."""
    deadline = time.monotonic() + timeout
    while True:
        found = outcomes(fake, sent)
        if all(o.settled for o in found) or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.02)


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated ``q``-th percentile (0-100) of ``values``; nan when empty."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# -- a big export ----------------------------------------------------------------------------

RATING_FILES = (
    "ratings_2022_empty_year_crlf.csv",
    "ratings_2017_slug_uris_crlf.csv",
    "ratings_2026_cjk.csv",
    "ratings_2026_spanish.csv",
    "ratings_small_crlf.csv",
)


def _rows(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _synthetic_stars(name: str, year: str) -> str:
    """A fixed half-star rating from the film's name and year, skewed like real ratings."""
    digest = hashlib.sha256(f"{name}\x00{year}".encode()).digest()
    # Sum of two dice-like draws: mostly 2.5-4 stars, sometimes 0.5 or 5.
    halves = 1 + digest[0] % 5 + digest[1] % 6  # 1..10 half stars
    return f"{halves / 2:g}"


@dataclass
class BigExport:
    data: bytes
    films: int
    real_ratings: int  # taken from another real export (same name and year)
    synthetic_ratings: int  # made up from a hash of name and year

    @property
    def source(self) -> str:
        return (
            f"first {self.films} distinct films of watched_2604.csv; {self.real_ratings} "
            f"ratings merged from the other real ratings exports (same name and year), "
            f"{self.synthetic_ratings} synthesised deterministically (sha256 of name and year)"
        )


def big_ratings_export(letterboxd_dir: Path, films: int = 2000) -> BigExport:
    """A ``ratings.csv`` of ``films`` real films (watched_2604.csv), each with a rating."""
    real = letterboxd_dir / "real"
    known: dict[tuple[str, str], str] = {}
    for name in RATING_FILES:
        for row in _rows(real / name):
            if row.get("Rating"):
                known.setdefault((row["Name"].casefold(), row["Year"]), row["Rating"])
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", "Name", "Year", "Letterboxd URI", "Rating"])
    seen: set[tuple[str, str]] = set()
    n_real = 0
    for row in _rows(real / "watched_2604.csv"):
        key = (row["Name"].casefold(), row["Year"])
        if key in seen:
            continue
        seen.add(key)
        stars = known.get(key)
        n_real += stars is not None
        stars = stars or _synthetic_stars(row["Name"], row["Year"])
        writer.writerow([row["Date"], row["Name"], row["Year"], row["Letterboxd URI"], stars])
        if len(seen) == films:
            break
    if len(seen) < films:
        raise ValueError(f"watched_2604.csv has only {len(seen)} distinct films")
    return BigExport(out.getvalue().encode("utf-8"), films, n_real, films - n_real)


# -- /proc -----------------------------------------------------------------------------------


def proc_status_mb(pid: int, key: str) -> float:
    """``VmRSS``, ``VmHWM``… of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(key)

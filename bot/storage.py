"""Saved films, privacy choices and hidden films, in one SQLite file (aiosqlite, WAL).

What is kept is only what the user agreed to: their films as :meth:`UserFilms.to_dict` JSON
(for each matched film its movieId, their own name and year for it, stars and
watched/watchlist/liked flags; the movieIds they watched; every rating value they gave; the
names and years of films no MovieLens film fits; the match summary line and row counts), the
films they hid from their lists, and two yes/no choices: whether others may compare with them
and whether their films are kept at all. Never an email address or anything else from the
export's profile.

Every row hangs off one ``users`` row (foreign keys, ``ON DELETE CASCADE``), so ``/forget`` is
a single ``DELETE``. The clock that retention counts from is the user's last write (an upload,
a privacy choice, a hidden film); reads do not extend it. Retention applies to films and
hidden films; the choices alone (a ``preferences`` row, only the user id and two flags) stay
until the user changes them or runs ``/forget``, so that "don't keep my films" and "don't
compare me" are still honoured after the films have expired.

Durability: WAL with ``synchronous=FULL``. NORMAL already survives a killed process, but after
a power cut it may roll back the last transactions; a confirmed ``/forget`` must never come
back, and writes are rare (one per upload or button press), so the extra fsync is free.
``secure_delete`` overwrites deleted rows and ``/forget`` checkpoints the WAL, so the films do
not linger in free pages of the file either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import aiosqlite

from recommender.user_films import UserFilms, user_films_from_dict

log = logging.getLogger(__name__)

HideKind = Literal["seen", "not_interested"]
HIDE_KINDS: tuple[str, ...] = get_args(HideKind)
BUSY_TIMEOUT_MS = 10_000
DAY = 86_400.0


class StorageError(Exception):
    """The database cannot be used (a newer schema, not a database, a bad setting)."""


# -- schema ------------------------------------------------------------------------------------

_V1 = f"""
CREATE TABLE users (
    user_id    INTEGER PRIMARY KEY,
    touched_at REAL NOT NULL              -- unix seconds of the last write (retention)
);
CREATE TABLE profiles (
    user_id    INTEGER PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,
    films_json TEXT NOT NULL,             -- UserFilms.to_dict()
    film_count INTEGER NOT NULL,
    saved_at   REAL NOT NULL
);
CREATE TABLE preferences (
    user_id       INTEGER PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,
    allow_compare INTEGER NOT NULL CHECK (allow_compare IN (0, 1))
);
CREATE TABLE hidden (
    user_id  INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    movie_id INTEGER NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in HIDE_KINDS)})),
    at       REAL NOT NULL,
    PRIMARY KEY (user_id, movie_id)
) WITHOUT ROWID;
CREATE INDEX users_touched_at ON users(touched_at);
"""

# v2: "Don't keep my films" is remembered, so later uploads are not saved (1 = keep, the default).
_V2 = """
ALTER TABLE preferences ADD COLUMN keep_films INTEGER NOT NULL DEFAULT 1
    CHECK (keep_films IN (0, 1))
"""

# MIGRATIONS[i] takes a database from user_version i to i + 1. Append, never edit: a file
# written by an older bot is brought forward one step at a time, each step in one transaction.
MIGRATIONS: list[str] = [_V1, _V2]


def schema_version() -> int:
    return len(MIGRATIONS)


# -- what callers get ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredProfile:
    user_id: int
    films: UserFilms
    saved_at: datetime  # UTC
    allow_compare: bool  # others may /compare with them and see /profile (default True)
    hidden: dict[int, str]  # movieId -> "seen" | "not_interested"


# A profile row as stored: (films_json, film_count, saved_at), or None for no row.
ProfileSnapshot = tuple[str, int, float] | None


@dataclass(frozen=True)
class StoredSummary:
    """What /privacy and /forget tell the user, without parsing the films."""

    user_id: int
    film_count: int | None  # None: no films saved (or they expired)
    saved_at: datetime | None
    allow_compare: bool
    hidden_count: int
    expires_at: datetime | None  # None: only choices are kept, and they do not expire
    keep_films: bool = True  # False: uploads are not saved ("Don't keep my films")
    has_choices: bool = False  # a preferences row exists (kept until changed or /forget)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- the store -----------------------------------------------------------------------------------


class ProfileStore:
    """One connection per process; an asyncio lock keeps each transaction whole.

    Other processes may write the same file at the same time: ``BEGIN IMMEDIATE`` takes
    SQLite's write lock up front and ``busy_timeout`` waits for it.
    """

    def __init__(
        self,
        db: aiosqlite.Connection,
        path: Path,
        retention_days: float,
        clock: Callable[[], float],
    ) -> None:
        self._db = db
        self.path = path
        self.retention_days = retention_days
        self._clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        path: Path,
        retention_days: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> ProfileStore:
        """Open (creating folders and file if needed), set WAL and migrate the schema."""
        if not math.isfinite(retention_days) or retention_days <= 0:
            raise StorageError(f"retention must be a positive number of days, not {retention_days}")
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, aiosqlite.Error) as error:
            raise StorageError(
                f"cannot open the database {path} (BOXDREC_DATABASE): {error}"
            ) from error
        store = cls(db, path, retention_days, clock)
        try:
            await store._configure()
            await store._migrate()
        except aiosqlite.Error as error:
            await db.close()
            raise StorageError(
                f"cannot use the database {path} (BOXDREC_DATABASE): {error}"
            ) from error
        except BaseException:
            await db.close()
            raise
        log.info(
            "profile store %s ready (schema %d, retention %g days)",
            path,
            schema_version(),
            retention_days,
        )
        return store

    async def _configure(self) -> None:
        await self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        async with self._db.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise StorageError(f"{self.path}: could not turn on WAL (got {row})")
        for pragma in ("synchronous = FULL", "foreign_keys = ON", "secure_delete = ON"):
            await self._db.execute(f"PRAGMA {pragma}")

    async def _migrate(self) -> None:
        async with self._write():
            version = await self._scalar("PRAGMA user_version")
            if version > schema_version():
                raise StorageError(
                    f"{self.path} has schema {version}, newer than this bot's "
                    f"{schema_version()}: upgrade the bot, or point BOXDREC_DATABASE elsewhere"
                )
            for target in range(version + 1, schema_version() + 1):
                log.info("migrating %s to schema %d", self.path, target)
                for statement in _statements(MIGRATIONS[target - 1]):
                    await self._db.execute(statement)
                # PRAGMA takes no parameters; target is our own int.
                await self._db.execute(f"PRAGMA user_version = {int(target)}")

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()

    # -- helpers ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self, begin: str, *, commit: bool) -> AsyncIterator[None]:
        async with self._lock:
            await self._db.execute(begin)
            try:
                yield
                if commit:
                    await self._db.execute("COMMIT")
            finally:
                await self._rollback()  # after a failure, or ending a read

    def _write(self) -> AbstractAsyncContextManager[None]:
        """One write transaction: everything inside commits together or not at all."""
        return self._transaction("BEGIN IMMEDIATE", commit=True)

    def _read(self) -> AbstractAsyncContextManager[None]:
        """One read transaction: every SELECT inside sees the same snapshot."""
        return self._transaction("BEGIN", commit=False)

    async def _rollback(self) -> None:
        if self._db.in_transaction:
            await self._db.execute("ROLLBACK")

    async def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async with self._db.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def _touch(self, user_id: int, now: float) -> None:
        # Films that expired but still wait for the hourly purge must not come back to life
        # because a new write restarts the clock: they go first.
        for table in ("profiles", "hidden"):
            await self._db.execute(
                f"DELETE FROM {table} WHERE user_id = ? AND EXISTS "
                "(SELECT 1 FROM users WHERE user_id = ? AND touched_at < ?)",
                (user_id, user_id, self._cutoff()),
            )
        await self._db.execute(
            "INSERT INTO users (user_id, touched_at) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET touched_at = excluded.touched_at",
            (user_id, now),
        )

    def _cutoff(self) -> float:
        return self._clock() - self.retention_days * DAY

    def expires_at(self, touched_at: float) -> datetime:
        return _utc(touched_at) + timedelta(days=self.retention_days)

    # -- the API ---------------------------------------------------------------------------

    async def save_films(self, user_id: int, films: UserFilms) -> bool:
        """Replace the user's films atomically; their choices and hidden films stay.

        Returns False, writing nothing, when the user chose not to keep their films: checked in
        the same transaction, so an upload racing a "Don't keep" press cannot save them back.
        """
        # 10,000 films are ~40 ms of JSON: off the event loop.
        payload = await asyncio.to_thread(_films_to_json, films)
        now = self._clock()
        async with self._write():
            if not await self._keeps_films(user_id):
                log.info("not saving the films of user %s: they chose not to keep them", user_id)
                return False
            await self._touch(user_id, now)
            await self._db.execute(
                "INSERT INTO profiles (user_id, films_json, film_count, saved_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "films_json = excluded.films_json, film_count = excluded.film_count, "
                "saved_at = excluded.saved_at",
                (user_id, payload, len(films.films), now),
            )
        log.info("saved %d films for user %s", len(films.films), user_id)
        return True

    async def snapshot(self, user_id: int) -> ProfileSnapshot:
        """The user's profile row exactly as stored (``None``: no row), to put back with
        :meth:`restore` if a save's answer never reaches the user."""
        async with (
            self._read(),
            self._db.execute(
                "SELECT films_json, film_count, saved_at FROM profiles WHERE user_id = ?",
                (user_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return None if row is None else (row[0], row[1], row[2])

    async def restore(self, user_id: int, snapshot: ProfileSnapshot) -> None:
        """Put the profile row back as :meth:`snapshot` found it; choices and hidden films
        stay. Nothing is written for a user who has since said no."""
        async with self._write():
            if snapshot is None:
                await self._db.execute("DELETE FROM profiles WHERE user_id = ?", (user_id,))
            elif await self._keeps_films(user_id):
                await self._db.execute(
                    "UPDATE profiles SET films_json = ?, film_count = ?, saved_at = ? "
                    "WHERE user_id = ?",
                    (*snapshot, user_id),
                )
        log.info("put back the previous films of user %s: the answer never arrived", user_id)

    async def _keeps_films(self, user_id: int) -> bool:
        keep = await self._scalar(
            "SELECT keep_films FROM preferences WHERE user_id = ?", (user_id,)
        )
        return keep is None or bool(keep)

    async def load(self, user_id: int) -> StoredProfile | None:
        """The user's saved films; ``None`` if absent, expired or unreadable (logged)."""
        async with self._read():
            async with self._db.execute(
                "SELECT p.films_json, p.saved_at, COALESCE(pr.allow_compare, 1) "
                "FROM users u JOIN profiles p USING (user_id) "
                "LEFT JOIN preferences pr USING (user_id) "
                "WHERE u.user_id = ? AND u.touched_at >= ?",
                (user_id, self._cutoff()),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            hidden_rows = await self._db.execute_fetchall(
                "SELECT movie_id, kind FROM hidden WHERE user_id = ?", (user_id,)
            )
        try:
            films = await asyncio.to_thread(_films_from_json, row[0])
            saved_at = _utc(float(row[1]))
        except Exception as error:  # whatever is wrong with the row, it is not the user's
            log.warning("stored films of user %s are unreadable, ignoring them: %r", user_id, error)
            return None
        return StoredProfile(
            user_id=user_id,
            films=films,
            saved_at=saved_at,
            allow_compare=bool(row[2]),
            hidden=_hidden_map(user_id, hidden_rows),
        )

    async def summary(self, user_id: int) -> StoredSummary | None:
        """Counts and dates of what is kept about the user; ``None`` if nothing.

        Expired films and hidden films count as gone even before the purge deletes them; the
        choices never expire.
        """
        async with (
            self._read(),
            self._db.execute(
                "SELECT u.touched_at, p.film_count, p.saved_at, pr.allow_compare, pr.keep_films, "
                "(SELECT COUNT(*) FROM hidden h WHERE h.user_id = u.user_id) "
                "FROM users u LEFT JOIN profiles p USING (user_id) "
                "LEFT JOIN preferences pr USING (user_id) "
                "WHERE u.user_id = ?",
                (user_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        touched_at, film_count, saved_at, allow, keep, hidden_count = row
        if float(touched_at) < self._cutoff():  # expired, not purged yet
            film_count, saved_at, hidden_count = None, None, 0
        has_choices = allow is not None
        if film_count is None and not hidden_count and not has_choices:
            return None
        expiring = film_count is not None or bool(hidden_count)
        return StoredSummary(
            user_id=user_id,
            film_count=None if film_count is None else int(film_count),
            saved_at=None if saved_at is None else _utc(float(saved_at)),
            allow_compare=True if allow is None else bool(allow),
            hidden_count=int(hidden_count),
            expires_at=self.expires_at(float(touched_at)) if expiring else None,
            keep_films=True if keep is None else bool(keep),
            has_choices=has_choices,
        )

    async def hidden(self, user_id: int) -> dict[int, str]:
        """The user's hidden films, also when no films are saved (``{}`` if none or expired)."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT h.movie_id, h.kind FROM hidden h JOIN users u USING (user_id) "
                "WHERE h.user_id = ? AND u.touched_at >= ?",
                (user_id, self._cutoff()),
            )
        return _hidden_map(user_id, rows)

    async def forget(self, user_id: int) -> int:
        """Delete every row about the user at once; returns how many rows went."""
        async with self._write():
            count = 0
            for table in ("profiles", "preferences", "hidden", "users"):
                count += int(
                    await self._scalar(
                        f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", (user_id,)
                    )
                )
            # The other tables follow through ON DELETE CASCADE.
            await self._db.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
        if count:
            await self._checkpoint()
        log.info("forgot user %s (%d rows)", user_id, count)
        return count

    async def set_allow_compare(self, user_id: int, allow: bool) -> None:
        """Whether others may /compare with the user; their other choice stays."""
        async with self._write():
            await self._touch(user_id, self._clock())
            await self._db.execute(
                "INSERT INTO preferences (user_id, allow_compare) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET allow_compare = excluded.allow_compare",
                (user_id, int(bool(allow))),
            )

    async def set_keep_films(self, user_id: int, keep: bool) -> int:
        """Whether the user's uploads are saved; their comparison choice stays.

        ``keep=False`` also deletes the films and hidden films already kept, in the same
        transaction, and returns how many rows went (0 for ``keep=True``).
        """
        async with self._write():
            deleted = 0
            if not keep:
                for table in ("profiles", "hidden"):
                    cursor = await self._db.execute(
                        f"DELETE FROM {table} WHERE user_id = ?", (user_id,)
                    )
                    deleted += max(cursor.rowcount, 0)
            await self._touch(user_id, self._clock())
            await self._db.execute(
                "INSERT INTO preferences (user_id, allow_compare, keep_films) VALUES (?, 1, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET keep_films = excluded.keep_films",
                (user_id, int(bool(keep))),
            )
        if deleted:
            await self._checkpoint()
        log.info("user %s set keep_films=%s (%d rows deleted)", user_id, keep, deleted)
        return deleted

    async def hide(self, user_id: int, movie_id: int, kind: HideKind) -> bool:
        """Remember a film the user does not want recommended again (the latest kind wins).

        Only while their films are kept (their consent): after "Don't keep", /forget or the
        films' expiry, a press on an older list stores nothing and this returns False.
        """
        if kind not in HIDE_KINDS:
            raise ValueError(f"kind must be one of {HIDE_KINDS}, not {kind!r}")
        now = self._clock()
        async with self._write():
            kept = await self._scalar(
                "SELECT 1 FROM users u JOIN profiles p USING (user_id) "
                "WHERE u.user_id = ? AND u.touched_at >= ?",
                (user_id, self._cutoff()),
            )
            if kept is None:
                return False
            await self._touch(user_id, now)
            await self._db.execute(
                "INSERT INTO hidden (user_id, movie_id, kind, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, movie_id) DO UPDATE SET "
                "kind = excluded.kind, at = excluded.at",
                (user_id, int(movie_id), kind, now),
            )
        return True

    async def purge_expired(self) -> int:
        """Delete the films and hidden films of users whose last write is older than the
        retention; returns how many users lost data.

        Their choices (a preferences row: the user id and two flags) stay, so a "no" outlives
        the films; a user with nothing else left goes entirely.
        """
        cutoff = self._cutoff()
        async with self._write():
            purged = int(
                await self._scalar(
                    "SELECT COUNT(*) FROM users u WHERE u.touched_at < ? AND ("
                    "EXISTS (SELECT 1 FROM profiles p WHERE p.user_id = u.user_id) OR "
                    "EXISTS (SELECT 1 FROM hidden h WHERE h.user_id = u.user_id) OR "
                    "NOT EXISTS (SELECT 1 FROM preferences pr WHERE pr.user_id = u.user_id))",
                    (cutoff,),
                )
            )
            expired = "SELECT user_id FROM users WHERE touched_at < ?"
            for table in ("profiles", "hidden"):
                await self._db.execute(
                    f"DELETE FROM {table} WHERE user_id IN ({expired})", (cutoff,)
                )
            await self._db.execute(
                "DELETE FROM users WHERE touched_at < ? "
                "AND user_id NOT IN (SELECT user_id FROM preferences)",
                (cutoff,),
            )
        if purged:
            log.info("purged %d users' data older than %g days", purged, self.retention_days)
            await self._checkpoint()
        return purged

    async def _checkpoint(self) -> None:
        # Copy the WAL into the main file and truncate it, so deleted rows are gone from disk.
        # Best effort: another process reading the file may keep some frames until later.
        async with self._lock:
            try:
                await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except aiosqlite.OperationalError as error:
                log.info("checkpoint after a delete postponed: %s", error)


# -- reading back, defensively --------------------------------------------------------------


def _statements(script: str) -> Iterator[str]:
    # Statements one by one: executescript() would COMMIT the migration's transaction.
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    for part in code.split(";"):
        if part.strip():
            yield part.strip()


def _films_to_json(films: UserFilms) -> str:
    return json.dumps(films.to_dict(), separators=(",", ":"), ensure_ascii=False)


def _films_from_json(text: Any) -> UserFilms:
    if not isinstance(text, str):
        raise TypeError(f"films_json is {type(text).__name__}, not text")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError("films_json is not an object")
    films = user_films_from_dict(data)
    for film in films.films:
        if film.movie_id <= 0:
            raise ValueError(f"movieId {film.movie_id}")
        if film.stars is not None and not 0 < film.stars <= 5:
            raise ValueError(f"stars {film.stars} for movieId {film.movie_id}")
    return films


def _hidden_map(user_id: int, rows: Any) -> dict[int, str]:
    hidden: dict[int, str] = {}
    for movie_id, kind in rows:
        if isinstance(movie_id, int) and kind in HIDE_KINDS:
            hidden[movie_id] = kind
        else:
            log.warning("ignoring a bad hidden row for user %s: %r %r", user_id, movie_id, kind)
    return hidden

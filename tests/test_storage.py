"""The profile store: what it keeps, how long, how it forgets, and that writes are all-or-nothing.

Files are checked with the standard library's sqlite3 as well as through the store, so "deleted"
means gone from the file, not merely hidden by our own queries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_child import ROUNDS, round_size, tagged_films

from bot.storage import (
    DAY,
    MIGRATIONS,
    ProfileStore,
    StorageError,
    StoredProfile,
    schema_version,
)
from recommender.user_films import UserFilms

REPO = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).with_name("storage_child.py")
T0 = 1_750_000_000.0  # a fixed "now" (June 2025)
TABLES = ("users", "profiles", "preferences", "hidden")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "boxdrec.sqlite3"  # the folder does not exist yet


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(db_path: Path, clock: Clock) -> AsyncIterator[ProfileStore]:
    opened = await ProfileStore.open(db_path, 180, clock=clock)
    yield opened
    await opened.close()


def rows(path: Path, user_id: int | None = None) -> dict[str, int]:
    """Row counts per table, read with the stdlib sqlite3 (all users or one)."""
    with sqlite3.connect(path) as db:
        where, args = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        return {
            t: db.execute(f"SELECT COUNT(*) FROM {t} {where}", args).fetchone()[0] for t in TABLES
        }


def one_of_the_writes(profile: StoredProfile | None) -> str:
    """The tag of the single complete write ``profile`` is, or fail."""
    assert profile is not None
    films = profile.films
    tag = films.summary
    assert films.counts == {"total": len(films.films)}
    assert [f.name for f in films.films] == [
        f"{tag} film {i}" for i in range(1, len(films.films) + 1)
    ]
    return tag


# -- what is kept ------------------------------------------------------------------------------


async def test_films_round_trip_with_privacy_choice_and_hidden_films(
    store: ProfileStore, db_path: Path
):
    films = tagged_films("mine", 30)
    await store.save_films(1001, films)
    await store.hide(1001, 500, "seen")
    await store.hide(1001, 501, "not_interested")
    await store.hide(1001, 500, "not_interested")  # the latest kind wins
    await store.set_allow_compare(1001, False)

    profile = await store.load(1001)
    assert profile is not None
    assert profile.films == films
    assert profile.saved_at.timestamp() == T0 and profile.saved_at.utcoffset().total_seconds() == 0
    assert profile.allow_compare is False
    assert profile.hidden == {500: "not_interested", 501: "not_interested"}
    assert await store.load(2002) is None

    # A new upload replaces the films and keeps the choice and the hidden films.
    newer = tagged_films("newer", 12)
    await store.save_films(1001, newer)
    profile = await store.load(1001)
    assert profile is not None and profile.films == newer
    assert profile.allow_compare is False and set(profile.hidden) == {500, 501}
    assert rows(db_path, 1001) == {"users": 1, "profiles": 1, "preferences": 1, "hidden": 2}


@pytest.mark.movielens
async def test_a_real_export_round_trips_and_nothing_from_the_profile_is_stored(
    service, letterboxd_dir: Path, tmp_path: Path
):
    export = service.read_export_file(letterboxd_dir / "real" / "ratings_2026_cjk.csv")
    films, _ = service.user_films(export)
    assert films.films
    path = tmp_path / "boxdrec.sqlite3"
    store = await ProfileStore.open(path, 180)
    try:
        await store.save_films(7, films)
        profile = await store.load(7)
        assert profile is not None and profile.films == films
        # What later commands rely on survives: the same list from stored films.
        again = service.recommend_films(profile.films, n=5)
        assert [r.movie_id for r in again.items] == [
            r.movie_id for r in service.recommend_films(films, n=5).items
        ]
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        columns = {t: [c[1] for c in db.execute(f"PRAGMA table_info({t})")] for t in TABLES}
    text = " ".join(c for cs in columns.values() for c in cs)
    assert "email" not in text and "username" not in text


async def test_a_corrupt_row_reads_as_absent_and_is_logged(
    store: ProfileStore, db_path: Path, caplog: pytest.LogCaptureFixture
):
    await store.save_films(1, tagged_films("a", 3))
    await store.save_films(2, tagged_films("b", 3))
    await store.save_films(3, tagged_films("c", 3))
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE profiles SET films_json = '{not json' WHERE user_id = 1")
        db.execute("""UPDATE profiles SET films_json = '{"schema": 99}' WHERE user_id = 2""")
        db.execute(
            "UPDATE profiles SET films_json = json_replace(films_json, '$.films[0][3]', 9.5) "
            "WHERE user_id = 3"
        )
    with caplog.at_level(logging.WARNING, logger="bot.storage"):
        assert await store.load(1) is None
        assert await store.load(2) is None
        assert await store.load(3) is None  # 9.5 stars is not a Letterboxd rating
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 3


async def test_hide_refuses_an_unknown_kind(store: ProfileStore):
    with pytest.raises(ValueError, match="kind must be one of"):
        await store.hide(1, 2, "meh")  # type: ignore[arg-type]


# -- the file: WAL, schema version, migrations ---------------------------------------------------


async def test_a_new_file_is_wal_with_the_current_schema_version(
    store: ProfileStore, db_path: Path
):
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema_version() >= 1
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(TABLES) <= names


async def test_an_empty_file_is_migrated(tmp_path: Path):
    path = tmp_path / "boxdrec.sqlite3"
    path.write_bytes(b"")  # e.g. created by `touch` or a volume mount
    store = await ProfileStore.open(path, 180)
    await store.save_films(1, tagged_films("x", 2))
    await store.close()
    assert rows(path)["profiles"] == 1


async def test_an_older_file_is_migrated_forward_once_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "boxdrec.sqlite3"
    store = await ProfileStore.open(path, 180)
    await store.save_films(1, tagged_films("old", 4))
    await store.close()

    # The next release adds a column: the file written by this one is brought forward.
    migrations = [*MIGRATIONS, "ALTER TABLE profiles ADD COLUMN source TEXT -- ; in a comment"]
    monkeypatch.setattr("bot.storage.MIGRATIONS", migrations)
    for _ in range(2):  # opening again is a no-op
        store = await ProfileStore.open(path, 180)
        assert one_of_the_writes(await store.load(1)) == "old"
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(migrations)
        assert "source" in [c[1] for c in db.execute("PRAGMA table_info(profiles)")]


async def test_a_v1_file_migrates_to_the_current_schema_and_keeps_its_data(tmp_path: Path):
    """A file written by the first release (schema 1, no keep_films column) opens, gains the
    column with "keep" for everyone, and loses nothing."""
    path = tmp_path / "v1.sqlite3"
    films = tagged_films("from v1", 6)
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
        db.executemany("INSERT INTO users VALUES (?, ?)", [(1, T0), (2, T0)])
        db.execute(
            "INSERT INTO profiles VALUES (1, ?, 6, ?)",
            (json.dumps(films.to_dict()), T0),
        )
        db.execute("INSERT INTO preferences VALUES (1, 0)")
        db.execute("INSERT INTO preferences VALUES (2, 1)")
        db.execute("INSERT INTO hidden VALUES (1, 42, 'seen', ?)", (T0,))
    db_clock = Clock()
    store = await ProfileStore.open(path, 180, clock=db_clock)
    try:
        profile = await store.load(1)
        assert profile is not None and profile.films == films
        assert profile.saved_at.timestamp() == T0
        assert (profile.allow_compare, profile.hidden) == (False, {42: "seen"})
        summary = await store.summary(2)
        assert summary is not None and (summary.keep_films, summary.allow_compare) == (True, True)
        # The new column works: the "no" is stored and honoured.
        assert await store.set_keep_films(2, False) == 0
        assert await store.save_films(2, tagged_films("no", 1)) is False
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema_version() == 2
        assert [c[1] for c in db.execute("PRAGMA table_info(preferences)")] == [
            "user_id",
            "allow_compare",
            "keep_films",
        ]
        assert sorted(db.execute("SELECT user_id, allow_compare, keep_films FROM preferences")) == [
            (1, 0, 1),
            (2, 1, 0),
        ]
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_newer_file_or_not_a_database_is_refused_with_the_setting_named(tmp_path: Path):
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {schema_version() + 1}")
    with pytest.raises(StorageError, match=r"newer than this bot's.*BOXDREC_DATABASE"):
        await ProfileStore.open(newer, 180)

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StorageError, match="BOXDREC_DATABASE"):
        await ProfileStore.open(garbage, 180)

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(StorageError, match="cannot open the database"):
        await ProfileStore.open(blocked / "boxdrec.sqlite3", 180)


@pytest.mark.parametrize("days", [0, -1, float("nan"), float("inf")])
async def test_the_retention_must_be_a_positive_number_of_days(tmp_path: Path, days: float):
    with pytest.raises(StorageError, match="retention"):
        await ProfileStore.open(tmp_path / "x.sqlite3", days)


# -- retention and forgetting ------------------------------------------------------------------


async def test_expired_data_reads_as_absent_and_is_purged(
    store: ProfileStore, clock: Clock, db_path: Path
):
    await store.save_films(1, tagged_films("early", 3))
    await store.set_allow_compare(1, False)
    await store.hide(1, 99, "seen")
    clock.now = T0 + 100 * DAY
    await store.save_films(2, tagged_films("later", 3))

    clock.now = T0 + 180 * DAY - 1
    assert await store.purge_expired() == 0
    assert (await store.load(1)) is not None
    summary = await store.summary(1)
    assert summary is not None and summary.expires_at.timestamp() == T0 + 180 * DAY

    clock.now = T0 + 180 * DAY + 1
    assert await store.load(1) is None  # expired reads as absent even before the purge
    assert await store.hidden(1) == {}
    # The choice outlives the films: a "no" must not turn into a yes when the films expire.
    summary = await store.summary(1)
    assert summary is not None
    assert (summary.film_count, summary.saved_at, summary.hidden_count) == (None, None, 0)
    assert (summary.allow_compare, summary.has_choices, summary.expires_at) == (False, True, None)
    assert await store.purge_expired() == 1
    assert rows(db_path, 1) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert await store.purge_expired() == 0  # a preference-only row is not purged again
    assert one_of_the_writes(await store.load(2)) == "later"
    # A later upload is comparable only if the choice says so: still not.
    await store.save_films(1, tagged_films("back", 2))
    profile = await store.load(1)
    assert profile is not None and profile.allow_compare is False and profile.hidden == {}

    # Any write restarts the user's clock.
    clock.now = T0 + 270 * DAY
    await store.hide(2, 5, "not_interested")
    clock.now = T0 + 100 * DAY + 181 * DAY
    assert await store.purge_expired() == 0
    assert await store.load(2) is not None


async def test_a_write_after_expiry_does_not_bring_expired_films_back(
    store: ProfileStore, clock: Clock, db_path: Path
):
    """Between the expiry and the next hourly purge, a new choice restarts the clock: the
    expired films and hidden films must go, not live another retention period."""
    await store.save_films(1, tagged_films("stale", 3))
    await store.hide(1, 9, "seen")
    clock.now = T0 + 180 * DAY + 1
    await store.set_allow_compare(1, False)
    assert await store.load(1) is None and await store.hidden(1) == {}
    assert rows(db_path, 1) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    summary = await store.summary(1)
    assert summary is not None and summary.film_count is None and summary.expires_at is None


async def test_forget_deletes_every_row_of_the_user_and_only_theirs(
    store: ProfileStore, db_path: Path
):
    await store.save_films(1, tagged_films("Zyzzyvaforgotten", 40))
    await store.set_allow_compare(1, False)
    await store.hide(1, 7, "seen")
    await store.hide(1, 8, "not_interested")
    await store.save_films(2, tagged_films("kept", 5))
    await store.hide(2, 7, "seen")

    assert await store.forget(1) == 5  # users, profiles, preferences and two hidden rows
    assert await store.load(1) is None and await store.summary(1) is None
    assert rows(db_path, 1) == dict.fromkeys(TABLES, 0)
    assert rows(db_path, 2) == {"users": 1, "profiles": 1, "preferences": 0, "hidden": 1}
    assert await store.forget(1) == 0

    # Gone from the bytes on disk too (secure_delete, and the WAL checkpointed into the file).
    wal = db_path.with_name(db_path.name + "-wal")
    on_disk = db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"Zyzzyvaforgotten" not in on_disk
    assert b"kept film" in on_disk


async def test_dont_keep_deletes_the_films_and_remembers_the_no(
    store: ProfileStore, clock: Clock, db_path: Path
):
    await store.save_films(1, tagged_films("Zyzzyvadontkeep", 20))
    await store.set_allow_compare(1, False)
    await store.hide(1, 7, "seen")
    await store.save_films(2, tagged_films("other", 3))

    assert await store.set_keep_films(1, False) == 2  # the profile and the hidden film
    # Only the choices are left: the user id and two flags (and the time of the change).
    assert rows(db_path, 1) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    with sqlite3.connect(db_path) as db:
        assert db.execute(
            "SELECT allow_compare, keep_films FROM preferences WHERE user_id = 1"
        ).fetchone() == (0, 0), "saying no to keeping films must keep allow_compare:false"
    wal = db_path.with_name(db_path.name + "-wal")
    on_disk = db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"Zyzzyvadontkeep" not in on_disk

    # Later uploads and hides are not saved.
    assert await store.save_films(1, tagged_films("again", 5)) is False
    assert await store.hide(1, 8, "not_interested") is False
    assert await store.load(1) is None
    assert rows(db_path, 1) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    summary = await store.summary(1)
    assert summary is not None
    assert (summary.film_count, summary.keep_films, summary.allow_compare) == (None, False, False)
    assert summary.expires_at is None  # nothing that expires is kept

    # The choice outlives the retention period.
    clock.now = T0 + 400 * DAY
    assert await store.purge_expired() == 1  # user 2's films, not user 1's choices
    assert rows(db_path, 1) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert rows(db_path, 2) == dict.fromkeys(TABLES, 0)
    assert await store.save_films(1, tagged_films("still no", 5)) is False

    # Saying yes again: the next upload is saved; the comparison choice is untouched.
    assert await store.set_keep_films(1, True) == 0
    assert await store.save_films(1, tagged_films("yes", 4)) is True
    profile = await store.load(1)
    assert profile is not None and one_of_the_writes(profile) == "yes"
    assert profile.allow_compare is False


async def test_forget_deletes_the_choices_too_so_a_later_upload_is_saved(
    store: ProfileStore, db_path: Path
):
    await store.set_keep_films(1, False)
    await store.set_allow_compare(1, False)
    assert await store.forget(1) == 2  # users and preferences
    assert rows(db_path, 1) == dict.fromkeys(TABLES, 0)
    assert await store.save_films(1, tagged_films("after forget", 2)) is True
    profile = await store.load(1)
    assert profile is not None and profile.allow_compare is True


async def test_a_hide_after_the_films_are_gone_stores_nothing(store: ProfileStore, db_path: Path):
    """A press on an older list after /forget must not bring the user back into the file."""
    await store.save_films(1, tagged_films("a", 3))
    assert await store.hide(1, 5, "seen") is True
    await store.forget(1)
    assert await store.hide(1, 6, "seen") is False
    assert rows(db_path, 1) == dict.fromkeys(TABLES, 0)


async def test_summary_counts_what_is_kept(store: ProfileStore):
    assert await store.summary(5) is None
    await store.set_allow_compare(5, False)  # a choice without films is kept too
    summary = await store.summary(5)
    assert summary is not None
    assert (summary.film_count, summary.saved_at, summary.allow_compare) == (None, None, False)
    await store.save_films(5, tagged_films("s", 9))
    await store.hide(5, 1, "seen")
    summary = await store.summary(5)
    assert summary is not None
    assert (summary.film_count, summary.hidden_count, summary.allow_compare) == (9, 1, False)


# -- concurrency and crashes ---------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
async def test_concurrent_writers_in_tasks_and_processes_never_mix_profiles(
    db_path: Path,
):
    store = await ProfileStore.open(db_path, 180)
    shared, mine, a_only, b_only = 1, 2, 3, 4
    children = [spawn("write", str(db_path), "A", str(shared), str(a_only)),
                spawn("write", str(db_path), "B", str(shared), str(b_only))]  # fmt: skip

    async def writer(task: int, user: int) -> None:
        for round_no in range(ROUNDS):
            await store.save_films(user, tagged_films(f"T{task}-{round_no}", round_size(round_no)))
            await store.hide(user, 10_000 + task, "seen")

    try:
        for child in children:  # both open, then all start at once
            assert child.stdout is not None
            assert await asyncio.to_thread(child.stdout.readline) == b"ready\n"
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            child.stdin.close()
        tasks = [writer(t, shared if t % 2 else mine) for t in range(6)]
        await asyncio.gather(*tasks)
        for child in children:
            assert child.stderr is not None
            err = await asyncio.to_thread(child.stderr.read)
            assert await asyncio.to_thread(child.wait, 120) == 0, err.decode()
        tags = {u: one_of_the_writes(await store.load(u)) for u in (shared, mine, a_only, b_only)}
    finally:
        await store.close()
        for child in children:
            if child.poll() is None:
                child.kill()

    last = ROUNDS - 1
    # Users written by one writer end with its last round; the others with someone's last.
    assert tags[a_only] == f"A-{last}" and tags[b_only] == f"B-{last}"
    assert tags[shared] in {f"A-{last}", f"B-{last}", *(f"T{t}-{last}" for t in (1, 3, 5))}
    assert tags[mine] in {f"T{t}-{last}" for t in (0, 2, 4)}
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        film_counts = dict(db.execute("SELECT user_id, film_count FROM profiles"))
    assert film_counts[shared] == round_size(last)


@pytest.mark.slow
async def test_a_kill_in_the_middle_of_a_write_leaves_the_previous_profile_intact(db_path: Path):
    previous = tagged_films("previous", 50)
    store = await ProfileStore.open(db_path, 180)
    await store.save_films(1, previous)
    await store.set_allow_compare(1, False)
    await store.close()

    child = spawn("kill", str(db_path), "1", "20000")
    try:
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        assert line == b"in transaction\n", child.stderr.read().decode() if child.stderr else ""
        # The new rows are written (and spilled into the WAL) but not committed: kill now.
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.stat().st_size > 500_000
        child.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(child.wait, 30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()

    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = await ProfileStore.open(db_path, 180)
    try:
        profile = await store.load(1)
        assert profile is not None and profile.films == previous
        assert profile.allow_compare is False
        # And the store still takes writes.
        await store.save_films(1, tagged_films("after", 3))
        assert one_of_the_writes(await store.load(1)) == "after"
    finally:
        await store.close()


def test_tagged_films_are_what_the_checks_expect() -> None:
    films = tagged_films("t", 3)
    assert (
        isinstance(films, UserFilms)
        and one_of_the_writes(
            StoredProfile(1, films, None, True, {})  # type: ignore[arg-type]
        )
        == "t"
    )


async def test_restore_puts_back_the_row_exactly_or_removes_a_first_save(
    store: ProfileStore, clock: Clock, db_path: Path
) -> None:
    # A first upload whose answer never arrived: the profile goes, the choices stay.
    await store.set_allow_compare(1, False)
    before = await store.snapshot(1)
    assert before is None
    await store.save_films(1, tagged_films("untold", 5))
    await store.restore(1, before)
    assert await store.load(1) is None
    assert rows(db_path, 1)["preferences"] == 1

    # A later upload: the earlier row comes back byte for byte, saved_at included.
    await store.save_films(1, tagged_films("told", 4))
    told = await store.snapshot(1)
    clock.now += 60
    await store.save_films(1, tagged_films("untold", 9))
    await store.restore(1, told)
    assert await store.snapshot(1) == told
    profile = await store.load(1)
    assert profile is not None and {f.name for f in profile.films.films} == {
        f"told film {i}" for i in range(1, 5)
    }


async def test_restore_writes_nothing_back_for_a_user_who_has_said_no(
    store: ProfileStore,
) -> None:
    await store.save_films(1, tagged_films("told", 4))
    told = await store.snapshot(1)
    await store.set_keep_films(1, False)
    await store.restore(1, told)
    assert await store.snapshot(1) is None

"""A second OS process for tests/test_storage.py (run as a script, never collected).

``python tests/storage_child.py write DB TAG USER [USER...]``: opens the store, says "ready",
waits for a line on stdin, then saves ``ROUNDS`` complete profiles per user, each tagged
``TAG-round`` and of a size that differs per round (so a mix of two writes would show).

``python tests/storage_child.py kill DB USER N``: saves an N-film profile and, from inside the
transaction (after the rows are written, just before COMMIT runs), writes one line to stdout
and sleeps: the parent SIGKILLs it there.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from bot.storage import ProfileStore
from recommender.user_films import UserFilm, UserFilms

ROUNDS = 25


def tagged_films(tag: str, n: int) -> UserFilms:
    """``n`` films, every name carrying ``tag``: a profile mixed from two writes is visible."""
    films = tuple(
        UserFilm(
            movie_id=i,
            name=f"{tag} film {i}",
            year=1950 + i % 70,
            stars=0.5 * (1 + i % 10),
            watched=True,
            watchlist=i % 7 == 0,
            liked=i % 5 == 0,
        )
        for i in range(1, n + 1)
    )
    return UserFilms(
        films=films,
        seen_ids=frozenset(range(1, n + 1)),
        ratings=tuple(f.stars for f in films if f.stars is not None),
        summary=tag,
        counts={"total": n},
    )


def round_size(round_no: int) -> int:
    return 40 + 37 * round_no


async def write(db: Path, tag: str, users: list[int]) -> None:
    store = await ProfileStore.open(db, 180)
    os.write(1, b"ready\n")
    sys.stdin.readline()  # start together with the parent's writers
    for round_no in range(ROUNDS):
        for user in users:
            await store.save_films(user, tagged_films(f"{tag}-{round_no}", round_size(round_no)))
    await store.close()


async def kill(db: Path, user: int, n: int) -> None:
    store = await ProfileStore.open(db, 180)
    # A tiny page cache makes SQLite spill the uncommitted pages into the WAL file, so the
    # kill leaves half a transaction on disk, not only in memory.
    await store._db.execute("PRAGMA cache_size = 20")

    def trace(sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            os.write(1, b"in transaction\n")
            time.sleep(3600)

    await store._db.set_trace_callback(trace)
    await store.save_films(user, tagged_films("new", n))
    os.write(1, b"committed?!\n")  # never reached: the parent kills us first


def main() -> None:
    mode, db = sys.argv[1], Path(sys.argv[2])
    if mode == "write":
        asyncio.run(write(db, sys.argv[3], [int(u) for u in sys.argv[4:]]))
    elif mode == "kill":
        asyncio.run(kill(db, int(sys.argv[3]), int(sys.argv[4])))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

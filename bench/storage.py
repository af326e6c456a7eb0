"""SQLite under several bot processes: how fast saved profiles can be written into one file.

Each /recommend saves the user's matched films (``ProfileStore.save_films``, bot/storage.py:
WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``, ``busy_timeout`` 10 s). SQLite lets one writer
in at a time, whatever the number of processes, so this is the storage limit when several bot
processes share the file. P processes each save M profiles of a real 2,000-film export (matched
once, here) as fast as they can, to distinct users; the baseline is P=1 in the same run.

    python bench/storage.py            # 1, 2, 4 and 8 writers, 100 saves each
    python bench/storage.py --quick    # 1 and 4 writers, 30 saves each

The last line is JSON: writes_per_s and write_p99_ms for each number of writers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl

sys.path.insert(0, str(bl.REPO / "tests" / "e2e"))
from loadgen import big_ratings_export

WRITER = """
import asyncio, json, sys, time
from pathlib import Path
from bot.storage import ProfileStore
from recommender.user_films import user_films_from_dict

async def main(db, films_file, first_user, n, start_at):
    films = user_films_from_dict(json.loads(Path(films_file).read_text()))
    store = await ProfileStore.open(Path(db), retention_days=30)
    while time.time() < start_at:  # every writer starts together
        await asyncio.sleep(0.005)
    took = []
    for i in range(n):
        t = time.perf_counter()
        await store.save_films(first_user + i, films)
        took.append(time.perf_counter() - t)
    await store.close()
    print(json.dumps(took))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
"""


def run(writers: int, saves: int, films_file: Path, workdir: Path) -> dict[str, float]:
    db = workdir / f"bench-{writers}.sqlite3"
    start_at = time.time() + 3.0 + 0.3 * writers  # time to import and open
    procs = []
    for w in range(writers):
        argv = [str(db), str(films_file), str(1_000_000 * (w + 1)), str(saves), str(start_at)]
        cmd = [sys.executable, "-c", WRITER, *argv]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    took: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        took += json.loads(out)
    wall = max(time.time() - start_at, 1e-9)
    row = {
        "writers": writers,
        "writes": len(took),
        "writes_per_s": len(took) / wall,
        "write_p50_ms": 1e3 * bl.percentile(took, 50),
        "write_p99_ms": 1e3 * bl.percentile(took, 99),
        "db_mb": db.stat().st_size / 2**20,
    }
    print(
        f"  {writers:2d} writers: {row['writes_per_s']:7.1f} writes/s, "
        f"p50 {row['write_p50_ms']:6.1f} ms, p99 {row['write_p99_ms']:7.1f} ms"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=bl.MOVIELENS)
    parser.add_argument(
        "--letterboxd-dir",
        type=Path,
        default=Path(os.environ.get("BOXDREC_TEST_LETTERBOXD") or bl.SHARED / "letterboxd"),
    )
    args = parser.parse_args()
    machine = bl.print_machine()
    load_start = bl.load_average("at start")
    writers, saves = ((1, 4), 30) if args.quick else ((1, 2, 4, 8), 100)

    from recommender.letterboxd import read_export
    from recommender.matching import TitleMatcher
    from recommender.movielens import load_catalogue
    from recommender.user_films import user_films_from_match

    export = read_export(big_ratings_export(args.letterboxd_dir, 2_000).data, "ratings.csv")
    report = TitleMatcher(load_catalogue(args.data_dir)).match(export.films)
    films = user_films_from_match(export, report)
    payload = json.dumps(films.to_dict())
    print(f"profile: {len(films.films):,} films, {len(payload) / 1024:.0f} KiB of JSON per save")
    with tempfile.TemporaryDirectory(prefix="boxdrec-bench-storage-") as tmp:
        films_file = Path(tmp) / "films.json"
        films_file.write_text(payload)
        rows = [run(w, saves, films_file, Path(tmp)) for w in writers]
    base = rows[0]["writes_per_s"]
    for r in rows[1:]:
        print(f"  {r['writers']} writers / 1 writer: {r['writes_per_s'] / base:.2f}x the writes")
    bl.emit(
        {
            "writes_per_s": {r["writers"]: round(r["writes_per_s"], 1) for r in rows},
            "write_p99_ms": {r["writers"]: round(r["write_p99_ms"], 1) for r in rows},
            "ratio_vs_one_writer": {r["writers"]: round(r["writes_per_s"] / base, 2) for r in rows},
            "by_writers": rows,
            "profile_kib": round(len(payload) / 1024, 1),
            "loadavg": [load_start, bl.load_average("at the end")],
            "threadpools": machine["threadpools"],
        }
    )


if __name__ == "__main__":
    main()

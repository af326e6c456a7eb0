"""The bot's memory with a full-size model, and two bot processes sharing the model's pages.

Writes a synthetic model the size of one trained on all of ml-32m (84,000 films, k=370,
float32: ``benchlib.write_synthetic_model``), starts two ``python -m bot`` processes on it,
each against its own fake Discord (tests/e2e/fake_discord.py), has each answer one /recommend
(a 2,000-film export: every page of the item matrix is read), then reads ``/proc/PID/smaps``:
the item matrix's mapping in each process (Rss, Pss, Shared_Clean, Private) and each process's
whole RSS and PSS. PSS charges a shared page to each process that maps it in equal parts, so
two processes sharing the matrix show a PSS of half its size each.

Side by side, the notebook's way of loading a model: a child process ``joblib.load``s an
sklearn ``NMF`` with the same components (float64, pickled), which lands in private memory,
a copy per process.

    python bench/memory.py            # 84,000 films, k=370
    python bench/memory.py --quick    # the same (it takes well under a minute)

The last line is JSON: rss_mb and pss_mb of each bot, components_mb, components_pss_mb and
components_shared_mb per bot, notebook_private_mb (the joblib copy), and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl

sys.path.insert(0, str(bl.REPO / "tests" / "e2e"))
from bot_process import BotProcess, bot_env
from fake_discord import FakeDiscord
from load import wait_ready
from loadgen import big_ratings_export, wait_settled

FILENAME = "ratings.csv"
NOTEBOOK_LOAD = """
import sys, joblib
import sklearn.decomposition  # the import is not the model
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before = rss()
model = joblib.load(sys.argv[1])
model.components_.sum()
print(rss() - before)
"""


def smaps(pid: int, path_part: str) -> dict[str, float]:
    """Sum of each field (kB -> MiB) over the mappings of ``pid`` whose path holds
    ``path_part``; ``path_part=""`` sums every mapping."""
    totals: dict[str, float] = {}
    current = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:  # a mapping's header line
            current = path_part in line if path_part else True
        elif current and len(head) == 3 and head[2] == "kB":
            totals[head[0].rstrip(":")] = totals.get(head[0].rstrip(":"), 0.0) + int(head[1]) / 1024
    return totals


def notebook_copy_mb(model_dir: Path, name: str, workdir: Path) -> float:
    """RSS a child process gains by ``joblib.load``ing the model as the notebook saved it."""
    import joblib
    import numpy as np
    from sklearn.decomposition import NMF

    comps = np.load(model_dir / name / "components.npy").astype(np.float64)
    nmf = NMF(n_components=comps.shape[0], init="nndsvd", solver="cd", max_iter=300)
    nmf.components_, nmf.n_components_, nmf.n_features_in_ = comps, comps.shape[0], comps.shape[1]
    path = workdir / "nmf_model.joblib"
    joblib.dump(nmf, path)
    del comps, nmf
    out = subprocess.run(
        [sys.executable, "-c", NOTEBOOK_LOAD, str(path)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the same run (it is quick)")
    parser.add_argument("--data-dir", type=Path, default=bl.MOVIELENS)
    parser.add_argument(
        "--letterboxd-dir",
        type=Path,
        default=Path(os.environ.get("BOXDREC_TEST_LETTERBOXD") or bl.SHARED / "letterboxd"),
    )
    args = parser.parse_args()
    machine = bl.print_machine()
    load_start = bl.load_average("at start")
    export = big_ratings_export(args.letterboxd_dir, 2_000)
    films, k = bl.FULL_MODEL["films"], bl.FULL_MODEL["k"]
    with tempfile.TemporaryDirectory(prefix="boxdrec-bench-memory-") as tmp:
        workdir = Path(tmp)
        name = bl.write_synthetic_model(workdir / "models", films, k)
        comps_file = workdir / "models" / name / "components.npy"
        comps_mb = comps_file.stat().st_size / 2**20
        print(f"model: {films:,} films x k={k}, components.npy {comps_mb:.0f} MiB (float32)")

        fakes = [FakeDiscord().start() for _ in range(2)]
        bots = []
        try:
            for i, fake in enumerate(fakes):
                env = bot_env(fake, args.data_dir, workdir / "models", BOXDREC_MODEL=name)
                (workdir / f"bot{i}").mkdir()
                bots.append(BotProcess(fake, env, [], workdir / f"bot{i}"))
            started = time.monotonic()
            for bot in bots:
                wait_ready(bot)
            print(f"two bots ready in {time.monotonic() - started:.1f} s")
            idle = [bl.status_mb("VmRSS", b.proc.pid) for b in bots]
            for i, (bot, fake) in enumerate(zip(bots, fakes, strict=True)):
                user = fake.user(str(900_000 + i), f"mem{i}")
                payload = fake.recommend(FILENAME, export.data, user=user, count=10)
                sent = [(payload, fake.dispatch("INTERACTION_CREATE", payload))]
                (outcome,) = wait_settled(fake, sent, 120)
                assert outcome.kind == "recommendations", (outcome.kind, bot.log_tail())
            time.sleep(0.5)
            rows = []
            for i, bot in enumerate(bots):
                pid = bot.proc.pid
                whole, mapped = smaps(pid, ""), smaps(pid, str(comps_file))
                # The item-item half's arrays (indptr, indices, weights), memory-mapped too.
                half = smaps(pid, str(comps_file.parent / "item_item_"))
                rows.append(
                    {
                        "rss_mb": round(bl.status_mb("VmRSS", pid), 1),
                        "idle_rss_mb": round(idle[i], 1),
                        "peak_rss_mb": round(bl.status_mb("VmHWM", pid), 1),
                        "pss_mb": round(whole.get("Pss", 0.0), 1),
                        "components_rss_mb": round(mapped.get("Rss", 0.0), 1),
                        "components_pss_mb": round(mapped.get("Pss", 0.0), 1),
                        # Dirty when the model was written moments ago and not yet flushed.
                        "components_shared_mb": round(
                            mapped.get("Shared_Clean", 0.0) + mapped.get("Shared_Dirty", 0.0), 1
                        ),
                        "components_private_mb": round(
                            mapped.get("Private_Clean", 0.0) + mapped.get("Private_Dirty", 0.0), 1
                        ),
                        "item_item_rss_mb": round(half.get("Rss", 0.0), 1),
                        "item_item_pss_mb": round(half.get("Pss", 0.0), 1),
                        "item_item_private_mb": round(
                            half.get("Private_Clean", 0.0) + half.get("Private_Dirty", 0.0), 1
                        ),
                    }
                )
        finally:
            for bot in bots:
                bot.stop()
            for fake in fakes:
                fake.stop()
        notebook_mb = notebook_copy_mb(workdir / "models", name, workdir)

    print("\nafter one /recommend each (MiB):")
    print("        RSS    PSS | item matrix: RSS    PSS  shared  private")
    for i, r in enumerate(rows):
        print(
            f"  bot{i} {r['rss_mb']:6.0f} {r['pss_mb']:6.0f} |"
            f"            {r['components_rss_mb']:6.0f}"
            f" {r['components_pss_mb']:6.0f} {r['components_shared_mb']:7.0f} "
            f"{r['components_private_mb']:8.0f}"
        )
    for i, r in enumerate(rows):
        print(
            f"  bot{i} item-item half (memory-mapped): RSS {r['item_item_rss_mb']:.0f}, "
            f"PSS {r['item_item_pss_mb']:.0f}, private {r['item_item_private_mb']:.0f} MiB"
        )
    ours = max(r["components_pss_mb"] for r in rows)
    peaks = ", ".join(f"{r['peak_rss_mb']:.0f}" for r in rows)
    print(f"peak RSS (VmHWM) of each bot since it started: {peaks} MiB")
    print(
        f"the notebook's way (joblib.load of a float64 sklearn NMF): {notebook_mb:.0f} MiB private "
        f"in every process; ours {ours:.0f} MiB per process with two sharing "
        f"({notebook_mb / ours:.1f}x less), {comps_mb:.0f} MiB for all of them"
    )
    bl.emit(
        {
            "bots": rows,
            "rss_mb": max(r["rss_mb"] for r in rows),
            "pss_mb": max(r["pss_mb"] for r in rows),
            "components_mb": round(comps_mb, 1),
            "components_pss_mb": ours,
            "components_shared": all(r["components_shared_mb"] > 0.9 * comps_mb for r in rows),
            "notebook_private_mb": round(notebook_mb, 1),
            "ratio": round(notebook_mb / ours, 2),
            "films": films,
            "k": k,
            "loadavg": [load_start, bl.load_average("at the end")],
            "threadpools": machine["threadpools"],
        }
    )


if __name__ == "__main__":
    main()

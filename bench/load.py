"""Load: many users asking /recommend at the same moment, against the real bot process.

Starts the fake Discord (tests/e2e/fake_discord.py) and ``python -m bot`` against it, then sends
N /recommend interactions back to back (N different users, no cooldown), each with the same
2,000-film ratings export, and waits for every answer. Side by side, in this process, the same
N requests run serially through ``RecommenderService`` (read_export + recommend, what the
bot's job runs): the pure compute floor, so answer_p50 / compute_p50 says what concurrency,
queueing and Discord round trips cost on this machine whatever its speed.

    python bench/load.py            # 50 users
    python bench/load.py --quick    # 10 users (well under a minute)

The bot runs its jobs through its fair queue (bot/jobs.py) with its default number of workers
unless ``--jobs`` is given, and a line (``BOXDREC_MAX_QUEUED_JOBS``) long enough for all N: a
job that waits turns "thinking…" into a place-in-line notice and its answer then edits that
message instead of following it, which this script counts as the answer. Needs MovieLens
(``--data-dir``) and the real Letterboxd exports (``--letterboxd-dir``). The model is
``--model`` from ``--model-dir`` when given; otherwise, with ``--model-size full`` (the default
without ``--quick``), a synthetic model the size of the full ml-32m catalogue (84,000 films,
k=370, ``benchlib.write_synthetic_model``), and with ``--model-size small`` (the default with
``--quick``) a small one trained on ml-latest-small (k=16, 40 iterations), in a temporary folder.

The bot runs under ``bench/_bot_with_lag.py``: ``python -m bot`` with a sampler on its event
loop that wakes every 10 ms, so the loop's lag during the burst is measured in the bot itself.
The bot limits BLAS to one thread itself, at start-up (``recommender.pipeline``), and so does
``load_service`` for the compute floor in this process.

The last line is JSON: ack_p50_s, ack_p99_s, answer_p50_s, answer_p99_s, lost, requests_per_s,
loop_lag_p99_ms, loop_lag_max_ms, peak_rss_mb, idle_rss_mb, compute_p50_s, n, and a few more.
Exit code 1 when an answer is lost.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchlib as bl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))  # the fake Discord and its helpers

from bot_process import BotProcess, bot_env  # noqa: E402
from fake_discord import FakeDiscord  # noqa: E402
from loadgen import (  # noqa: E402
    BigExport,
    Outcome,
    big_ratings_export,
    percentile,
    proc_status_mb,
    wait_settled,
)

from recommender.pipeline import REQUEST_BLAS_THREADS  # noqa: E402

ACK_DEADLINE = 3.0  # Discord's, and the fake's
FILENAME = "ratings.csv"
LAG_TICK = 0.010  # bench/_bot_with_lag.py's sampler interval


def parse_args() -> argparse.Namespace:
    shared = REPO.parent / "shared" / "data"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 users instead of 50")
    parser.add_argument("--n", type=int, help="users (default 50, --quick 10)")
    parser.add_argument("--count", type=int, default=10, help="films asked for (default 10)")
    parser.add_argument("--films", type=int, default=2000, help="films in the export")
    parser.add_argument("--jobs", type=int, help="BOXDREC_MAX_CONCURRENT_JOBS (default: the bot's)")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=os.environ.get("BOXDREC_MODEL_DIR") or None,
        help="folder with the trained model (default BOXDREC_MODEL_DIR, else train one)",
    )
    parser.add_argument("--model", default=os.environ.get("BOXDREC_MODEL") or "ml-latest-small")
    parser.add_argument(
        "--model-size",
        choices=("full", "small"),
        help="without a model in --model-dir: full (84,000 films, k=370, synthetic; the "
        "default) or small (k=16 trained on ml-latest-small; the default with --quick)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("BOXDREC_DATA_DIR") or shared / "movielens"),
        help="MovieLens folder (default BOXDREC_DATA_DIR or ../shared/data/movielens)",
    )
    parser.add_argument(
        "--letterboxd-dir",
        type=Path,
        default=Path(os.environ.get("BOXDREC_TEST_LETTERBOXD") or shared / "letterboxd"),
        help="the real exports (default ../shared/data/letterboxd)",
    )
    parser.add_argument("--timeout", type=float, help="s to wait for all answers")
    args = parser.parse_args()
    args.n = args.n or (10 if args.quick else 50)
    args.timeout = args.timeout or (120.0 if args.quick else 300.0)
    args.model_size = args.model_size or ("small" if args.quick else "full")
    return args


def model_dir(args: argparse.Namespace, keep: list[tempfile.TemporaryDirectory[str]]) -> Path:
    if args.model_dir and (args.model_dir / args.model / "metadata.json").is_file():
        print(f"model: {args.model} from {args.model_dir}")
        return args.model_dir
    from recommender.pipeline import train_and_save
    from recommender.training import TrainConfig

    tmp = tempfile.TemporaryDirectory(prefix="boxdrec-bench-model-")
    keep.append(tmp)
    where = f"no model {args.model!r} in {args.model_dir}" if args.model_dir else "no model dir"
    if args.model_size == "full":
        films, k = bl.FULL_MODEL["films"], bl.FULL_MODEL["k"]
        args.model = bl.write_synthetic_model(Path(tmp.name), films, k)
        print(f"model: {where}; a synthetic one of {films:,} films, k={k}, in {tmp.name}")
        return Path(tmp.name)
    print(f"model: {where}; training a small one (k=16, 40 iterations) into {tmp.name}")
    started = time.perf_counter()
    cfg = TrainConfig(dataset="ml-latest-small", n_components=16, max_iter=40)
    train_and_save(cfg, args.data_dir, Path(tmp.name), args.model)
    print(f"       trained in {time.perf_counter() - started:.1f} s")
    return Path(tmp.name)


def compute_floor(args: argparse.Namespace, models: Path, export: BigExport) -> dict[str, float]:
    """The same N requests, serially, straight through the service in this process."""
    from recommender.pipeline import load_service

    started = time.perf_counter()
    service = load_service(args.data_dir, models, args.model)
    print(f"compute floor: service loaded in {time.perf_counter() - started:.1f} s")
    service.recommend(service.read_export(export.data, FILENAME), n=args.count)  # warm-up
    total, ranking = [], []
    for _ in range(args.n):
        t0 = time.perf_counter()
        parsed = service.read_export(export.data, FILENAME)
        t1 = time.perf_counter()
        result = service.recommend(parsed, n=args.count)
        t2 = time.perf_counter()
        assert len(result.items) == args.count, result.summary
        total.append(t2 - t0)
        ranking.append(t2 - t1)
    print(f"               {result.summary}")
    del service, parsed, result
    gc.collect()
    return {
        "compute_p50_s": percentile(total, 50),
        "compute_p99_s": percentile(total, 99),
        "recommend_only_p50_s": percentile(ranking, 50),
    }


class RssSampler(threading.Thread):
    """VmRSS of ``pid`` every 20 ms until stopped (or ``limit`` s)."""

    def __init__(self, pid: int, limit: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.limit = pid, limit
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                self.peak = max(self.peak, proc_status_mb(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            self.done.wait(0.02)


def wait_ready(proc: BotProcess, timeout: float = 120) -> None:
    """Until the bot has identified on the gateway and logged that it is ready."""
    deadline = time.monotonic() + timeout
    while "bot ready" not in proc.log():
        if proc.proc.poll() is not None:
            sys.exit(f"the bot exited with {proc.proc.returncode}:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            sys.exit(f"the bot was not ready within {timeout} s:\n{proc.log_tail()}")
        time.sleep(0.05)


class LaggedBot(BotProcess):
    """A :class:`BotProcess` running ``bench/_bot_with_lag.py`` instead of ``python -m bot``."""

    def __init__(self, fake: FakeDiscord, env: dict[str, str], workdir: Path) -> None:
        self.fake = fake
        self.log_path = workdir / "bot.log"
        env = {"BOXDREC_DATABASE": str(workdir / "bot.sqlite3"), **env}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO / "bench" / "_bot_with_lag.py")],
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )


def loop_lag(lag_file: Path, start: float, end: float) -> dict[str, float]:
    """The bot's event-loop lag (gap - tick) over the ticks that overlap ``[start, end]``."""
    ticks = json.loads(lag_file.read_text()) if lag_file.is_file() else []
    window = [(gap, busy) for at, gap, busy in ticks if at > start and at - gap < end]
    lags = [1e3 * max(0.0, gap - LAG_TICK) for gap, _ in window]
    return {
        "loop_lag_p50_ms": percentile(lags, 50),
        "loop_lag_p99_ms": percentile(lags, 99),
        "loop_lag_max_ms": max(lags, default=math.nan),
        "loop_busy_max_ms": max((1e3 * busy for _, busy in window), default=math.nan),
        "loop_ticks": len(window),
    }


def fire(args: argparse.Namespace, models: Path, export: BigExport, workdir: Path) -> dict:
    fake = FakeDiscord().start()
    lag_file = workdir / "lag.json"
    extra = {}
    if args.jobs:
        extra["BOXDREC_MAX_CONCURRENT_JOBS"] = str(args.jobs)
    env = bot_env(
        fake,
        args.data_dir,
        models,
        BOXDREC_MODEL=args.model,
        BOXDREC_MAX_QUEUED_JOBS=str(max(64, args.n)),
        BOXDREC_BENCH_LAG_FILE=str(lag_file),
        **extra,
    )
    started = time.monotonic()
    proc = LaggedBot(fake, env, workdir)
    try:
        wait_ready(proc)
        print(f"bot: pid {proc.proc.pid}, ready in {time.monotonic() - started:.1f} s")
        time.sleep(1.0)  # let it settle
        pid = proc.proc.pid
        idle_rss = proc_status_mb(pid, "VmRSS")
        load_peak = proc_status_mb(pid, "VmHWM")

        users = [fake.user(str(800_000 + i), f"load{i}") for i in range(args.n)]
        payloads = [fake.recommend(FILENAME, export.data, user=u, count=args.count) for u in users]
        rss = RssSampler(pid, args.timeout + 10)
        rss.start()
        sent = [(p, fake.dispatch("INTERACTION_CREATE", p)) for p in payloads]
        found = wait_settled(fake, sent, args.timeout)
        rss.done.set()
        rss.join()
        peak_rss = proc_status_mb(pid, "VmHWM")
        if proc.proc.poll() is not None:
            sys.exit(f"the bot exited with {proc.proc.returncode}:\n{proc.log_tail()}")
    finally:
        code = proc.stop()
        fake.stop()
    if code != 0:
        print(f"warning: the bot exited with {code} on SIGTERM; log {proc.log_path}")
    answered = [o.answer.at for o in found if o.answer is not None]
    burst_end = max(answered, default=sent[0][1] + args.timeout)
    return {
        **loop_lag(lag_file, sent[0][1], burst_end),
        "outcomes": found,
        "first_sent": sent[0][1],
        "send_spread_s": sent[-1][1] - sent[0][1],
        "idle_rss_mb": idle_rss,
        "load_peak_rss_mb": load_peak,
        "burst_max_rss_mb": rss.peak,
        "peak_rss_mb": peak_rss,
        "log": proc.log(),
    }


def bot_default_jobs() -> int:
    """The bot's default number of job workers (BOXDREC_MAX_CONCURRENT_JOBS unset)."""
    from bot.settings import Settings

    return int(Settings.model_fields["max_concurrent_jobs"].default)


def ms(seconds: float) -> str:
    return "   n/a" if math.isnan(seconds) else f"{1e3 * seconds:6.0f}"


def main() -> int:
    args = parse_args()
    machine = bl.print_machine()
    load_start = bl.load_average("at start")
    keep: list[tempfile.TemporaryDirectory[str]] = []
    models = model_dir(args, keep)
    export = big_ratings_export(args.letterboxd_dir, args.films)
    print(f"export: {len(export.data) / 1024:.0f} KiB ratings.csv: {export.source}")

    floor = compute_floor(args, models, export)
    with tempfile.TemporaryDirectory(prefix="boxdrec-bench-bot-") as workdir:
        run = fire(args, models, export, Path(workdir))
    for tmp in keep:
        tmp.cleanup()

    found: list[Outcome] = run["outcomes"]
    recs = [o for o in found if o.kind == "recommendations"]
    refused = [o for o in found if o.kind == "message" and not o.deferred]
    failed = [o for o in found if o.kind == "message" and o.deferred]
    lost = [o for o in found if o.kind == "lost"]
    acks = [o.ack_s for o in found if o.ack_s is not None]
    late_acks = sum(a > ACK_DEADLINE for a in acks)
    answers = [o.answer_s for o in recs if o.answer_s is not None]
    last = max((o.answer.at for o in recs if o.answer), default=math.nan)
    rps = len(recs) / (last - run["first_sent"]) if recs else 0.0
    ack_p50, ack_p99 = percentile(acks, 50), percentile(acks, 99)
    ans_p50, ans_p99 = percentile(answers, 50), percentile(answers, 99)
    ratio = ans_p50 / floor["compute_p50_s"] if answers else math.nan

    print()
    print(
        f"load: {args.n} users at once (sent within {1e3 * run['send_spread_s']:.0f} ms), "
        f"{args.count} films each, bot with {args.jobs or bot_default_jobs()} workers; "
        f"{sum(o.queued for o in found)} waited in line"
    )
    print(
        f"  answered with recommendations {len(recs)}/{args.n}; refused at once {len(refused)}; "
        f"error after deferral {len(failed)}; LOST {len(lost)}; acks later than 3 s {late_acks}"
    )
    for o in (refused + failed)[:3]:
        print(f"    e.g. {o.text[:110]!r}")
    print("                         p50 ms   p99 ms")
    print(f"  acknowledgement (defer) {ms(ack_p50)}   {ms(ack_p99)}")
    print(f"  answer (followup)       {ms(ans_p50)}   {ms(ans_p99)}")
    print(
        f"  compute floor (serial)  {ms(floor['compute_p50_s'])}   {ms(floor['compute_p99_s'])}"
        f"   (read_export + recommend; recommend alone p50 "
        f"{1e3 * floor['recommend_only_p50_s']:.0f} ms)"
    )
    serial_p50 = floor["compute_p50_s"] * (args.n + 1) / 2
    print(
        f"  answer_p50 / compute_p50 = {ratio:.1f}x (one serial worker would answer the median "
        f"request after {(args.n + 1) / 2:.1f} x compute_p50 = {serial_p50:.2f} s)"
    )
    print(f"  throughput {rps:.2f} answers/s (first sent to last answered)")
    print(
        f"  bot's event loop during the burst ({run['loop_ticks']} ticks of "
        f"{1e3 * LAG_TICK:.0f} ms): lag p50 {run['loop_lag_p50_ms']:.1f} ms, p99 "
        f"{run['loop_lag_p99_ms']:.1f} ms, worst {run['loop_lag_max_ms']:.1f} ms; the loop's "
        f"own thread busy at most {run['loop_busy_max_ms']:.1f} ms per tick"
    )
    print(
        f"  bot RSS: idle after load {run['idle_rss_mb']:.0f} MiB, peak (VmHWM) "
        f"{run['peak_rss_mb']:.0f} MiB (during load {run['load_peak_rss_mb']:.0f}, "
        f"highest sampled during the burst {run['burst_max_rss_mb']:.0f})"
    )
    summary = {
        "ack_p50_s": round(ack_p50, 4),
        "ack_p99_s": round(ack_p99, 4),
        "answer_p50_s": round(ans_p50, 4),
        "answer_p99_s": round(ans_p99, 4),
        "lost": len(lost),
        "requests_per_s": round(rps, 3),
        "loop_lag_p99_ms": round(run["loop_lag_p99_ms"], 1),
        "loop_lag_p50_ms": round(run["loop_lag_p50_ms"], 1),
        "loop_lag_max_ms": round(run["loop_lag_max_ms"], 1),
        "loop_busy_max_ms": round(run["loop_busy_max_ms"], 1),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        "idle_rss_mb": round(run["idle_rss_mb"], 1),
        "compute_p50_s": round(floor["compute_p50_s"], 4),
        "n": args.n,
        "answer_to_compute_p50": round(ratio, 2),
        "compute_p99_s": round(floor["compute_p99_s"], 4),
        "serial_queue_p50_s": round(serial_p50, 4),
        "recommend_only_p50_s": round(floor["recommend_only_p50_s"], 4),
        "recommendations": len(recs),
        "refused": len(refused),
        "errors": len(failed),
        "late_acks": late_acks,
        "jobs": args.jobs or bot_default_jobs(),
        "model": args.model,
        "blas_threads": REQUEST_BLAS_THREADS,
        "films": export.films,
        "export_real_ratings": export.real_ratings,
        "export_synthetic_ratings": export.synthetic_ratings,
        "burst_max_rss_mb": round(run["burst_max_rss_mb"], 1),
        "load_peak_rss_mb": round(run["load_peak_rss_mb"], 1),
    }
    summary["loadavg"] = [load_start, bl.load_average("at the end")]
    summary["threadpools"] = machine["threadpools"]
    bl.emit(summary)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

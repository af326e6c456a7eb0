"""``python -m bot`` with a loop-lag sampler on its event loop, for ``bench/load.py``.

The bot runs exactly as ``python -m bot`` runs it; a ``LagSampler`` (tests/e2e/loadgen.py)
wakes every 10 ms on the same loop. When the bot stops, every tick (loop.time() of the wake-up,
the gap since the previous one, and the CPU time the loop's thread spent in it outside garbage
collection) is written as JSON to the file named by ``BOXDREC_BENCH_LAG_FILE``. ``loop.time()``
is ``time.monotonic()``, the clock the fake Discord stamps requests with.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

from loadgen import LagSampler

import bot.__main__ as entry

_run = entry.run


async def run_with_lag(settings, *, sync: bool) -> None:
    sampler = LagSampler(interval=0.010, max_seconds=3_600, max_ticks=1_000_000).start()
    try:
        await _run(settings, sync=sync)
    finally:
        await sampler.stop()
        ticks = [[t.at, t.gap, t.busy] for t in sampler.ticks]
        Path(os.environ["BOXDREC_BENCH_LAG_FILE"]).write_text(json.dumps(ticks))


if __name__ == "__main__":
    entry.run = run_with_lag  # main() looks run up in its module when it calls it
    sys.exit(entry.main())

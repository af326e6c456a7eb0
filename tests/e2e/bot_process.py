"""Run ``python -m bot`` as a subprocess against a :class:`FakeDiscord` and watch it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_discord import FakeDiscord, Request

ANSI = re.compile(r"\x1b\[[0-9;]*m")
READY_TIMEOUT = 60  # import, catalogue and model load on a busy 2-core machine


class BotProcess:
    """One ``python -m bot`` subprocess with its output in a log file."""

    def __init__(self, fake: FakeDiscord, env: dict[str, str], args: list[str], workdir: Path):
        self.fake = fake
        self.log_path = workdir / f"bot-{fake.port}-{len(list(workdir.glob('bot-*')))}.log"
        # Each bot keeps its saved films next to its log unless the test names a database.
        env = {"BOXDREC_DATABASE": str(self.log_path.with_suffix(".sqlite3")), **env}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                env=env,
                cwd=workdir,  # not the repo: no stray .env, and `bot` comes from the install
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        """Everything the bot printed so far, without discord.py's colour codes."""
        return ANSI.sub("", self.log_path.read_text(errors="replace"))

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for(
        self, pred: Callable[[Request], bool], timeout: float = 30, start: int = 0
    ) -> Request:
        """Like ``FakeDiscord.wait_for``, but fails at once, with the log, if the bot dies."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.fake.wait_for(pred, min(1.0, deadline - time.monotonic()), start)
            except TimeoutError:
                if self.proc.poll() is not None:
                    pytest.fail(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")
                if time.monotonic() >= deadline:
                    pytest.fail(f"no matching request within {timeout} s:\n{self.log_tail()}")

    def wait_log(self, pattern: str, timeout: float = 30, start: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log from character ``start`` on."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.log()[start:])):
            if time.monotonic() >= deadline:
                pytest.fail(f"no log line matching {pattern!r} in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)  # the log is a file: poll it
        return found

    def wait_connected(self) -> None:
        self.wait_for(lambda r: r.method == "WS" and r.json.get("op") == 2, READY_TIMEOUT)

    def send(self, payload: dict) -> float:
        """Dispatch an INTERACTION_CREATE; returns when it was sent (time.monotonic)."""
        return self.fake.dispatch("INTERACTION_CREATE", payload)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` s; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def bot_env(fake: FakeDiscord, movielens_dir: Path, model_dir: Path, **overrides: str | None):
    """The bot's environment; an override of None removes the variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "BOXDREC_"))}
    env.update(
        DISCORD_TOKEN=fake.token,
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        BOXDREC_DATA_DIR=str(movielens_dir),
        BOXDREC_MODEL_DIR=str(model_dir),
        BOXDREC_MODEL="ml-latest-small",
        BOXDREC_GUILD_READY_TIMEOUT="0.05",
        BOXDREC_USER_COOLDOWN_SECONDS="0",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class Launcher:
    """``launch(*args, **env_overrides)`` starts one more bot, on a fake of its own."""

    def __init__(self, movielens_dir: Path, model_dir: Path, workdir: Path) -> None:
        self.dirs = (movielens_dir, model_dir, workdir)
        self.started: list[BotProcess] = []

    def __call__(self, *args: str, **overrides: str | None) -> BotProcess:
        movielens_dir, model_dir, workdir = self.dirs
        server = FakeDiscord().start()
        env = bot_env(server, movielens_dir, model_dir, **overrides)
        self.started.append(proc := BotProcess(server, env, list(args), workdir))
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()
            proc.fake.stop()


def connected_bot(fake: FakeDiscord, env: dict[str, str], workdir: Path) -> Iterator[BotProcess]:
    """A bot process started with ``env``, yielded once it is connected; stopped after."""
    proc = BotProcess(fake, env, [], workdir)
    try:
        proc.wait_connected()
        yield proc
    finally:
        proc.stop()

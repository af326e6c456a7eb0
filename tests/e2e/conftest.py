"""Fixtures that run the real bot (``python -m bot``) against the fake Discord.

``bot`` is one bot process per test module, connected to its own fake; tests tell their
interactions apart by their unique ids and tokens. ``launch`` starts extra processes with
other settings or arguments and stops them when the test ends. When a test fails, the tail of
the bot's log is added to the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_process import BotProcess, Launcher, bot_env, connected_bot
from fake_discord import FakeDiscord


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDiscord]:
    server = FakeDiscord().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bot(
    fake: FakeDiscord,
    movielens_dir: Path,
    small_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    """The bot, logged in and connected to ``fake``, with no per-user cooldown."""
    workdir = tmp_path_factory.mktemp("bot")
    yield from connected_bot(fake, bot_env(fake, movielens_dir, small_model_dir), workdir)


@pytest.fixture
def launch(movielens_dir: Path, small_model_dir: Path, tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(movielens_dir, small_model_dir, tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        procs = [funcargs["bot"]] if isinstance(funcargs.get("bot"), BotProcess) else []
        if isinstance(launcher := funcargs.get("launch"), Launcher):
            procs += launcher.started
        for proc in procs:
            report.sections.append((f"bot log {proc.log_path.name} (tail)", proc.log_tail()))
    return report

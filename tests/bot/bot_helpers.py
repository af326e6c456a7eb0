"""Builders shared by the bot's unit tests (a module, not a conftest: tests/e2e has its own).

Interactions are autospecced as discord-offline-testing.md prescribes, so a misspelt keyword
(``defer(thinkin=True)``) fails the test instead of passing silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import discord
import pytest
from discord import app_commands

from bot.errors import report_error
from bot.jobs import JobQueue
from bot.settings import Settings
from recommender.matching import MatchReport
from recommender.service import Recommendation, RecommendationResult

MIB = 1024 * 1024

SETTINGS_ENV = (
    "DISCORD_TOKEN",
    "BOXDREC_DATA_DIR",
    "BOXDREC_MODEL_DIR",
    "BOXDREC_MODEL",
    "BOXDREC_DATABASE",
    "BOXDREC_RETENTION_DAYS",
    "BOXDREC_MAX_UPLOAD_BYTES",
    "BOXDREC_MAX_UNCOMPRESSED_BYTES",
    "BOXDREC_MAX_ROWS",
    "BOXDREC_MAX_ZIP_MEMBERS",
    "BOXDREC_MAX_CONCURRENT_JOBS",
    "BOXDREC_USER_COOLDOWN_SECONDS",
    "BOXDREC_JOB_TIMEOUT_SECONDS",
    "BOXDREC_DOWNLOAD_TIMEOUT_SECONDS",
    "BOXDREC_GUILD_READY_TIMEOUT",
    "LOG_LEVEL",
    "DISCORD_API_BASE",
    "DISCORD_GATEWAY_URL",
)


def clear_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "discord_token": "test-token-not-real",
        "data_dir": Path("/nonexistent/movielens"),
        "model_dir": Path("/nonexistent/models"),
        "model": "ml-latest-small",
        "database": Path("/nonexistent/boxdrec.sqlite3"),  # tests that open it pass a tmp path
        "max_upload_bytes": 10 * MIB,
        "max_concurrent_jobs": 2,
        "user_cooldown_seconds": 10.0,
        "job_timeout_seconds": 60.0,
        "download_timeout_seconds": 20.0,
        "guild_ready_timeout": 0.05,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


class Events:
    """The order in which the bot answered: "defer", "send_message", "followup"…"""

    def __init__(self) -> None:
        self.names: list[str] = []


def make_interaction(
    *,
    interaction_id: int = 5550001,
    user_id: int = 1001,
    name: str = "ana",
    filesize_limit: int | None = 10 * MIB,
) -> tuple[mock.MagicMock, Events]:
    events = Events()
    interaction = mock.MagicMock(spec=discord.Interaction)
    interaction.id = interaction_id
    interaction.guild_id = 42
    interaction.command = None
    interaction.filesize_limit = filesize_limit
    interaction.user = mock.MagicMock(spec=discord.Member)
    interaction.user.id = user_id
    interaction.user.display_name = name
    interaction.user.mention = f"<@{user_id}>"
    response = mock.create_autospec(discord.InteractionResponse, instance=True)
    response.is_done.return_value = False
    followup = mock.create_autospec(discord.Webhook, instance=True)

    def responded(event: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            events.names.append(event)
            response.is_done.return_value = True

        return record

    response.defer.side_effect = responded("defer")
    response.send_message.side_effect = responded("send_message")
    response.edit_message.side_effect = responded("edit_message")
    followup.send.side_effect = lambda *a, **k: events.names.append("followup")
    interaction.response = response
    interaction.followup = followup
    interaction.edit_original_response = mock.AsyncMock()
    interaction.extras = {}
    return interaction, events


@contextlib.contextmanager
def job_queue(workers: int = 2, *, max_waiting: int = 16, per_user: int = 2) -> Iterator[JobQueue]:
    """The bot's fair queue over a real pool of ``workers`` threads."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        yield JobQueue(pool, workers=workers, max_waiting=max_waiting, per_user=per_user)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def make_attachment(
    data: bytes | None, filename: str = "ratings.csv", size: int | None = None
) -> tuple[discord.Attachment, mock.AsyncMock]:
    """A real Attachment whose ``read()`` goes through a mocked ``get_from_cdn``."""
    state = mock.MagicMock()
    state.http.get_from_cdn = mock.AsyncMock(return_value=data)
    payload = {
        "id": "9990001",
        "filename": filename,
        "size": len(data or b"") if size is None else size,
        "url": f"https://cdn.discordapp.com/attachments/1/2/{filename}",
        "proxy_url": f"https://media.discordapp.net/attachments/1/2/{filename}",
        "content_type": "text/csv",
    }
    return discord.Attachment(data=payload, state=state), state.http.get_from_cdn


async def invoke(command: app_commands.Command, interaction: Any, *args: Any, **kwargs: Any):
    """Call the callback and route a failure the way CommandTree does, to the central handler.

    ``Command._do_call`` passes AppCommandErrors through and wraps anything else in
    CommandInvokeError; ``BoxdTree.on_error`` is ``report_error``.
    """
    try:
        await command.callback(command.binding, interaction, *args, **kwargs)
    except app_commands.AppCommandError as error:
        await report_error(interaction, error)
    except Exception as error:
        await report_error(interaction, app_commands.CommandInvokeError(command, error))


def sent_text(interaction: Any) -> str:
    """The text of the one ephemeral message the user got (send_message or followup)."""
    calls = interaction.response.send_message.await_args_list + (
        interaction.followup.send.await_args_list
    )
    assert len(calls) == 1, calls
    call = calls[0]
    assert call.kwargs.get("ephemeral") is True, call
    return call.args[0] if call.args else call.kwargs["content"]


def rec(rank: int, **overrides: Any) -> Recommendation:
    values: dict[str, Any] = {
        "rank": rank,
        "movie_id": 1000 + rank,
        "title": f"Film {rank}",
        "year": 2000 + rank,
        "genres": ("Drama",),
        "predicted_stars": 4.0,
        "score": 1.0 / rank,
        "reason": f"Because you rated Source {rank} ★★★★",
        "drivers": (),
        "tmdb_id": 500 + rank,
        "imdb_id": 100000 + rank,
        "on_watchlist": False,
    }
    values.update(overrides)
    return Recommendation(**values)


def result_of(items: list[Recommendation]) -> RecommendationResult:
    return RecommendationResult(
        items=tuple(items),
        report=MatchReport(films=()),
        summary=MatchReport(films=()).summary_line(),
        n_rated_used=0,
        n_watched_used=0,
        user_mean=None,
        model_name="test-model",
        seconds=0.01,
    )

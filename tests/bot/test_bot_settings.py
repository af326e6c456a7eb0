"""Settings from the environment and .env; a missing token is one line and exit code 1."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import discord
import pytest
import yarl
from bot_helpers import clear_settings_env, make_settings
from pydantic import ValidationError

import bot.__main__ as bot_main
from bot.client import apply_endpoints
from bot.logs import setup_logging
from bot.settings import Settings, settings_error_line
from recommender import config
from recommender.config import ImportLimits
from recommender.errors import ModelError

MISSING_TOKEN = (
    "boxdrec bot: DISCORD_TOKEN is not set; put it in .env or the environment (see .env.example).\n"
)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clear_settings_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_bot_without_env(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bot`` with an empty environment, from ``cwd`` (where a .env may lie)."""
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env={},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_token_is_one_line_and_exit_code_1(tmp_path: Path):
    done = run_bot_without_env(tmp_path)
    assert done.returncode == 1
    assert done.stderr == MISSING_TOKEN
    assert done.stdout == ""


def test_an_empty_token_in_dot_env_counts_as_missing(tmp_path: Path):
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())  # DISCORD_TOKEN=
    done = run_bot_without_env(tmp_path)
    assert (done.returncode, done.stderr) == (1, MISSING_TOKEN)


def test_dot_env_is_read_and_the_environment_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch):
    (clean_env / ".env").write_text(
        "DISCORD_TOKEN=from-dot-env\n"
        "BOXDREC_MAX_CONCURRENT_JOBS=5\n"
        "BOXDREC_USER_COOLDOWN_SECONDS=3\n"
        "BOXDREC_MAX_UPLOAD_BYTES=2048\n"
        "BOXDREC_DATA_DIR=\n"
        "LOG_LEVEL=debug\n"
        "SOMETHING_ELSE=ignored\n"
    )
    monkeypatch.setenv("BOXDREC_MAX_CONCURRENT_JOBS", "7")
    settings = Settings()
    assert settings.discord_token.get_secret_value() == "from-dot-env"
    assert settings.max_concurrent_jobs == 7
    assert settings.user_cooldown_seconds == 3.0
    assert settings.log_level == "DEBUG"
    assert settings.data_dir == config.data_dir()  # empty means the default
    assert settings.import_limits == ImportLimits(max_upload_bytes=2048)


def test_defaults(clean_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    settings = Settings()
    assert settings.model == "ml-latest-small"
    assert settings.model_dir == config.model_dir()
    assert settings.import_limits == ImportLimits()
    assert (settings.max_concurrent_jobs, settings.user_cooldown_seconds) == (2, 10.0)
    assert (settings.job_timeout_seconds, settings.download_timeout_seconds) == (60.0, 20.0)
    assert (settings.guild_ready_timeout, settings.log_level) == (2.0, "INFO")
    assert settings.discord_api_base is None and settings.discord_gateway_url is None


def test_the_token_never_shows(clean_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.secret-token-value")
    settings = Settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "secret-token-value" not in text
    assert "SecretStr('**********')" in repr(settings)


def test_a_bad_value_names_the_variable_but_not_the_value(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("BOXDREC_MAX_CONCURRENT_JOBS", "lots-of-them")
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = settings_error_line(caught.value)
    assert line.startswith("BOXDREC_MAX_CONCURRENT_JOBS must be a whole number above 0; LOG_LEVEL")
    assert line.endswith("(see .env.example).")
    assert "lots-of-them" not in line and "chatty" not in line and "\n" not in line


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"DISCORD_TOKEN": "t", "BOXDREC_MAX_ROWS": "0"},
            "BOXDREC_MAX_ROWS must be a whole number above 0 (see .env.example).",
        ),
        (
            {"DISCORD_TOKEN": "t", "BOXDREC_RETENTION_DAYS": "soon"},
            "BOXDREC_RETENTION_DAYS must be a number (see .env.example).",
        ),
        (
            {"BOXDREC_MAX_ROWS": "abc"},
            "DISCORD_TOKEN is not set; put it in .env or the environment; BOXDREC_MAX_ROWS must "
            "be a whole number above 0 (see .env.example).",
        ),
    ],
)
def test_bad_settings_read_like_the_cli_and_all_are_named(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], line: str
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert settings_error_line(caught.value) == line


def test_endpoints_are_applied_only_when_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", gateway)
    apply_endpoints(make_settings())
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
    current = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    assert current == gateway

    apply_endpoints(
        make_settings(
            discord_api_base="http://127.0.0.1:8080/api/v10/",
            discord_gateway_url="ws://127.0.0.1:8080/gateway",
        )
    )
    assert discord.http.Route.BASE == "http://127.0.0.1:8080/api/v10"
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:8080/api/v10/users/@me"
    current = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    assert current == yarl.URL("ws://127.0.0.1:8080/gateway")


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            ModelError("No model named 'nope' in /m; train it with 'boxdrec train'."),
            "boxdrec bot: No model named 'nope' in /m; train it with 'boxdrec train'.\n",
        ),
        (
            discord.LoginFailure("Improper token has been passed."),
            "boxdrec bot: Discord rejected DISCORD_TOKEN; copy the bot token again from the "
            "Discord developer portal (Bot → Reset Token).\n",
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "boxdrec bot: could not reach Discord (ConnectionRefusedError: [Errno 111] "
            "Connection refused).\n",
        ),
    ],
)
def test_startup_failures_are_one_line_and_exit_code_1(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    line: str,
):
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setattr("bot.logs.setup_logging", lambda level: None)

    async def run(settings: Settings, *, sync: bool) -> None:
        raise error

    monkeypatch.setattr(bot_main, "run", run)
    assert bot_main.main([]) == 1
    assert capsys.readouterr().err == line


def test_logging_is_plain_off_a_terminal_and_quiet_for_discord_http(
    monkeypatch: pytest.MonkeyPatch,
):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    http = logging.getLogger("discord.http")
    monkeypatch.setattr(http, "level", http.level)
    setup_logging("debug")
    [handler] = root.handlers
    assert root.level == logging.DEBUG
    assert http.level == logging.WARNING
    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "ready %s", ("m",), None)
    assert handler.formatter.format(record).endswith("] [INFO    ] bot.x: ready m")

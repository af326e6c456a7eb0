"""Every setting the bot reads, from the environment and ``.env``, validated once at start.

Environment variables win over ``.env``; an empty value (``BOXDREC_DATA_DIR=``) means "use the
default". ``.env.example`` at the repo root lists them all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, PositiveFloat, PositiveInt, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recommender import config
from recommender.config import ImportLimits

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_LIMITS = ImportLimits()


def _default_database() -> Path:
    # Next to the default MovieLens and model folders: ~/.local/share/boxdrec on Linux.
    return Path(platformdirs.user_data_dir(config.APP_NAME)) / "boxdrec.sqlite3"


def _default_model() -> str:
    # Imported here so that importing the settings stays light for tools that only read them.
    from recommender.pipeline import DEFAULT_MODEL

    return DEFAULT_MODEL


class Settings(BaseSettings):
    """The bot's configuration. Build it once in ``main()`` and pass it on."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    discord_token: SecretStr = Field(validation_alias="DISCORD_TOKEN")

    data_dir: Path = Field(default_factory=config.data_dir, validation_alias="BOXDREC_DATA_DIR")
    model_dir: Path = Field(default_factory=config.model_dir, validation_alias="BOXDREC_MODEL_DIR")
    model: str = Field(default_factory=_default_model, validation_alias="BOXDREC_MODEL")

    database: Path = Field(default_factory=_default_database, validation_alias="BOXDREC_DATABASE")
    # Days saved films are kept after the user's last upload or change (at most a century).
    retention_days: float = Field(
        180.0, gt=0, le=36_500, allow_inf_nan=False, validation_alias="BOXDREC_RETENTION_DAYS"
    )

    max_upload_bytes: PositiveInt = Field(
        _LIMITS.max_upload_bytes, validation_alias="BOXDREC_MAX_UPLOAD_BYTES"
    )
    max_uncompressed_bytes: PositiveInt = Field(
        _LIMITS.max_uncompressed_bytes, validation_alias="BOXDREC_MAX_UNCOMPRESSED_BYTES"
    )
    max_rows: PositiveInt = Field(_LIMITS.max_rows, validation_alias="BOXDREC_MAX_ROWS")
    max_zip_members: PositiveInt = Field(
        _LIMITS.max_zip_members, validation_alias="BOXDREC_MAX_ZIP_MEMBERS"
    )
    max_compression_ratio: PositiveInt = Field(
        _LIMITS.max_compression_ratio, validation_alias="BOXDREC_MAX_COMPRESSION_RATIO"
    )
    max_import_memory_bytes: PositiveInt = Field(
        _LIMITS.max_import_memory_bytes, validation_alias="BOXDREC_MAX_IMPORT_MEMORY_BYTES"
    )

    max_concurrent_jobs: PositiveInt = Field(2, validation_alias="BOXDREC_MAX_CONCURRENT_JOBS")
    # Jobs waiting for a worker (beyond these, "busy, try again in N seconds"), and jobs one
    # user may have waiting or running at once (bot/jobs.py).
    max_queued_jobs: PositiveInt = Field(64, validation_alias="BOXDREC_MAX_QUEUED_JOBS")
    max_jobs_per_user: PositiveInt = Field(2, validation_alias="BOXDREC_MAX_JOBS_PER_USER")
    user_cooldown_seconds: float = Field(
        10.0, ge=0, validation_alias="BOXDREC_USER_COOLDOWN_SECONDS"
    )
    job_timeout_seconds: PositiveFloat = Field(60.0, validation_alias="BOXDREC_JOB_TIMEOUT_SECONDS")
    download_timeout_seconds: PositiveFloat = Field(
        20.0, validation_alias="BOXDREC_DOWNLOAD_TIMEOUT_SECONDS"
    )
    guild_ready_timeout: float = Field(2.0, ge=0, validation_alias="BOXDREC_GUILD_READY_TIMEOUT")

    log_level: LogLevel = Field("INFO", validation_alias="LOG_LEVEL")
    discord_api_base: str | None = Field(None, validation_alias="DISCORD_API_BASE")
    discord_gateway_url: str | None = Field(None, validation_alias="DISCORD_GATEWAY_URL")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("discord_api_base", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        # discord.py builds URLs as BASE + "/path".
        return value.rstrip("/") if value else value

    @property
    def import_limits(self) -> ImportLimits:
        return ImportLimits(
            max_upload_bytes=self.max_upload_bytes,
            max_uncompressed_bytes=self.max_uncompressed_bytes,
            max_rows=self.max_rows,
            max_zip_members=self.max_zip_members,
            max_compression_ratio=self.max_compression_ratio,
            max_import_memory_bytes=self.max_import_memory_bytes,
        )

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


def settings_error_line(error: ValidationError) -> str:
    """One line naming the setting at fault, in the environment variable's own name."""
    problems = []
    token_missing = False
    for item in error.errors(include_url=False):
        name = str(item["loc"][0]) if item["loc"] else "settings"
        if name == "DISCORD_TOKEN" and item["type"] == "missing":
            token_missing = True
            continue
        # Never echo the input: it could be the token.
        problems.append(_problem(name, item["type"], item.get("ctx") or {}, item["msg"]))
    if token_missing:
        problems.insert(0, "DISCORD_TOKEN is not set; put it in .env or the environment")
    return "; ".join(problems) + " (see .env.example)."


def _problem(name: str, kind: str, ctx: dict[str, object], message: str) -> str:
    """The CLI's wording for the common mistakes (``boxdrec`` says the same of the limits)."""
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{name} must be a whole number" + (" above 0" if name in _POSITIVE_INTS else "")
    if kind == "greater_than" and name in _POSITIVE_INTS:
        return f"{name} must be a whole number above 0"
    if kind == "greater_than" and "gt" in ctx:
        return f"{name} must be above {_number(ctx['gt'])}"
    if kind == "less_than_equal" and "le" in ctx:
        return f"{name} must be at most {_number(ctx['le'])}"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"{name} must be a number"
    return f"{name}: {message}"


def _number(value: object) -> str:
    """36500.0 as 36500, 0.5 as 0.5."""
    return f"{value:g}" if isinstance(value, float) else str(value)


# Settings that take whole numbers above 0 (PositiveInt), by their variable's name.
_POSITIVE_INTS = frozenset(
    str(field.validation_alias)
    for field in Settings.model_fields.values()
    if field.annotation is int and any(getattr(m, "gt", None) == 0 for m in field.metadata)
)

"""The one logging set-up, called by ``python -m bot`` before anything else logs."""

from __future__ import annotations

import logging
import sys

import discord

PLAIN = logging.Formatter(
    "[{asctime}] [{levelname:<8}] {name}: {message}", "%Y-%m-%d %H:%M:%S", style="{"
)


def setup_logging(level: int | str = logging.INFO) -> None:
    """Root handler on stderr; discord.py's HTTP chatter only from WARNING.

    Colour only on a terminal: discord.py would also colour inside any container, which puts
    escape codes into log files and ``docker logs``.
    """
    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[level.upper()]
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        discord.utils.setup_logging(handler=handler, level=level, root=True)
    else:
        discord.utils.setup_logging(handler=handler, formatter=PLAIN, level=level, root=True)
    # discord.http logs every rate-limit bucket at DEBUG/INFO; keep it to real problems.
    logging.getLogger("discord.http").setLevel(logging.WARNING)

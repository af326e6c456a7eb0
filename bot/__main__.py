"""``python -m bot [--sync]``: read the settings, set up logging, run the bot until stopped.

Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 1 when the settings are wrong, Discord
rejects the token, the model cannot be loaded or the bot stops on an unexpected error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from pydantic import ValidationError

from bot.settings import Settings, settings_error_line

log = logging.getLogger("bot.main")  # __name__ is "__main__" under python -m


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Run the boxdrec Discord bot (settings: environment and .env).",
    )
    parser.add_argument(
        "--sync",
        action="store_true",
        help="sync the global slash commands once after login (after adding or changing one)",
    )
    return parser.parse_args(argv)


def fail(message: str) -> int:
    sys.stderr.write(f"boxdrec bot: {message}\n")
    return 1


async def run(settings: Settings, *, sync: bool) -> None:
    from bot.client import BoxdBot

    bot = BoxdBot(settings, sync_commands=sync)
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()

    def stop(signame: str) -> None:
        log.info("%s received: closing", signame)
        task = loop.create_task(bot.close())
        closing.add(task)
        task.add_done_callback(closing.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still works
            loop.add_signal_handler(sig, stop, sig.name)
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        return fail(settings_error_line(error))

    # Imported once the settings are known good: these pull in discord.py and the recommender.
    import aiohttp
    import discord

    from bot.client import apply_endpoints
    from bot.logs import setup_logging
    from bot.storage import StorageError
    from recommender.errors import BoxdrecError
    from recommender.pipeline import limit_blas_threads

    setup_logging(settings.log_level)
    apply_endpoints(settings)
    # One BLAS thread, process-wide, before any request (docs/benchmarks.md: 2-4x faster
    # requests than two); loading the service sets the same limit again, harmlessly.
    limit_blas_threads()
    try:
        asyncio.run(run(settings, sync=args.sync))
    except KeyboardInterrupt:
        pass  # Ctrl-C where signal handlers are unavailable; logged below
    except discord.LoginFailure:
        return fail(
            "Discord rejected DISCORD_TOKEN; copy the bot token again from the Discord "
            "developer portal (Bot → Reset Token)."
        )
    except (BoxdrecError, StorageError) as error:
        return fail(str(error))
    except (aiohttp.ClientError, OSError) as error:
        return fail(f"could not reach Discord ({type(error).__name__}: {error}).")
    except Exception:
        log.exception("the bot stopped on an unexpected error")
        return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

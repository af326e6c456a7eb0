"""Reading what the user sees in the fake Discord: shared by every end-to-end test module."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot_process import BotProcess
from fake_discord import EPHEMERAL, Request

ACK_SECONDS = 3.0  # Discord's deadline for the first response to an interaction
ANSWER_TIMEOUT = 60


@dataclass
class Reply:
    """What the user sees for one interaction: a callback message, a followup or an edit."""

    req: Request
    body: dict[str, Any]  # what the bot sent
    message: dict[str, Any]  # what Discord made of it (flags as shown)

    @property
    def ephemeral(self) -> bool:
        return bool(self.message["flags"] & EPHEMERAL)

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.body.get("embeds") or []

    @property
    def text(self) -> str:
        parts = [self.body.get("content") or ""]
        for e in self.embeds:
            parts += [e.get("title", ""), e.get("description", "")]
            parts.append(e.get("footer", {}).get("text", ""))
            parts += [f"{f['name']} {f['value']}" for f in e.get("fields", [])]
        return "\n".join(p for p in parts if p)


def callback(payload: dict) -> Any:
    path = f"/interactions/{payload['id']}/{payload['token']}/callback"
    return lambda r: r.method == "POST" and r.path == path


# A job that waits for a worker first turns "thinking…" into this notice (bot/answers.py).
NOTICE = re.compile(
    r"⏳ You're (next|number \d+) in line: I'll answer here as soon as it's your turn\."
)


def is_notice(r: Request) -> bool:
    return r.method == "PATCH" and bool(NOTICE.fullmatch((r.json or {}).get("content") or ""))


def reply(bot: BotProcess, payload: dict, timeout: float = ANSWER_TIMEOUT) -> Reply:
    """The first message the user sees for ``payload`` (a deferral or a queue notice is not)."""
    token = payload["token"]

    def shows(r: Request) -> bool:
        if token not in r.path or not 200 <= r.status < 300 or r.method not in ("POST", "PATCH"):
            return False
        if is_notice(r):
            return False
        return not r.path.endswith("/callback") or r.json["type"] in (4, 7)

    req = bot.wait_for(shows, timeout)
    if req.path.endswith("/callback"):
        return Reply(req, req.json.get("data") or {}, req.response["resource"]["message"])
    return Reply(req, req.json or {}, req.response)


def ask(bot: BotProcess, payload: dict, timeout: float = ANSWER_TIMEOUT) -> Reply:
    """Send ``payload``; check it is acknowledged in time; return the user's answer."""
    sent = bot.send(payload)
    ack = bot.wait_for(callback(payload), ANSWER_TIMEOUT)
    assert ack.at - sent <= ACK_SECONDS, f"first response after {ack.at - sent:.1f} s"
    assert ack.status == 200, ack.response
    return reply(bot, payload, timeout)


def disabled(message: dict) -> set[str]:
    """Labels of the disabled buttons on ``message``."""
    items = [c for row in message["components"] for c in row["components"] if c["type"] == 2]
    return {c["label"] for c in items if c.get("disabled")}


def buttons(message: dict) -> dict[str, str]:
    """label -> custom_id of every button on ``message``."""
    rows = message["components"]
    return {c["label"]: c["custom_id"] for row in rows for c in row["components"] if c["type"] == 2}

"""Discord failing mid-request, through the fake: each fault ends in a clear, logged outcome.

A download that hangs, a followup answered 429, an interaction token that expired before the
answer was ready, and the gateway dropping while a job runs. After each, the same user can ask
again at once: no job is left stuck holding their place.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from bot_process import BotProcess, Launcher
from e2e_helpers import ask, callback
from fake_discord import FakeDiscord

pytestmark = [pytest.mark.movielens, pytest.mark.slow]

LINK = re.compile(r"https://letterboxd\.com/tmdb/(\d+)/")
EXPORT = ("real", "ratings_2022_empty_year_crlf.csv")
ALICE_ID = 4242  # the fake's default user


def export_bytes(letterboxd_dir: Path) -> bytes:
    return letterboxd_dir.joinpath(*EXPORT).read_bytes()


def followup_path(fake: FakeDiscord, payload: dict) -> str:
    return f"/webhooks/{fake.app_id}/{payload['token']}"


def attachment_url(payload: dict) -> str:
    return next(iter(payload["data"]["resolved"]["attachments"].values()))["url"]


def test_a_download_that_hangs_times_out_with_a_clear_message(
    launch: Launcher, letterboxd_dir: Path
):
    bot = launch(BOXDREC_DOWNLOAD_TIMEOUT_SECONDS="1")
    bot.wait_connected()
    fake = bot.fake
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3)
    fake.hang_cdn(attachment_url(payload), 6)
    log_start = len(bot.log())
    answer = ask(bot, payload)
    assert answer.ephemeral
    assert answer.text == "Could not download your file from Discord; upload it again."
    bot.wait_log(r"download of attachment \d+ failed", start=log_start)
    # Nothing is stuck: the same user is answered at once on a second try.
    again = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3)
    assert len(LINK.findall(ask(bot, again).text)) == 3


def test_a_followup_rate_limited_429_is_waited_out_and_delivered(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=4)
    path = followup_path(fake, payload)
    fake.rate_limit_next("POST", f"^{re.escape(path)}$", retry_after=0.3)
    answer = ask(bot, payload)
    attempts = [r for r in fake.requests if r.method == "POST" and r.path == path]
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.3  # it waited as told before retrying
    assert answer.ephemeral and len(LINK.findall(answer.text)) == 4


def test_an_expired_interaction_token_is_logged_and_nothing_is_stuck(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user = fake.user("5151", "late")
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3, user=user)
    fake.hang_cdn(attachment_url(payload), 1.5)
    log_start = len(bot.log())
    bot.send(payload)
    bot.wait_for(callback(payload))
    fake.expire(payload["token"])  # the 15 minutes run out while the job works
    path = followup_path(fake, payload)
    refused = bot.wait_for(lambda r: r.path.startswith(path) and r.status == 401)
    assert refused.response == {"message": "Invalid Webhook Token", "code": 50027}
    bot.wait_log(r"Invalid Webhook Token|50027", start=log_start)
    # The bot goes on, and the same user's next request runs: their job slot was released.
    again = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3, user=user)
    assert len(LINK.findall(ask(bot, again).text)) == 3


def stored_films(bot: BotProcess, user_id: int) -> int | None:
    """How many films the bot's database file holds for ``user_id`` (None: no profile)."""
    with sqlite3.connect(bot.log_path.with_suffix(".sqlite3")) as conn:
        row = conn.execute(
            "SELECT films_json FROM profiles WHERE user_id = ?", (user_id,)
        ).fetchone()
    return None if row is None else len(json.loads(row[0])["films"])


def test_a_gateway_drop_mid_job_resumes_and_the_answer_arrives(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    # Someone else's saved films, and the user's own from an earlier, smaller upload.
    other = fake.user("6262", "other")
    small = letterboxd_dir / "real" / "ratings_small_crlf.csv"
    ask(bot, fake.recommend(small.name, small.read_bytes(), count=3, user=other))
    ask(bot, fake.recommend(small.name, small.read_bytes(), count=3))
    before_other, before_own = stored_films(bot, 6262), stored_films(bot, ALICE_ID)
    assert before_other and before_own
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3)
    fake.hang_cdn(attachment_url(payload), 1.5)
    start = len(fake.requests)
    bot.send(payload)
    bot.wait_for(callback(payload))
    fake.drop_gateway(4000)
    # discord.py reconnects and resumes its session (op 6) rather than identifying again.
    resume = bot.wait_for(lambda r: r.method == "WS" and r.json.get("op") == 6, 30, start)
    assert resume.json["d"]["session_id"] == "fake"
    assert resume.json["d"]["token"] == fake.token
    path = followup_path(fake, payload)
    answer = bot.wait_for(lambda r: r.path == path and r.status == 200, 60, start)
    assert len(LINK.findall(str(answer.json))) == 3
    # And the resumed connection carries new interactions.
    assert "Settings → Data" in ask(bot, fake.slash("help")).text
    # No stored data was lost: the new upload replaced the user's films whole, the other
    # person's are untouched.
    assert stored_films(bot, ALICE_ID) > before_own
    assert stored_films(bot, 6262) == before_other

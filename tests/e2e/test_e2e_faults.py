"""Discord failing mid-request, through the fake: each fault ends in a clear, logged outcome.

A download that hangs, fails with a CDN 5xx or is cut off mid-body; a followup answered 404,
429, 500 once or 500 until discord.py gives up; an interaction token that expired before the
answer was ready; and the gateway dropping while a job runs. After each, the log says what
happened, the same user can ask again at once and is answered (no job is left stuck holding
their place) and the database still holds whole profiles: the user's previous one or the new
upload, never a mix, and nobody else's touched.

This module's bot has one worker and allows one request per user, so a job slot that leaked
would show at once: the retry would be refused ("already have 1 request in progress") or never
run.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_process import BotProcess, Launcher, bot_env, connected_bot
from e2e_helpers import Reply, ask, callback, reply
from fake_discord import FakeDiscord

pytestmark = [pytest.mark.movielens, pytest.mark.slow]

LINK = re.compile(r"https://letterboxd\.com/tmdb/(\d+)/")
SAVED = re.compile(r"Saved your ([\d,]+) films? so /profile")
EXPORT = ("real", "ratings_2022_empty_year_crlf.csv")
SMALL = ("real", "ratings_small_crlf.csv")
ALICE_ID = 4242  # the fake's default user
DOWNLOAD_FAILED = "Could not download your file from Discord; upload it again."
# One worker, one request per user: any slot a fault leaked would refuse or block the retry.
STRICT = {"BOXDREC_MAX_CONCURRENT_JOBS": "1", "BOXDREC_MAX_JOBS_PER_USER": "1"}


@pytest.fixture(scope="module")
def bot(
    fake: FakeDiscord,
    movielens_dir: Path,
    small_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotProcess]:
    """The module's bot: no cooldown, one worker and one request per user (see above)."""
    workdir = tmp_path_factory.mktemp("faults")
    env = bot_env(fake, movielens_dir, small_model_dir, **STRICT)
    yield from connected_bot(fake, env, workdir)


def export_bytes(letterboxd_dir: Path, name: tuple[str, str] = EXPORT) -> bytes:
    return letterboxd_dir.joinpath(*name).read_bytes()


def followup_path(fake: FakeDiscord, payload: dict) -> str:
    return f"/webhooks/{fake.app_id}/{payload['token']}"


def attachment(payload: dict) -> dict[str, Any]:
    return next(iter(payload["data"]["resolved"]["attachments"].values()))


def attachment_url(payload: dict) -> str:
    return attachment(payload)["url"]


def stored_row(bot: BotProcess, user_id: int) -> tuple[str, float] | None:
    """The user's profile row as the bot's database file holds it: (films_json, saved_at)."""
    with sqlite3.connect(bot.log_path.with_suffix(".sqlite3")) as conn:
        row = conn.execute(
            "SELECT films_json, saved_at FROM profiles WHERE user_id = ?", (user_id,)
        ).fetchone()
    return None if row is None else (row[0], row[1])


def stored_films(bot: BotProcess, user_id: int) -> int | None:
    """How many films the bot's database file holds for ``user_id`` (None: no profile)."""
    row = stored_row(bot, user_id)
    return None if row is None else len(json.loads(row[0])["films"])


def saved_count(answer: Reply) -> int:
    """N from the answer's "Saved your N films" line: what the user was told is kept."""
    found = SAVED.search(answer.message["content"])
    assert found, answer.message["content"]
    return int(found[1].replace(",", ""))


def upload(bot: BotProcess, data: bytes, user: dict | None = None, count: int = 3) -> Reply:
    """A /recommend that must succeed: ``count`` films, privately, and the films saved."""
    fake = bot.fake
    answer = ask(bot, fake.recommend(EXPORT[1], data, count=count, user=user))
    assert answer.ephemeral
    assert len(LINK.findall(answer.text)) == count, answer.text
    user_id = int((user or {"id": ALICE_ID})["id"])
    assert stored_films(bot, user_id) == saved_count(answer)  # kept what the user was told
    return answer


def log_since(bot: BotProcess, start: int) -> str:
    return bot.log()[start:]


# -- the attachment download -----------------------------------------------------------------


def test_a_download_that_hangs_times_out_with_a_clear_message(
    launch: Launcher, letterboxd_dir: Path
):
    bot = launch(BOXDREC_DOWNLOAD_TIMEOUT_SECONDS="1", **STRICT)
    bot.wait_connected()
    fake = bot.fake
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3)
    fake.hang_cdn(attachment_url(payload), 6)
    log_start = len(bot.log())
    answer = ask(bot, payload)
    assert answer.ephemeral
    assert answer.text == DOWNLOAD_FAILED
    bot.wait_log(
        rf"WARNING .*download of attachment {attachment(payload)['id']} failed: TimeoutError",
        start=log_start,
    )
    # Nothing is stuck: the same user is answered at once on a second try.
    upload(bot, export_bytes(letterboxd_dir))


@pytest.mark.parametrize("status", [500, 503])
def test_a_cdn_5xx_is_reported_clearly_and_the_user_can_try_again(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path, status: int
):
    user = fake.user(f"81{status}", "cdn5xx")
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3, user=user)
    fake.fail_cdn(attachment_url(payload), status)
    log_start = len(bot.log())
    answer = ask(bot, payload)
    assert answer.ephemeral
    assert answer.text == DOWNLOAD_FAILED
    path = attachment_url(payload).split(str(fake.port), 1)[1].split("?")[0]
    downloads = [r for r in fake.requests if r.method == "GET" and r.path == path]
    assert [r.status for r in downloads] == [status]
    att_id = attachment(payload)["id"]
    line = bot.wait_log(rf"WARNING .*download of attachment {att_id} failed: (.*)", start=log_start)
    assert f"{status} " in line[1] and "failed to get asset" in line[1], line[0]
    bot.wait_log(rf"user error in recommend for user {user['id']}: DownloadFailed", start=log_start)
    # The failed download ran no job and saved nothing; the retry is answered and saved.
    assert stored_films(bot, int(user["id"])) is None
    upload(bot, export_bytes(letterboxd_dir), user)


def test_a_download_cut_off_mid_body_is_reported_clearly_and_the_user_can_try_again(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user = fake.user("8200", "cutoff")
    data = export_bytes(letterboxd_dir)
    before = upload(bot, export_bytes(letterboxd_dir, SMALL), user)
    kept = stored_row(bot, 8200)
    payload = fake.recommend(EXPORT[1], data, count=3, user=user)
    fake.reset_cdn(attachment_url(payload), after=4096)
    log_start = len(bot.log())
    answer = ask(bot, payload)
    assert answer.ephemeral
    assert answer.text == DOWNLOAD_FAILED
    cut = fake.wait_for(lambda r: r.method == "GET" and r.response == f"reset after 4096 of "
                        f"{len(data)} bytes")  # fmt: skip
    assert cut.path in attachment_url(payload)
    att_id = attachment(payload)["id"]
    line = bot.wait_log(rf"WARNING .*download of attachment {att_id} failed: (.*)", start=log_start)
    assert "ClientPayloadError" in line[1] and f"received 4096 of {len(data)}" in line[1], line[0]
    # A truncated export is never read as a shorter one: the saved films are the earlier ones.
    assert stored_row(bot, 8200) == kept
    assert stored_films(bot, 8200) == saved_count(before)
    after = upload(bot, data, user)
    assert saved_count(after) > saved_count(before)


# -- followups -------------------------------------------------------------------------------


def test_a_followup_rate_limited_429_is_waited_out_and_delivered(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user = fake.user("8300", "ratelimited")
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=4, user=user)
    path = followup_path(fake, payload)
    fake.rate_limit_next("POST", f"^{re.escape(path)}$", retry_after=0.3)
    log_start = len(bot.log())
    answer = ask(bot, payload)
    attempts = [r for r in fake.requests if r.method == "POST" and r.path == path]
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.3  # it waited as told before retrying
    assert answer.ephemeral and len(LINK.findall(answer.text)) == 4
    log = log_since(bot, log_start)
    assert re.search(rf"WARNING .*Webhook ID {fake.app_id} is rate limited\. Retrying in 0\.30 "
                     "seconds", log), log  # fmt: skip
    assert re.search(r"recommended 4 films to user 8300 in", log), log
    assert stored_films(bot, 8300) == saved_count(answer)
    upload(bot, export_bytes(letterboxd_dir), user)  # and nothing is stuck


def test_a_followup_answered_500_once_is_retried_and_delivered(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user = fake.user("8400", "fivehundred")
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=5, user=user)
    path = followup_path(fake, payload)
    fake.fail_next("POST", f"^{re.escape(path)}$", 500)
    log_start = len(bot.log())
    answer = ask(bot, payload)  # discord.py sleeps 1 s and sends the followup again
    attempts = [r for r in fake.requests if r.method == "POST" and r.path == path]
    assert [r.status for r in attempts] == [500, 200]
    assert answer.ephemeral and len(LINK.findall(answer.text)) == 5
    log = log_since(bot, log_start)
    assert "recommended 5 films to user 8400 in" in log, log
    assert "ERROR" not in log and "could not" not in log, log
    assert stored_films(bot, 8400) == saved_count(answer)
    upload(bot, export_bytes(letterboxd_dir), user)


def test_a_followup_refused_404_is_logged_and_nothing_is_stuck(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user = fake.user("8500", "unknownwebhook")
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=5, user=user)
    path = followup_path(fake, payload)
    fake.fail_next("POST", f"^{re.escape(path)}", 404, 10, 10015, "Unknown Webhook")
    log_start = len(bot.log())
    bot.send(payload)
    refused = bot.wait_for(lambda r: r.path.startswith(path) and r.status == 404)
    assert refused.response == {"message": "Unknown Webhook", "code": 10015}
    line = bot.wait_log(r"WARNING .*could not answer user 8500 in recommend: (.*)", start=log_start)
    assert "404 Not Found (error code: 10015): Unknown Webhook" in line[1], line[0]
    # A dead webhook is not tried again for an error message: one refused POST, no traceback.
    attempts = [r for r in fake.requests if r.method == "POST" and r.path == path]
    assert [r.status for r in attempts] == [404]
    assert "Traceback" not in log_since(bot, log_start)
    upload(bot, export_bytes(letterboxd_dir), user)


def test_a_followup_failing_500_until_discord_py_gives_up_is_logged_and_frees_the_slot(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user, other = fake.user("8600", "giveup"), fake.user("8601", "bystander")
    before = upload(bot, export_bytes(letterboxd_dir, SMALL), user)
    upload(bot, export_bytes(letterboxd_dir, SMALL), other)
    own_before, other_before = stored_row(bot, 8600), stored_row(bot, 8601)
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3, user=user)
    path = followup_path(fake, payload)
    # discord.py tries a webhook 5 times on a 5xx, sleeping 1, 3, 5, 7 and 9 s, then raises.
    fake.fail_next("POST", f"^{re.escape(path)}$", 500, times=5)
    log_start = len(bot.log())
    bot.send(payload)
    line = bot.wait_log(
        r"WARNING .*could not answer user 8600 in recommend: (.*)", timeout=60, start=log_start
    )
    assert "500 Internal Server Error (error code: 0): 500: injected by the test" in line[1]
    assert "telling them to try again" in line[1], line[0]
    # Discord is back: the user is told what happened and what to do, in the deferred message.
    told = reply(bot, payload)
    assert told.ephemeral and told.req.method == "POST"
    assert told.text == (
        "Discord had a server error (500) while I was answering, so my reply did not get "
        "through: try again in a minute."
    )
    attempts = [r for r in fake.requests if r.method == "POST" and r.path == path]
    assert [r.status for r in attempts] == [500] * 5 + [200]
    assert "Traceback" not in log_since(bot, log_start)
    # Nobody else's films changed; the user's are whole: the earlier ones or this upload's.
    assert stored_row(bot, 8601) == other_before
    assert stored_row(bot, 8600) == own_before or stored_films(bot, 8600) > saved_count(before)
    upload(bot, export_bytes(letterboxd_dir), user)


# -- the interaction token -------------------------------------------------------------------


def expire_mid_job(bot: BotProcess, payload: dict) -> str:
    """Let the 15 minutes run out while ``payload``'s download is under way; returns the log
    from then on, once the bot has given up answering."""
    fake = bot.fake
    fake.hang_cdn(attachment_url(payload), 1.5)
    log_start = len(bot.log())
    bot.send(payload)
    bot.wait_for(callback(payload))
    fake.expire(payload["token"])
    path = followup_path(fake, payload)
    refused = bot.wait_for(lambda r: r.path.startswith(path) and r.status == 401)
    assert refused.response == {"message": "Invalid Webhook Token", "code": 50027}
    user_id = payload["member"]["user"]["id"]
    line = bot.wait_log(
        rf"WARNING .*could not answer user {user_id} in recommend: (.*)", start=log_start
    )
    assert "401 Unauthorized (error code: 50027): Invalid Webhook Token" in line[1], line[0]
    return log_since(bot, log_start)


def test_an_expired_interaction_token_is_logged_and_nothing_is_stuck(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user, other = fake.user("5151", "late"), fake.user("5152", "punctual")
    before = upload(bot, export_bytes(letterboxd_dir, SMALL), user)
    upload(bot, export_bytes(letterboxd_dir, SMALL), other)
    own_before, other_before = stored_row(bot, 5151), stored_row(bot, 5152)
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3, user=user)
    log = expire_mid_job(bot, payload)
    assert "Traceback" not in log
    path = followup_path(fake, payload)
    attempts = [r for r in fake.requests if r.path.startswith(path)]
    assert [r.status for r in attempts] == [401]  # a dead token is not tried twice
    # Nobody else's films changed; the user's are whole: the earlier ones or this upload's.
    assert stored_row(bot, 5152) == other_before
    assert stored_row(bot, 5151) == own_before or stored_films(bot, 5151) > saved_count(before)
    # The bot goes on, and the same user's next request runs: their job slot was released;
    # what they are told is kept is what the database holds.
    again = upload(bot, export_bytes(letterboxd_dir), user)
    assert saved_count(again) > saved_count(before)


def test_films_are_not_kept_when_the_answer_saying_so_never_arrived(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    user = fake.user("5353", "untold")
    upload(bot, export_bytes(letterboxd_dir, SMALL), user)
    told = stored_row(bot, 5353)
    expire_mid_job(bot, fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), user=user))
    assert stored_row(bot, 5353) == told  # what the user was last told is kept, and no more


# -- the gateway -----------------------------------------------------------------------------


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

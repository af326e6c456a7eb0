"""End to end: the real bot process against the fake Discord, asserting on the payloads.

The module's bot answers every test; each interaction has its own id and token, so tests only
look at the requests that carry theirs. The recommendation flow (``/recommend`` then the
buttons) shares one answer through the module fixture ``recommendation``.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from bot_process import BotProcess, Launcher, bot_env
from e2e_helpers import ACK_SECONDS, Reply, ask, buttons, callback, disabled, is_notice, reply
from fake_discord import EPHEMERAL, FakeDiscord
from lb_factories import make_zip

pytestmark = [pytest.mark.movielens, pytest.mark.slow]

LINK = re.compile(r"https://letterboxd\.com/tmdb/(\d+)/")
ENTRY = re.compile(r"\*\*(\d+)\. \[(.+?)(?: \((\d{4})\))?\]\((https://letterboxd\.com/[^)]+)\)\*\*")
UNESCAPE = re.compile(r"\\([\\*_~|`\[\]])")
BUTTONS = ("◀ Previous", "Next ▶", "Share to channel", "Download CSV", "Don't keep my films")
EXPORT = ("real", "ratings_2022_empty_year_crlf.csv")


def plain(markdown: str) -> str:
    """A title as the bot escaped it for the embed, unescaped."""
    return UNESCAPE.sub(r"\1", markdown)


def export_bytes(letterboxd_dir: Path) -> bytes:
    return letterboxd_dir.joinpath(*EXPORT).read_bytes()


# -- login, gateway, /help -------------------------------------------------------------------


def test_logs_in_and_identifies_on_the_gateway(bot: BotProcess, fake: FakeDiscord):
    seen = {(r.method, r.path) for r in fake.requests}
    assert ("GET", "/users/@me") in seen
    assert ("GET", "/oauth2/applications/@me") in seen
    assert ("GET", "/gateway/bot") not in seen  # a plain Bot uses DISCORD_GATEWAY_URL
    assert not any(r.method == "PUT" for r in fake.requests), "synced without --sync"
    connect = bot.wait_for(lambda r: r.method == "WS" and r.json.get("connect"))
    assert connect.query.get("v") == "10"
    identify = bot.wait_for(lambda r: r.method == "WS" and r.json.get("op") == 2)
    assert identify.json["d"]["token"] == fake.token
    privileged = 1 << 1 | 1 << 8 | 1 << 15  # members, presences, message content
    assert identify.json["d"]["intents"] & privileged == 0, "needs approval on Discord"
    bot.wait_for(lambda r: r.method == "WS" and r.json.get("op") == 1)  # heartbeat


def test_help_is_ephemeral_and_explains_the_export(bot: BotProcess, fake: FakeDiscord):
    payload = fake.slash("help")
    answer = ask(bot, payload)
    assert answer.req.path.endswith("/callback") and answer.req.json["type"] == 4
    assert answer.ephemeral
    assert "Settings → Data → Export your data" in answer.text


# -- /recommend and its buttons --------------------------------------------------------------


@dataclass
class Recommendation:
    payload: dict
    answer: Reply
    message_id: str
    custom_ids: dict[str, str]


@pytest.fixture(scope="module")
def recommendation(bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path) -> Recommendation:
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir))
    sent = bot.send(payload)
    ack = bot.wait_for(callback(payload))
    answer = reply(bot, payload)
    assert ack.at - sent <= ACK_SECONDS, f"deferred after {ack.at - sent:.1f} s"
    assert ack.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    return Recommendation(payload, answer, answer.message["id"], buttons(answer.message))


def test_recommend_defers_then_downloads_the_export(
    recommendation: Recommendation, fake: FakeDiscord
):
    payload = recommendation.payload
    att = next(iter(payload["data"]["resolved"]["attachments"].values()))
    url_path = att["url"].split(str(fake.port), 1)[1].split("?")[0]
    download = fake.wait_for(lambda r: r.method == "GET" and r.path == url_path)
    ack = fake.wait_for(callback(payload))
    assert download.status == 200
    assert fake.requests.index(ack) < fake.requests.index(download), "downloaded before deferring"


def test_recommend_answers_with_one_ephemeral_embed(
    recommendation: Recommendation, fake: FakeDiscord
):
    answer = recommendation.answer
    assert answer.req.path == f"/webhooks/{fake.app_id}/{recommendation.payload['token']}"
    assert answer.body.get("flags", 0) & EPHEMERAL, "the followup does not ask to be ephemeral"
    assert answer.ephemeral
    assert len(answer.embeds) == 1
    embed = answer.embeds[0]
    assert "10" in embed["title"]
    entries = ENTRY.findall(embed["description"])
    assert entries, embed["description"]
    assert [int(e[0]) for e in entries] == list(range(1, len(entries) + 1))
    assert all(LINK.fullmatch(e[3]) for e in entries)
    assert "predicted" in embed["description"]
    footer = embed["footer"]["text"]
    assert re.search(r"matched \d+ of \d+", footer), footer
    assert re.search(r"Page 1/([2-9]|\d\d)", footer), footer
    assert len(embed["description"]) <= 4096
    assert set(recommendation.custom_ids) == set(BUTTONS), answer.message["components"]
    navigation = [c.get("label") for c in answer.message["components"][0]["components"]]
    assert "Don't keep my films" not in navigation  # a deletion not next to "Next"
    assert answer.message["content"].startswith("Saved your ")
    assert disabled(answer.message) == {"◀ Previous"}  # on the first page


def test_recommendations_are_films_the_user_has_not_rated(
    recommendation: Recommendation, letterboxd_dir: Path, service
):
    data = export_bytes(letterboxd_dir)
    export = service.read_export(data, EXPORT[1])
    links = service.catalogue.movies["tmdbId"]
    seen_tmdb = {
        int(links[f.movie_id])
        for f in service.match(export).films
        if f.movie_id is not None and not pd.isna(links[f.movie_id])
    }
    seen_names = {(f.name.casefold(), f.year) for f in export.films}
    entries = ENTRY.findall(recommendation.answer.embeds[0]["description"])
    for _rank, title, year, url in entries:
        tmdb = LINK.fullmatch(url)
        assert tmdb and int(tmdb[1]) not in seen_tmdb, f"{title} ({year}) is in the export"
        name = (plain(title).casefold(), int(year) if year else None)
        assert name not in seen_names, f"{title} ({year}) was rated"


def _press(bot: BotProcess, fake: FakeDiscord, rec: Recommendation, label: str, user=None):
    message = fake.messages[rec.message_id]
    payload = fake.press(message, rec.custom_ids[label], user=user)
    return payload, ask(bot, payload)


def test_next_and_previous_page_the_same_message(
    bot: BotProcess, fake: FakeDiscord, recommendation: Recommendation
):
    first = recommendation.answer.embeds[0]
    _, page2 = _press(bot, fake, recommendation, "Next ▶")
    assert page2.req.json["type"] == 7, page2.req.json
    assert page2.message["id"] == recommendation.message_id
    assert page2.ephemeral
    embed = page2.embeds[0]
    assert "Page 2/" in embed["footer"]["text"]
    ranks = [int(e[0]) for e in ENTRY.findall(embed["description"])]
    assert ranks and ranks[0] == len(ENTRY.findall(first["description"])) + 1
    if "Page 2/2" in embed["footer"]["text"]:
        assert disabled(fake.messages[recommendation.message_id]) == {"Next ▶"}
    _, back = _press(bot, fake, recommendation, "◀ Previous")
    assert back.req.json["type"] == 7
    assert "Page 1/" in back.embeds[0]["footer"]["text"]
    assert LINK.findall(back.embeds[0]["description"]) == LINK.findall(first["description"])


def test_share_posts_publicly(bot: BotProcess, fake: FakeDiscord, recommendation: Recommendation):
    _, shared = _press(bot, fake, recommendation, "Share to channel")
    assert shared.req.path.endswith("/callback") and shared.req.json["type"] == 4
    assert not shared.ephemeral
    assert LINK.search(shared.text), shared.text


def test_download_csv(bot: BotProcess, fake: FakeDiscord, recommendation: Recommendation):
    _, answer = _press(bot, fake, recommendation, "Download CSV")
    assert answer.req.json["type"] == 4
    assert answer.ephemeral
    files = [f for f in answer.req.files if f.filename == "boxdrec-recommendations.csv"]
    assert len(files) == 1, [f.filename for f in answer.req.files]
    rows = list(csv.reader(io.StringIO(files[0].data.decode("utf-8-sig"))))
    assert rows[0] == ["Title", "Year", "tmdbID", "imdbID"]
    assert len(rows) == 1 + 10
    for rank, title, year, url in ENTRY.findall(recommendation.answer.embeds[0]["description"]):
        row = rows[int(rank)]
        assert row[0] == plain(title) and row[1] == year, (row, title, year)
        if tmdb := LINK.fullmatch(url):
            assert row[2] == tmdb[1]


def test_another_users_press_is_refused(
    bot: BotProcess, fake: FakeDiscord, recommendation: Recommendation
):
    before = fake.messages[recommendation.message_id]
    mallory = fake.user("6666", "mallory")
    for label in ("Next ▶", "Download CSV"):
        _, answer = _press(bot, fake, recommendation, label, user=mallory)
        assert answer.req.json["type"] == 4, f"{label}: {answer.req.json}"
        assert answer.ephemeral
        assert answer.text and not answer.req.files
    assert fake.messages[recommendation.message_id] == before


def test_a_press_on_buttons_from_before_a_restart_is_answered(
    bot: BotProcess, fake: FakeDiscord, recommendation: Recommendation
):
    # Views live in memory: after a restart (or past the view's timeout) discord.py finds no
    # view for the custom_id and, unless the bot handles it, Discord shows "This interaction
    # failed".
    old = dict(fake.messages[recommendation.message_id], id=fake.snowflake())
    payload = fake.press(old, recommendation.custom_ids["Next ▶"].replace(":", ":1", 1))
    sent = bot.send(payload)
    ack = bot.wait_for(callback(payload), ACK_SECONDS + 2)
    assert ack.at - sent <= ACK_SECONDS
    answer = reply(bot, payload)
    assert answer.ephemeral
    assert answer.text == "These buttons have expired (or the bot restarted): run /recommend again."


def test_count_and_exclude_watchlist(bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path):
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=3,
                             exclude_watchlist=True)  # fmt: skip
    answer = ask(bot, payload)
    embed = answer.embeds[0]
    assert "3" in embed["title"]
    assert len(ENTRY.findall(embed["description"])) == 3
    assert "Page 1/1" in embed["footer"]["text"] or "Page" not in embed["footer"]["text"]


def test_exclude_watchlist_with_a_whole_export_zip(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path, recommendation: Recommendation
):
    top = ENTRY.findall(recommendation.answer.embeds[0]["description"])[:2]
    watchlist = "Date,Name,Year,Letterboxd URI\n" + "".join(
        f'2024-01-01,"{plain(title)}",{year},https://boxd.it/zz{rank}\n'
        for rank, title, year, _ in top
    )
    export = make_zip({"ratings.csv": export_bytes(letterboxd_dir), "watchlist.csv": watchlist})
    kept = ask(bot, fake.recommend("letterboxd-alice-2026.zip", export, count=5))
    links = LINK.findall(kept.embeds[0]["description"])
    assert [url for *_, url in top] == [f"https://letterboxd.com/tmdb/{t}/" for t in links[:2]]
    assert kept.embeds[0]["description"].count("On your watchlist") >= 2
    dropped = ask(bot, fake.recommend("export.zip", export, count=5, exclude_watchlist=True))
    links = LINK.findall(dropped.embeds[0]["description"])
    assert len(links) == 5
    assert not {url for *_, url in top} & {f"https://letterboxd.com/tmdb/{t}/" for t in links}


def test_recommend_in_a_dm(bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path):
    data = (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()
    answer = ask(bot, fake.recommend("ratings.csv", data, count=3, dm=True))
    assert len(LINK.findall(answer.text)) == 3 and answer.ephemeral
    assert "Settings → Data" in ask(bot, fake.slash("help", dm=True)).text


def test_three_users_at_once_are_each_deferred_in_time(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    data = export_bytes(letterboxd_dir)
    users = [fake.user(str(7000 + i), f"user{i}") for i in range(3)]
    payloads = [fake.recommend(EXPORT[1], data, count=5, user=u) for u in users]
    sent = [bot.send(p) for p in payloads]  # back to back: the jobs overlap
    for payload, at in zip(payloads, sent, strict=True):
        ack = bot.wait_for(callback(payload))
        assert ack.at - at <= ACK_SECONDS and ack.json["type"] == 5
    for payload in payloads:
        answer = reply(bot, payload)
        assert len(LINK.findall(answer.text)) == 5
        waited = [r for r in fake.requests if payload["token"] in r.path and is_notice(r)]
        if waited:  # whoever waited for a worker saw their place, then the answer in its place
            assert answer.req.method == "PATCH" and answer.req.path.endswith("/@original")
            assert answer.message["components"], "the answer keeps its buttons"


# -- errors: always a clear, private answer --------------------------------------------------


def _assert_clear_error(answer: Reply, *words: str) -> None:
    assert answer.ephemeral, "an error about a user's upload should be private"
    assert "Traceback" not in answer.text
    assert answer.text.strip()
    assert any(w.casefold() in answer.text.casefold() for w in words), answer.text
    assert not LINK.search(answer.text)


def test_png_is_refused_clearly(bot: BotProcess, fake: FakeDiscord):
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    answer = ask(bot, fake.recommend("poster.png", png, content_type="image/png"))
    _assert_clear_error(answer, "csv", "zip")


@pytest.mark.parametrize("kind", ["not_letterboxd", "nul_bytes"])
def test_a_file_that_is_not_an_export_is_refused_clearly(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path, kind: str
):
    if kind == "nul_bytes":
        data = (letterboxd_dir / "real" / "list_all_nul_bytes.csv").read_bytes()
    else:
        data = b"name,colour\r\nfoo,red\r\nbar,blue\r\n"
    answer = ask(bot, fake.recommend("ratings.csv", data))
    _assert_clear_error(answer, "letterboxd", "export", "ratings")


def test_too_big_is_refused_clearly(bot: BotProcess, fake: FakeDiscord):
    data = b"Date,Name,Year,Letterboxd URI,Rating\n" + b"x" * (11 * 1024 * 1024)
    answer = ask(bot, fake.recommend("ratings.csv", data))
    _assert_clear_error(answer, "MB", "MiB", "big", "large", "size")


def test_count_out_of_range_is_refused_clearly(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    # Discord enforces min_value/max_value; discord.py does not, so the bot must.
    answer = ask(bot, fake.recommend("ratings.csv", export_bytes(letterboxd_dir), count=500))
    _assert_clear_error(answer, "count", "50")


def test_cdn_404_is_reported_clearly(bot: BotProcess, fake: FakeDiscord):
    payload = fake.recommend("ratings.csv", None, size=5000)
    answer = ask(bot, payload)
    _assert_clear_error(answer, "download", "upload", "again", "attachment", "file")


# -- Discord failing -------------------------------------------------------------------------


def test_a_followup_answered_500_once_is_retried(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=5)
    followup = f"/webhooks/{fake.app_id}/{payload['token']}"
    fake.fail_next("POST", f"^{re.escape(followup)}$", 500)
    answer = ask(bot, payload)  # discord.py sleeps 1 s and sends the followup again
    attempts = [r for r in fake.requests if r.method == "POST" and r.path == followup]
    assert [r.status for r in attempts] == [500, 200]
    assert LINK.search(answer.text) and answer.ephemeral
    assert "Settings → Data" in ask(bot, fake.slash("help")).text  # still serving


def test_a_followup_that_cannot_be_sent_is_logged_and_the_bot_goes_on(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    payload = fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), count=5)
    followup = f"/webhooks/{fake.app_id}/{payload['token']}"
    fake.fail_next("POST", f"^{re.escape(followup)}", 404, 10, 10015, "Unknown Webhook")
    log_start = len(bot.log())
    bot.send(payload)
    bot.wait_for(lambda r: r.path.startswith(followup) and r.status == 404)
    bot.wait_log(r"Unknown Webhook|10015", start=log_start)
    assert "Settings → Data" in ask(bot, fake.slash("help")).text


# -- other processes: --sync, cooldown, missing token ----------------------------------------


def test_sync_puts_the_command_schema(launch: Launcher):
    proc = launch("--sync")
    put = proc.wait_for(lambda r: r.method == "PUT", 60)
    assert re.fullmatch(rf"/applications/{proc.fake.app_id}(/guilds/\d+)?/commands", put.path)
    commands = {c["name"]: c for c in put.json}
    assert {"recommend", "help"} <= set(commands)
    options = {o["name"]: o for o in commands["recommend"]["options"]}
    assert options["file"]["type"] == 11 and options["file"].get("required") is True
    assert options["count"]["type"] == 4 and not options["count"].get("required")
    assert (options["count"].get("min_value"), options["count"].get("max_value")) == (1, 50)
    assert options["exclude_watchlist"]["type"] == 5
    assert all(len(c["description"]) <= 100 for c in put.json)


def test_cooldown_refuses_a_second_request_at_once(launch: Launcher, letterboxd_dir: Path):
    proc = launch(BOXDREC_USER_COOLDOWN_SECONDS="120")
    proc.wait_connected()
    data = (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()
    first = ask(proc, proc.fake.recommend("ratings.csv", data, count=3))
    assert LINK.search(first.text), first.text
    second = ask(proc, proc.fake.recommend("ratings.csv", data, count=3))
    assert second.ephemeral and not LINK.search(second.text)
    assert re.search(r"\d+\s*(s\b|sec|second|minute)", second.text), second.text
    other = ask(proc, proc.fake.recommend("ratings.csv", data, count=3, user=proc.fake.user(
        "5151", "bob")))  # fmt: skip
    assert LINK.search(other.text), "the cooldown is per user"


def test_sigterm_closes_the_gateway_and_exits_0(launch: Launcher):
    proc = launch()
    proc.wait_connected()
    assert "Settings → Data" in ask(proc, proc.fake.slash("help")).text
    assert proc.stop() == 0, proc.log_tail()
    closed = proc.fake.wait_for(lambda r: r.method == "WS" and "closed" in r.json, 5)
    # Client.close() sends 1000, but with aiohttp 3.14 the reading task wakes first and closes
    # with discord.py's default 4000; either way the bot said goodbye rather than vanishing.
    assert closed.json["closed"] in (1000, 4000)


def test_missing_token_exits_1_with_one_clear_line(
    fake: FakeDiscord, tmp_path: Path, movielens_dir: Path
):
    env = bot_env(fake, movielens_dir, tmp_path, DISCORD_TOKEN=None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bot"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, output
    assert "Traceback" not in output
    lines = output.splitlines()
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0], output
    assert time.monotonic() - started < 30

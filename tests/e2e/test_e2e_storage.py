"""End to end: saved films with consent, /privacy, /forget and "Don't keep my films".

The real bot keeps its database in the test's temporary folder (BOXDREC_DATABASE); what is in
the file is read with the stdlib sqlite3 after each step, so "deleted" means gone from the file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from bot_process import BotProcess, Launcher
from e2e_helpers import ask, buttons

pytestmark = [pytest.mark.movielens, pytest.mark.slow]

EXPORT = ("real", "ratings_small_crlf.csv")
ALICE_ID = 4242  # the fake's default user
NOTHING_STORED = "I have nothing stored about you: no films, no settings. Nothing to delete."


def table_rows(db: Path, user_id: int) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE user_id = ?", (user_id,)).fetchone()[0]
            for t in ("users", "profiles", "preferences", "hidden")
        }


def stored_names(db: Path, user_id: int) -> list[str]:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT films_json FROM profiles WHERE user_id = ?", (user_id,)
        ).fetchone()
    return [film[1] for film in json.loads(row[0])["films"]] if row else []


def preferences(db: Path, user_id: int) -> tuple[int, int] | None:
    """(allow_compare, keep_films) of the user, read from the file."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT allow_compare, keep_films FROM preferences WHERE user_id = ?", (user_id,)
        ).fetchone()


def on_disk(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "boxdrec.sqlite3"


@pytest.fixture
def export(letterboxd_dir: Path) -> bytes:
    return letterboxd_dir.joinpath(*EXPORT).read_bytes()


def upload(proc: BotProcess, export: bytes, user: dict | None = None):
    return ask(proc, proc.fake.recommend("ratings.csv", export, count=3, user=user))


def test_upload_privacy_forget_and_forget_again(launch: Launcher, db: Path, export: bytes, service):
    proc = launch(BOXDREC_DATABASE=str(db), BOXDREC_RETENTION_DAYS="30")
    proc.wait_connected()
    expected, _ = service.user_films(service.read_export(export, "ratings.csv"))
    n = len(expected.films)

    answer = upload(proc, export)
    assert answer.ephemeral and answer.embeds
    assert answer.message["content"] == (
        f"Saved your {n} films so /profile, /compare and /movienight work without re-uploading; "
        "kept 30 days (see /privacy). Rather not? Press **Don't keep my films**."
    )
    assert buttons(answer.message)["Don't keep my films"].endswith(":forget")
    assert table_rows(db, ALICE_ID) == {"users": 1, "profiles": 1, "preferences": 0, "hidden": 0}
    names = stored_names(db, ALICE_ID)
    assert sorted(names) == sorted(f.name for f in expected.films)

    privacy = ask(proc, proc.fake.slash("privacy"))
    assert privacy.ephemeral
    assert f"{n} films saved <t:" in privacy.text
    assert "Films and hidden films are kept 30 days after your last upload or change" in (
        privacy.text
    )
    assert "the titles and years of films that matched no MovieLens film" in privacy.text
    assert "Never your email address" in privacy.text
    assert "Others may /compare with you" in privacy.text

    off = ask(
        proc, proc.fake.slash("privacy", [{"name": "allow_compare", "type": 5, "value": False}])
    )
    assert off.message["content"] == "Done: Nobody may /compare with you or see your /profile."
    assert table_rows(db, ALICE_ID)["preferences"] == 1

    forget = ask(proc, proc.fake.slash("forget"))
    assert forget.ephemeral
    assert forget.text == (
        f"Deleted everything I kept about you: your {n} films and your /privacy choices. Nothing "
        "about you is stored any more. Your next /recommend upload will be saved again unless "
        "you press **Don't keep my films** or use `/privacy keep_films:false`."
    )
    assert table_rows(db, ALICE_ID) == {"users": 0, "profiles": 0, "preferences": 0, "hidden": 0}
    longest = max(names, key=len).encode()
    assert longest not in on_disk(db), "the film names linger in the file"

    again = ask(proc, proc.fake.slash("forget"))
    assert again.text == NOTHING_STORED
    assert "Nothing is stored about you." in ask(proc, proc.fake.slash("privacy")).text


def test_dont_keep_deletes_at_once_and_kept_films_survive_a_restart_while_expired_go(
    launch: Launcher, db: Path, export: bytes
):
    proc = launch(BOXDREC_DATABASE=str(db))
    proc.wait_connected()
    bob = proc.fake.user("5151", "bob")
    payload = proc.fake.recommend("ratings.csv", export, count=3, user=bob)
    answer = ask(proc, payload)
    assert answer.message["content"].startswith("Saved your ")
    upload(proc, export)  # alice keeps hers
    assert table_rows(db, 5151)["profiles"] == table_rows(db, ALICE_ID)["profiles"] == 1

    # Only bob may press bob's button.
    custom_id = buttons(answer.message)["Don't keep my films"]
    message = proc.fake.messages[answer.message["id"]]
    refused = ask(proc, proc.fake.press(message, custom_id))
    assert refused.text == "These buttons belong to Bob's recommendations."
    assert table_rows(db, 5151)["profiles"] == 1

    pressed = ask(proc, proc.fake.press(message, custom_id, user=bob))
    assert pressed.ephemeral
    assert pressed.text.startswith("Done: I deleted the films I had saved for you")
    # The films go; what stays is the "no": bob's id and two flags, no film data.
    assert table_rows(db, 5151) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert preferences(db, 5151) == (1, 0)
    edit = proc.wait_for(lambda r: r.method == "PATCH" and payload["token"] in r.path)
    assert edit.json["content"] == (
        "Your films were not kept: you asked me to delete them, and later uploads will not be "
        "saved either (`/privacy keep_films:true` changes that)."
    )
    assert "Don't keep my films" not in buttons(edit.response)

    # Bob's next upload is not saved, and the reply says so with no button to press.
    again = ask(proc, proc.fake.recommend("ratings.csv", export, count=3, user=bob))
    assert again.ephemeral and again.embeds
    assert again.message["content"] == (
        "Not saved, as you asked; /privacy keep_films:true to save them from your next upload."
    )
    assert "Don't keep my films" not in buttons(again.message)
    assert table_rows(db, 5151)["profiles"] == 0
    assert proc.stop() == 0

    # Someone whose films are older than the retention: purged when the bot starts; someone
    # with only a "no" (no films) keeps it.
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO users (user_id, touched_at) VALUES (777, 0)")
        conn.execute("INSERT INTO profiles VALUES (777, '{}', 0, 0)")
        conn.execute("INSERT INTO preferences (user_id, allow_compare) VALUES (777, 0)")
        conn.execute("INSERT INTO users (user_id, touched_at) VALUES (778, 0)")
        conn.execute("INSERT INTO preferences VALUES (778, 1, 0)")
    restarted = launch(BOXDREC_DATABASE=str(db))
    restarted.wait_connected()
    restarted.wait_log(r"purged 1 users' data older than 180 days")
    assert table_rows(db, 777) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert preferences(db, 777) == (0, 1)
    assert table_rows(db, 778) == {"users": 1, "profiles": 0, "preferences": 1, "hidden": 0}
    assert preferences(db, 778) == (1, 0)
    privacy = ask(restarted, restarted.fake.slash("privacy"))
    assert " films saved <t:" in privacy.text, "alice's films did not survive the restart"
    assert table_rows(db, ALICE_ID)["profiles"] == 1
    bobs = ask(restarted, restarted.fake.slash("privacy", user=bob))
    assert "Your films are not saved when you upload them" in bobs.text
    assert "Your choices below are kept until you change them or use /forget." in bobs.text


def test_a_database_that_cannot_be_opened_stops_the_bot_with_one_clear_line(
    launch: Launcher, tmp_path: Path
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = launch(BOXDREC_DATABASE=str(blocker / "boxdrec.sqlite3"))
    assert proc.proc.wait(60) == 1
    log = proc.log()
    assert f"boxdrec bot: cannot open the database {blocker / 'boxdrec.sqlite3'}" in log
    assert "(BOXDREC_DATABASE)" in log and "Traceback" not in log

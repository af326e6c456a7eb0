"""The ``boxdrec`` command: output, JSON, one-line errors, the console script and the first run.

Most tests call ``recommender.cli.main`` in-process. Loading the ml-32m catalogue takes seconds,
so the ``fast_cli`` fixture lets ``load_service`` hand back the session's service when the CLI
asks for exactly the data and model folders it was built from (any other request goes to the
real function). ``test_recommend_text`` and the subprocess and first-run tests load for real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from lb_factories import RATINGS_HEADER, csv_text, make_zip

from recommender import pipeline
from recommender.cli import main

NUMBERED = re.compile(r"^\s*(\d+)\. (.+?)(?: \((\d{4})\))?(?:  predicted (\d\.\d)★)?$")
TRAINING = "training the default model"


@pytest.fixture
def real(letterboxd_dir: Path) -> Path:
    return letterboxd_dir / "real"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, movielens_dir: Path, small_model_dir: Path) -> None:
    monkeypatch.setenv("BOXDREC_DATA_DIR", str(movielens_dir))
    monkeypatch.setenv("BOXDREC_MODEL_DIR", str(small_model_dir))
    for name in list(os.environ):
        if name.startswith("BOXDREC_") and name not in ("BOXDREC_DATA_DIR", "BOXDREC_MODEL_DIR"):
            monkeypatch.delenv(name)


@pytest.fixture
def fast_cli(
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    service,
    movielens_dir: Path,
    small_model_dir: Path,
) -> list[tuple[Path, Path, str | None]]:
    """Reuse the session's service for the folders it was built from; record every request."""
    real_load = pipeline.load_service
    calls: list[tuple[Path, Path, str | None]] = []

    def load_service(data_root=None, model_root=None, name=None, say=None, limits=None):
        calls.append((data_root, model_root, name))
        if (data_root, model_root, name) == (movielens_dir, small_model_dir, None):
            return service
        return real_load(data_root, model_root, name, say, limits)

    monkeypatch.setattr(pipeline, "load_service", load_service)
    return calls


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def numbered(out: str) -> list[re.Match[str]]:
    return [m for line in out.splitlines() if (m := NUMBERED.match(line))]


def test_recommend_text(cli_env, capsys, real: Path, service):
    # No fast path: the CLI loads catalogue and model from the environment's folders itself.
    export = real / "ratings_small_crlf.csv"
    code, out, err = run(capsys, "recommend", export, "-n", "5")
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "Your top 5 from ratings_small_crlf.csv (model ml-latest-small)"
    expected = service.recommend(service.read_export_file(export), n=5)
    summary = expected.report.summary_line()
    assert summary.startswith("matched 20 of 20")
    assert lines[1] == summary
    films = numbered(out)
    assert [int(m.group(1)) for m in films] == [1, 2, 3, 4, 5]
    assert [m.group(2) for m in films] == [r.title for r in expected.items]
    assert [int(m.group(3)) for m in films] == [r.year for r in expected.items]
    assert [float(m.group(4)) for m in films] == [r.predicted_stars for r in expected.items]
    for r in expected.items:
        assert f"     {r.reason}" in lines
        assert f"     {r.letterboxd_url}" in lines


def test_recommend_json(fast_cli, capsys, real: Path, movielens_dir: Path, small_model_dir):
    code, out, err = run(capsys, "recommend", real / "ratings_small_crlf.csv", "-n", "5", "--json")
    assert (code, err) == (0, "")
    assert fast_cli == [(movielens_dir, small_model_dir, None)]  # the folders came from the env
    data = json.loads(out)
    assert {"recommendations", "summary", "counts"} <= set(data)
    assert data["summary"].startswith("matched 20 of 20")
    assert data["counts"]["total"] == 20
    assert data["counts"]["matched"] + data["counts"]["ambiguous"] == 20
    recs = data["recommendations"]
    assert len(recs) == 5
    assert [r["rank"] for r in recs] == [1, 2, 3, 4, 5]
    for r in recs:
        assert isinstance(r["title"], str) and r["title"]
        assert isinstance(r["year"], int)
        assert 0.5 <= r["predicted_stars"] <= 5.0
        assert r["reason"].startswith("Because you rated ")
        assert re.fullmatch(r"https://letterboxd\.com/tmdb/\d+/", r["letterboxd_url"])


def test_match_json(fast_cli, capsys, real: Path):
    export = real / "ratings_small_crlf.csv"
    code, out, err = run(capsys, "match", export, "--json")
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 20  # one per export row
    for rec in records:
        assert {"name", "year", "letterboxd_uri", "movie_id", "status"} <= set(rec)
        assert rec["status"] in {"matched", "ambiguous", "duplicate", "not_in_movielens"}
    her = next(r for r in records if r["name"] == "Her")
    assert her["year"] == 2013
    assert her["letterboxd_uri"] == "https://boxd.it/4O24"
    assert her["movie_id"] == 106920  # Her (2013)
    assert her["status"] == "matched"


def test_match_text_lists_sections(fast_cli, capsys, real: Path, service):
    export = real / "ratings_2017_slug_uris_crlf.csv"
    code, out, err = run(capsys, "match", export)
    assert (code, err) == (0, "")
    report = service.match(service.read_export_file(export))
    lines = out.splitlines()
    assert lines[0] == report.summary_line()
    sections = {
        "Ambiguous (chosen by evidence, check these)": report.ambiguous,
        "Duplicates (two rows, one MovieLens film: not used)": report.duplicate,
        "Not in MovieLens": report.not_in_movielens,
        "In MovieLens but not in the model": report.not_in_model,
    }
    for title, rows in sections.items():
        assert rows, title  # this export has rows of every kind
        assert f"{title} ({len(rows)}):" in lines
    # Each row is listed under its section as the export names it, with the MovieLens film.
    for row in (*report.ambiguous, *report.duplicate, *report.not_in_model):
        year = row.film.year if row.film.year is not None else "no year"
        head = f"  {row.film.name} ({year}) -> {row.movie_id} {service.title(row.movie_id)}"
        assert any(line.startswith(head) for line in lines), head
    for row in report.not_in_movielens:
        year = row.film.year if row.film.year is not None else "no year"
        assert any(line.startswith(f"  {row.film.name} ({year})") for line in lines)


def test_recommend_exclude_watchlist(fast_cli, capsys, tmp_path: Path, real: Path):
    ratings = (real / "ratings_small_crlf.csv").read_text(encoding="utf-8")
    code, out, _ = run(capsys, "recommend", real / "ratings_small_crlf.csv", "-n", "2", "--json")
    assert code == 0
    top = json.loads(out)["recommendations"][0]
    assert top["on_watchlist"] is False
    watchlist = f"Date,Name,Year,Letterboxd URI\n2024-01-01,{top['title']},{top['year']},x\n"
    export = tmp_path / "export.zip"
    export.write_bytes(make_zip({"ratings.csv": ratings, "watchlist.csv": watchlist}))
    code, out, _ = run(capsys, "recommend", export, "-n", "2", "--json")
    assert code == 0
    first = json.loads(out)["recommendations"][0]
    assert (first["movie_id"], first["on_watchlist"]) == (top["movie_id"], True)
    assert first["reason"] == "On your watchlist. " + top["reason"]
    code, out, _ = run(capsys, "recommend", export, "-n", "2", "--json", "--exclude-watchlist")
    assert code == 0
    assert top["movie_id"] not in [r["movie_id"] for r in json.loads(out)["recommendations"]]


# -- bad input: one line on stderr, exit status 1 -----------------------------------------------


def _zip_without_ratings(tmp: Path, _real: Path, _movielens: Path) -> Path:
    path = tmp / "export.zip"
    path.write_bytes(make_zip({"profile.csv": "Username\nsomeone\n", "notes.txt": "hello"}))
    return path


def _zip_slip(tmp: Path, _real: Path, _movielens: Path) -> Path:
    path = tmp / "export.zip"
    rows = csv_text(RATINGS_HEADER, "2024-01-01,Heat,1995,https://boxd.it/aaa8,4")
    path.write_bytes(make_zip({"../ratings.csv": rows}, compression=zipfile.ZIP_STORED))
    return path


def _write(name: str, data: bytes):
    def make(tmp: Path, _real: Path, _movielens: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


BAD_INPUTS = {
    "empty file": (_write("ratings.csv", b""), "ratings.csv is empty."),
    "list export": (lambda _t, r, _m: r / "list_v7_export.csv", "is a Letterboxd list export"),
    "NUL bytes": (lambda _t, r, _m: r / "list_all_nul_bytes.csv", "holds only NUL bytes"),
    "random bytes": (
        _write("ratings.csv", np.random.default_rng(0).bytes(4096)),
        "ratings.csv is not a CSV file: it holds binary data.",
    ),
    "MovieLens ratings": (
        lambda _t, _r, m: m / "ml-latest-small" / "ratings.csv",
        "it looks like a MovieLens ratings file",
    ),
    "zip without ratings": (_zip_without_ratings, "has no ratings.csv, watched.csv or diary.csv"),
    "zip with ../ path": (
        _zip_slip,
        'holds a file whose path leaves its folder ("../ratings.csv")',
    ),
    "rating 7": (
        _write(
            "ratings.csv",
            csv_text(RATINGS_HEADER, "2024-01-01,Heat,1995,https://boxd.it/aaa8,7").encode(),
        ),
        'row 2 ("Heat"): rating 7 is outside 0.5–5 stars',
    ),
    "missing file": (lambda t, _r, _m: t / "no-such-export.csv", "There is no file at"),
}


@pytest.mark.parametrize("command", ["recommend", "match"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_error(
    fast_cli, capsys, tmp_path: Path, real: Path, movielens_dir: Path, case: str, command: str
):
    make, fragment = BAD_INPUTS[case]
    path = make(tmp_path, real, movielens_dir)
    code, out, err = run(capsys, command, path)
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("boxdrec: error: ")
    assert fragment in lines[0]


@pytest.mark.parametrize("n", ["0", "-5", "501"])
def test_n_out_of_range_is_refused(fast_cli, capsys, real: Path, n: str):
    code, out, err = run(capsys, "recommend", real / "ratings_small_crlf.csv", "-n", n)
    assert (code, out, err) == (1, "", "boxdrec: error: -n must be between 1 and 500.\n")


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ('{"format_version": 99}', "has model format 99"),
        ("{broken", "is not valid JSON"),
        # BUG (recommender/model_store.py load_model, line 130 `meta.get(...)`): valid JSON that
        # is not an object raises AttributeError, so the CLI prints a traceback and "boxdrec:
        # unexpected error (id ...)" and exits 2. Expected: one "boxdrec: error:" line, exit 1.
        ("[]", "metadata.json"),
    ],
    ids=["old format", "not JSON", "JSON list"],
)
def test_damaged_model_is_one_line_error(
    monkeypatch, capsys, tmp_path: Path, real: Path, movielens_dir: Path, metadata, fragment
):
    models = tmp_path / "models"
    (models / "ml-latest-small").mkdir(parents=True)
    (models / "ml-latest-small" / "metadata.json").write_text(metadata)
    monkeypatch.setenv("BOXDREC_DATA_DIR", str(movielens_dir))
    monkeypatch.setenv("BOXDREC_MODEL_DIR", str(models))
    monkeypatch.delenv("BOXDREC_MODEL", raising=False)
    code, out, err = run(capsys, "recommend", real / "ratings_small_crlf.csv")
    assert "Traceback" not in err
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith("boxdrec: error: ")
    assert fragment in err


@pytest.mark.parametrize("weight", ["abc", 1e308, -5])
def test_a_hand_edited_item_item_weight_is_one_line_error(
    monkeypatch,
    capsys,
    tmp_path: Path,
    real: Path,
    movielens_dir: Path,
    small_model_dir: Path,
    weight,
):
    # The checksums cover the arrays, not metadata.json: a bad weight is refused, not ignored.
    models = tmp_path / "models"
    shutil.copytree(small_model_dir / "ml-latest-small", models / "ml-latest-small")
    meta_path = models / "ml-latest-small" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["item_item"]["weight"] = weight
    meta_path.write_text(json.dumps(meta))
    monkeypatch.setenv("BOXDREC_DATA_DIR", str(movielens_dir))
    monkeypatch.setenv("BOXDREC_MODEL_DIR", str(models))
    monkeypatch.delenv("BOXDREC_MODEL", raising=False)
    code, out, err = run(capsys, "recommend", real / "ratings_small_crlf.csv")
    assert (code, out) == (1, "")
    assert err == (
        f"boxdrec: error: the model's metadata.json gives its item-item half the weight "
        f"{weight!r}, not a number above 0 and at most 100; train the model again with "
        "'boxdrec train'.\n"
    )


# -- the installed console script ----------------------------------------------------------------


def console_script() -> Path:
    beside = Path(sys.executable).parent / "boxdrec"
    if beside.is_file():
        return beside
    found = shutil.which("boxdrec")
    assert found, "the boxdrec console script is not installed (pip install -e .)"
    return Path(found)


def test_console_script(real: Path, movielens_dir: Path, small_model_dir: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXDREC_")}
    env.update(BOXDREC_DATA_DIR=str(movielens_dir), BOXDREC_MODEL_DIR=str(small_model_dir))
    proc = subprocess.run(
        [console_script(), "recommend", real / "ratings_small_crlf.csv", "-n", "3"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == "Your top 3 from ratings_small_crlf.csv (model ml-latest-small)"
    assert lines[1].startswith("matched 20 of 20")
    assert [int(m.group(1)) for m in numbered(proc.stdout)] == [1, 2, 3]


# -- first run: no model yet -----------------------------------------------------------------


@pytest.mark.slow
def test_first_run_trains_and_caches_the_default_model(
    monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path, movielens_dir: Path, real: Path
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "ml-latest-small").symlink_to(movielens_dir / "ml-latest-small", True)
    models = tmp_path / "models"
    models.mkdir()
    for name in list(os.environ):
        if name.startswith("BOXDREC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BOXDREC_DATA_DIR", str(data))
    monkeypatch.setenv("BOXDREC_MODEL_DIR", str(models))
    export = real / "ratings_small_crlf.csv"

    code, out, err = run(capsys, "recommend", export, "-n", "3")
    assert code == 0, err
    assert TRAINING in err
    assert str(models / "ml-latest-small") in err  # says where the model is cached
    assert [int(m.group(1)) for m in numbered(out)] == [1, 2, 3]
    meta_path = models / "ml-latest-small" / "metadata.json"
    assert meta_path.is_file()
    meta = json.loads(meta_path.read_text())
    assert meta["config"]["n_components"] == 128  # the default TrainConfig
    assert meta["dataset"] == "ml-latest-small"
    assert [p.name for p in models.iterdir()] == ["ml-latest-small"]

    code, out2, err2 = run(capsys, "recommend", export, "-n", "3")
    assert code == 0
    assert TRAINING not in err2
    assert err2 == ""
    assert out2 == out  # the cached model gives the same picks


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", ""])
def test_train_refuses_a_model_name_that_is_a_path(
    cli_env, capsys, tmp_path: Path, name: str
) -> None:
    code, out, err = run(capsys, "--model-dir", tmp_path / "models", "train", "--name", name)
    assert code == 1 and out == ""
    assert err.startswith("boxdrec: error: ") and "is not a valid model name" in err
    assert not (tmp_path / "escape").exists() and not (tmp_path / "models").exists()


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_without_reading_it(fast_cli, capsys, device: str) -> None:
    code, out, err = run(capsys, "recommend", device)
    assert (code, out) == (1, "")
    assert err == (
        f"boxdrec: error: {device} is not a regular file. "
        "Give the export zip or its ratings.csv instead.\n"
    )


def test_dotenv_settings_are_read_and_the_environment_wins(tmp_path: Path, monkeypatch) -> None:
    from recommender.cli import load_dotenv_settings

    env = tmp_path / ".env"
    env.write_text("BOXDREC_MAX_ROWS=123\nBOXDREC_MODEL=from-dotenv\nDISCORD_TOKEN=secret\n")
    # Empty counts as unset; monkeypatch restores the real environment afterwards.
    monkeypatch.setenv("BOXDREC_MAX_ROWS", "")
    monkeypatch.setenv("BOXDREC_MODEL", "from-env")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    load_dotenv_settings(env)
    assert os.environ["BOXDREC_MAX_ROWS"] == "123"
    assert os.environ["BOXDREC_MODEL"] == "from-env"
    assert "DISCORD_TOKEN" not in os.environ  # the CLI takes only its own settings


def test_bad_limit_setting_is_one_line_error_before_any_model_work(
    monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path, real: Path, movielens_dir: Path
):
    models = tmp_path / "models"
    monkeypatch.setenv("BOXDREC_DATA_DIR", str(movielens_dir))
    monkeypatch.setenv("BOXDREC_MODEL_DIR", str(models))
    monkeypatch.setenv("BOXDREC_MAX_ROWS", "abc")
    code, out, err = run(capsys, "recommend", real)
    assert code == 1 and out == ""
    assert err == (
        "boxdrec: error: BOXDREC_MAX_ROWS must be a whole number above 0, not 'abc'; fix it in "
        "the environment or .env, or unset it to use the default (50,000).\n"
    )
    assert not models.exists()  # refused before any download or training


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--item-item-weight", "-1", "--item-item-weight must be a number from 0 to 100"),
        ("--item-item-weight", "1e308", "--item-item-weight must be a number from 0 to 100"),
        ("--item-item-weight", "nan", "--item-item-weight must be a number from 0 to 100"),
        ("--item-item-lambda", "0", "--item-item-lambda must be a number above 0"),
        ("--item-item-films", "0", "--item-item-films must be at least 1"),
        ("--components", "0", "--components must be at least 1"),
        ("--seed", "-1", "--seed must be a whole number from 0 to 4294967295"),
        ("--seed", str(2**32), "--seed must be a whole number from 0 to 4294967295"),
        (
            "--user-min-percentile",
            "2",
            "--user-min-percentile and --user-max-percentile must satisfy 0 <= min <= max <= 1",
        ),
    ],
)
def test_train_refuses_a_bad_setting_naming_the_option_before_reading_any_data(
    cli_env, capsys, tmp_path: Path, option: str, value: str, message: str
) -> None:
    code, out, err = run(capsys, "--model-dir", tmp_path / "models", "train", option, value)
    assert (code, out) == (1, "")
    assert err == f"boxdrec: error: Invalid training option: {message}.\n"
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("make", ["nothing", "empty folder", "other csv"])
def test_evaluate_refuses_a_gold_folder_without_gold_files(
    cli_env, capsys, tmp_path: Path, make: str
) -> None:
    gold = tmp_path / "gold"
    if make != "nothing":
        gold.mkdir()
    if make == "other csv":
        (gold / "ratings.csv").write_text("Date,Name,Year,Letterboxd URI,Rating\n")
    code, out, err = run(capsys, "evaluate", "--gold", gold)
    assert (code, out) == (1, "")
    assert err == f"boxdrec: error: --gold {gold} is not a folder of gold_*.csv files.\n"


@pytest.mark.parametrize("command", ["evaluate", "train"])
@pytest.mark.parametrize("name", ["../x", "a/b", "..", ""])
def test_dataset_must_be_a_folder_name_not_a_path(cli_env, capsys, command: str, name: str):
    with pytest.raises(SystemExit) as stop:
        main([command, "--dataset", name])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith(
        f"argument --dataset: {name!r} is not a dataset name: give a folder name such as "
        "ml-latest-small, and the folder that holds it with --data-dir"
    )


def test_evaluate_checks_its_out_folder_before_any_work(cli_env, capsys, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = run(capsys, "evaluate", "--out", blocker / "report")
    assert (code, out) == (1, "")
    assert err.startswith(f"boxdrec: error: --out {blocker / 'report'}: cannot write there (")
    assert err.endswith("); name a folder you can write to.\n")
    assert "Reading" not in err  # refused before the ratings were read


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "--seed takes a whole number of 0 or more."),
        (["--seeds", "0,-1"], "--seeds takes distinct whole numbers of 0 or more, e.g. 0,1,2,3,4."),
        (
            ["--item-item-weight", "500"],
            "Invalid option: --item-item-weight must be a number from 0 to 100.",
        ),
        (["--components", "0"], "Invalid option: --components must be at least 1."),
        (["--seed", "1", "--seeds", "0,1"], "Give --seed or --seeds, not both."),
    ],
)
def test_evaluate_names_the_option_that_is_wrong(
    cli_env, capsys, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "evaluate", *argv)
    assert (code, out, err) == (1, "", f"boxdrec: error: {message}\n")

"""Matching measured on three real ratings exports whose movieIds were found independently.

Each gold file is a real export with ``gold_movieId`` found by following the Letterboxd page to
its IMDb id and joining that to ml-latest's links.csv (``status`` = ``linked``); ``no_link`` rows
had no such id (mostly films newer than mid-2023 and TV). Over all linked rows the matcher must
get at least 97% right and at most 0.5% wrong (a different, non-empty movieId); a miss (no id)
is not wrong. docs/matching.md records the numbers.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from recommender.export import ExportFilm
from recommender.matching import MatchReport, TitleMatcher
from recommender.movielens import Catalogue

log = logging.getLogger(__name__)

pytestmark = pytest.mark.movielens

GOLD_FILES = ("gold_a.csv", "gold_b.csv", "gold_c.csv")
MIN_CORRECT = 0.97
MAX_WRONG = 0.005


@dataclass
class Score:
    linked: int = 0
    correct: int = 0
    wrong: int = 0
    missed: int = 0
    no_link: int = 0
    no_link_matched: int = 0

    def add(self, other: Score) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _read_gold(path: Path) -> tuple[list[ExportFilm], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    films = [
        ExportFilm(
            name=row["Name"],
            year=int(row["Year"]) if row["Year"].strip() else None,
            uri=row["Letterboxd URI"],
            rating=float(row["Rating"]) if row["Rating"].strip() else None,
        )
        for row in rows
    ]
    return films, rows


def _score(report: MatchReport, rows: list[dict[str, str]], label: str) -> Score:
    score = Score()
    for matched, row in zip(report.films, rows, strict=True):
        if row["status"] != "linked":
            score.no_link += 1
            if matched.movie_id is not None:
                score.no_link_matched += 1
                log.info("%s no_link %r (%s) -> %s: %s", label, row["Name"], row["Year"],
                         matched.movie_id, matched.note)  # fmt: skip
            continue
        score.linked += 1
        gold = int(row["gold_movieId"])
        if matched.movie_id == gold:
            score.correct += 1
        elif matched.movie_id is None:
            score.missed += 1
            log.info("%s missed %r (%s), gold %d: %s", label, row["Name"], row["Year"], gold,
                     matched.note)  # fmt: skip
        else:
            score.wrong += 1
            log.warning("%s WRONG %r (%s) -> %s, gold %d: %s", label, row["Name"], row["Year"],
                        matched.movie_id, gold, matched.note)  # fmt: skip
    return score


@pytest.fixture(scope="module")
def gold_scores(catalogue: Catalogue, letterboxd_dir: Path) -> dict[str, Score]:
    matcher = TitleMatcher(catalogue)
    scores: dict[str, Score] = {}
    for name in GOLD_FILES:
        films, rows = _read_gold(letterboxd_dir / "gold" / name)
        assert films, f"{name} is empty"
        report = matcher.match(films)  # each file is one person's export
        scores[name] = _score(report, rows, name)
        log.info("%s: %s; %s", name, scores[name], report.summary_line())
    return scores


def test_gold_sets_overall(gold_scores: dict[str, Score]) -> None:
    total = Score()
    for score in gold_scores.values():
        total.add(score)
    assert total.linked > 500
    correct, wrong = total.correct / total.linked, total.wrong / total.linked
    log.info("overall: %s (correct %.2f%%, wrong %.2f%%)", total, 100 * correct, 100 * wrong)
    assert correct >= MIN_CORRECT, f"only {correct:.2%} right: {total}"
    assert wrong <= MAX_WRONG, f"{wrong:.2%} wrong: {total}"


@pytest.mark.parametrize("name", GOLD_FILES)
def test_gold_set_each_file(gold_scores: dict[str, Score], name: str) -> None:
    score = gold_scores[name]
    assert score.correct + score.wrong + score.missed == score.linked
    # No file may hide a weakness behind the others.
    assert score.correct / score.linked >= 0.95, score
    assert score.wrong / score.linked <= 0.01, score

"""The ``boxdrec`` command: recommend, match, train, evaluate, and fetch MovieLens data.

Every failure a user can cause ends in one line on stderr and exit status 1; ``-v`` adds logs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from recommender import config
from recommender.errors import BoxdrecError
from recommender.movielens import DEFAULT_DATASET, KNOWN_DATASETS, dataset_dirs

log = logging.getLogger("boxdrec")

MAX_N = 500  # past a few hundred the list is noise, not recommendations


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The settings' own names in TrainConfig's errors, as the options a user typed.
_FLAGS = {
    "user percentiles": "--user-min-percentile and --user-max-percentile",
    "n_components": "--components",
    "max_iter": "--max-iter",
    "min_ratings_per_film": "--min-ratings-per-film",
    "max_users_per_film": "--max-users-per-film",
    "tol": "--tol",
    "random_state": "--seed",
    "item-item weight": "--item-item-weight",
    "item-item lambda": "--item-item-lambda",
    "item-item max_films": "--item-item-films",
}


def _as_flags(message: str) -> str:
    for name, flag in _FLAGS.items():
        if message.startswith(f"{name} "):
            return flag + message[len(name) :]
    return message


def _dataset_name(value: str) -> str:
    """A dataset is a folder inside the data folder, named, never a path out of it."""
    if value in ("", ".", "..") or Path(value).name != value or "\\" in value:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a dataset name: give a folder name such as ml-latest-small, "
            "and the folder that holds it with --data-dir"
        )
    return value


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BoxdrecError(
            f"--out {folder}: cannot write there ({reason}); name a folder you can write to."
        ) from None


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    return (args.data_dir or config.data_dir(), args.model_dir or config.model_dir())


def _service(args: argparse.Namespace):  # -> RecommenderService
    from recommender.pipeline import load_service

    data_root, model_root = _paths(args)
    # Read first: a bad BOXDREC_MAX_* value is reported before minutes of download or training.
    limits = config.ImportLimits.from_env()
    return load_service(data_root, model_root, args.model, say=_say, limits=limits)


def cmd_recommend(args: argparse.Namespace) -> int:
    service = _service(args)
    export = service.read_export_file(args.export)
    result = service.recommend(export, n=args.n, exclude_watchlist=args.exclude_watchlist)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"Your top {len(result.items)} from {Path(args.export).name} (model {result.model_name})")
    print(result.summary)
    print()
    for item in result.items:
        year = f" ({item.year})" if item.year else ""
        stars = f"  predicted {item.predicted_stars:.1f}★" if item.predicted_stars else ""
        print(f"{item.rank:>3}. {item.title}{year}{stars}")
        print(f"     {item.reason}")
        if item.letterboxd_url:
            print(f"     {item.letterboxd_url}")
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    service = _service(args)
    report = service.match(service.read_export_file(args.export))
    if args.json:
        for record in report.to_records():
            print(json.dumps(record, ensure_ascii=False))
        return 0
    print(report.summary_line())
    sections = (
        ("Ambiguous (chosen by evidence, check these)", report.ambiguous),
        ("Duplicates (two rows, one MovieLens film: not used)", report.duplicate),
        ("Not in MovieLens", report.not_in_movielens),
        ("In MovieLens but not in the model", report.not_in_model),
    )
    for title, rows in sections:
        if not rows:
            continue
        print(f"\n{title} ({len(rows)}):")
        for row in rows:
            year = row.film.year if row.film.year is not None else "no year"
            target = f" -> {row.movie_id} {service.title(row.movie_id)}" if row.movie_id else ""
            note = f"  [{row.note}]" if row.note else ""
            print(f"  {row.film.name} ({year}){target}{note}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from recommender.download import ensure_dataset
    from recommender.model_store import check_model_name
    from recommender.pipeline import train_and_save
    from recommender.training import TrainConfig

    data_root, model_root = _paths(args)
    # Options left out keep TrainConfig's defaults (chosen in docs/evaluation.md).
    given = {
        "n_components": args.components,
        "max_iter": args.max_iter,
        "tol": args.tol,
        "user_min_percentile": args.user_min_percentile,
        "user_max_percentile": args.user_max_percentile,
        "max_users_per_film": args.max_users_per_film,
        "min_ratings_per_film": args.min_ratings_per_film,
        "scaling": args.scaling,
        "random_state": args.seed,
        "item_item_weight": args.item_item_weight,
        "item_item_lambda": args.item_item_lambda,
        "item_item_films": args.item_item_films,
    }
    cfg = TrainConfig(dataset=args.dataset, **{k: v for k, v in given.items() if v is not None})
    try:
        cfg.validate()
    except ValueError as exc:
        raise BoxdrecError(f"Invalid training option: {_as_flags(str(exc))}.") from None
    if args.download and not (data_root / cfg.dataset / "ratings.csv").is_file():
        _say(f"Downloading {cfg.dataset} into {data_root}…")
        ensure_dataset(cfg.dataset, data_root)
    name = check_model_name(cfg.dataset if args.name is None else args.name)
    _say(f"Training {name} on {data_root / cfg.dataset} (k={cfg.n_components})…")
    path = train_and_save(cfg, data_root, model_root, name, say=_say)
    meta = json.loads((path / "metadata.json").read_text())
    _say(
        f"Saved {path}: {meta['matrix']['users']} users x {meta['matrix']['films']} films, "
        f"{meta['n_iter']} iterations in {meta['training_seconds']:.1f} s, "
        f"loss {meta['final_loss']:.4f}"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recommender.evaluation.report import format_report, write_outputs
    from recommender.evaluation.run import (
        EASE_LAMBDAS,
        MODELS,
        EvalSettings,
        run_evaluation,
        sweep_settings,
    )
    from recommender.evaluation.seeds import across_seeds
    from recommender.movielens import read_ratings
    from recommender.training import TrainConfig

    data_root, _ = _paths(args)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = sorted(set(models) - set(MODELS))
    if unknown or not models:
        raise BoxdrecError(f"--models takes a comma-separated list of {', '.join(MODELS)}.")
    if args.gold is not None and not (args.gold.is_dir() and any(args.gold.glob("gold_*.csv"))):
        raise BoxdrecError(f"--gold {args.gold} is not a folder of gold_*.csv files.")
    if args.max_users < 1 or args.repeats < 1:
        raise BoxdrecError("--max-users and --repeats must be at least 1.")
    if args.seed is not None and args.seeds is not None:
        raise BoxdrecError("Give --seed or --seeds, not both.")
    seed = 0 if args.seed is None else args.seed
    if args.seeds is None and seed < 0:
        raise BoxdrecError("--seed takes a whole number of 0 or more.")
    try:
        seeds = [seed] if args.seeds is None else [int(v) for v in args.seeds.split(",")]
    except ValueError:
        raise BoxdrecError("--seeds takes comma-separated whole numbers, e.g. 0,1,2,3,4.") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise BoxdrecError("--seeds takes distinct whole numbers of 0 or more, e.g. 0,1,2,3,4.")
    try:
        lambdas = (
            EASE_LAMBDAS
            if args.ease_lambdas is None
            else tuple(float(v) for v in args.ease_lambdas.split(","))
        )
    except ValueError:
        raise BoxdrecError("--ease-lambdas takes comma-separated numbers.") from None
    if not lambdas or not all(math.isfinite(x) and x > 0 for x in lambdas):
        raise BoxdrecError("--ease-lambdas takes comma-separated numbers above 0.")
    ours = TrainConfig(dataset=args.dataset)
    if args.components is not None:
        ours = replace(ours, n_components=args.components)
    if args.item_item_weight is not None:
        ours = replace(ours, item_item_weight=args.item_item_weight)
    try:
        ours.validate()
    except ValueError as exc:
        raise BoxdrecError(f"Invalid option: {_as_flags(str(exc))}.") from None
    out = args.out if args.out is not None else (Path("evaluation") if args.sweep else None)
    if out is not None:
        _check_writable(out)  # before minutes of work, not after
    settings = EvalSettings(
        dataset=args.dataset,
        seed=seeds[0],
        models=models,
        max_users=args.max_users,
        ease_lambdas=lambdas,
        ours=ours,
        gold_dir=args.gold,
    )
    _say(f"Reading {data_root / args.dataset}/ratings.csv…")
    ratings = read_ratings(data_root / args.dataset)
    evaluation = run_evaluation(ratings, settings, say=_say)
    report = evaluation.report
    extras_start = time.perf_counter()
    if len(seeds) > 1:
        report["across_seeds"] = across_seeds(ratings, settings, seeds, _say, first=report)
    if args.sweep:
        report["sweep"] = sweep_settings(ratings, settings, repeats=args.repeats, say=_say)
    if len(seeds) > 1 or args.sweep:  # "Took" counts the extra seeds and the sweep too
        report["seconds"] = round(report["seconds"] + time.perf_counter() - extras_start, 1)
    if out is not None:
        for path in write_outputs(report, out):
            _say(f"Wrote {path}")
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return 0


def cmd_data_download(args: argparse.Namespace) -> int:
    from recommender.download import download_dataset

    data_root, _ = _paths(args)

    def progress(done: int, total: int | None) -> None:
        if total:
            print(f"\r  {done / 1e6:7.1f} of {total / 1e6:.1f} MB", end="", file=sys.stderr)

    path = download_dataset(args.name, data_root, progress=progress)
    _say(f"\n{args.name} is ready in {path}")
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    data_root, model_root = _paths(args)
    print(f"data folder:  {data_root}")
    for d in dataset_dirs(data_root):
        has = "ratings + catalogue" if (d / "ratings.csv").is_file() else "catalogue only"
        print(f"  {d.name:<18} {has}")
    print(f"model folder: {model_root}")
    if model_root.is_dir():
        for m in sorted(p for p in model_root.iterdir() if (p / "metadata.json").is_file()):
            print(f"  {m.name}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boxdrec", description="Film recommendations from your Letterboxd export."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    parser.add_argument("--data-dir", type=Path, help="MovieLens folder (BOXDREC_DATA_DIR)")
    parser.add_argument("--model-dir", type=Path, help="model folder (BOXDREC_MODEL_DIR)")
    parser.add_argument("--model", help="model name (BOXDREC_MODEL; default ml-latest-small)")
    sub = parser.add_subparsers(dest="command", required=True)

    rec = sub.add_parser("recommend", help="films you have not seen and will probably love")
    rec.add_argument("export", help="ratings.csv or the whole Letterboxd export .zip")
    rec.add_argument("-n", type=int, default=20, help="how many films (default 20)")
    rec.add_argument("--json", action="store_true", help="print JSON")
    rec.add_argument("--exclude-watchlist", action="store_true", help="skip watchlist films")
    rec.set_defaults(func=cmd_recommend)

    match = sub.add_parser("match", help="how each film of the export maps to MovieLens")
    match.add_argument("export", help="ratings.csv or the whole Letterboxd export .zip")
    match.add_argument("--json", action="store_true", help="one JSON record per row")
    match.set_defaults(func=cmd_match)

    tr = sub.add_parser("train", help="train an NMF model on a MovieLens dataset")
    tr.add_argument(
        "--dataset", type=_dataset_name, default=DEFAULT_DATASET, help="dataset folder name"
    )
    tr.add_argument("--name", help="model name (default: the dataset name)")
    # No defaults here: what is left out comes from TrainConfig (importing it loads sklearn).
    tr.add_argument("--components", type=int, help="NMF components (k; default 128)")
    tr.add_argument("--max-iter", type=int, help="default 300")
    tr.add_argument("--tol", type=float, help="stop when loss improves less (default 1e-4)")
    tr.add_argument("--user-min-percentile", type=float, help="default 0 (every user)")
    tr.add_argument("--user-max-percentile", type=float, help="default 1 (every user)")
    tr.add_argument(
        "--max-users-per-film",
        type=int,
        help="the notebook's cap on raters per film (default 0: none)",
    )
    tr.add_argument("--min-ratings-per-film", type=int, help="default 1")
    tr.add_argument(
        "--scaling",
        choices=("zscore", "liked", "binary", "liked-binary"),
        help="how ratings enter the matrix (default zscore)",
    )
    tr.add_argument("--seed", type=int, help="default 0")
    tr.add_argument(
        "--item-item-weight",
        type=float,
        help="weight of the item-item (EASE) half blended with NMF, 0 to 100 (default 2; 0: "
        "NMF alone)",
    )
    tr.add_argument("--item-item-lambda", type=float, help="EASE's λ (default 100)")
    tr.add_argument(
        "--item-item-films",
        type=int,
        help="the most-rated films the item-item half models (default 20000; its fit needs "
        "about 4 bytes × films² of memory plus the ratings: 2.7 GB at 20000 on ml-32m)",
    )
    tr.add_argument("--download", action="store_true", help="download the dataset if missing")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser(
        "evaluate", help="score the model and the baselines on held-out MovieLens users"
    )
    ev.add_argument(
        "--dataset", type=_dataset_name, default=DEFAULT_DATASET, help="dataset folder name"
    )
    ev.add_argument("--json", action="store_true", help="print the whole report as JSON")
    ev.add_argument("--sweep", action="store_true", help="also sweep the training settings")
    ev.add_argument(
        "--out", type=Path, help="write report.json (and the sweep's table and plot) here"
    )
    ev.add_argument("--seed", type=int, help="which users are held out (default 0)")
    ev.add_argument(
        "--seeds",
        help="several held-out draws, e.g. 0,1,2,3,4: each metric's mean and standard error "
        "across them, and each target ratio per seed (the first seed's full report too)",
    )
    ev.add_argument(
        "--models",
        default="popularity,ease,notebook,ours",
        help="comma-separated subset of popularity,ease,notebook,ours",
    )
    ev.add_argument(
        "--max-users", type=int, default=10_000, help="held-out users scored (a sample above)"
    )
    ev.add_argument("--repeats", type=int, default=2, help="validation draws in the sweep")
    ev.add_argument(
        "--components", type=int, help="our model's components (default: the trained default)"
    )
    ev.add_argument(
        "--item-item-weight",
        type=float,
        help="our model's item-item weight, 0 to 100 (default: the trained default; 0: NMF alone)",
    )
    ev.add_argument(
        "--ease-lambdas",
        help="EASE's λ grid, chosen on validation users (default 30,100,300,1000,3000); one "
        "value skips the tuning",
    )
    ev.add_argument("--gold", type=Path, help="folder of gold_*.csv exports: hit rates too")
    ev.set_defaults(func=cmd_evaluate)

    data = sub.add_parser("data", help="MovieLens data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    dl = data_sub.add_parser("download", help="download and verify a MovieLens dataset")
    dl.add_argument("name", choices=KNOWN_DATASETS)
    dl.set_defaults(func=cmd_data_download)
    ls = data_sub.add_parser("list", help="where data and models live, and what is there")
    ls.set_defaults(func=cmd_data_list)
    return parser


def load_dotenv_settings(path: Path = Path(".env")) -> None:
    """Settings from ``.env`` (as the bot reads them); the environment wins."""
    if not path.is_file():
        return
    from dotenv import dotenv_values

    for key, value in dotenv_values(path).items():
        if key.startswith("BOXDREC_") and value and not os.environ.get(key):
            os.environ[key] = value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load_dotenv_settings()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if not 1 <= getattr(args, "n", 1) <= MAX_N:
        _say(f"boxdrec: error: -n must be between 1 and {MAX_N}.")
        return 1
    try:
        return int(args.func(args))
    except BoxdrecError as exc:
        _say(f"boxdrec: error: {exc}")
        return 1
    except BrokenPipeError:
        # "boxdrec match x.csv | head": the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        _say("boxdrec: interrupted")
        return 130
    except (ValueError, OSError) as exc:
        # Settings from the environment (BOXDREC_*) and file-system trouble land here.
        _say(f"boxdrec: error: {exc}")
        return 1
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("unexpected error %s", error_id)
        _say(f"boxdrec: unexpected error (id {error_id}); please report it with the log above.")
        return 2


if __name__ == "__main__":
    sys.exit(main())

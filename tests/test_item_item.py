"""The item-item half (item_item.py) and its blend with NMF (ranking.user_scores): EASE's closed
form, what is kept and stored, refusing arrays that do not fit, a disliked film never pulling
its neighbours up, and reasons that add up to the blended score."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.errors import ModelError
from recommender.foldin import FoldIn
from recommender.item_item import (
    ARRAYS,
    INDICES,
    INDPTR,
    META,
    WEIGHTS,
    ItemItem,
    ItemItemConfig,
    _mirror,
    ease_weights,
    fit_item_item,
    gram,
    modelled_films,
    sparsify,
    stored_item_item,
)
from recommender.ranking import UserVector, explain, predict_one, rank, user_scores
from recommender.scaling import fit_user_scale


def binary_ratings(x: np.ndarray, first_id: int = 100) -> pd.DataFrame:
    users, films = np.nonzero(x)
    return pd.DataFrame({"userId": users, "movieId": films + first_id, "rating": 4.0})


def dense_ease(x: np.ndarray, lam: float) -> np.ndarray:
    """EASE written out with a general inverse, for comparison."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def test_ease_matches_its_closed_form():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 8)) < 0.4).astype(np.float64)
    items = np.arange(8) + 100
    g = gram(binary_ratings(x), items)
    np.testing.assert_allclose(g, x.T @ x)
    np.testing.assert_allclose(ease_weights(g, 2.0), dense_ease(x, 2.0), rtol=1e-4, atol=1e-5)
    # overwrite=False leaves the Gram matrix as it was
    np.testing.assert_allclose(g, x.T @ x)


def test_gram_and_mirror_work_a_block_at_a_time():
    rng = np.random.default_rng(1)
    x = (rng.random((20, 7)) < 0.5).astype(np.float64)
    np.testing.assert_allclose(gram(binary_ratings(x, 0), np.arange(7), block=3), x.T @ x)
    full = rng.random((7, 7))
    full = full + full.T
    for lower in (True, False):
        half = np.tril(full) if lower else np.triu(full)
        _mirror(half, lower, block=3)
        np.testing.assert_array_equal(half, full)


def test_a_film_rated_twice_by_one_user_counts_once():
    ratings = pd.DataFrame({"userId": [1, 1, 1, 2], "movieId": [10, 10, 20, 20], "rating": 3.0})
    np.testing.assert_array_equal(gram(ratings, np.array([10, 20])), [[1, 1], [1, 2]])


def test_modelled_films_are_the_most_rated_above_the_minimum():
    ids = np.array([1, 2, 3, 4, 5])
    counts = np.array([9, 2, 9, 7, 4])
    # Ties by id; film 2 (2 ratings) is under the minimum.
    assert modelled_films(ids, counts, max_films=3, min_ratings=3).tolist() == [0, 2, 3]
    assert modelled_films(ids, counts, max_films=10, min_ratings=3).tolist() == [0, 2, 3, 4]


def test_sparsify_keeps_each_rows_largest_weights_by_size():
    w = np.array(
        [[0.0, 0.5, -0.9, 0.1], [0.2, 0.0, 0.3, -0.05], [0.4, -0.1, 0.0, 0.0], [1, 2, 3, 0.0]],
        dtype=np.float32,
    )
    kept = sparsify(w, keep=2).toarray()
    want = np.array([[0, 0.5, -0.9, 0], [0.2, 0, 0.3, 0], [0.4, -0.1, 0, 0], [0, 2, 3, 0]])
    np.testing.assert_allclose(kept, want)
    np.testing.assert_array_equal(sparsify(w, keep=10).toarray(), w)  # keep > films: all of it
    assert sparsify(w, keep=10).nnz == 11  # and no stored zeros


def test_fit_maps_eases_films_onto_the_models_columns():
    rng = np.random.default_rng(2)
    x = (rng.random((40, 6)) < 0.5).astype(np.float64)
    x[:, 4] = 0.0
    x[:2, 4] = 1.0  # film 104: two ratings, under min_ratings
    ratings = binary_ratings(x)
    # The model knows one more film (99) that nobody in these ratings rated.
    model_ids = np.array([99, 100, 101, 102, 103, 104, 105])
    cfg = ItemItemConfig(lam=3.0, min_ratings=3, keep=100)
    arrays, meta = fit_item_item(ratings, model_ids, cfg)
    assert set(arrays) == set(ARRAYS)
    got = ItemItem(arrays[INDPTR], arrays[INDICES], arrays[WEIGHTS], 1.0).matrix.toarray()
    modelled = [0, 1, 2, 3, 5]  # films 100-103 and 105 (columns of x)
    want = np.zeros((7, 7))
    want[np.ix_([1, 2, 3, 4, 6], [1, 2, 3, 4, 6])] = dense_ease(x[:, modelled], 3.0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert meta["films"] == 5 and meta["weights_stored"] == np.count_nonzero(want)
    assert meta["weight"] == cfg.weight and meta["lambda"] == 3.0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("weight", -1.0, "weight must be a number from 0 to 100"),
        ("weight", float("nan"), "weight must be a number from 0 to 100"),
        ("weight", 100.5, "weight must be a number from 0 to 100"),
        ("lam", 0.0, "lambda must be a number above 0"),
        ("keep", 0, "keep must be at least 1"),
        ("max_films", 0, "max_films must be at least 1"),
    ],
)
def test_config_errors_say_what_is_wrong(field: str, value: float, message: str):
    with pytest.raises(ValueError, match=message):
        ItemItemConfig(**{field: value}).validate()


@pytest.fixture
def stored() -> tuple[dict[str, np.ndarray], dict]:
    rng = np.random.default_rng(3)
    x = (rng.random((30, 5)) < 0.5).astype(np.float64)
    arrays, meta = fit_item_item(binary_ratings(x), np.arange(5) + 100, ItemItemConfig(lam=1.0))
    return arrays, {META: meta}


def test_stored_half_loads_with_its_weight(stored):
    arrays, metadata = stored
    pairs = stored_item_item(arrays, metadata, 5)
    assert pairs is not None and pairs.weight == ItemItemConfig().weight and pairs.n_films == 5


def test_a_model_without_the_half_ranks_with_nmf_alone(stored):
    assert stored_item_item({}, {}, 5) is None
    assert stored_item_item({}, stored[1], 5) is None  # weight 0 at training stores no arrays


@pytest.mark.parametrize(
    ("settings", "shown"),
    [
        ({"weight": 0.0}, "0.0"),
        ({"weight": -5}, "-5"),
        ({"weight": "abc"}, "'abc'"),
        ({"weight": None}, "None"),
        ({"weight": float("nan")}, "nan"),
        ({"weight": 1e308}, "1e+308"),
        ({"weight": True}, "True"),
        ({}, "None"),
        ("two", "None"),
    ],
)
def test_arrays_without_a_usable_weight_are_a_damaged_model(stored, settings, shown):
    # The checksums cover the arrays, not metadata.json: a hand-edited weight must not be
    # silently ignored (NMF alone) nor used (1e308 overflows every score).
    arrays, _ = stored
    with pytest.raises(ModelError) as err:
        stored_item_item(arrays, {META: settings}, 5)
    assert str(err.value) == (
        f"the model's metadata.json gives its item-item half the weight {shown}, not a number "
        "above 0 and at most 100; train the model again with 'boxdrec train'."
    )
    with pytest.raises(ModelError, match="weight None"):
        stored_item_item(arrays, {}, 5)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: {**a, INDPTR: a[INDPTR][:-1]},  # not one row per film
        lambda a: {**a, INDICES: np.full_like(a[INDICES], 5)},  # a column past the last film
        lambda a: {**a, INDICES: np.full_like(a[INDICES], -1)},
        lambda a: {**a, WEIGHTS: a[WEIGHTS][:-1]},
        lambda a: {**a, INDPTR: a[INDPTR][::-1].copy()},  # rows that end before they start
        lambda a: {**a, WEIGHTS: a[WEIGHTS].astype(np.int32)},
    ],
)
def test_arrays_that_do_not_fit_the_model_are_refused(stored, change, caplog):
    arrays, metadata = stored
    with caplog.at_level(logging.WARNING, logger="recommender.item_item"):
        assert stored_item_item(change(arrays), metadata, 5) is None
    assert "do not fit its films" in caplog.text


# -- the blend -------------------------------------------------------------------------------


@pytest.fixture
def blended() -> FoldIn:
    """A tiny model with both halves: 3 components over 12 films, EASE weights over 10."""
    rng = np.random.default_rng(4)
    x = (rng.random((80, 12)) < 0.35).astype(np.float64)
    components = rng.uniform(0.0, 1.0, (3, 12)).astype(np.float32)
    arrays, _ = fit_item_item(binary_ratings(x), np.arange(12) + 100, ItemItemConfig(lam=5.0))
    pairs = ItemItem(arrays[INDPTR], arrays[INDICES], arrays[WEIGHTS], 2.0)
    return FoldIn(components, np.zeros(12), pairs)


def make_user(stars: list[float], positions: list[int]) -> UserVector:
    s = np.array(stars)
    scale = fit_user_scale(s)
    liked = s >= scale.mean
    return UserVector(
        positions=np.array(positions),
        stars=s,
        values=np.where(liked, scale.to_unit(s), 0.0),
        scale=scale,
    )


def test_blended_scores_are_each_half_over_its_spread(blended: FoldIn):
    user = make_user([5.0, 4.5, 1.0, 2.0], [0, 1, 2, 3])
    w = blended.transform(user.positions, user.values)
    scores, blend = user_scores(blended, user, w)
    nmf = blended.scores(w).astype(np.float64)
    pairs = blended.item_item.matrix.toarray()[[0, 1]].sum(axis=0)  # the liked films only
    assert blend is not None
    assert blend.nmf_scale == pytest.approx(1 / nmf.std(), rel=1e-5)
    assert blend.item_scale == pytest.approx(2.0 / pairs.std(), rel=1e-5)
    np.testing.assert_allclose(scores, nmf / nmf.std() + 2.0 * pairs / pairs.std(), rtol=1e-5)


def test_a_disliked_film_never_enters_the_item_item_half(blended: FoldIn):
    user = make_user([5.0, 4.5, 4.5, 0.5], [0, 1, 5, 7])
    assert user.values[-1] == 0.0
    w = blended.transform(user.positions, user.values)
    scores, blend = user_scores(blended, user, w)
    assert blend is not None
    item_half = (scores - blend.nmf_scale * blended.scores(w)) / blend.item_scale
    weights = blended.item_item.matrix.toarray()
    np.testing.assert_allclose(item_half, weights[[0, 1, 5]].sum(axis=0), rtol=1e-4, atol=1e-5)
    # Had it entered, film 7's own row would have moved the films EASE links to it.
    assert np.abs(weights[7]).max() > 0.01


def test_a_model_without_the_half_scores_with_nmf_alone(blended: FoldIn):
    plain = FoldIn(blended.components, np.zeros(12))
    user = make_user([5.0, 3.0], [0, 1])
    w = plain.transform(user.positions, user.values)
    scores, blend = user_scores(plain, user, w)
    assert blend is None
    np.testing.assert_array_equal(scores, plain.scores(w))


def test_a_half_for_another_number_of_films_is_refused(blended: FoldIn):
    with pytest.raises(ValueError, match="item_item has 12 films, not 11"):
        FoldIn(blended.components[:, :11], None, blended.item_item)


def test_reasons_add_up_to_the_blended_score(blended: FoldIn):
    user = make_user([5.0, 4.5, 4.0, 1.0, 2.0], [0, 1, 2, 3, 4])
    exclude = np.zeros(12, dtype=bool)
    exclude[user.positions] = True
    ranked = rank(blended, user, exclude, 7, n_drivers=10)
    w = blended.transform(user.positions, user.values)
    scores, blend = user_scores(blended, user, w)
    assert blend is not None
    assert [r.position for r in ranked] == list(np.argsort(-scores[~exclude], kind="stable") + 5)
    # Each film's term written out: K = H_Aᵀ (H_A H_Aᵀ)⁻¹ H_A over w's active components.
    h = blended.components.astype(np.float64)[np.flatnonzero(w > 0)]
    weights = blended.item_item.matrix.toarray()
    liked = [0, 1, 2]  # the 1★ and 2★ films have value 0 and are never a reason
    for r in ranked:
        kernel = np.linalg.solve(h @ h.T, h[:, r.position]) @ h[:, user.positions]
        terms = (
            blend.nmf_scale * kernel[liked] * user.values[liked]
            + blend.item_scale * weights[user.positions[liked], r.position]
        )
        assert r.score == pytest.approx(float(scores[r.position]), rel=1e-5)
        assert terms.sum() == pytest.approx(r.score, rel=1e-4, abs=1e-5)
        want = [
            (j, t) for j, t in sorted(zip(liked, terms, strict=True), key=lambda p: -p[1]) if t > 0
        ]
        assert [j for j, _ in r.drivers] == [j for j, _ in want]
        assert [v for _, v in r.drivers] == pytest.approx([t for _, t in want], rel=1e-4)
        one = predict_one(blended, user, r.position, n_drivers=10)[0]
        assert one.score == pytest.approx(r.score, rel=1e-5)
        assert dict(one.drivers) == pytest.approx(dict(r.drivers), rel=1e-4, abs=1e-6)


def test_explaining_uses_the_same_blend_as_the_ranking(blended: FoldIn):
    from recommender.ranking import candidates

    user = make_user([5.0, 4.0, 1.5], [3, 6, 9])
    exclude = np.zeros(12, dtype=bool)
    exclude[user.positions] = True
    found = candidates(blended, user, exclude, 4)
    assert found.blend is not None
    explained = explain(blended, user, found, n_drivers=2)
    assert [r.position for r in explained] == found.positions.tolist()


def test_the_session_model_stores_and_loads_its_item_item_half(small_model_dir: Path):
    from recommender.model_store import load_model

    model = load_model(small_model_dir / "ml-latest-small")
    settings = model.metadata[META]
    assert settings["weight"] == ItemItemConfig().weight and settings["films"] > 1000
    pairs = stored_item_item(model.extras, model.metadata, len(model.item_ids))
    assert pairs is not None
    assert pairs.matrix.nnz == settings["weights_stored"]
    assert np.diff(pairs.matrix.indptr).max() <= ItemItemConfig().keep
    # Film 1 (Toy Story) says most about Toy Story 2 (3114) or another Pixar film.
    row = pairs.matrix[int(model.positions(np.array([1]))[0])].toarray().ravel()
    best = model.item_ids[np.argsort(-row)[:5]]
    assert 3114 in best


def test_an_old_model_without_the_half_is_served_with_a_warning(caplog):
    from recommender.model_store import NMFModel
    from recommender.service import _item_item

    old = NMFModel(
        path=Path("old"),
        components=np.ones((2, 3), dtype=np.float32),
        item_ids=np.arange(3),
        item_counts=np.ones(3),
        metadata={"name": "old"},
    )
    with caplog.at_level(logging.WARNING, logger="recommender.service"):
        assert _item_item(old) is None
    assert "model old has no item-item half" in caplog.text and "boxdrec train" in caplog.text
    caplog.clear()
    # Trained with weight 0 on purpose: NMF alone, and nothing to warn about.
    off = NMFModel(**{**old.__dict__, "metadata": {"name": "off", META: {"weight": 0.0}}})
    with caplog.at_level(logging.WARNING, logger="recommender.service"):
        assert _item_item(off) is None
    assert caplog.text == ""


def test_a_model_trained_with_weight_zero_is_nmf_alone_by_choice(
    movielens_dir: Path, tmp_path: Path, caplog
):
    # No arrays, and metadata that says so: served with NMF alone and no "retrain" warning.
    from dataclasses import replace as replace_config

    from recommender.model_store import load_model
    from recommender.pipeline import train_and_save
    from recommender.service import _item_item
    from recommender.training import TrainConfig

    cfg = replace_config(
        TrainConfig(dataset="ml-latest-small", n_components=4, max_iter=5), item_item_weight=0.0
    )
    path = train_and_save(cfg, movielens_dir, tmp_path, "alone")
    assert not list(path.glob("item_item_*"))
    model = load_model(path)
    assert model.metadata[META] == {"weight": 0.0}
    with caplog.at_level(logging.WARNING, logger="recommender.service"):
        assert _item_item(model) is None
    assert caplog.text == ""

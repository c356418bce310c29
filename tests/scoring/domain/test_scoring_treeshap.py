"""The numpy TreeSHAP (batch explainer) against LightGBM's own ``pred_contrib``."""

from __future__ import annotations

import math
import re

import lightgbm as lgb
import numpy as np
import pytest

from services.scoring.domain import explain as explain_module
from services.scoring.domain import treeshap
from services.scoring.domain.explain import explain_batch
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import Matrix, SegmentSpec
from services.scoring.domain.treeshap import UnsupportedModel, compile_booster, compile_dump, shap_values

TOLERANCE = 1e-9


def spec_applicants(spec: SegmentSpec, n: int, seed: int) -> Matrix:
    """Rows over the whole spec range (log-uniform for wide ones), every category, ~10% missing."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, len(spec.features)), dtype=np.float64)
    for j, f in enumerate(spec.features):
        if f.type == "categorical":
            x[:, j] = np.arange(n) % len(f.categories)  # every category, many times
        elif f.type == "boolean":
            x[:, j] = rng.integers(0, 2, n)
        else:
            lo, hi = float(f.min if f.min is not None else -10.0), float(f.max if f.max is not None else 1e4)
            if lo >= 0 and hi > 1000:
                x[:, j] = np.expm1(rng.uniform(0, math.log1p(hi), n))
            else:
                x[:, j] = rng.uniform(lo, hi, n)
            x[rng.random(n) < 0.05, j] = lo
            x[rng.random(n) < 0.05, j] = hi
        x[rng.random(n) < 0.1, j] = np.nan
    return x


def threshold_rows(booster: lgb.Booster, n_features: int, seed: int) -> Matrix:
    """For every numerical split: a row at the threshold, one just above and one just below."""
    rng = np.random.default_rng(seed)
    rows = []
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            stack += [node["left_child"], node["right_child"]]
            if node["decision_type"] != "<=":
                continue
            t = float(node["threshold"])
            for value in (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)):
                row = rng.uniform(0, 3, n_features).round()
                row[node["split_feature"]] = value
                rows.append(row)
    return np.array(rows)


def check(booster: lgb.Booster, x: Matrix) -> None:
    """Contributions (base included) within TOLERANCE of LightGBM's; base + Σ == raw margin."""
    compiled = compile_booster(booster)
    mine = shap_values(compiled, x)
    theirs = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
    assert mine.shape == theirs.shape
    assert np.abs(mine - theirs).max() <= TOLERANCE
    raw = np.asarray(booster.predict(x, raw_score=True, num_threads=1))
    assert np.abs(mine.sum(axis=1) - raw).max() <= TOLERANCE
    assert np.abs(mine[:, -1] - theirs[:, -1]).max() <= TOLERANCE  # LightGBM's base, up to rounding


def train(x: Matrix, y: np.ndarray, rounds: int = 20, **params: object) -> lgb.Booster:
    base = {
        "objective": "binary",
        "num_leaves": 15,
        "max_depth": 5,
        "learning_rate": 0.2,
        "min_data_in_leaf": 5,
        "num_threads": 1,
        "verbosity": -1,
        "seed": 1,
    }
    categorical = params.pop("categorical_feature", "auto")
    dataset = lgb.Dataset(x, y, categorical_feature=categorical, free_raw_data=False)  # type: ignore[arg-type]
    return lgb.train({**base, **params}, dataset, num_boost_round=rounds)


# ---------------------------------------------------------------- the session models


@pytest.mark.parametrize("which", ["farmer", "enterprise"])
def test_session_models_match_lightgbm_over_the_spec_range(
    which: str, farmer_model: TrainedModel, enterprise_model: TrainedModel
) -> None:
    model = farmer_model if which == "farmer" else enterprise_model
    check(model.booster, spec_applicants(model.spec, 3000, seed=3))


@pytest.mark.parametrize("which", ["farmer", "enterprise"])
def test_session_models_match_lightgbm_at_split_thresholds(
    which: str, farmer_model: TrainedModel, enterprise_model: TrainedModel
) -> None:
    model = farmer_model if which == "farmer" else enterprise_model
    check(model.booster, threshold_rows(model.booster, len(model.spec.features), seed=4))


def test_dump_model_thresholds_are_the_model_texts_exactly(farmer_model: TrainedModel) -> None:
    booster = farmer_model.booster
    text = booster.model_to_string()
    from_text = [
        [float(v) for v in line.split("=", 1)[1].split()]
        for line in text.splitlines()
        if line.startswith("threshold=")
    ]
    decision_types = [
        [int(v) for v in line.split("=", 1)[1].split()]
        for line in text.splitlines()
        if line.startswith("decision_type=")
    ]
    from_dump = []
    for tree in booster.dump_model()["tree_info"]:
        found: dict[int, float] = {}
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if node["decision_type"] == "<=":
                    found[node["split_index"]] = float(node["threshold"])
                stack += [node["left_child"], node["right_child"]]
        from_dump.append(found)
    assert len(from_text) == len(from_dump) > 0
    compared = 0
    for text_values, kinds, dump_values in zip(from_text, decision_types, from_dump, strict=True):
        for k, value in dump_values.items():
            assert kinds[k] & 1 == 0  # numerical
            assert value == text_values[k]  # the same double, bit for bit
            compared += 1
    assert compared > 50


def test_explain_batch_treeshap_points_match_lightgbm(farmer_model: TrainedModel) -> None:
    x = spec_applicants(farmer_model.spec, 2000, seed=5)
    fast = explain_batch(farmer_model, x, engine="treeshap")
    slow = explain_batch(farmer_model, x)
    assert np.abs(fast.points - slow.points).max() <= TOLERANCE
    assert np.abs(fast.score - slow.score).max() <= TOLERANCE
    assert np.abs(fast.base_points - slow.base_points).max() <= TOLERANCE
    assert np.abs(fast.base_points + fast.points.sum(axis=1) - fast.score).max() <= TOLERANCE
    assert farmer_model.booster in explain_module._COMPILED  # compiled once, kept for the next batch


def test_rows_do_not_depend_on_chunks_or_threads(enterprise_model: TrainedModel) -> None:
    compiled = compile_booster(enterprise_model.booster)
    x = spec_applicants(enterprise_model.spec, 10_000, seed=6)
    whole = shap_values(compiled, x, num_threads=1)
    assert np.array_equal(shap_values(compiled, x, num_threads=2), whole)
    parts = np.vstack([shap_values(compiled, x[a : a + 777]) for a in range(0, len(x), 777)])
    assert np.array_equal(parts, whole)


def test_trees_cut_into_subtrees_when_states_are_many(
    farmer_model: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = compile_booster(farmer_model.booster)
    monkeypatch.setattr(treeshap, "MAX_STATES", 16)
    cut = compile_booster(farmer_model.booster)
    assert len(cut.groups) > len(whole.groups)
    assert max(g.tables.shape[1] for g in cut.groups) <= 16
    x = spec_applicants(farmer_model.spec, 1000, seed=7)
    theirs = farmer_model.booster.predict(x, pred_contrib=True, num_threads=1)
    assert np.abs(shap_values(cut, x) - theirs).max() <= TOLERANCE


# ---------------------------------------------------------------- tiny models with every kind of split


def _data(n: int, seed: int) -> tuple[Matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(0, 1, n),
            rng.integers(0, 8, n).astype(float),  # a categorical
            rng.choice([0.0, 0.0, 1.5, -2.0, 3.0], n),  # many zeros
            rng.uniform(-5, 5, n),
        ]
    )
    z = x[:, 0] + np.isin(x[:, 1], [0, 2, 5]) * 1.5 - (x[:, 2] == 0) * 1.2 + 0.3 * x[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    return x, y


def _probe(n: int, seed: int) -> Matrix:
    """Rows with NaN, zero, tiny, negative and unseen categories in every column."""
    x, _ = _data(n, seed)
    rng = np.random.default_rng(seed + 1)
    specials = np.array([np.nan, 0.0, -0.0, 1e-40, -1e-36, -1.0, -0.5, 2.7, 9.0, 100.0, 1e12])
    for j in range(x.shape[1]):
        mask = rng.random(n) < 0.3
        x[mask, j] = rng.choice(specials, int(mask.sum()))
    return x


def test_categorical_splits() -> None:
    x, y = _data(3000, 1)
    booster = train(x, y, categorical_feature=[1], max_cat_to_onehot=2, cat_smooth=1.0, min_data_per_group=5)
    kinds = re.findall(r"decision_type=([^\n]*)", booster.model_to_string())
    assert any(int(v) & 1 for line in kinds for v in line.split())  # categorical splits present
    assert any("||" in str(n.get("threshold")) for n in _nodes(booster))  # multi-category sets
    check(booster, _probe(3000, 2))


def test_categorical_splits_with_nan_in_training() -> None:
    x, y = _data(3000, 3)
    x[np.random.default_rng(3).random(len(x)) < 0.1, 1] = np.nan
    booster = train(x, y, categorical_feature=[1], max_cat_to_onehot=2, min_data_per_group=5)
    check(booster, _probe(3000, 4))


def test_missing_value_splits_nan() -> None:
    x, y = _data(3000, 5)
    rng = np.random.default_rng(5)
    for j in (0, 2, 3):
        x[rng.random(len(x)) < 0.15, j] = np.nan
    booster = train(x, y)
    types = {n["missing_type"] for n in _nodes(booster)}
    assert "NaN" in types
    assert {n["default_left"] for n in _nodes(booster) if n["missing_type"] == "NaN"} == {True, False}
    check(booster, _probe(3000, 6))


def test_missing_value_splits_zero() -> None:
    x, y = _data(3000, 7)
    booster = train(x, y, zero_as_missing=True)
    assert "Zero" in {n["missing_type"] for n in _nodes(booster)}
    check(booster, _probe(3000, 8))


def test_missing_value_splits_none() -> None:
    x, y = _data(3000, 9)
    booster = train(x, y, use_missing=False)
    assert {n["missing_type"] for n in _nodes(booster)} == {"None"}
    check(booster, _probe(3000, 10))


def test_single_leaf_trees() -> None:
    x, y = _data(1000, 11)
    only = train(x, y, rounds=3, min_data_in_leaf=800)
    assert all("split_feature" not in t["tree_structure"] for t in only.dump_model()["tree_info"])
    check(only, _probe(500, 12))
    first = train(x, y, rounds=1, min_data_in_leaf=800)  # one single-leaf tree, then trees with splits
    mixed = lgb.train(
        {"objective": "binary", "num_threads": 1, "verbosity": -1, "min_data_in_leaf": 5, "num_leaves": 7},
        lgb.Dataset(x, y),
        num_boost_round=5,
        init_model=first,
    )
    shapes = ["split_feature" in t["tree_structure"] for t in mixed.dump_model()["tree_info"]]
    assert any(shapes) and not all(shapes)
    check(mixed, _probe(500, 13))


def test_unsupported_models_are_refused() -> None:
    x, y = _data(600, 14)
    multi = lgb.train(
        {"objective": "multiclass", "num_class": 3, "num_threads": 1, "verbosity": -1},
        lgb.Dataset(x, (y + (x[:, 0] > 1)).astype(int)),
        num_boost_round=2,
    )
    with pytest.raises(UnsupportedModel):
        compile_booster(multi)
    with pytest.raises(UnsupportedModel):
        compile_dump({"num_tree_per_iteration": 1, "average_output": True, "tree_info": []}, 4)


def test_wrong_matrix_shape_is_refused(farmer_model: TrainedModel) -> None:
    compiled = compile_booster(farmer_model.booster)
    with pytest.raises(ValueError, match="matrix must be"):
        shap_values(compiled, np.zeros((3, 2)))


def _nodes(booster: lgb.Booster) -> list[dict[str, object]]:
    out = []
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                out.append(node)
                stack += [node["left_child"], node["right_child"]]
    return out

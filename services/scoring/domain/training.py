"""Train a segment model: checked data, optional tuning, LightGBM with monotone constraints, Platt.

Pipeline of :func:`train_model` (each step reported to ``progress(stage, info)``, called from
the training thread, when given):

1. ``checking`` — :func:`training_data.check_training_frame`: the model matrix and the 0/1
   target, or a :class:`TrainingDataError` naming the column and the first offending rows.
   The data fingerprint is the SHA-256 of a canonical serialization (header JSON with feature
   names, target and shape, then the float64 little-endian matrix with canonical NaNs, then
   the target).
2. Seeded stratified split into train / valid / test.
3. With ``tune=N``: ``tuning`` — Optuna searches LightGBM's parameters on the fit rows (train +
   valid) with ``inner_folds`` folds (``info``: trial, trials, best_auc), then ``cross-validating``
   — nested CV on the same rows (``info``: fold, folds; and trial, trials within a fold), giving
   ``metrics.cv`` (outer-fold AUCs, ``nested: true``) and ``metrics.tuning`` (``domain.tuning``).
   Explicit ``params`` are fixed and not searched. The test split is never seen by either.
4. ``training`` — ``lightgbm.train`` (binary objective on the log-odds of default) with the
   spec's monotone constraints, categorical features by index, the tuned (or default)
   parameters, early stopping on the validation split, ``deterministic``, ``force_row_wise``,
   fixed ``num_threads`` (default 1: immune to CPU contention and to the host's core count)
   and seeds, so the same data and seed give a bit-identical model text (``info``: round,
   rounds; every 10 rounds and at the end). Untuned ``cv_folds`` CV (with the rounds early
   stopping chose) follows as ``cross-validating``.
5. ``calibrating`` — Platt calibration on the validation split's raw margins
   (:func:`metrics.fit_platt`, unpenalised scikit-learn logistic regression):
   ``margin = a·raw + b``. Linear in ``raw``, so TreeSHAP stays exact after scaling by ``a``.
6. ``explaining`` — test metrics, PSI baselines, global mean |SHAP| in points, the training
   rows' median of each numeric feature (``reference_values``); then ``done``.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd
import sklearn

from services.scoring.domain.explain import contributions
from services.scoring.domain.metrics import auc, classification_metrics, fit_platt
from services.scoring.domain.model import METADATA_FORMAT, TrainedModel
from services.scoring.domain.monitoring import build_baseline
from services.scoring.domain.scale import ScoreScale, sigmoid
from services.scoring.domain.spec import Matrix, SegmentSpec, spec_to_dict
from services.scoring.domain.training_data import TrainingDataError, check_training_frame
from services.scoring.domain.tuning import (
    DEFAULT_PARAMS,
    lgb_dataset,
    lightgbm_params,
    nested_cv,
    stratified_folds,
    tune_params,
)

__all__ = [
    "DEFAULT_PARAMS",
    "TrainingDataError",
    "_dataset",
    "data_fingerprint",
    "library_versions",
    "reference_values",
    "stratified_folds",
    "stratified_split",
    "train_model",
]

IntArray = npt.NDArray[np.int64]
Progress = Callable[[str, Mapping[str, Any]], None]
NESTED_OUTER_FOLDS = 5
INNER_FOLDS = 3
PROGRESS_EVERY = 10

_dataset = lgb_dataset  # the name Dask training imports


def data_fingerprint(spec: SegmentSpec, matrix: Matrix, y: npt.NDArray[np.float64]) -> str:
    """SHA-256 of a canonical serialization of the model matrix and target."""
    header = {
        "features": spec.feature_names,
        "target": spec.target,
        "shape": list(matrix.shape),
        "dtype": "<f8",
    }
    canonical = np.where(np.isnan(matrix), np.nan, matrix).astype("<f8", copy=False)
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode("utf-8"))
    digest.update(np.ascontiguousarray(canonical).tobytes())
    digest.update(np.ascontiguousarray(y, dtype="<f8").tobytes())
    return digest.hexdigest()


def stratified_split(
    y: npt.NDArray[np.float64], seed: int, valid_fraction: float, test_fraction: float
) -> tuple[IntArray, IntArray, IntArray]:
    """Seeded stratified train/valid/test row indices (each sorted ascending)."""
    rng = np.random.default_rng(seed)
    parts: list[list[IntArray]] = [[], [], []]
    for cls in (0.0, 1.0):
        idx = rng.permutation(np.flatnonzero(y == cls)).astype(np.int64)
        n_test = round(len(idx) * test_fraction)
        n_valid = round(len(idx) * valid_fraction)
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test : n_test + n_valid])
        parts[0].append(idx[n_test + n_valid :])
    train, valid, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, valid, test


def _cross_validate(
    spec: SegmentSpec,
    params: dict[str, Any],
    x: Matrix,
    y: npt.NDArray[np.float64],
    *,
    folds: int,
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    aucs: list[float] = []
    for held in stratified_folds(y, folds, seed):
        mask = np.ones(len(y), dtype=bool)
        mask[held] = False
        booster = lgb.train(params, lgb_dataset(spec, x[mask], y[mask]), num_boost_round=rounds)
        raw = np.asarray(booster.predict(x[held], raw_score=True), dtype=np.float64)
        aucs.append(auc(y[held], raw))
    return {
        "folds": folds,
        "num_boost_round": rounds,
        "auc": aucs,
        "auc_mean": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the artifact."""
    return {
        "python": platform.python_version(),
        "lightgbm": lgb.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,  # the Platt fit
    }


def reference_values(spec: SegmentSpec, x: Matrix) -> dict[str, float]:
    """Each numeric feature's median over ``x`` (NaN ignored; a feature with no value is left out)."""
    out: dict[str, float] = {}
    for j, f in enumerate(spec.features):
        column = x[:, j][~np.isnan(x[:, j])]
        if f.type == "numeric" and column.size:
            out[f.name] = float(np.median(column))
    return out


def _round_reporter(progress: Progress, rounds: int) -> Callable[[Any], None]:
    """A LightGBM callback reporting ``training`` every :data:`PROGRESS_EVERY` rounds."""

    def report(env: Any) -> None:
        done = int(env.iteration) + 1
        if done % PROGRESS_EVERY == 0:
            progress("training", {"round": done, "rounds": rounds})

    return report


def _fit(
    spec: SegmentSpec,
    lgb_params: dict[str, Any],
    x: Matrix,
    y: npt.NDArray[np.float64],
    train_idx: IntArray,
    valid_idx: IntArray,
    *,
    rounds: int | None,
    max_rounds: int,
    early_stopping_rounds: int,
    progress: Progress | None,
) -> lgb.Booster:
    """The booster on the train split: ``rounds`` rounds (tuned) or early stopping on the validation split."""
    dtrain = lgb_dataset(spec, x[train_idx], y[train_idx])
    callbacks: list[Callable[[Any], None]] = []
    if progress is not None:
        callbacks.append(_round_reporter(progress, rounds or max_rounds))
    if rounds is not None:
        return lgb.train(lgb_params, dtrain, num_boost_round=rounds, callbacks=callbacks)
    dvalid = lgb_dataset(spec, x[valid_idx], y[valid_idx], reference=dtrain)
    callbacks.insert(0, lgb.early_stopping(early_stopping_rounds, verbose=False))
    return lgb.train(
        lgb_params,
        dtrain,
        num_boost_round=max_rounds,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=callbacks,
    )


def model_metadata(
    model: TrainedModel,
    *,
    target: str,
    params: Mapping[str, Any],
    rounds: tuple[int, int, int],
    seed: int,
    metrics: Mapping[str, Any],
    data: Mapping[str, Any],
    versions: Mapping[str, str],
    train_x: Matrix,
    train_scores: npt.NDArray[np.float64],
    contrib: Matrix,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A trained model's metadata (:data:`METADATA_FORMAT`), the one shape every trainer writes.

    ``rounds`` is (``num_boost_round``, ``early_stopping_rounds``, ``best_iteration``);
    ``train_x`` / ``train_scores`` the training rows (or a sample of them) and their scores, for
    the PSI baseline and the reference values; ``contrib`` TreeSHAP contributions of a sample of
    them, for the global importance and the base margin; ``extra`` keys go after ``target``.
    """
    spec, scale = model.spec, model.scale
    a, b = model.calibration_a, model.calibration_b
    num_boost_round, early_stopping_rounds, best_iteration = rounds
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0) * abs(a)
    base_margin = float(contrib[0, -1])
    meta: dict[str, Any] = {
        "format": METADATA_FORMAT,
        "segment": spec.segment,
        "spec_version": spec.version,
        "spec": spec_to_dict(spec),
        "target": target,
        **(extra or {}),
        "feature_names": spec.feature_names,
        "categorical_features": spec.categorical_indices,
        "monotone_constraints": spec.monotone_constraints,
        "params": dict(params),
        "num_boost_round": num_boost_round,
        "early_stopping_rounds": early_stopping_rounds,
        "best_iteration": best_iteration,
        "seed": seed,
        "calibration": {"method": "platt", "a": a, "b": b, "fit_on": "validation"},
        "score_scale": scale.to_dict(),
        "base_margin": base_margin,
        "base_points": scale.offset - scale.factor * (a * base_margin + b),
        "metrics": dict(metrics),
        "data": dict(data),
        "library_versions": dict(versions),
        "baseline": build_baseline(spec, train_x, train_scores),
        "global_importance": {
            name: {"mean_abs_margin": float(m), "mean_abs_points": float(m * scale.factor)}
            for name, m in zip(spec.feature_names, mean_abs, strict=True)
        },
        "reference_values": reference_values(spec, train_x),
        "artifact_sha256": model.artifact_sha256,
    }
    return dict(_json_safe(meta))


def train_model(
    spec: SegmentSpec,
    df: pd.DataFrame,
    target: str | None = None,
    seed: int = 0,
    *,
    num_boost_round: int = 1000,
    early_stopping_rounds: int = 50,
    valid_fraction: float = 0.2,
    test_fraction: float = 0.2,
    cv_folds: int = 0,
    num_threads: int = 1,
    params: dict[str, Any] | None = None,
    scale: ScoreScale | None = None,
    importance_rows: int = 2000,
    tune: int = 0,
    bad_value: str | None = None,
    progress: Progress | None = None,
    columns: Sequence[str] | None = None,
) -> TrainedModel:
    """Check, (tune,) train, calibrate and evaluate a model for ``spec`` on ``df``; deterministic per seed.

    ``tune``: Optuna trials (0: the default parameters); the nested CV then has ``cv_folds``
    outer folds (5 when ``cv_folds`` < 2). ``bad_value``: for a text target, the value meaning
    default. ``columns``: the file's raw header, to catch repeated column names pandas renamed.
    Raises :class:`TrainingDataError` naming the column and rows of bad data.
    """

    def report(stage: str, **info: Any) -> None:
        if progress is not None:
            progress(stage, info)

    target = target or spec.target
    scale = scale or ScoreScale()
    report("checking", rows=len(df))
    x, y = check_training_frame(spec, df, target, bad_value=bad_value, columns=columns)
    train_idx, valid_idx, test_idx = stratified_split(y, seed, valid_fraction, test_fraction)
    fit_rows = np.sort(np.concatenate([train_idx, valid_idx]))
    base_params = lightgbm_params(spec, seed=seed, num_threads=num_threads, overrides=params)
    metrics: dict[str, Any] = {}
    tuned: dict[str, Any] = {}
    rounds: int | None = None  # None: early stopping on the validation split chooses
    if tune > 0:
        report("tuning", trial=0, trials=tune, best_auc=None)
        search: dict[str, Any] = {
            "trials": tune,
            "seed": seed,
            "inner_folds": INNER_FOLDS,
            "num_threads": num_threads,
            "base_params": base_params,
            "fixed": tuple(params or ()),
            "max_rounds": num_boost_round,
            "early_stopping_rounds": early_stopping_rounds,
            "progress": progress,
        }
        chosen = tune_params(spec, x[fit_rows], y[fit_rows], **search)
        tuned, rounds = chosen.params, chosen.num_boost_round
        metrics["tuning"] = chosen.to_dict()
        outer = cv_folds if cv_folds >= 2 else NESTED_OUTER_FOLDS
        report("cross-validating", fold=0, folds=outer)
        metrics["cv"] = nested_cv(spec, x[fit_rows], y[fit_rows], outer_folds=outer, **search)
    lgb_params: dict[str, Any] = {**base_params, **tuned}

    report("training", round=0, rounds=rounds or num_boost_round)
    trained = _fit(
        spec, lgb_params, x, y, train_idx, valid_idx, rounds=rounds, max_rounds=num_boost_round,
        early_stopping_rounds=early_stopping_rounds, progress=progress,
    )  # fmt: skip
    best_iteration = int(trained.best_iteration or trained.current_iteration())
    report(
        "training",
        round=trained.current_iteration(),
        rounds=rounds or num_boost_round,
        best_iteration=best_iteration,
    )
    model_text = trained.model_to_string(num_iteration=best_iteration)
    booster = lgb.Booster(model_str=model_text)
    if cv_folds >= 2 and tune <= 0:
        report("cross-validating", fold=0, folds=cv_folds)
        metrics["cv"] = _cross_validate(
            spec, lgb_params, x[fit_rows], y[fit_rows], folds=cv_folds, rounds=best_iteration, seed=seed
        )

    def raw(rows: IntArray) -> Matrix:
        out = booster.predict(x[rows], raw_score=True, num_threads=num_threads)
        return np.asarray(out, dtype=np.float64)

    report("calibrating")
    raw_train, raw_valid, raw_test = raw(train_idx), raw(valid_idx), raw(test_idx)
    a, b = fit_platt(raw_valid, y[valid_idx])
    model = TrainedModel(spec, booster, model_text, a, b, scale)
    metrics = {
        "test": classification_metrics(y[test_idx], sigmoid(a * raw_test + b)),
        "valid": {"auc": auc(y[valid_idx], raw_valid)},
        "train": {"auc": auc(y[train_idx], raw_train)},
        **metrics,
    }

    report("explaining")
    train_scores = scale.offset - scale.factor * (a * raw_train + b)
    sample = np.sort(
        np.random.default_rng(seed).permutation(train_idx)[: min(importance_rows, len(train_idx))]
    )
    contrib = contributions(model, x[sample], num_threads=num_threads)
    versions = library_versions() | ({"optuna": optuna.__version__} if tune > 0 else {})

    model.metadata = model_metadata(
        model,
        target=target,
        params=lgb_params,
        rounds=(num_boost_round, early_stopping_rounds, best_iteration),
        seed=seed,
        metrics=metrics,
        data={
            "rows": len(y),
            "default_rate": float(y.mean()),
            "fingerprint": data_fingerprint(spec, x, y),
            "split": {"train": len(train_idx), "valid": len(valid_idx), "test": len(test_idx)},
        },
        versions=versions,
        train_x=x[train_idx],
        train_scores=train_scores,
        contrib=contrib,
        extra={"bad_value": bad_value} if bad_value is not None else None,
    )
    report("done", best_iteration=best_iteration)
    return model

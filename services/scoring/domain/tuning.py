"""LightGBM's parameters: the defaults, and an Optuna search for better ones under nested CV.

:func:`tune_params` searches (Optuna ``TPESampler(seed=seed)``, one trial at a time, so a seed
gives the same trials and the same result) over :data:`SEARCH_SPACE`: learning rate, tree
shape, row and feature sampling, L1/L2 penalties, minimum split gain, and — when the spec has
categorical features — LightGBM's categorical handling (``cat_smooth``, ``cat_l2``,
``min_data_per_group``, ``max_cat_threshold``, ``max_cat_to_onehot``: one-vs-rest splits for
few categories, sorted many-vs-many partitions for more). The spec's monotone constraints
are part of every trial's parameters and never searched. Trees stay shallow (``max_depth`` ≤ 6,
``num_leaves`` ≤ 48) because TreeSHAP, which explains every score, costs O(trees · leaves · depth²).

The first trial is the base parameters (the defaults), so the search starts from what an
untuned model would use. A trial's figure is the mean AUC of ``inner_folds`` stratified
folds (``lightgbm.cv``); the number of rounds is not searched but found by early stopping on
that mean curve (the round after which the folds' mean AUC stopped improving for
``early_stopping_rounds``), so every trial yields parameters and one round count.

:func:`nested_cv` gives the honest figure: for each of ``outer_folds`` stratified folds it
tunes on the other folds only (with their own inner folds), fits those parameters for the
chosen rounds, and takes the AUC on the held fold, which the search never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import optuna
from sklearn.model_selection import StratifiedKFold

from services.scoring.domain.metrics import auc
from services.scoring.domain.spec import Matrix, SegmentSpec

IntArray = npt.NDArray[np.int64]
Labels = npt.NDArray[np.float64]
Progress = Callable[[str, Mapping[str, Any]], None]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    # shallow trees: TreeSHAP costs O(trees · leaves · depth²) per row, and on the synthetic
    # segments depth 4 / rate 0.1 matches the AUC of deeper, slower models at ~4x less cost
    "learning_rate": 0.1,
    "num_leaves": 15,
    "max_depth": 4,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "min_data_per_group": 50,
    "monotone_constraints_method": "intermediate",
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}

# name → (kind, low, high, log scale); the last group only for specs with categorical features.
# learning_rate stops at 0.15: on ~1,000 rows the inner folds' AUC is noisy enough that faster
# rates win the search by chance and then generalise worse (measured on the synthetic segments)
SEARCH_SPACE: dict[str, tuple[str, float, float, bool]] = {
    "learning_rate": ("float", 0.02, 0.15, True),
    "num_leaves": ("int", 4, 48, True),
    "max_depth": ("int", 2, 6, False),
    "min_data_in_leaf": ("int", 10, 200, True),
    "feature_fraction": ("float", 0.5, 1.0, False),
    "bagging_fraction": ("float", 0.5, 1.0, False),
    "lambda_l1": ("float", 1e-8, 10.0, True),
    "lambda_l2": ("float", 1e-8, 10.0, True),
    "min_gain_to_split": ("float", 0.0, 1.0, False),
}
CATEGORICAL_SPACE: dict[str, tuple[str, float, float, bool]] = {
    "cat_smooth": ("float", 1.0, 50.0, True),
    "cat_l2": ("float", 1.0, 50.0, True),
    "min_data_per_group": ("int", 10, 200, True),
    "max_cat_threshold": ("int", 4, 64, True),
    "max_cat_to_onehot": ("int", 2, 16, False),
}
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50


def lightgbm_params(
    spec: SegmentSpec, *, seed: int, num_threads: int = 1, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The defaults with the spec's monotone constraints, fixed threads and seeds, then ``overrides``."""
    return {
        **DEFAULT_PARAMS,
        "monotone_constraints": spec.monotone_constraints,
        "num_threads": num_threads,
        "seed": seed,
        "bagging_seed": seed,
        "feature_fraction_seed": seed,
        "data_random_seed": seed,
        **(overrides or {}),
    }


def lgb_dataset(spec: SegmentSpec, x: Matrix, y: Labels, **kw: Any) -> lgb.Dataset:
    """A LightGBM dataset of the model matrix: the spec's feature names and categorical columns."""
    return lgb.Dataset(
        x,
        label=y,
        feature_name=spec.feature_names,
        categorical_feature=spec.categorical_indices,
        params={"verbosity": -1},
        free_raw_data=False,
        **kw,
    )


def stratified_folds(y: Labels, folds: int, seed: int) -> list[IntArray]:
    """Seeded stratified k-fold assignment (``StratifiedKFold``): the held-out indices of each fold."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [np.asarray(held, dtype=np.int64) for _, held in splitter.split(np.zeros((len(y), 1)), y)]


def _splits(y: Labels, folds: int, seed: int) -> list[tuple[IntArray, IntArray]]:
    everything = np.arange(len(y), dtype=np.int64)
    return [(np.setdiff1d(everything, held), held) for held in stratified_folds(y, folds, seed)]


@dataclass(frozen=True)
class TuningResult:
    """The search's choice: the parameters it tuned, the rounds, and their inner-CV mean AUC."""

    params: dict[str, Any]
    num_boost_round: int
    inner_auc: float
    trials: int
    inner_folds: int

    def to_dict(self) -> dict[str, Any]:
        """``metrics.tuning`` of the model metadata."""
        return {
            "trials": self.trials,
            "inner_folds": self.inner_folds,
            "best_params": dict(self.params),
            "num_boost_round": self.num_boost_round,
            "inner_auc": self.inner_auc,
        }


def suggest_params(trial: optuna.Trial, spec: SegmentSpec, fixed: Collection[str] = ()) -> dict[str, Any]:
    """One trial's parameters from the search space (the names in ``fixed`` are not searched)."""
    space = {**SEARCH_SPACE, **(CATEGORICAL_SPACE if spec.categorical_indices else {})}
    out: dict[str, Any] = {}
    for name, (kind, low, high, log) in space.items():
        if name in fixed:
            continue
        if kind == "int":
            out[name] = trial.suggest_int(name, int(low), int(high), log=log)
        else:
            out[name] = trial.suggest_float(name, low, high, log=log)
    return out


# LightGBM's own defaults for the searched names DEFAULT_PARAMS does not set (the first trial)
_LIGHTGBM_DEFAULTS: dict[str, float] = {
    "lambda_l1": 1e-8,  # 0, at the bottom of the log range
    "min_gain_to_split": 0.0,
    "cat_l2": 10.0,
    "max_cat_threshold": 32,
    "max_cat_to_onehot": 4,
}


def default_trial(spec: SegmentSpec, base: Mapping[str, Any], fixed: Collection[str] = ()) -> dict[str, Any]:
    """The base parameters as a trial (searched names only): the search starts from the defaults."""
    space = {**SEARCH_SPACE, **(CATEGORICAL_SPACE if spec.categorical_indices else {})}
    out: dict[str, Any] = {}
    for name, (kind, low, high, _) in space.items():
        if name in fixed:
            continue
        value = float(base[name] if name in base else _LIGHTGBM_DEFAULTS[name])
        value = min(max(value, low), high)
        out[name] = int(value) if kind == "int" else value
    return out


def inner_cv_auc(
    spec: SegmentSpec,
    params: Mapping[str, Any],
    x: Matrix,
    y: Labels,
    *,
    folds: int,
    seed: int,
    max_rounds: int = MAX_ROUNDS,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
) -> tuple[float, int]:
    """Mean AUC over ``folds`` stratified folds at the best round of the mean curve, and that round."""
    result = lgb.cv(
        {**params, "metric": "auc"},
        lgb_dataset(spec, x, y),
        num_boost_round=max_rounds,
        folds=_splits(y, folds, seed),
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
    curve = cast(list[float], result["valid auc-mean"])  # cut at the best round by early stopping
    return float(curve[-1]), len(curve)


def tune_params(
    spec: SegmentSpec,
    x: Matrix,
    y: Labels,
    *,
    trials: int,
    seed: int,
    inner_folds: int = 3,
    num_threads: int = 1,
    base_params: Mapping[str, Any] | None = None,
    fixed: Collection[str] = (),
    max_rounds: int = MAX_ROUNDS,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
    progress: Progress | None = None,
    stage: str = "tuning",
    info: Mapping[str, Any] | None = None,
) -> TuningResult:
    """Search LightGBM parameters for the best ``inner_folds``-fold mean AUC on ``x``, ``y``.

    ``base_params`` (default :func:`lightgbm_params`) under each trial's; monotone constraints
    and the names in ``fixed`` keep their base values. ``progress(stage, {trial, trials,
    best_auc, **info})`` after every trial.
    """
    if trials < 1:
        raise ValueError("trials must be at least 1")
    base = dict(base_params or lightgbm_params(spec, seed=seed, num_threads=num_threads))
    base["monotone_constraints"] = list(base.get("monotone_constraints", spec.monotone_constraints))
    rounds: dict[int, int] = {}

    def objective(trial: optuna.Trial) -> float:
        params = {
            **base,
            **suggest_params(trial, spec, fixed),
            "monotone_constraints": base["monotone_constraints"],
        }
        score, rounds[trial.number] = inner_cv_auc(
            spec, params, x, y, folds=inner_folds, seed=seed,
            max_rounds=max_rounds, early_stopping_rounds=early_stopping_rounds,
        )  # fmt: skip
        return score

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if progress is not None:
            progress(
                stage,
                {**(info or {}), "trial": trial.number + 1, "trials": trials, "best_auc": study.best_value},
            )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(default_trial(spec, base, fixed))
    study.optimize(objective, n_trials=trials, n_jobs=1, callbacks=[report], gc_after_trial=False)
    best = study.best_trial
    return TuningResult(
        params=dict(best.params),
        num_boost_round=rounds[best.number],
        inner_auc=float(best.value if best.value is not None else np.nan),
        trials=trials,
        inner_folds=inner_folds,
    )


def nested_cv(
    spec: SegmentSpec,
    x: Matrix,
    y: Labels,
    *,
    trials: int,
    outer_folds: int = 5,
    inner_folds: int = 3,
    seed: int,
    num_threads: int = 1,
    base_params: Mapping[str, Any] | None = None,
    fixed: Collection[str] = (),
    max_rounds: int = MAX_ROUNDS,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Outer-fold AUCs of tuning on the other folds (``metrics.cv`` of a tuned model)."""
    base = dict(base_params or lightgbm_params(spec, seed=seed, num_threads=num_threads))
    aucs: list[float] = []
    fold_rounds: list[int] = []
    for k, (fit, held) in enumerate(_splits(y, outer_folds, seed)):
        where = {"fold": k + 1, "folds": outer_folds}
        if progress is not None:
            progress("cross-validating", where)
        chosen = tune_params(
            spec, x[fit], y[fit], trials=trials, seed=seed + k + 1, inner_folds=inner_folds,
            num_threads=num_threads, base_params=base, fixed=fixed, max_rounds=max_rounds,
            early_stopping_rounds=early_stopping_rounds, progress=progress,
            stage="cross-validating", info=where,
        )  # fmt: skip
        params = {**base, **chosen.params}
        booster = lgb.train(params, lgb_dataset(spec, x[fit], y[fit]), num_boost_round=chosen.num_boost_round)
        raw = np.asarray(booster.predict(x[held], raw_score=True, num_threads=num_threads), dtype=np.float64)
        aucs.append(auc(y[held], raw))
        fold_rounds.append(chosen.num_boost_round)
    return {
        "folds": outer_folds,
        "auc": aucs,
        "auc_mean": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
        "nested": True,
        "inner_folds": inner_folds,
        "trials": trials,
        "rounds": fold_rounds,
    }

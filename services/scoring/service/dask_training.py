"""Training on a Dask cluster with ``lightgbm.dask`` (``agrifin train --dask [SCHEDULER_ADDRESS]``).

For data larger than one machine's memory: a partitioned Parquet / CSV source (a file, a
directory or a glob; ``repository.dask_files``) is read with ``dask.dataframe.from_map``, one
part per partition. What runs where:

* **distributed** (on the workers): reading and strict validation of every part against the
  spec (``frame_to_matrix``; the target must be 0/1 without missing values), the encoded model
  matrix (persisted in the workers' memory), each part's data digest, the seeded split of every
  row into train / validation / test, and the LightGBM training itself
  (``lightgbm.dask.DaskLGBMClassifier``, data-parallel, one thread per worker, the spec's
  monotone constraints and categorical features, the ports LightGBM listens on chosen free by
  ``lightgbm.dask`` and retried when another process took one first);
* **on the client**: the validation and test rows (each at most ``holdout_max_rows``, drawn at
  random — not stratified — with the seed) and a sample of at most ``sample_rows`` training
  rows. On them: the number of rounds (LightGBM's early-stopping rule applied afterwards to the
  validation log loss of every round), Platt calibration (validation), test metrics, the PSI
  baseline, the reference values (training medians) and the global importance.

The model is a :class:`TrainedModel` with the metadata keys of ``domain.training.train_model``,
so the registry registers and serves it alike. Two differences are stated in ``metadata.data``:
``fingerprint`` is the SHA-256 of a header and the parts' SHA-256 digests in input order (each
over the part's matrix as ``train_model`` serializes it, then its target), and ``distributed``
says how it was trained. Data-parallel training is deterministic for one data layout; another
number of workers or parts may give another model. No cross-validation or tuning here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from dask.base import compute
from distributed import Client
from lightgbm.dask import DaskLGBMClassifier

from services.scoring.domain.explain import contributions
from services.scoring.domain.matrix import first_rows, frame_to_matrix
from services.scoring.domain.metrics import auc, classification_metrics, fit_platt
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.scale import ScoreScale, sigmoid
from services.scoring.domain.spec import FeatureValidationError, Matrix, SegmentSpec
from services.scoring.domain.training import library_versions, model_metadata
from services.scoring.domain.training_data import MIN_CLASS_ROWS, MIN_ROWS, TrainingDataError
from services.scoring.domain.tuning import lightgbm_params
from services.scoring.repository.dask_files import InputPart, list_input_files, plan_parts, read_part
from services.scoring.service.dask_batch import ShippedValidationError, dask_client

Progress = Callable[[str, Mapping[str, Any]], None]
Y, DRAW, PART = "__target__", "__draw__", "__part__"
BIND_RETRIES = 3


class ShippedTrainingError(Exception):
    """A worker's TrainingDataError, picklable with its column and rows."""

    def __init__(self, message: str, column: str | None, rows: list[int]) -> None:
        super().__init__(message, column, rows)
        self.message, self.column, self.rows = message, column, rows


def _meta(spec: SegmentSpec) -> pd.DataFrame:
    columns = {n: pd.Series(dtype=np.float64) for n in spec.feature_names}
    extra = {
        Y: pd.Series(dtype=np.float64),
        DRAW: pd.Series(dtype=np.float64),
        PART: pd.Series(dtype=np.int64),
    }
    return pd.DataFrame({**columns, **extra})


def _encode_part(item: tuple[int, InputPart], spec: SegmentSpec, target: str, seed: int) -> pd.DataFrame:
    """One part as model matrix + target + a seeded uniform draw per row (its split) + the part index."""
    index, part = item
    frame = read_part(part, [*spec.feature_names, target])
    try:
        x = frame_to_matrix(spec, frame, strict=True)
    except FeatureValidationError as exc:
        raise ShippedValidationError([(f, f"{m} [{part.describe()}]") for f, m in exc.errors]) from None
    if target not in frame.columns:
        raise ShippedTrainingError(f"target column {target!r} is missing [{part.describe()}]", target, [])
    y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    odd = ~np.isin(y, (0.0, 1.0))
    if odd.any():
        rows = first_rows(odd)
        raise ShippedTrainingError(
            f"target {target}: must be 0/1 (1 = default) without missing values; {int(odd.sum())} rows are"
            f" not, the first rows {', '.join(map(str, rows))} [{part.describe()}]",
            target,
            rows,
        )
    out = pd.DataFrame(x, columns=spec.feature_names)
    out[Y] = y
    out[DRAW] = np.random.default_rng([seed, index]).random(len(y))
    out[PART] = np.int64(index)
    return out


def _part_digest(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """SHA-256 of the part's matrix (``data_fingerprint``'s serialization) and target."""
    x = frame[names].to_numpy(dtype="<f8")
    digest = hashlib.sha256(np.ascontiguousarray(np.where(np.isnan(x), np.nan, x)).tobytes())
    digest.update(np.ascontiguousarray(frame[Y].to_numpy(dtype="<f8")).tobytes())
    part = int(frame[PART].iloc[0]) if len(frame) else -1
    return pd.DataFrame({"part": [part], "rows": [len(frame)], "digest": [digest.hexdigest()]})


def _fingerprint(spec: SegmentSpec, digests: pd.DataFrame, rows: int) -> str:
    header = {"features": spec.feature_names, "target": spec.target, "rows": rows, "parts": "sha256"}
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode("utf-8"))
    for value in digests.sort_values("part")["digest"]:
        digest.update(bytes.fromhex(str(value)))
    return digest.hexdigest()


def _best_iteration(booster: lgb.Booster, x: Matrix, y: npt.NDArray[np.float64], patience: int) -> int:
    """LightGBM's early-stopping rule on the validation log loss of each round, applied after training."""
    raw = np.zeros(len(y))
    best, best_loss = 1, math.inf
    for k in range(booster.num_trees()):
        raw += np.asarray(booster.predict(x, raw_score=True, start_iteration=k, num_iteration=1))
        loss = float(np.mean(np.logaddexp(0.0, raw) - y * raw))
        if loss < best_loss:
            best, best_loss = k + 1, loss
        elif k + 1 - best >= patience:
            break
    return best


def _fit(
    client: Client, params: dict[str, Any], x: Any, y: Any, spec: SegmentSpec, rounds: int
) -> lgb.Booster:
    """``DaskLGBMClassifier`` on the cluster; a port taken between choosing and binding is retried."""
    for attempt in range(1, BIND_RETRIES + 1):
        model = DaskLGBMClassifier(client=client, n_estimators=rounds, **params)
        try:
            with warnings.catch_warnings():
                # lightgbm.dask warns about the estimator's n_jobs default, then sets one thread per worker
                warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
                model.fit(x, y, feature_name=spec.feature_names, categorical_feature=spec.categorical_indices)
            return model.booster_
        except lgb.basic.LightGBMError as exc:
            if attempt == BIND_RETRIES or "bind" not in str(exc).lower():
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


LIGHTGBM_LOG = logging.getLogger("agrifin.scoring.lightgbm")
"""Where lightgbm's Python-side messages go ("Finding random open ports for workers"): its
default logger prints to stdout, which would corrupt ``agrifin train``'s JSON."""


def train_on_dask(
    spec: SegmentSpec,
    source: Path | str,
    *,
    target: str | None = None,
    seed: int = 0,
    address: str = "local",
    client: Client | None = None,
    scale: ScoreScale | None = None,
    num_boost_round: int = 300,
    early_stopping_rounds: int = 50,
    valid_fraction: float = 0.2,
    test_fraction: float = 0.2,
    holdout_max_rows: int = 200_000,
    sample_rows: int = 100_000,
    importance_rows: int = 2000,
    part_rows: int | None = None,
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> TrainedModel:
    """Train, calibrate and evaluate a model for ``spec`` on a partitioned ``source`` (``lightgbm.dask``)."""
    lgb.register_logger(LIGHTGBM_LOG)
    if client is None:
        with dask_client(address) as own:
            return train_on_dask(
                spec, source, target=target, seed=seed, client=own, scale=scale,
                num_boost_round=num_boost_round, early_stopping_rounds=early_stopping_rounds,
                valid_fraction=valid_fraction, test_fraction=test_fraction, holdout_max_rows=holdout_max_rows,
                sample_rows=sample_rows, importance_rows=importance_rows, part_rows=part_rows, params=params,
                progress=progress,
            )  # fmt: skip

    def report(stage: str, **info: Any) -> None:
        if progress is not None:
            progress(stage, info)

    target = target or spec.target
    scale = scale or ScoreScale()
    names = spec.feature_names
    try:
        report("checking")
        parts = plan_parts(list_input_files(source), **({"part_rows": part_rows} if part_rows else {}))
        encoded = dd.from_map(  # type: ignore[no-untyped-call]
            _encode_part, list(enumerate(parts)), spec=spec, target=target, seed=seed,
            meta=_meta(spec), enforce_metadata=False,
        )  # fmt: skip
        data = client.persist(encoded)  # type: ignore[no-untyped-call]
        counted, summed = compute(data[Y].count(), data[Y].sum())  # type: ignore[no-untyped-call]
        rows, defaults = int(counted), int(summed)
        _check_counts(rows, defaults, target)
        # at most holdout_max_rows of validation and of test rows come to the client
        valid, test = (
            min(valid_fraction, holdout_max_rows / rows),
            min(test_fraction, holdout_max_rows / rows),
        )
        digests = data.map_partitions(_part_digest, names, meta={"part": "i8", "rows": "i8", "digest": "O"})
        fingerprint = _fingerprint(spec, digests.compute(), rows)
        held = data[data[DRAW] < test + valid].compute()
        train = data[data[DRAW] >= test + valid]
        n_train = rows - len(held)
        keep = min(1.0, sample_rows / max(n_train, 1))
        sample = train.sample(frac=keep, random_state=seed).compute() if keep < 1.0 else train.compute()
    except ShippedValidationError as exc:
        raise FeatureValidationError(exc.errors) from None
    except ShippedTrainingError as exc:
        raise TrainingDataError(exc.message, column=exc.column, rows=exc.rows) from None
    x_valid, y_valid = _split(held[held[DRAW] >= test], names)
    x_test, y_test = _split(held[held[DRAW] < test], names)
    x_sample, y_sample = _split(sample, names)
    workers = len(client.scheduler_info()["workers"])

    report("training", round=0, rounds=num_boost_round, workers=workers)
    # lightgbm.dask gives each worker its own thread count (one here); it ignores num_threads
    lgb_params = {
        k: v for k, v in lightgbm_params(spec, seed=seed, overrides=params).items() if k != "num_threads"
    }
    trained = _fit(client, lgb_params, train[names], train[Y], spec, num_boost_round)
    best_iteration = _best_iteration(trained, x_valid, y_valid, early_stopping_rounds)
    report("training", round=trained.num_trees(), rounds=num_boost_round, best_iteration=best_iteration)
    model_text = trained.model_to_string(num_iteration=best_iteration)
    booster = lgb.Booster(model_str=model_text)

    report("calibrating")
    raw_valid, raw_test, raw_sample = (
        np.asarray(booster.predict(x, raw_score=True, num_threads=1), dtype=np.float64)
        for x in (x_valid, x_test, x_sample)
    )
    a, b = fit_platt(raw_valid, y_valid)
    model = TrainedModel(spec, booster, model_text, a, b, scale)
    metrics = {
        "test": classification_metrics(y_test, sigmoid(a * raw_test + b)),
        "valid": {"auc": auc(y_valid, raw_valid)},
        "train": {"auc": auc(y_sample, raw_sample)},
    }
    report("explaining")
    few = np.sort(
        np.random.default_rng(seed).permutation(len(y_sample))[: min(importance_rows, len(y_sample))]
    )
    contrib = contributions(model, x_sample[few], num_threads=1)
    sample_scores = scale.offset - scale.factor * (a * raw_sample + b)
    model.metadata = model_metadata(
        model,
        target=target,
        params=lgb_params,
        rounds=(num_boost_round, early_stopping_rounds, best_iteration),
        seed=seed,
        metrics=metrics,
        data={
            "rows": rows,
            "default_rate": defaults / rows,
            "fingerprint": fingerprint,
            "split": {"train": n_train, "valid": len(y_valid), "test": len(y_test)},
            "distributed": {
                "engine": "lightgbm.dask",
                "workers": workers,
                "parts": len(parts),
                "train_sample_rows": len(y_sample),
                "split": "seeded random per row (not stratified); early stopping applied after training",
            },
        },
        versions=library_versions() | {"dask": version("dask")},
        train_x=x_sample,
        train_scores=sample_scores,
        contrib=contrib,
    )
    report("done", best_iteration=best_iteration)
    return model


def _split(frame: pd.DataFrame, names: list[str]) -> tuple[Matrix, npt.NDArray[np.float64]]:
    ordered = frame.sort_values(PART, kind="stable")  # input order, whatever order the parts arrived in
    return ordered[names].to_numpy(dtype=np.float64), ordered[Y].to_numpy(dtype=np.float64)


def _check_counts(rows: int, defaults: int, target: str) -> None:
    if rows < MIN_ROWS:
        raise TrainingDataError(f"need at least {MIN_ROWS} rows, found {rows}")
    others = rows - defaults
    if defaults < MIN_CLASS_ROWS or others < MIN_CLASS_ROWS:
        raise TrainingDataError(
            f"target {target}: need at least {MIN_CLASS_ROWS} defaults (1) and {MIN_CLASS_ROWS} "
            f"non-defaults (0), found {defaults} defaults and {others} non-defaults",
            column=target,
        )


def run_train_dask(
    spec: SegmentSpec,
    source: Path | str,
    *,
    target: str,
    seed: int,
    address: str,
    scale: ScoreScale,
    num_boost_round: int = 300,
    progress: Progress | None = None,
) -> TrainedModel:
    """What ``agrifin train --dask [ADDRESS]`` runs: :func:`train_on_dask` on a LocalCluster or a cluster.

    Raises FeatureValidationError (a feature does not fit the spec), TrainingDataError (the target
    or the counts) or DataFileError (no data files): all ValueErrors, in plain words."""
    return train_on_dask(
        spec, source, target=target, seed=seed, address=address, scale=scale,
        num_boost_round=num_boost_round, progress=progress,
    )  # fmt: skip

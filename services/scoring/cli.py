"""``agrifin`` commands of the scoring service.

- ``agrifin train --spec SPEC.yaml --data FILE.csv|parquet --target COLUMN [--segment NAME]
  [--seed N] [--promote] [--cv-folds K] [--tune N] [--bad-value TEXT] [--no-progress]``: bring
  your own data; checks it (a problem names its column and first rows: exit 1), trains (with
  ``--tune``: an Optuna search with nested CV), registers (champion when the segment has none,
  or with ``--promote``) and prints the version and metrics as JSON (``metrics.cv``: the folds'
  ``auc``, ``auc_mean``, ``auc_std`` with ``--tune`` or ``--cv-folds``). A progress bar on
  stderr shows the stage, rounds and trials (``--no-progress``: none).
- ``agrifin train --from-outcomes --segment S [--as-of DATE] [--min-rows N] [--promote] [--tune N]``:
  trains on the segment's stored decisions (their features, in the champion's spec) labelled by
  the outcomes loans reported (1: 90 days past due or written off within 12 months of
  disbursement, 0: matured without default; not yet matured: left out); registers a challenger
  (``--promote``: the champion) with data source ``outcomes:<segment>:as_of=<date>:n=<rows>``
  and prints the same JSON plus ``from_outcomes`` (decisions, matured, defaults, as_of). Exit 1
  with the counts when there are too few matured decisions or defaults.
- ``agrifin train ... --data DIR|GLOB --dask [SCHEDULER_ADDRESS]``: the same on ``lightgbm.dask``
  (alone: a LocalCluster on this machine; with an address: that cluster), for data larger than
  memory (``service.dask_training``).
- ``agrifin score-batch --segment S --in FILE|DIR|GLOB --out FILE.parquet [--dask [ADDRESS]]``
  (``cli_batch``): scores and explains every row with the segment's champion (or
  ``--model-version``), in process or on Dask, the same output bit for bit.
- ``agrifin verify-receipt FILE [--keys FILE_OR_URL]`` and ``agrifin replay --score --features
  --model [--keys]`` (``cli_receipts``): verify a saved score offline; recompute it with no
  service running.

Heavy libraries are imported inside the commands so ``agrifin --help`` stays fast.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.scoring.definition import SERVICE
from services.scoring.settings import ScoringSettings

if TYPE_CHECKING:
    from tqdm import tqdm

    from services.scoring.domain.model import TrainedModel
    from services.scoring.settings import ScoringContext


def _settings() -> ScoringSettings:
    return SERVICE.settings_factory()


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _listing(errors: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {field}: {message}" for field, message in errors)


class _ProgressBar:
    """``train_model``'s ``progress(stage, info)`` as a tqdm bar on stderr: one bar per stage,
    counting rounds (training), trials (tuning) or folds (cross-validating)."""

    COUNTS = (("round", "rounds"), ("trial", "trials"), ("fold", "folds"))

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stage: str | None = None
        self.bar: tqdm[Any] | None = None

    def __call__(self, stage: str, info: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        done, total = next(
            ((info[d], info[t]) for d, t in self.COUNTS if d in info and t in info), (None, None)
        )
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(desc=stage, total=total, file=sys.stderr, leave=False, dynamic_ncols=True)
        if self.bar is not None and done is not None:
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.n = int(done)
            if "best_auc" in info and info["best_auc"] is not None:
                self.bar.set_postfix(best_auc=f"{float(info['best_auc']):.4f}", refresh=False)
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def train(
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Feature spec YAML.", exists=True, dir_okay=False)
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Training data (.csv or .parquet); with --dask also a directory or glob of parts.",
        ),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="0/1 column: 1 = default.")] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Segment name (default: the spec's).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    promote: Annotated[bool, typer.Option("--promote", help="Make it the champion.")] = False,
    cv_folds: Annotated[
        int, typer.Option("--cv-folds", min=0, help="Also report k-fold cross-validated AUC (0: off).")
    ] = 0,
    from_outcomes: Annotated[
        bool,
        typer.Option(
            "--from-outcomes",
            help="Train a challenger of --segment on its stored decisions labelled by their loans' outcomes.",
        ),
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="With --from-outcomes: YYYY-MM-DD (default: today, UTC).")
    ] = None,
    min_rows: Annotated[
        int,
        typer.Option("--min-rows", min=1, help="With --from-outcomes: refuse with fewer matured decisions."),
    ] = 200,
    tune: Annotated[
        int,
        typer.Option(
            "--tune", min=0, help="Optuna trials over LightGBM's parameters, with nested CV (0: off)."
        ),
    ] = 0,
    bad_value: Annotated[
        str | None,
        typer.Option("--bad-value", help="For a text target (good/bad): the value meaning default."),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="[SCHEDULER_ADDRESS]",
            help="Train with lightgbm.dask: alone a LocalCluster here, with an address that cluster.",
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="A progress bar on stderr.")
    ] = True,
) -> None:
    """Train a model on your own data (or on stored decisions and their outcomes) and register it."""
    if from_outcomes:
        if spec is not None or data is not None or target is not None or bad_value is not None:
            raise _fail(
                "--from-outcomes takes no --spec, --data, --target or --bad-value (the champion's spec)"
            )
        if segment is None:
            raise _fail("--from-outcomes needs --segment")
        if dask is not None:
            raise _fail("--from-outcomes trains in process; it takes no --dask")
        _train_from_outcomes(
            segment, as_of=as_of, min_rows=min_rows, seed=seed, promote=promote, cv_folds=cv_folds, tune=tune
        )
        return
    if spec is None or data is None or target is None:
        raise _fail("train needs --spec, --data and --target (or --from-outcomes --segment S)")
    if dask is not None and (tune or cv_folds or bad_value is not None):
        raise _fail("--dask trains once on the cluster: it takes no --tune, --cv-folds or --bad-value")
    if dask is None and not data.is_file():
        raise _fail(f"--data {data}: no such file (a directory or glob of parts needs --dask)")
    from services.scoring.domain.spec import (
        SEGMENT_NAME,
        FeatureValidationError,
        SpecError,
        is_segment_name,
        spec_from_dict,
        spec_to_dict,
    )
    from services.scoring.domain.training import TrainingDataError, train_model
    from services.scoring.repository.datafiles import read_header, read_table
    from services.scoring.repository.specs import load_spec

    try:
        parsed = load_spec(spec)
        if segment is not None:
            parsed = spec_from_dict({**spec_to_dict(parsed), "segment": segment})
    except SpecError as exc:
        raise _fail(f"spec {spec}: {exc}") from exc
    if not is_segment_name(parsed.segment):
        raise _fail(f"segment {parsed.segment!r} must match {SEGMENT_NAME.pattern}")
    if target in parsed.feature_names:
        raise _fail(f"target {target!r} is also a feature of the spec")
    bar = _ProgressBar(progress)
    try:
        if dask is not None:
            from services.scoring.service.dask_training import run_train_dask

            model = run_train_dask(
                parsed, str(data), target=target, seed=seed, address=dask,
                scale=_settings().score_scale, progress=bar,
            )  # fmt: skip
            source = f"dask:{Path(str(data)).name}"
        else:
            model = train_model(
                parsed,
                read_table(data),
                target=target,
                # the raw header: pandas renames a repeated column x to x.1; the check needs it as written
                columns=read_header(data),
                seed=seed,
                cv_folds=cv_folds,
                tune=tune,
                bad_value=bad_value,
                scale=_settings().score_scale,
                progress=bar,
            )
            source = f"file:{data.name}"
    except TrainingDataError as exc:
        raise _fail(_data_problem(exc)) from exc
    except FeatureValidationError as exc:
        raise _fail("data does not fit the spec:\n" + _listing(exc.errors)) from exc
    except (ValueError, OSError) as exc:
        raise _fail(f"cannot train: {exc}") from exc
    finally:
        bar.close()
    _register_and_print(model, promote=promote, data_source=source)


def _data_problem(exc: Exception) -> str:
    """A training data error in plain words, then its column and rows on lines of their own."""
    column, rows = getattr(exc, "column", None), getattr(exc, "rows", [])
    lines = [f"cannot train: {exc}"]
    if column is not None:
        lines.append(f"  column: {column}")
    if rows:
        lines.append("  rows: " + ", ".join(map(str, rows)))
    return "\n".join(lines)


def _register_and_print(
    model: TrainedModel, *, promote: bool, data_source: str, extra: dict[str, Any] | None = None
) -> None:
    """Register ``model`` (champion when the segment has none, or with ``promote``) and print it as JSON."""
    from services.scoring.repository.artifacts import build_store
    from services.scoring.service.registry import register_model
    from shared.platform import ServiceContext

    ctx = ServiceContext.build(SERVICE)
    try:
        with ctx.db.unit_of_work() as session:
            row = register_model(
                session,
                ctx,
                build_store(ctx),
                model=model,
                promote=promote,
                actor=f"cli:{getpass.getuser()}",
                data_source=data_source,
            )
            report = {
                "version": row.version,
                "segment": row.segment,
                "status": row.status,
                "artifact_sha256": row.artifact_sha256,
                "data_fingerprint": row.data_fingerprint,
                "rows": model.metadata["data"]["rows"],
                "metrics": model.metadata["metrics"],
                **(extra or {}),
            }
    finally:
        ctx.db.dispose()
    typer.echo(json.dumps(report, indent=2))


def _train_from_outcomes(
    segment: str,
    *,
    as_of: str | None,
    min_rows: int,
    seed: int,
    promote: bool,
    cv_folds: int,
    tune: int,
) -> None:
    """``agrifin train --from-outcomes``: label the stored decisions, check there are enough, train
    with the code ``--data`` uses, register (a challenger unless ``--promote``)."""
    from services.scoring.domain.spec import FeatureValidationError
    from services.scoring.domain.training import TrainingDataError, train_model
    from services.scoring.service.outcome_training import outcome_training_set, outcomes_data_source
    from shared.errors import ProblemError
    from shared.platform import ServiceContext

    try:
        day = date.fromisoformat(as_of) if as_of is not None else None
    except ValueError as exc:
        raise _fail(f"--as-of must be a date (YYYY-MM-DD), not {as_of!r}") from exc
    ctx: ScoringContext = ServiceContext.build(SERVICE)
    try:
        with ctx.db.unit_of_work(read_only=True) as session:
            spec, labelled = outcome_training_set(session, ctx, segment=segment, as_of=day)
    except ProblemError as exc:
        raise _fail(exc.detail) from exc
    finally:
        ctx.db.dispose()
    found = (
        f"found {labelled.matured} matured decisions ({labelled.defaults} defaulted,"
        f" {labelled.matured - labelled.defaults} did not) among {labelled.decisions} decisions"
        f" of segment {segment!r} as of {labelled.as_of.isoformat()}"
    )
    if labelled.matured < min_rows:
        raise _fail(f"cannot train from outcomes: {found}; at least {min_rows} are needed (--min-rows)")
    try:
        model = train_model(
            spec,
            labelled.frame,
            target=spec.target,
            seed=seed,
            cv_folds=cv_folds,
            tune=tune,
            scale=_settings().score_scale,
        )
    except FeatureValidationError as exc:
        raise _fail(
            f"stored decisions do not fit the champion's spec; {found}:\n" + _listing(exc.errors)
        ) from exc
    except (TrainingDataError, ValueError) as exc:
        raise _fail(f"cannot train from outcomes: {exc}; {found}") from exc
    _register_and_print(
        model,
        promote=promote,
        data_source=outcomes_data_source(segment, labelled.as_of, labelled.matured),
        extra={"from_outcomes": labelled.summary()},
    )


def register(app: typer.Typer) -> None:
    """Add the scoring commands to ``agrifin``."""
    from services.scoring.cli_batch import score_batch
    from services.scoring.cli_receipts import replay, verify_receipt

    app.command("train")(train)
    app.command("score-batch")(score_batch)
    app.command("verify-receipt")(verify_receipt)
    app.command("replay")(replay)

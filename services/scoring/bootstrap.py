"""First start (``agrifin bootstrap``): a champion for every built-in segment, in seconds.

For each built-in segment without a champion, train on ``bootstrap_rows`` seeded synthetic
rows (``bootstrap_seed``) and register the model as champion. Idempotent: a segment that
has a champion is left alone, except that a bootstrap champion whose artifact is missing
from the model store (no database row and a wiped ``var/models``) is retrained
deterministically and restored when the retrained artifact has the registered SHA-256.
First, every version registered before ``scoring_model_artifacts`` existed gets its row
from a verified local copy (``service.artifacts``).
"""

from __future__ import annotations

import json
import re
import time

import typer
from sqlalchemy.orm import Session

from services.scoring.domain.scale import ScoreScale
from services.scoring.domain.spec import SEGMENTS
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.models import ModelVersion
from services.scoring.repository import artifact_rows
from services.scoring.repository import registry as repo
from services.scoring.repository.artifacts import ModelArtifactError, ModelStore, artifact_files, build_store
from services.scoring.repository.specs import builtin_spec
from services.scoring.service.artifacts import upload_missing_artifacts
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext

ACTOR = "system:bootstrap"
_SYNTHETIC_SOURCE = re.compile(r"^synthetic:(?P<segment>\w+):rows=(?P<rows>\d+):seed=(?P<seed>\d+)$")


def _restore_artifact(session: Session, ctx: ScoringContext, store: ModelStore, row: ModelVersion) -> str:
    """Retrain a synthetic champion whose artifact is gone (locally and from the database);
    store it (files and row) if the hash matches."""
    try:
        store.load(row.segment, row.version, row.artifact_sha256)
        return "present"
    except ModelArtifactError:
        pass
    match = _SYNTHETIC_SOURCE.match(row.data_source)
    if match is None:
        return "missing (not synthetic; cannot be rebuilt)"
    scale = ScoreScale.from_dict(json.loads(row.parameters)["score_scale"])
    seed = int(match["seed"])
    model = train_model(
        builtin_spec(row.segment), generate(row.segment, int(match["rows"]), seed), seed=seed, scale=scale
    )
    if model.artifact_sha256 != row.artifact_sha256:
        return "missing (retraining gave another artifact; libraries changed?)"
    store.save(model, row.version)
    artifact_rows.insert_missing(session, [artifact_files(model).row(row.version, ctx.clock.now())])
    return "restored"


def bootstrap(ctx: ScoringContext) -> None:
    """Train and register a champion for each built-in segment that has none."""
    settings = ctx.settings
    store = build_store(ctx)
    for version, state in upload_missing_artifacts(ctx, store).items():
        typer.echo(f"scoring: artifact of {version} {state}")
    for segment in SEGMENTS:
        with ctx.db.unit_of_work() as session:
            repo.lock_segment(session, segment)
            current = repo.champion(session, segment)
            if current is not None:
                state = _restore_artifact(session, ctx, store, current)
                typer.echo(f"scoring: {segment} champion {current.version} ({state})")
                continue
            start = time.perf_counter()
            rows, seed = settings.bootstrap_rows, settings.bootstrap_seed
            model = train_model(
                builtin_spec(segment), generate(segment, rows, seed), seed=seed, scale=settings.score_scale
            )
            row = register_model(
                session,
                ctx,
                store,
                model=model,
                actor=ACTOR,
                data_source=f"synthetic:{segment}:rows={rows}:seed={seed}",
            )
            auc = model.metadata["metrics"]["test"]["auc"]
            typer.echo(
                f"scoring: trained {segment} champion {row.version} on {rows} synthetic rows "
                f"in {time.perf_counter() - start:.1f} s (test AUC {auc:.3f})"
            )

"""The scoring service's FastAPI application (its jobs are polled by who may train, and auditors).

At start-up every serving process uploads the artifacts of versions registered before
``scoring_model_artifacts`` existed from its verified local copies (``service.artifacts``),
then loads the models that serve each segment (``service.serving.warm``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.scoring.api import artifacts, routers, training
from services.scoring.definition import SERVICE
from services.scoring.domain.spec import SEGMENTS
from services.scoring.repository import registry as repo
from services.scoring.repository.artifacts import ModelArtifactError, ModelStore, build_store
from services.scoring.service import serving
from services.scoring.service.artifacts import upload_missing_artifacts
from services.scoring.settings import ScoringContext
from shared.app import create_service_app
from shared.auth import Role
from shared.jobs import jobs_router
from shared.platform import ServiceContext

log = logging.getLogger("agrifin.scoring")


def champions_ready(ctx: ServiceContext) -> str | None:
    """Readiness: every built-in segment has a champion model."""
    with ctx.db.unit_of_work(read_only=True) as session:
        champions = repo.champions(session)
    missing = [segment for segment in SEGMENTS if segment not in champions]
    if missing:
        return f"no champion model for {', '.join(missing)} (run `agrifin bootstrap`)"
    return None


def create_app(ctx: ScoringContext | None = None) -> FastAPI:
    """Build the scoring app on ctx (a context from the environment when omitted)."""
    ctx = ctx or ServiceContext.build(SERVICE)
    app = create_service_app(
        ctx,
        title="agrifin scoring",
        description="Explainable, signed credit scores for farmers and agricultural enterprises.",
        routers=[
            *routers(),
            training.router,
            artifacts.router,
            jobs_router(Role.ADMIN, Role.CREDIT_MANAGER, Role.AUDITOR),
        ],
        readiness_checks=[champions_ready],
    )
    app.state.model_store = store = build_store(ctx)
    _upload_missing_artifacts(ctx, store)
    _warm(ctx, store)
    return app


def _upload_missing_artifacts(ctx: ScoringContext, store: ModelStore) -> None:
    """Fill the artifact rows of versions registered before they existed (best effort: a
    database that cannot answer yet leaves them to the next start or ``agrifin bootstrap``)."""
    try:
        upload_missing_artifacts(ctx, store)
    except SQLAlchemyError as exc:
        log.warning("model artifacts not uploaded at start-up: %s", exc)


def _warm(ctx: ScoringContext, store: ModelStore) -> None:
    """Load the serving models before the first score (best effort: what fails here is loaded,
    or refused with its reason, by the first score that needs it)."""
    try:
        with ctx.db.unit_of_work(read_only=True) as session:
            loaded = serving.warm(session, ctx, store)
    except (SQLAlchemyError, ModelArtifactError) as exc:
        log.warning("serving models not loaded at start-up: %s", exc)
        return
    log.info("serving models loaded at start-up: %s", ", ".join(loaded) or "none")

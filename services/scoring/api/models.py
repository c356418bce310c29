"""The model registry: train, list, read, promote, and model cards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from fastapi.responses import PlainTextResponse

from services.scoring.api.deps import Reader, ScoringContextDep, StoreDep, Trainer
from services.scoring.presenters import model_detail_out, model_out
from services.scoring.schemas import ModelDetail, ModelList, ModelOut, TrainIn
from services.scoring.service import registry
from shared.api import SessionDep, service_router
from shared.jobs import JobOut, accepted

router = service_router(prefix="/v1", tags=["models"])


@router.post("/models/train", status_code=202, response_model=JobOut)
def train_model(
    body: TrainIn, ctx: ScoringContextDep, session: SessionDep, response: Response, who: Trainer
) -> JobOut:
    """Queue training on seeded synthetic data (a challenger, or the champion if the segment has none).

    Answers 202 with the job to poll at ``GET /v1/jobs/{id}``; its result is the registered model.
    """
    job = registry.enqueue_training(
        session, ctx, segment=body.segment, rows=body.rows, seed=body.seed, actor=who.actor
    )
    return accepted(response, job)


@router.get("/models", response_model=ModelList)
def list_models(
    session: SessionDep,
    _: Reader,
    segment: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ModelList:
    """Registered versions, per segment newest first."""
    rows = registry.list_versions(session, segment=segment, status=status, limit=limit, offset=offset)
    return ModelList(models=[model_out(row) for row in rows])


@router.get("/models/{version}", response_model=ModelDetail)
def get_model(version: str, session: SessionDep, _: Reader) -> ModelDetail:
    """A version: status, artifact SHA-256, spec, parameters, library versions, data, metrics,
    and every time it was promoted (who, when, replacing which version)."""
    row = registry.get_version(session, version)
    return model_detail_out(row, registry.version_promotions(session, version))


@router.post("/models/{version}/promote", response_model=ModelOut)
def promote_model(
    version: str, ctx: ScoringContextDep, session: SessionDep, store: StoreDep, who: Trainer
) -> ModelOut:
    """Make a version its segment's champion; the previous champion is retired (audited)."""
    return model_out(registry.promote(session, ctx, store, version=version, actor=who.actor))


@router.get("/models/{version}/card")
def model_card(version: str, session: SessionDep, store: StoreDep, _: Reader) -> dict[str, Any]:
    """The model card (JSON): use, data, metrics, calibration, scale, constraints, drivers."""
    return registry.model_card(session, store, version)


@router.get(
    "/models/{version}/card.md",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}},
)
def model_card_markdown(version: str, session: SessionDep, store: StoreDep, _: Reader) -> PlainTextResponse:
    """The model card as Markdown."""
    text = registry.model_card_md(session, store, version)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")

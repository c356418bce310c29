"""The model registry: list, read, promote, model cards and their performance chart.

Training (``POST /v1/models/train``) is in ``api.training``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from fastapi.responses import PlainTextResponse

from services.scoring.api.deps import LangDep, Reader, ScoringContextDep, StoreDep, Trainer
from services.scoring.presenters import model_detail_out, model_out
from services.scoring.schemas import ModelDetail, ModelList, ModelOut
from services.scoring.service import registry
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1", tags=["models"])


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
def model_card(
    version: str, ctx: ScoringContextDep, session: SessionDep, store: StoreDep, _: Reader
) -> dict[str, Any]:
    """The model card (JSON): use, data, metrics, calibration, scale, constraints, drivers, and
    ``performance``: how the version's loans performed (``GET /v1/monitoring/performance`` of
    the version, as of today) with the path of its chart."""
    return registry.model_card(session, ctx, store, version)


@router.get(
    "/models/{version}/card.md",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}},
)
def model_card_markdown(
    version: str, ctx: ScoringContextDep, session: SessionDep, store: StoreDep, _: Reader
) -> PlainTextResponse:
    """The model card as Markdown (its performance section links the chart)."""
    text = registry.model_card_md(session, ctx, store, version)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.get(
    "/models/{version}/performance.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "SVG chart"}},
)
def model_performance_svg(
    version: str, ctx: ScoringContextDep, session: SessionDep, lang: LangDep, _: Reader
) -> Response:
    """The model card's chart: realised default rate vs mean predicted PD per grade of the
    version's matured loans, as of today (``?lang=zh`` or Accept-Language for Chinese)."""
    svg = registry.performance_chart(session, ctx, version, lang)
    return Response(svg, media_type="image/svg+xml; charset=utf-8", headers={"Content-Language": lang})

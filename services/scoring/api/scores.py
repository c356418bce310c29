"""Scores: create a signed, explained decision; read it back; replay it; draw it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Response

from services.scoring.api.deps import (
    Inspector,
    LangDep,
    Reader,
    Replayer,
    Scorer,
    ScoringContextDep,
    StoreDep,
)
from services.scoring.presenters import decision_out, scored_decision_out, shadow_out
from services.scoring.schemas import ReplayOut, ScoreIn, ScoreList, ScoreOut, ShadowList
from services.scoring.service import decisions
from services.scoring.service.replay import replay_decision
from shared.api import SessionDep, model_response, service_router
from shared.clock import as_utc

router = service_router(prefix="/v1", tags=["scores"])

Hint = Literal["approve", "review", "decline"]


@router.post("/scores", status_code=201, response_model=ScoreOut)
def create_score(
    body: ScoreIn, ctx: ScoringContextDep, session: SessionDep, store: StoreDep, lang: LangDep, who: Scorer
) -> Response:
    """Score an applicant with the segment's champion: points, PD, grade, reasons, signed receipt.

    ``decision_hint``: approve when score ≥ ``approve_min_score`` (580), decline when score <
    ``decline_below_score`` (520), review in between. Reasons are the (up to four) features
    that cost the most points; ``?lang=zh`` or ``Accept-Language: zh`` gives Chinese text.
    Invalid features are a 422 naming each field; nothing is stored then. ``feature_sources``
    (optional) says where each value came from — ``applicant``, ``marketplace`` (escrow's trade
    summary, as of ``marketplace_as_of``) or ``default`` (no value); a name the spec does not
    have, another word, or a source contradicting the features is a 422. The answer lists every
    feature's source and ``challenger_disagreement``: a challenger scored in shadow gave
    another decision hint.
    """
    decision = decisions.score_applicant(
        session,
        ctx,
        store,
        segment=body.segment,
        subject_id=body.subject_id,
        features=body.features,
        monitoring_group=body.monitoring.group if body.monitoring else None,
        actor=who.actor,
        feature_sources=body.feature_sources,
        marketplace_as_of=body.marketplace_as_of,
    )
    # built from the values just stored; response_model is not run on it again
    return model_response(scored_decision_out(decision, lang), status_code=201)


@router.get("/scores", response_model=ScoreList)
def list_scores(
    session: SessionDep,
    lang: LangDep,
    _: Reader,
    subject_id: Annotated[str | None, Query(max_length=128)] = None,
    segment: Annotated[str | None, Query(max_length=40)] = None,
    model_version: Annotated[str | None, Query(max_length=64)] = None,
    decision_hint: Annotated[Hint | None, Query()] = None,
    scored_from: Annotated[datetime | None, Query(description="ISO-8601, inclusive")] = None,
    scored_to: Annotated[datetime | None, Query(description="ISO-8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ScoreList:
    """Stored decisions, newest first, narrowed by subject, segment, model version, hint and a
    time window (any combination); ``next_offset`` is the next page's offset, null on the last."""
    where = decisions.DecisionFilter(
        subject_id=subject_id,
        segment=segment,
        model_version=model_version,
        decision_hint=decision_hint,
        scored_from=as_utc(scored_from) if scored_from is not None else None,
        scored_to=as_utc(scored_to) if scored_to is not None else None,
    )
    rows = decisions.list_decisions(session, where, limit=limit + 1, offset=offset)
    return ScoreList(
        scores=[decision_out(row, lang) for row in rows[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(rows) > limit else None,
    )


@router.get("/scores/{score_id}", response_model=ScoreOut)
def get_score(score_id: str, session: SessionDep, lang: LangDep, _: Reader) -> ScoreOut:
    """A stored decision with its contributions, reasons and receipt."""
    return decision_out(decisions.get_decision(session, score_id), lang)


@router.get("/scores/{score_id}/shadow", response_model=ShadowList)
def get_shadow_scores(score_id: str, session: SessionDep, _: Inspector) -> ShadowList:
    """What the segment's challengers scored for this decision (shadow mode)."""
    rows = decisions.shadow_scores(session, score_id)
    return ShadowList(decision_id=score_id, shadow_scores=[shadow_out(row) for row in rows])


@router.post("/scores/{score_id}/replay", response_model=ReplayOut)
def replay_score(
    score_id: str, ctx: ScoringContextDep, session: SessionDep, store: StoreDep, who: Replayer
) -> dict[str, Any]:
    """Recompute a decision from its stored inputs with its stored model version (bit for bit)."""
    return replay_decision(session, ctx, store, decision_id=score_id, actor=who.actor)


@router.get(
    "/scores/{score_id}/waterfall.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "PNG waterfall chart"}},
)
def score_waterfall(score_id: str, session: SessionDep, _: Reader) -> Response:
    """A waterfall chart from base points through each feature's points to the score (English)."""
    png = decisions.waterfall_png(decisions.get_decision(session, score_id))
    return Response(png, media_type="image/png")


@router.get(
    "/scores/{score_id}/waterfall.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "SVG waterfall chart"}},
)
def score_waterfall_svg(score_id: str, session: SessionDep, lang: LangDep, _: Reader) -> Response:
    """The waterfall as SVG: a ``<title>``, a ``<desc>`` that says the whole chart in words (its
    text alternative) and labels in the caller's language (``?lang=zh``)."""
    svg = decisions.waterfall_svg(decisions.get_decision(session, score_id), lang)
    return Response(svg, media_type="image/svg+xml; charset=utf-8", headers={"Content-Language": lang})

"""Segments: their feature specs and their champion history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from services.scoring.api.deps import Reader, StoreDep
from services.scoring.presenters import promotion_out, segment_detail_view, segment_out
from services.scoring.schemas import ChampionHistory, SegmentList
from services.scoring.service import registry, segments
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1", tags=["segments"])


@router.get("/segments", response_model=SegmentList)
def list_segments(session: SessionDep, _: Reader) -> SegmentList:
    """Built-in segments and those registered by bring-your-own-data training."""
    return SegmentList(segments=[segment_out(entry) for entry in segments.list_segments(session)])


@router.get("/segments/{segment}")
def get_segment(segment: str, session: SessionDep, store: StoreDep, _: Reader) -> dict[str, Any]:
    """A segment's feature spec (types, ranges, categories, monotone directions, reason codes)
    and an ``example`` applicant that scores."""
    return segment_detail_view(segments.segment_detail(session, store, segment))


@router.get("/segments/{segment}/champions", response_model=ChampionHistory)
def champion_history(
    segment: str,
    session: SessionDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ChampionHistory:
    """A segment's champion history, newest first: who promoted which version when, replacing which."""
    champion, rows = registry.champion_history(session, segment, limit=limit + 1, offset=offset)
    return ChampionHistory(
        segment=segment,
        champion_version=champion,
        promotions=[promotion_out(row) for row in rows[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(rows) > limit else None,
    )

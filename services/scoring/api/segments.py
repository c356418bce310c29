"""Segments and their feature specs."""

from __future__ import annotations

from typing import Any

from services.scoring.api.deps import Reader, StoreDep
from services.scoring.presenters import segment_detail_view, segment_out
from services.scoring.schemas import SegmentList
from services.scoring.service import segments
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

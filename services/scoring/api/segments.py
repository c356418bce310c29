"""Segments and their feature specs."""

from __future__ import annotations

from typing import Any

from services.scoring.api.deps import Reader, StoreDep
from services.scoring.api.schemas import SegmentList
from services.scoring.service import segments
from services.scoring.service.common import SEGMENT_NAME
from shared.api import SessionDep, service_router
from shared.errors import NotFound

router = service_router(prefix="/v1", tags=["segments"])


@router.get("/segments", response_model=SegmentList)
def list_segments(session: SessionDep, _: Reader) -> dict[str, Any]:
    """Built-in segments and those registered by bring-your-own-data training."""
    return {"segments": segments.list_segments(session)}


@router.get("/segments/{segment}")
def get_segment(segment: str, session: SessionDep, store: StoreDep, _: Reader) -> dict[str, Any]:
    """A segment's feature spec (types, ranges, categories, monotone directions, reason codes)
    and an ``example`` applicant that scores."""
    if not SEGMENT_NAME.match(segment):
        raise NotFound(f"unknown segment {segment!r}")
    return segments.segment_detail(session, store, segment)

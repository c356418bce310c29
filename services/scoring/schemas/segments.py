"""Bodies of the segments resource."""

from __future__ import annotations

from pydantic import BaseModel


class SegmentOut(BaseModel):
    """A segment: built in or registered by bring-your-own-data training."""

    segment: str
    source: str
    description: str
    features: int
    champion_version: str | None


class SegmentList(BaseModel):
    """Every segment."""

    segments: list[SegmentOut]

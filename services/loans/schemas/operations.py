"""Request and response bodies of the business date and close of business."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BusinessDateIn(BaseModel):
    """A new business date."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date


class BusinessDateOut(BaseModel):
    """The business date, where it comes from, and the latest closed date."""

    date: dt.date
    source: Literal["set", "clock"]
    last_cob_date: dt.date | None


class CobIn(BaseModel):
    """The date to close (default: the business date)."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date | None = None


class CorrectionIn(BaseModel):
    """A correction of the business date (back, or further than a move may go) and why."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date
    reason: str = Field(min_length=1, max_length=2000)


class CorrectionOut(BaseModel):
    """A correction of the business date: proposed by one admin, confirmed by another."""

    id: str
    status: Literal["proposed", "confirmed"]
    from_date: dt.date
    to_date: dt.date
    reason: str
    proposed_by: str
    proposed_at: dt.datetime
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    allowed_actions: list[str]


class CorrectionList(BaseModel):
    """The latest corrections, newest first."""

    corrections: list[CorrectionOut]

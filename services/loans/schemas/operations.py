"""Request and response bodies of the business date and close of business."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict


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

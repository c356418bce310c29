"""Types shared by the escrow API's bodies: money as integer minor units, parties, strictness."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.money import check_currency

MAX_MINOR = 10**15
"""Largest amount accepted anywhere (far above any order; keeps every sum inside BIGINT)."""

PositiveMinor = Annotated[int, Field(strict=True, gt=0, le=MAX_MINOR)]
NonNegativeMinor = Annotated[int, Field(strict=True, ge=0, le=MAX_MINOR)]
Party = Annotated[str, Field(min_length=1, max_length=128)]


def known_currency(value: str) -> str:
    """A validator: ``value`` if it is a known ISO 4217 code."""
    check_currency(value)
    return value


class Strict(BaseModel):
    """Bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")

"""The trade summary of a marketplace party as seller (``GET /v1/parties/{party_id}/trade-summary``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Rate(BaseModel):
    """A ratio as an exact decimal string with four places, and the counts it comes from."""

    value: str = Field(description='numerator / denominator, e.g. "0.9500"; "0.0000" when nothing to count')
    numerator: int
    denominator: int


class CurrencyVolume(BaseModel):
    """One currency's money of the seller's escrows in the window (integer minor units)."""

    currency: str
    escrows: int
    completed_escrows: int
    gross_minor: int = Field(description="released to the seller's side, before the platform fee")
    fees_minor: int = Field(description="platform fees on those releases (from the ledger)")
    net_minor: int = Field(description="gross less fees (before any assignment of proceeds to a lender)")
    refunds: int = Field(description="lots with money refunded to the buyer")
    refunded_minor: int


class TradeSummaryOut(BaseModel):
    """A party's trade as seller over the twelve months before ``as_of``."""

    party_id: str
    as_of: datetime
    window_start: datetime = Field(description="inclusive; escrows created in [window_start, as_of)")
    escrows: int = Field(description="funded escrows created in the window, every currency")
    completed_escrows: int
    on_time_delivery_rate: Rate
    acceptance_rate: Rate
    dispute_rate: Rate
    currencies: list[CurrencyVolume]

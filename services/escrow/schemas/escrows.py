"""Bodies of the escrow and lot routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator

from services.escrow.schemas.common import (
    MAX_MINOR,
    NonNegativeMinor,
    Party,
    PositiveMinor,
    Strict,
    known_currency,
)


class LotIn(Strict):
    """One lot of a new escrow."""

    lot_ref: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._~-]+$")]
    description: Annotated[str, Field(max_length=500)] = ""
    amount_minor: PositiveMinor
    delivery_deadline: AwareDatetime | None = None
    """Overrides the escrow's delivery deadline for this lot."""


class FeeIn(Strict):
    """The platform fee on released money: ``bps`` of each release, at least ``min_minor``."""

    bps: Annotated[int, Field(strict=True, ge=0, le=10_000)]
    min_minor: NonNegativeMinor = 0


class EscrowIn(Strict):
    """A new escrow for one marketplace order."""

    order_ref: Party
    buyer_id: Party
    seller_id: Party
    currency: str
    lots: Annotated[list[LotIn], Field(min_length=1, max_length=100)]
    fee: FeeIn
    inspection_period_hours: Annotated[int, Field(strict=True, gt=0, le=24 * 90)]
    funding_deadline: AwareDatetime
    delivery_deadline: AwareDatetime
    marketplace: Party | None = None
    """Owner of the escrow; only admins choose it (default ``admin``), marketplace keys own theirs."""

    _check_currency = field_validator("currency")(known_currency)

    @field_validator("lots")
    @classmethod
    def _unique_lot_refs(cls, lots: list[LotIn]) -> list[LotIn]:
        seen: set[str] = set()
        for lot in lots:
            if lot.lot_ref in seen:
                raise ValueError(f"duplicate lot_ref {lot.lot_ref!r}")
            seen.add(lot.lot_ref)
        if sum(lot.amount_minor for lot in lots) > MAX_MINOR:
            raise ValueError(f"the lots add up to more than {MAX_MINOR}")
        return lots

    @field_validator("seller_id")
    @classmethod
    def _distinct_parties(cls, seller_id: str, info: ValidationInfo) -> str:
        if seller_id == info.data.get("buyer_id"):
            raise ValueError("buyer_id and seller_id must differ")
        return seller_id


class FeeOut(BaseModel):
    """Fee terms of an escrow."""

    bps: int
    min_minor: int


class LotOut(BaseModel):
    """A lot's state; ``released_minor`` is gross (before fee), ``refunded_minor`` to the buyer."""

    lot_ref: str
    description: str
    amount_minor: int
    status: str
    released_minor: int
    refunded_minor: int
    delivery_deadline: datetime
    carrier: str | None
    tracking: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    inspection_ends_at: datetime | None
    closed_at: datetime | None
    rejection_reason: str | None
    dispute_reason: str | None
    allowed_actions: list[str]


class TimelineItem(BaseModel):
    """One thing that happened to an escrow."""

    at: datetime
    event: str
    lot_ref: str | None
    actor: str
    data: dict[str, Any]


class PaymentOut(BaseModel):
    """A payment started at a provider to fund an escrow."""

    id: str
    escrow_id: str
    provider: str
    provider_ref: str
    currency: str
    amount_minor: int
    received_minor: int | None
    status: str
    detail: str | None
    created_at: datetime
    updated_at: datetime


class EscrowOut(BaseModel):
    """An escrow with its money read from the ledger.

    Always ``funded_minor == released_minor + refunded_minor + fees_minor + held_minor``;
    ``released_minor`` is what went to the seller's side after fees (seller and lenders).
    """

    id: str
    marketplace: str
    order_ref: str
    buyer_id: str
    seller_id: str
    currency: str
    total_minor: int
    fee: FeeOut
    inspection_period_hours: int
    funding_deadline: datetime
    delivery_deadline: datetime
    provider: str
    status: str
    funded_minor: int
    released_minor: int
    refunded_minor: int
    fees_minor: int
    held_minor: int
    allowed_actions: list[str]
    lots: list[LotOut]
    payments: list[PaymentOut]
    timeline: list[TimelineItem]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class EscrowSummary(BaseModel):
    """An escrow in a list (its money view is on ``GET /v1/escrows/{id}``)."""

    id: str
    marketplace: str
    order_ref: str
    buyer_id: str
    seller_id: str
    status: str
    currency: str
    total_minor: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class EscrowList(BaseModel):
    """A page of escrows."""

    escrows: list[EscrowSummary]


class ShipIn(Strict):
    """The seller shipped a lot."""

    carrier: Annotated[str, Field(min_length=1, max_length=100)]
    tracking: Annotated[str, Field(min_length=1, max_length=100)]


class AcceptIn(Strict):
    """The buyer accepts a lot: in full, or ``amount_minor`` of it (the rest is refunded)."""

    amount_minor: PositiveMinor | None = None


class RejectIn(Strict):
    """The buyer rejects a delivered lot."""

    reason: Annotated[str, Field(max_length=500)] = ""


class DisputeIn(Strict):
    """Open a dispute on a lot."""

    reason: Annotated[str, Field(min_length=1, max_length=500)]


class ResolveIn(Strict):
    """An arbiter's decision: ``seller_minor`` of the lot released, the rest refunded."""

    seller_minor: NonNegativeMinor


class CancelIn(Strict):
    """Why an escrow is cancelled."""

    reason: Annotated[str, Field(max_length=500)] = ""

"""Bodies of the money-movement routes: provider callbacks, sandbox, payouts, assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from services.escrow.schemas.common import Party, PositiveMinor, Strict, known_currency
from services.escrow.schemas.escrows import PaymentOut


class SandboxConfirmIn(Strict):
    """What the sandbox should report for a payment (defaults: confirmed, the exact amount)."""

    outcome: Literal["confirmed", "failed"] = "confirmed"
    amount_minor: PositiveMinor | None = None
    currency: str | None = None

    @field_validator("currency")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else known_currency(value)


class SandboxSettleIn(Strict):
    """What the sandbox should report for a payout."""

    outcome: Literal["settled", "returned"] = "settled"


class CallbackResult(BaseModel):
    """How a provider callback was handled."""

    status: Literal["processed", "duplicate", "ignored"]
    event_id: str
    detail: str


class PayoutIn(Strict):
    """Pay a payee's balance out (all of it unless ``amount_minor``); name exactly one payee."""

    seller_id: Party | None = None
    buyer_id: Party | None = None
    lender_id: Party | None = None
    currency: str
    amount_minor: PositiveMinor | None = None

    _check_currency = field_validator("currency")(known_currency)

    @model_validator(mode="after")
    def _one_payee(self) -> PayoutIn:
        if sum(x is not None for x in (self.seller_id, self.buyer_id, self.lender_id)) != 1:
            raise ValueError("name exactly one of seller_id, buyer_id, lender_id")
        return self


class PayoutOut(BaseModel):
    """A payout and its state at the provider."""

    id: str
    provider: str
    provider_ref: str
    payee_kind: str
    payee_id: str
    currency: str
    amount_minor: int
    status: str
    created_at: datetime
    updated_at: datetime


class PayoutList(BaseModel):
    """A page of payouts."""

    payouts: list[PayoutOut]


class AssignmentIn(Strict):
    """Assign ``share_bps`` of a seller's every release to a lender until ``cap_minor`` is swept."""

    seller_id: Party
    lender_id: Party
    currency: str
    share_bps: Annotated[int, Field(strict=True, gt=0, le=10_000)]
    cap_minor: PositiveMinor
    loan_ref: Party

    _check_currency = field_validator("currency")(known_currency)


class AssignmentOut(BaseModel):
    """An assignment of proceeds and how much of its cap has been swept."""

    id: str
    seller_id: str
    lender_id: str
    currency: str
    share_bps: int
    cap_minor: int
    swept_minor: int
    remaining_minor: int
    refunded_minor: int
    """Of ``swept_minor``, what has been refunded to the seller (sweeps that over-paid the loan)."""
    loan_ref: str
    status: str
    created_at: datetime
    updated_at: datetime


class AssignmentList(BaseModel):
    """A page of assignments."""

    assignments: list[AssignmentOut]


class AssignmentRefundIn(Strict):
    """Refund ``amount_minor`` of what an assignment swept to the seller; ``reference`` names it once."""

    amount_minor: PositiveMinor
    reference: Annotated[str, Field(min_length=1, max_length=128)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class AssignmentRefundOut(BaseModel):
    """Swept money refunded to the seller: lender receivable -> seller payable (``entry_ref``)."""

    id: int
    assignment_id: str
    reference: str
    reason: str
    currency: str
    amount_minor: int
    entry_ref: str
    created_at: datetime
    created_by: str


class AssignmentSweepOut(BaseModel):
    """One release's share swept to the lender, and the ``assignment.swept`` event it produced."""

    id: int
    escrow_id: str
    lot_ref: str
    entry_ref: str
    event_id: str | None
    """None for sweeps recorded before escrow kept the event id."""
    amount_minor: int
    created_at: datetime


class AssignmentSweeps(BaseModel):
    """An assignment's sweeps and refunds, oldest first; ``net_minor`` = swept - refunded."""

    assignment: AssignmentOut
    sweeps: list[AssignmentSweepOut]
    refunds: list[AssignmentRefundOut]
    swept_minor: int
    refunded_minor: int
    net_minor: int


class SandboxPaymentResult(CallbackResult):
    """The callback's result and the payment afterwards."""

    payment: PaymentOut


class SandboxPayoutResult(CallbackResult):
    """The callback's result and the payout afterwards."""

    payout: PayoutOut

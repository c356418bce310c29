"""Request and response bodies of loans, their schedule and their transactions."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OutstandingOut(BaseModel):
    """What is still owed, per component."""

    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int


class LoanOut(BaseModel):
    """A loan and its account as of ``as_of``."""

    id: str
    application_id: str
    product_id: str
    borrower_id: str
    status: str
    currency: str
    principal_minor: int
    annual_interest_rate: str
    number_of_repayments: int
    disbursed_on: dt.date | None
    maturity_date: dt.date | None
    disbursement_fees_minor: int
    outstanding: OutstandingOut
    credit_balance_minor: int
    interest_accrued_minor: int
    days_past_due: int
    delinquency_bucket: str
    as_of: dt.date | None
    last_cob_date: dt.date | None
    closed_on: dt.date | None
    written_off_on: dt.date | None
    approved_by: str
    allowed_actions: list[str]
    """What may be done to the loan now (disburse, repay, reverse, write_off)."""


class DisburseIn(BaseModel):
    """When the money went out."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date


class RepaymentIn(BaseModel):
    """Money received; ``external_id`` (unique per loan) makes posting it idempotent."""

    model_config = ConfigDict(extra="forbid")

    amount_minor: int = Field(gt=0, le=10**15)
    date: dt.date
    external_id: str = Field(min_length=1, max_length=128)
    source: Literal["borrower", "sale_proceeds"] = "borrower"


class ReverseIn(BaseModel):
    """A reversal's date (default: the business date) and reason."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date | None = None
    note: str | None = Field(default=None, max_length=2000)


class InstallmentAllocationOut(BaseModel):
    """What a repayment paid on one installment."""

    installment: int
    penalty_minor: int
    fee_minor: int
    interest_minor: int
    principal_minor: int


class AllocationOut(BaseModel):
    """How a repayment is allocated (after every back-dated change so far)."""

    penalty_minor: int
    fee_minor: int
    interest_minor: int
    principal_minor: int
    overpayment_minor: int
    recovery_minor: int
    by_installment: list[InstallmentAllocationOut]


class TransactionOut(BaseModel):
    """One transaction on a loan."""

    id: str
    loan_id: str
    sequence: int
    kind: str
    date: dt.date
    amount_minor: int
    currency: str
    external_id: str | None
    source: str | None
    reverses_id: str | None
    reversed_by_id: str | None
    installment_number: int | None
    note: str | None
    created_by: str
    allocation: AllocationOut | None


class InstallmentOut(BaseModel):
    """One installment: the fixed schedule and what is paid and outstanding on it."""

    number: int
    from_date: dt.date
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int
    balance_minor: int
    paid_minor: int
    outstanding_minor: int
    settled_on: dt.date | None
    overdue: bool
    status: Literal["paid", "overdue", "due", "partially_paid", "upcoming"]


class LoanScheduleOut(BaseModel):
    """A loan's stored schedule with its replayed paid/overdue state."""

    loan_id: str
    currency: str
    disbursement_fees_minor: int
    as_of: dt.date | None
    rows: list[InstallmentOut]

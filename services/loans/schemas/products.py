"""Request and response bodies of products, schedule previews and borrowers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.loans.schemas.terms import DecimalStr, LoanTermsModel, field_error
from shared.errors import ValidationProblem

MAX_BORROWER_IDS = 100
"""Most borrowers one ``GET /v1/borrowers?ids=`` names (a page of the review queue)."""
ID_MAX_LENGTH = 36


class ProductIn(LoanTermsModel):
    """A new loan product: name, limits, approval and repayment-source rules, and terms."""

    name: str = Field(min_length=1, max_length=120)
    min_principal_minor: int = Field(gt=0, le=10**15)
    max_principal_minor: int = Field(gt=0, le=10**15)
    min_repayments: int = Field(default=1, ge=1, le=600)
    max_repayments: int = Field(ge=1, le=600)
    min_annual_interest_rate: DecimalStr | None = Field(default=None, ge=0)
    max_annual_interest_rate: DecimalStr | None = Field(default=None, ge=0)
    maker_checker: bool = True
    allow_sale_proceeds: bool = False
    score_without_marketplace: bool = False
    """When escrow cannot give a linked borrower's trade summary, score with the omitted
    marketplace features defaulted instead of waiting as ``pending_score`` for escrow."""
    sale_proceeds_share_bps: int | None = Field(default=None, ge=1, le=10_000)
    """The share (basis points) of each of the borrower's escrow releases assigned to the lender
    when a loan of the product is disbursed to a borrower linked to a marketplace party;
    required when ``allow_sale_proceeds`` is true, not allowed otherwise."""

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> ProductIn:
        if self.allow_sale_proceeds and self.sale_proceeds_share_bps is None:
            raise field_error("sale_proceeds_share_bps", None, "is required when allow_sale_proceeds is true")
        if not self.allow_sale_proceeds and self.sale_proceeds_share_bps is not None:
            raise field_error(
                "sale_proceeds_share_bps",
                self.sale_proceeds_share_bps,
                "is only allowed when allow_sale_proceeds is true",
            )
        if self.min_principal_minor > self.max_principal_minor:
            raise ValueError("min_principal_minor must not exceed max_principal_minor")
        if self.min_repayments > self.max_repayments:
            raise ValueError("min_repayments must not exceed max_repayments")
        multiple = self.installment_multiple_of_minor
        if multiple is not None and multiple > self.max_principal_minor:
            raise field_error(
                "installment_multiple_of_minor",
                multiple,
                f"must not be larger than max_principal_minor ({self.max_principal_minor})",
            )
        low, high = self.min_annual_interest_rate, self.max_annual_interest_rate
        if low is not None and high is not None and low > high:
            raise ValueError("min_annual_interest_rate must not exceed max_annual_interest_rate")
        return self


class ProductOut(BaseModel):
    """A stored product."""

    id: str
    name: str
    currency: str
    min_principal_minor: int
    max_principal_minor: int
    min_repayments: int
    max_repayments: int
    min_annual_interest_rate: str | None
    max_annual_interest_rate: str | None
    maker_checker: bool
    allow_sale_proceeds: bool
    score_without_marketplace: bool
    sale_proceeds_share_bps: int | None
    terms: LoanTermsModel
    created_at: datetime
    created_by: str


class PreviewIn(BaseModel):
    """A schedule to compute (nothing is stored): a product id or inline terms, and the loan."""

    model_config = ConfigDict(extra="forbid")

    terms: str | LoanTermsModel
    principal_minor: int = Field(gt=0, le=10**15)
    annual_interest_rate: DecimalStr = Field(ge=0, le=1000)
    number_of_repayments: int = Field(ge=1, le=600)
    disbursement_date: date
    first_repayment_date: date | None = None


class ScheduleRowOut(BaseModel):
    """One installment of a schedule."""

    number: int
    from_date: date
    due_date: date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int
    balance_minor: int


class ScheduleTotals(BaseModel):
    """Column sums of a schedule (disbursement fees are due at disbursement, not in a row)."""

    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int
    disbursement_fees_minor: int


class PreviewOut(BaseModel):
    """A computed schedule."""

    currency: str
    maturity_date: date
    level_installment_minor: int | None
    rows: list[ScheduleRowOut]
    totals: ScheduleTotals


class BorrowerIn(BaseModel):
    """A new borrower; name, national id and phone are stored encrypted."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["farmer", "enterprise"]
    name: str = Field(min_length=1, max_length=200)
    national_id: str = Field(min_length=3, max_length=64)
    phone: str | None = Field(default=None, min_length=3, max_length=32)
    region: str | None = Field(default=None, max_length=120)
    marketplace_party_id: str | None = Field(default=None, min_length=1, max_length=128)
    """The borrower's party id in escrow (as a marketplace seller): its trade history fills the
    marketplace features of its applications, and its sale proceeds can repay its loans."""


class BorrowerOut(BaseModel):
    """A borrower, decrypted for an authorised reader."""

    id: str
    type: str
    name: str
    national_id: str
    phone: str | None
    region: str | None
    marketplace_party_id: str | None
    created_at: datetime


def parse_id_list(raw: str, *, field: str = "query.ids", most: int = MAX_BORROWER_IDS) -> list[str]:
    """Comma-separated ids, each once in the order given; a 422 naming ``field`` when malformed."""
    ids = [part.strip() for part in raw.split(",")]
    if any(not i for i in ids):
        raise ValidationProblem([(field, "must be ids separated by commas, with none empty")])
    if any(len(i) > ID_MAX_LENGTH for i in ids):
        raise ValidationProblem([(field, f"an id has at most {ID_MAX_LENGTH} characters")])
    unique = list(dict.fromkeys(ids))
    if len(unique) > most:
        raise ValidationProblem([(field, f"names {len(unique)} ids; at most {most} at a time")])
    return unique

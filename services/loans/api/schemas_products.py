"""API schemas of products, schedule previews and borrowers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.loans.domain import (
    AllocationComponent,
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    DaysInMonth,
    DaysInYear,
    InterestCalculationPeriod,
    InterestMethod,
    PenaltyFrequency,
    RepaymentFrequency,
)
from shared.money import RoundingMode


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("send decimals as strings (floats are not accepted)")
    return value


DecimalStr = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False)]
"""A decimal sent as a string ("18.5"); floats are refused, the JSON answer is a string."""

Minor = Annotated[int, Field(ge=0, le=10**15)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class FeeIn(BaseModel):
    """A fee charged at disbursement or with every installment."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    timing: ChargeTiming
    calculation: ChargeCalculation
    amount_minor: Minor = 0
    percent: DecimalStr = Decimal(0)


class PenaltyIn(BaseModel):
    """The overdue penalty (flat or percent of overdue principal + interest)."""

    model_config = ConfigDict(extra="forbid")

    calculation: ChargeCalculation
    frequency: PenaltyFrequency = PenaltyFrequency.ONCE
    amount_minor: Minor = 0
    percent: DecimalStr = Decimal(0)


class TermsIn(BaseModel):
    """The schedule and arrears terms of a product (see services/loans/domain/terms.py)."""

    model_config = ConfigDict(extra="forbid")

    currency: Currency
    interest_method: InterestMethod = InterestMethod.DECLINING_BALANCE
    amortization: Amortization = Amortization.EQUAL_INSTALLMENTS
    interest_calculation_period: InterestCalculationPeriod = InterestCalculationPeriod.SAME_AS_REPAYMENT
    days_in_year: DaysInYear = DaysInYear.ACTUAL
    days_in_month: DaysInMonth = DaysInMonth.ACTUAL
    repayment_frequency: RepaymentFrequency = RepaymentFrequency.MONTHS
    repay_every: int = Field(default=1, ge=1, le=366)
    installment_multiple_of_minor: int | None = Field(default=None, ge=1)
    grace_on_principal_periods: int = Field(default=0, ge=0)
    grace_on_interest_payment_periods: int = Field(default=0, ge=0)
    grace_on_interest_charged_periods: int = Field(default=0, ge=0)
    principal_moratorium_every: int | None = Field(default=None, ge=1)
    bullet: bool = False
    balloon_percent: DecimalStr | None = None
    fees: list[FeeIn] = Field(default_factory=list, max_length=20)
    overdue_penalty: PenaltyIn | None = None
    allocation_order: list[AllocationComponent] = Field(
        default_factory=lambda: [
            AllocationComponent.PENALTY,
            AllocationComponent.FEE,
            AllocationComponent.INTEREST,
            AllocationComponent.PRINCIPAL,
        ]
    )
    rounding_mode: RoundingMode = RoundingMode.HALF_EVEN
    arrears_tolerance_minor: Minor = 0

    def terms_dict(self) -> dict[str, Any]:
        """The terms fields as the codec's plain dict."""
        return {
            name: value
            for name, value in self.model_dump(mode="json").items()
            if name in TermsIn.model_fields
        }


class ProductIn(TermsIn):
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

    @model_validator(mode="after")
    def _limits_are_ordered(self) -> ProductIn:
        if self.min_principal_minor > self.max_principal_minor:
            raise ValueError("min_principal_minor must not exceed max_principal_minor")
        if self.min_repayments > self.max_repayments:
            raise ValueError("min_repayments must not exceed max_repayments")
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
    terms: dict[str, Any]
    created_at: datetime
    created_by: str


class PreviewIn(BaseModel):
    """A schedule to compute (nothing is stored): a product id or inline terms, and the loan."""

    model_config = ConfigDict(extra="forbid")

    terms: str | TermsIn
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


class BorrowerOut(BaseModel):
    """A borrower, decrypted for an authorised reader."""

    id: str
    type: str
    name: str
    national_id: str
    phone: str | None
    region: str | None
    created_at: datetime

"""Loan terms at the boundary, defined once: ``LoanTermsModel`` is the API schema (a product
body, an inline preview) *and* the JSON stored on products and loans.

Decimals travel as strings, enums as their values, so a stored product reads back to the
exact terms it was created with (``load_terms(dump_terms(t)) == t``). The model checks shape
(types, ranges, no floats); ``to_domain`` builds the domain's ``LoanTerms``, which checks the
rules and raises ``ValueError`` with a message fit for a problem ``detail``.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from services.loans.domain import (
    AllocationComponent,
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    DaysInMonth,
    DaysInYear,
    Fee,
    InterestCalculationPeriod,
    InterestMethod,
    LoanTerms,
    OverduePenalty,
    PenaltyFrequency,
    RepaymentFrequency,
)
from services.loans.domain.terms import DEFAULT_ALLOCATION_ORDER
from shared.crypto import canonical_json
from shared.money import RoundingMode


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("send decimals as strings (floats are not accepted)")
    return value


DecimalStr = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False)]
"""A decimal sent as a string ("18.5"); floats are refused, the JSON answer is a string."""

MAX_MINOR = 10**15
"""Largest amount any loans body accepts (minor units; sums stay far inside BIGINT). The
configured maximum per currency (``max_amount_minor``) is usually lower."""
MAX_PERIODS = 600
"""Largest number of repayment periods (the most repayments a product may have)."""

Minor = Annotated[int, Field(ge=0, le=MAX_MINOR)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


def field_error(field: str, value: Any, message: str) -> ValidationError:
    """A validation error of one field, raised from a model validator (the 422 names ``field``)."""
    return ValidationError.from_exception_data(
        "LoanTermsModel",
        [{"type": "value_error", "loc": (field,), "input": value, "ctx": {"error": ValueError(message)}}],
    )


class FeeModel(BaseModel):
    """A fee charged at disbursement or with every installment."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    name: str = Field(min_length=1, max_length=60)
    timing: ChargeTiming
    calculation: ChargeCalculation
    amount_minor: Minor = 0
    percent: DecimalStr = Decimal(0)


class PenaltyModel(BaseModel):
    """The overdue penalty (flat or percent of overdue principal + interest)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    calculation: ChargeCalculation
    frequency: PenaltyFrequency = PenaltyFrequency.ONCE
    amount_minor: Minor = 0
    percent: DecimalStr = Decimal(0)


class LoanTermsModel(BaseModel):
    """The schedule and arrears terms of a product (see services/loans/domain/terms.py)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    currency: Currency
    interest_method: InterestMethod = InterestMethod.DECLINING_BALANCE
    amortization: Amortization = Amortization.EQUAL_INSTALLMENTS
    interest_calculation_period: InterestCalculationPeriod = InterestCalculationPeriod.SAME_AS_REPAYMENT
    days_in_year: DaysInYear = DaysInYear.ACTUAL
    days_in_month: DaysInMonth = DaysInMonth.ACTUAL
    repayment_frequency: RepaymentFrequency = RepaymentFrequency.MONTHS
    repay_every: int = Field(default=1, ge=1, le=366)
    installment_multiple_of_minor: int | None = Field(default=None, ge=1, le=MAX_MINOR)
    grace_on_principal_periods: int = Field(default=0, ge=0, le=MAX_PERIODS)
    grace_on_interest_payment_periods: int = Field(default=0, ge=0, le=MAX_PERIODS)
    grace_on_interest_charged_periods: int = Field(default=0, ge=0, le=MAX_PERIODS)
    principal_moratorium_every: int | None = Field(default=None, ge=1, le=MAX_PERIODS)
    bullet: bool = False
    balloon_percent: DecimalStr | None = None
    fees: list[FeeModel] = Field(default_factory=list, max_length=20)
    overdue_penalty: PenaltyModel | None = None
    allocation_order: list[AllocationComponent] = Field(
        default_factory=lambda: list(DEFAULT_ALLOCATION_ORDER)
    )
    rounding_mode: RoundingMode = RoundingMode.HALF_EVEN
    arrears_tolerance_minor: Minor = 0

    def to_domain(self) -> LoanTerms:
        """The validated domain terms (``ValueError`` naming the broken rule otherwise)."""
        penalty = self.overdue_penalty
        return LoanTerms(
            **{name: getattr(self, name) for name in _SCALARS},
            fees=tuple(Fee(**fee.model_dump()) for fee in self.fees),
            overdue_penalty=None if penalty is None else OverduePenalty(**penalty.model_dump()),
            allocation_order=tuple(self.allocation_order),
        )

    @classmethod
    def from_domain(cls, terms: LoanTerms) -> LoanTermsModel:
        """The boundary form of domain terms."""
        return cls.model_validate(terms, from_attributes=True)


_NESTED = ("fees", "overdue_penalty", "allocation_order")
_SCALARS = tuple(name for name in LoanTermsModel.model_fields if name not in _NESTED)


def dump_terms(terms: LoanTerms) -> str:
    """Canonical JSON of ``terms`` for a Text column."""
    return canonical_json(LoanTermsModel.from_domain(terms).model_dump(mode="json"))


@functools.lru_cache(maxsize=512)
def load_terms(text: str) -> LoanTerms:
    """Terms from their stored JSON (cached: a book has few products; ``LoanTerms`` is frozen)."""
    return LoanTermsModel.model_validate_json(text).to_domain()

"""Loan product terms: the fields a schedule and a loan account are computed from.

``LoanTerms`` is frozen and validated on construction, so every downstream function can
trust it. Amounts are integer minor units of ``currency``; rates and percentages are
``Decimal``. Nothing here touches a clock or a database.

Documented choices (Apache Fineract is the reference where it documents behaviour):

* ``bullet``: all principal falls due with the last installment; interest is still due every
  period. For interest at term as well, combine with
  ``grace_on_interest_payment_periods = number_of_repayments - 1`` (the deferred interest is
  then paid with the last installment).
* ``OverduePenalty``: charged on an installment that is still unpaid beyond the arrears
  tolerance after its due date. ``ONCE`` charges it the day after the due date; ``PER_PERIOD``
  charges again one repayment period later, and so on, while the installment stays overdue.
  A percentage is of the installment's overdue principal + interest (Fineract's
  "% Loan Amount + Interest" overdue charge), never of fees or earlier penalties.
* Per-installment percentage fees are a percentage of that installment's principal
  (Fineract's installment fee "% Amount"); disbursement percentage fees are of the principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TypeGuard

from shared.money import RoundingMode, check_currency


class InterestMethod(StrEnum):
    """How interest is charged."""

    DECLINING_BALANCE = "declining_balance"
    FLAT = "flat"


class Amortization(StrEnum):
    """How principal is spread over the installments."""

    EQUAL_INSTALLMENTS = "equal_installments"
    EQUAL_PRINCIPAL = "equal_principal"


class InterestCalculationPeriod(StrEnum):
    """Whether a period's interest uses the nominal period rate or its actual day count."""

    SAME_AS_REPAYMENT = "same_as_repayment"
    DAILY = "daily"


class DaysInYear(StrEnum):
    """Day-count denominator for daily interest ("actual" is treated as 365)."""

    ACTUAL = "actual"
    DAYS_360 = "360"
    DAYS_364 = "364"
    DAYS_365 = "365"

    @property
    def days(self) -> int:
        """Days in a year for interest; ``ACTUAL`` counts as 365 (simplified rule)."""
        return 365 if self is DaysInYear.ACTUAL else int(self.value)


class DaysInMonth(StrEnum):
    """Day count of a month for daily interest on monthly loans."""

    ACTUAL = "actual"
    DAYS_30 = "30"


class RepaymentFrequency(StrEnum):
    """Unit of the repayment period (``repay_every`` of these)."""

    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


class ChargeTiming(StrEnum):
    """When a fee falls due."""

    DISBURSEMENT = "disbursement"
    PER_INSTALLMENT = "per_installment"


class ChargeCalculation(StrEnum):
    """How a fee or penalty amount is computed."""

    FLAT = "flat"
    PERCENT = "percent"


class PenaltyFrequency(StrEnum):
    """How often the overdue penalty is charged on one overdue installment."""

    ONCE = "once"
    PER_PERIOD = "per_period"


class AllocationComponent(StrEnum):
    """A component of an installment that a repayment can pay."""

    PENALTY = "penalty"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


DEFAULT_ALLOCATION_ORDER: tuple[AllocationComponent, ...] = (
    AllocationComponent.PENALTY,
    AllocationComponent.FEE,
    AllocationComponent.INTEREST,
    AllocationComponent.PRINCIPAL,
)


def _check_amount(*, calculation: ChargeCalculation, amount_minor: int, percent: Decimal) -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise ValueError("amount_minor must be an int")
    if not isinstance(percent, Decimal):
        raise ValueError("percent must be a Decimal")
    if amount_minor < 0 or percent < 0:
        raise ValueError("charge amounts must not be negative")
    if calculation is ChargeCalculation.FLAT and percent != 0:
        raise ValueError("a flat charge takes amount_minor, not percent")
    if calculation is ChargeCalculation.PERCENT and amount_minor != 0:
        raise ValueError("a percent charge takes percent, not amount_minor")
    if percent > 100:
        raise ValueError("percent must not exceed 100")


@dataclass(frozen=True, slots=True)
class Fee:
    """A fee charged at disbursement or with every installment."""

    name: str
    timing: ChargeTiming
    calculation: ChargeCalculation
    amount_minor: int = 0
    percent: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a fee needs a name")
        _check_amount(calculation=self.calculation, amount_minor=self.amount_minor, percent=self.percent)


@dataclass(frozen=True, slots=True)
class OverduePenalty:
    """The penalty charged on an overdue installment (see the module docstring)."""

    calculation: ChargeCalculation
    frequency: PenaltyFrequency = PenaltyFrequency.ONCE
    amount_minor: int = 0
    percent: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        _check_amount(calculation=self.calculation, amount_minor=self.amount_minor, percent=self.percent)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _non_negative_int(name: str, value: object) -> None:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative int")


def _positive_int(name: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be {'None or ' if optional else ''}a positive int")


_GRACES = (
    "grace_on_principal_periods",
    "grace_on_interest_payment_periods",
    "grace_on_interest_charged_periods",
)


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """The product fields of a loan; validated on construction."""

    currency: str
    interest_method: InterestMethod = InterestMethod.DECLINING_BALANCE
    amortization: Amortization = Amortization.EQUAL_INSTALLMENTS
    interest_calculation_period: InterestCalculationPeriod = InterestCalculationPeriod.SAME_AS_REPAYMENT
    days_in_year: DaysInYear = DaysInYear.ACTUAL
    days_in_month: DaysInMonth = DaysInMonth.ACTUAL
    repayment_frequency: RepaymentFrequency = RepaymentFrequency.MONTHS
    repay_every: int = 1
    installment_multiple_of_minor: int | None = None
    grace_on_principal_periods: int = 0
    grace_on_interest_payment_periods: int = 0
    grace_on_interest_charged_periods: int = 0
    principal_moratorium_every: int | None = None
    bullet: bool = False
    balloon_percent: Decimal | None = None
    fees: tuple[Fee, ...] = ()
    overdue_penalty: OverduePenalty | None = None
    allocation_order: tuple[AllocationComponent, ...] = field(default=DEFAULT_ALLOCATION_ORDER)
    rounding_mode: RoundingMode = RoundingMode.HALF_EVEN
    arrears_tolerance_minor: int = 0

    def __post_init__(self) -> None:
        check_currency(self.currency)
        # Coerce the enums so that plain strings from an API or a DB row are accepted.
        for name, enum in (
            ("interest_method", InterestMethod),
            ("amortization", Amortization),
            ("interest_calculation_period", InterestCalculationPeriod),
            ("days_in_year", DaysInYear),
            ("days_in_month", DaysInMonth),
            ("repayment_frequency", RepaymentFrequency),
            ("rounding_mode", RoundingMode),
        ):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        _positive_int("repay_every", self.repay_every)
        _positive_int("installment_multiple_of_minor", self.installment_multiple_of_minor, optional=True)
        for name in (*_GRACES, "arrears_tolerance_minor"):
            _non_negative_int(name, getattr(self, name))
        _positive_int("principal_moratorium_every", self.principal_moratorium_every, optional=True)
        if self.balloon_percent is not None:
            if not isinstance(self.balloon_percent, Decimal):
                raise ValueError("balloon_percent must be a Decimal")
            if not Decimal(0) < self.balloon_percent < Decimal(100):
                raise ValueError("balloon_percent must be between 0 and 100 (exclusive)")
            if self.bullet:
                raise ValueError("a loan cannot be both bullet and balloon")
        object.__setattr__(self, "fees", tuple(self.fees))
        if not all(isinstance(fee, Fee) for fee in self.fees):
            raise ValueError("fees must be Fee instances")
        order = tuple(AllocationComponent(c) for c in self.allocation_order)
        if sorted(order) != sorted(AllocationComponent):
            raise ValueError("allocation_order must name each of penalty, fee, interest, principal once")
        object.__setattr__(self, "allocation_order", order)

    @property
    def periods_per_year(self) -> int:
        """Repayment periods in a year (Fineract's PaymentPeriodsInOneYearCalculator)."""
        if self.repayment_frequency is RepaymentFrequency.MONTHS:
            return 12
        if self.repayment_frequency is RepaymentFrequency.WEEKS:
            return 52
        return self.days_in_year.days

    def check_repayments(self, *, number_of_repayments: int) -> None:
        """Raise ``ValueError`` unless the graces leave at least one repayment period."""
        _non_negative_int("number_of_repayments", number_of_repayments)
        if number_of_repayments < 1:
            raise ValueError("number_of_repayments must be at least 1")
        for name in _GRACES:
            if getattr(self, name) >= number_of_repayments:
                raise ValueError(f"{name} must be less than number_of_repayments")

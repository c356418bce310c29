"""LoanTerms validation: a bad product is refused with a clear ValueError at construction."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.loans.domain import (
    AllocationComponent,
    ChargeCalculation,
    ChargeTiming,
    DaysInYear,
    Fee,
    InterestMethod,
    LoanTerms,
    OverduePenalty,
    RepaymentFrequency,
)
from shared.money import CurrencyError, RoundingMode
from tests.loans.domain.kit import terms


def test_defaults_follow_fineract() -> None:
    loan_terms = terms()
    assert loan_terms.interest_method is InterestMethod.DECLINING_BALANCE
    assert loan_terms.allocation_order == (
        AllocationComponent.PENALTY,
        AllocationComponent.FEE,
        AllocationComponent.INTEREST,
        AllocationComponent.PRINCIPAL,
    )
    assert loan_terms.rounding_mode is RoundingMode.HALF_EVEN
    assert loan_terms.periods_per_year == 12


def test_plain_strings_are_coerced_to_enums() -> None:
    loan_terms = terms(interest_method="flat", days_in_year="360", repayment_frequency="days")
    assert loan_terms.interest_method is InterestMethod.FLAT
    assert loan_terms.days_in_year is DaysInYear.DAYS_360
    assert loan_terms.periods_per_year == 360
    assert terms(repayment_frequency=RepaymentFrequency.WEEKS).periods_per_year == 52
    assert DaysInYear.ACTUAL.days == 365


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(CurrencyError):
        LoanTerms(currency="XYZ")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"interest_method": "compound"}, "interest_method"),
        ({"repay_every": 0}, "repay_every"),
        ({"installment_multiple_of_minor": 0}, "installment_multiple_of_minor"),
        ({"grace_on_principal_periods": -1}, "grace_on_principal_periods"),
        ({"principal_moratorium_every": 0}, "principal_moratorium_every"),
        ({"balloon_percent": Decimal(100)}, "balloon_percent"),
        ({"balloon_percent": Decimal(20), "bullet": True}, "bullet and balloon"),
        ({"allocation_order": ("principal", "interest", "fee")}, "allocation_order"),
        ({"allocation_order": ("fee", "fee", "interest", "principal")}, "allocation_order"),
        ({"arrears_tolerance_minor": -5}, "arrears_tolerance_minor"),
        ({"fees": ("not a fee",)}, "fees"),
    ],
)
def test_invalid_terms_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        terms(**overrides)


def test_custom_allocation_order_is_accepted() -> None:
    order = ("principal", "interest", "penalty", "fee")
    assert terms(allocation_order=order).allocation_order[0] is AllocationComponent.PRINCIPAL


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calculation": ChargeCalculation.FLAT, "percent": Decimal(1)}, "flat"),
        ({"calculation": ChargeCalculation.PERCENT, "amount_minor": 100}, "percent"),
        ({"calculation": ChargeCalculation.FLAT, "amount_minor": -1}, "negative"),
        ({"calculation": ChargeCalculation.PERCENT, "percent": Decimal(101)}, "exceed"),
    ],
)
def test_invalid_charges_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fee(name="f", timing=ChargeTiming.DISBURSEMENT, **kwargs)
    with pytest.raises(ValueError, match=message):
        OverduePenalty(**kwargs)


def test_a_fee_needs_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        Fee(name="", timing=ChargeTiming.DISBURSEMENT, calculation=ChargeCalculation.FLAT)

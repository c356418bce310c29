"""Portfolio at risk on a seeded book of accounts, per product and in total."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from services.loans.domain import (
    LoanAccount,
    LoanExposure,
    Repayment,
    exposure_of,
    portfolio_at_risk,
)
from tests.loans.domain.kit import build, terms


def exposure(loan_id: str, product: str, principal: int, dpd: int) -> LoanExposure:
    return LoanExposure(loan_id, product, "KES", principal, dpd)


def test_par_ratios_and_counts() -> None:
    book = [
        exposure("a", "maize", 400_000, 0),
        exposure("b", "maize", 300_000, 5),
        exposure("c", "maize", 200_000, 45),
        exposure("d", "dairy", 100_000, 120),
        exposure("e", "dairy", 0, 300),  # repaid: not part of the book
    ]
    par = portfolio_at_risk(exposures=book, currency="KES")
    total = par.total
    assert (total.loan_count, total.outstanding_principal_minor) == (4, 1_000_000)
    assert (total.par1.at_risk_principal_minor, total.par1.loans_at_risk) == (600_000, 3)
    assert total.par1.ratio == Decimal("0.600000")
    assert total.par30.ratio == Decimal("0.300000")
    assert total.par90.ratio == Decimal("0.100000")
    maize = par.by_product["maize"]
    assert maize.par30.ratio == Decimal("0.222222")  # 200,000 / 900,000, half-even
    assert par.by_product["dairy"].par90.ratio == Decimal("1.000000")
    assert list(par.by_product) == ["dairy", "maize"]


def test_empty_book_has_zero_par() -> None:
    par = portfolio_at_risk(exposures=[], currency="KES")
    assert par.total.par1.ratio == Decimal(0)
    assert par.by_product == {}


def test_currencies_are_not_mixed() -> None:
    with pytest.raises(ValueError, match="UGX"):
        portfolio_at_risk(exposures=[LoanExposure("x", "maize", "UGX", 1, 0)], currency="KES")


def test_par_on_a_seeded_portfolio_of_accounts() -> None:
    rng = random.Random(20250601)
    as_of = date(2025, 6, 10)
    schedule = build(terms(), principal=1_200_000, rate="18", n=12, disbursed=date(2025, 1, 1))
    exposures = []
    expected_at_risk = {1: 0, 30: 0, 90: 0}
    expected_total = 0
    for i in range(40):
        # Each borrower pays the first k installments on time, then stops.
        paid_installments = rng.randint(0, 5)
        payments = tuple(
            Repayment(sequence=n, on=row.due_date, amount_minor=row.total_minor)
            for n, row in enumerate(schedule.rows[:paid_installments], start=1)
        )
        account = LoanAccount(schedule=schedule, transactions=payments)
        item = exposure_of(
            loan_id=f"L{i}", product="maize" if i % 2 else "dairy", account=account, as_of=as_of
        )
        exposures.append(item)
        # Installment k is due on Feb 1 + (k - 1) months; the first unpaid one drives DPD.
        first_unpaid_due = schedule.rows[paid_installments].due_date
        dpd = max((as_of - first_unpaid_due).days, 0)
        assert item.days_past_due == dpd
        principal = schedule.rows[paid_installments - 1].balance_minor if paid_installments else 1_200_000
        assert item.outstanding_principal_minor == principal
        expected_total += principal
        for threshold in expected_at_risk:
            if dpd >= threshold:
                expected_at_risk[threshold] += principal
    par = portfolio_at_risk(exposures=exposures, currency="KES")
    assert par.total.outstanding_principal_minor == expected_total
    for figure in (par.total.par1, par.total.par30, par.total.par90):
        assert figure.at_risk_principal_minor == expected_at_risk[figure.threshold_days]
        assert figure.ratio == (Decimal(figure.at_risk_principal_minor) / Decimal(expected_total)).quantize(
            Decimal("0.000001")
        )
    assert par.total.par1.loans_at_risk == sum(1 for e in exposures if e.days_past_due >= 1)
    by_product = par.by_product
    assert sum(r.outstanding_principal_minor for r in by_product.values()) == expected_total
    assert list(by_product) == ["dairy", "maize"]  # products in name order

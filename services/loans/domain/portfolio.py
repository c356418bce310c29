"""Portfolio at risk: PAR1, PAR30 and PAR90 per product and in total.

PARn = outstanding principal of loans with at least n days past due / total outstanding
principal. Ratios are ``Decimal`` rounded half-even to six places (0 for an empty book);
the loan counts and the at-risk principal are exact. One report covers one currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from services.loans.domain.account import LoanAccount

PAR_THRESHOLDS: tuple[int, ...] = (1, 30, 90)
_RATIO_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class LoanExposure:
    """What PAR needs to know about one loan as of the report date."""

    loan_id: str
    product: str
    currency: str
    outstanding_principal_minor: int
    days_past_due: int

    def __post_init__(self) -> None:
        if self.outstanding_principal_minor < 0 or self.days_past_due < 0:
            raise ValueError("outstanding principal and days past due must not be negative")


def exposure_of(*, loan_id: str, product: str, account: LoanAccount, as_of: date) -> LoanExposure:
    """The exposure of a loan account as of a date."""
    return LoanExposure(
        loan_id=loan_id,
        product=product,
        currency=account.schedule.terms.currency,
        outstanding_principal_minor=account.outstanding_principal_minor(as_of=as_of),
        days_past_due=account.days_past_due(as_of=as_of),
    )


@dataclass(frozen=True, slots=True)
class ParFigure:
    """PAR at one threshold: at-risk principal, loans at risk and the ratio."""

    threshold_days: int
    at_risk_principal_minor: int
    loans_at_risk: int
    ratio: Decimal


@dataclass(frozen=True, slots=True)
class ParReport:
    """PAR1/PAR30/PAR90 of one group of loans (a product, or the whole book)."""

    loan_count: int
    outstanding_principal_minor: int
    par1: ParFigure
    par30: ParFigure
    par90: ParFigure


@dataclass(frozen=True, slots=True)
class PortfolioAtRisk:
    """PAR for the whole book and per product, in one currency."""

    currency: str
    total: ParReport
    by_product: dict[str, ParReport]


def _ratio(part: int, whole: int) -> Decimal:
    if whole == 0:
        return Decimal(0).quantize(_RATIO_PLACES)
    return (Decimal(part) / Decimal(whole)).quantize(_RATIO_PLACES, rounding=ROUND_HALF_EVEN)


def _report(exposures: list[LoanExposure]) -> ParReport:
    # Loans without outstanding principal (closed, written off) are not part of the book.
    live = [e for e in exposures if e.outstanding_principal_minor > 0]
    whole = sum(e.outstanding_principal_minor for e in live)
    figures = []
    for days in PAR_THRESHOLDS:
        at_risk = [e for e in live if e.days_past_due >= days]
        part = sum(e.outstanding_principal_minor for e in at_risk)
        figures.append(ParFigure(days, part, len(at_risk), _ratio(part, whole)))
    return ParReport(len(live), whole, *figures)


def portfolio_at_risk(*, exposures: Iterable[LoanExposure], currency: str) -> PortfolioAtRisk:
    """PAR1/PAR30/PAR90 per product and in total; every exposure must be in ``currency``."""
    items = list(exposures)
    for item in items:
        if item.currency != currency:
            raise ValueError(f"loan {item.loan_id} is in {item.currency}, not {currency}")
    products: dict[str, list[LoanExposure]] = {}
    for item in items:
        products.setdefault(item.product, []).append(item)
    return PortfolioAtRisk(
        currency=currency,
        total=_report(items),
        by_product={name: _report(group) for name, group in sorted(products.items())},
    )

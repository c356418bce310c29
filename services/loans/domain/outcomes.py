"""What the domain hands the service for money that leaves the domain: ``Money``, not ints.

The replay and the schedule engine count integer minor units internally (hot loops); at the
boundary a repayment, a disbursement and a write-off are answered in ``shared.money.Money``
of the loan's currency, so no caller can mix currencies or mistake units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.loans.domain.account import Allocation, Components
from services.loans.domain.schedule import Schedule
from shared.money import Money


@dataclass(frozen=True, slots=True)
class MoneyComponents:
    """An amount split into penalty, fee, interest and principal, as Money."""

    penalty: Money
    fee: Money
    interest: Money
    principal: Money

    @classmethod
    def of(cls, components: Components, currency: str) -> MoneyComponents:
        """The Money form of integer components in ``currency``."""
        return cls(
            penalty=Money(components.penalty_minor, currency),
            fee=Money(components.fee_minor, currency),
            interest=Money(components.interest_minor, currency),
            principal=Money(components.principal_minor, currency),
        )

    @property
    def total(self) -> Money:
        """Sum of the four components."""
        return self.penalty + self.fee + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class RepaymentOutcome:
    """How one repayment was applied: per component, and what was over or recovered."""

    amount: Money
    allocated: MoneyComponents
    overpayment: Money
    recovery: Money


def repayment_outcome(allocation: Allocation, currency: str) -> RepaymentOutcome:
    """The Money view of one repayment's allocation."""
    return RepaymentOutcome(
        amount=Money(allocation.amount_minor, currency),
        allocated=MoneyComponents.of(allocation.allocated, currency),
        overpayment=Money(allocation.overpayment_minor, currency),
        recovery=Money(allocation.recovery_minor, currency),
    )


@dataclass(frozen=True, slots=True)
class Disbursement:
    """What disbursing a loan on its schedule pays out and fixes."""

    principal: Money
    fees: Money
    net: Money
    installments: int
    maturity_date: date


def disbursement_of(schedule: Schedule) -> Disbursement:
    """The principal, the disbursement fees withheld and the net paid out, for a fixed schedule."""
    currency = schedule.terms.currency
    principal = Money(schedule.principal_minor, currency)
    fees = Money(schedule.disbursement_fees_minor, currency)
    return Disbursement(
        principal=principal,
        fees=fees,
        net=principal - fees,
        installments=len(schedule.rows),
        maturity_date=schedule.maturity_date,
    )


def write_off_outcome(written_off: Components, currency: str) -> MoneyComponents:
    """What a write-off writes off, as Money."""
    return MoneyComponents.of(written_off, currency)

"""How much a loan can still take: a repayment (or a sweep of sale proceeds) may exceed what
is owed by at most a configured tolerance, so no caller can park an unbounded credit balance
on a loan.

What is owed is read from the whole replayed account (every recorded transaction, whatever
its date): principal, interest and fees of every installment, due or not, plus penalties
charged so far, less the credit balance already there. After a write-off, repayments are
recoveries: what may still come in is what was written off and not yet recovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.loans.domain.account import AccountState, AccountStatus


def acceptable_repayment_minor(state: AccountState, *, tolerance_minor: int) -> int:
    """The largest repayment the account accepts now (never negative)."""
    if state.status is AccountStatus.WRITTEN_OFF:
        owed = state.written_off.total_minor - state.recovered_minor
    else:
        owed = state.outstanding.total_minor - state.credit_balance_minor
    return max(owed + tolerance_minor, 0)


@dataclass(frozen=True, slots=True)
class RepaymentSplit:
    """An amount split into what the account accepts and what it refuses."""

    accepted_minor: int
    refused_minor: int


def split_repayment(amount_minor: int, *, acceptable_minor: int) -> RepaymentSplit:
    """Accept up to ``acceptable_minor`` of ``amount_minor``; refuse the rest."""
    accepted = min(amount_minor, max(acceptable_minor, 0))
    return RepaymentSplit(accepted_minor=accepted, refused_minor=amount_minor - accepted)

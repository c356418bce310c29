"""A straightforward reference for the account replay: ``replay_account`` and ``penalties_due`` as
they were before they were tuned for close of business (issue 13), kept verbatim (as free
functions over the real domain types) so that ``test_loans_account_reference`` can compare the
tuned ones with them over many random histories.

Clarity over speed here; never import it from the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from services.loans.domain.account import (
    AccountState,
    AccountStatus,
    Allocation,
    Components,
    InstallmentState,
    LoanAccount,
)
from services.loans.domain.arrears import PenaltyAssessment, penalty_amount, penalty_dates
from services.loans.domain.schedule import Schedule
from services.loans.domain.terms import AllocationComponent
from services.loans.domain.transactions import (
    PenaltyCharge,
    Repayment,
    Reversal,
    Transaction,
    WriteOff,
    check_transactions,
)

_P, _F, _I, _PR = (
    AllocationComponent.PENALTY,
    AllocationComponent.FEE,
    AllocationComponent.INTEREST,
    AllocationComponent.PRINCIPAL,
)


class _Received:
    """A repayment during replay: what it paid so far, per installment, and what is over."""

    __slots__ = ("by_installment", "overpayment", "txn")

    def __init__(self, txn: Repayment) -> None:
        self.txn = txn
        self.by_installment: dict[int, dict[AllocationComponent, int]] = {}
        self.overpayment = 0

    def take(self, taken: list[tuple[int, dict[AllocationComponent, int]]]) -> None:
        for index, parts in taken:
            into = self.by_installment.setdefault(index, {})
            for component, amount in parts.items():
                into[component] = into.get(component, 0) + amount

    def allocation(self) -> Allocation:
        per_installment = tuple(
            (index + 1, Components.of(parts)) for index, parts in sorted(self.by_installment.items())
        )
        allocated = sum((c for _, c in per_installment), Components())
        return Allocation(
            self.txn.sequence,
            self.txn.on,
            self.txn.amount_minor,
            allocated,
            per_installment,
            self.overpayment,
            0,
        )


def _pay(
    amount: int,
    *,
    on: date,
    order: tuple[AllocationComponent, ...],
    due: list[dict[AllocationComponent, int]],
    paid: list[dict[AllocationComponent, int]],
    settled_on: list[date | None],
) -> tuple[list[tuple[int, dict[AllocationComponent, int]]], int]:
    remaining = amount
    taken_by: list[tuple[int, dict[AllocationComponent, int]]] = []
    for index, (owed, got) in enumerate(zip(due, paid, strict=True)):
        if remaining == 0:
            break
        taken: dict[AllocationComponent, int] = {}
        for component in order:
            take = min(owed[component] - got[component], remaining)
            if take > 0:
                got[component] += take
                taken[component] = take
                remaining -= take
        if taken:
            taken_by.append((index, taken))
            if all(owed[c] == got[c] for c in owed):
                settled_on[index] = on
    return taken_by, remaining


def reference_replay_account(
    *, schedule: Schedule, transactions: Iterable[Transaction], as_of: date | None = None
) -> AccountState:
    """Recompute the account from its schedule and transactions dated on or before ``as_of``."""
    txns = tuple(transactions)
    check_transactions(transactions=txns)
    visible = [t for t in txns if as_of is None or t.on <= as_of]
    reversed_ids = {t.reverses for t in visible if isinstance(t, Reversal)}
    effective = sorted(
        (t for t in visible if not isinstance(t, Reversal) and t.sequence not in reversed_ids),
        key=lambda t: (t.on, t.sequence),
    )
    rows = schedule.rows
    order = schedule.terms.allocation_order
    due = [{_P: r.penalty_minor, _F: r.fee_minor, _I: r.interest_minor, _PR: r.principal_minor} for r in rows]
    paid = [dict.fromkeys(AllocationComponent, 0) for _ in rows]
    settled_on: list[date | None] = [None] * len(rows)
    received: list[_Received | Allocation] = []
    recovered = 0
    written_off = Components()
    written_off_on: date | None = None

    for txn in effective:
        if isinstance(txn, PenaltyCharge):
            if not 1 <= txn.installment_number <= len(rows):
                raise ValueError(f"penalty {txn.sequence} names unknown installment {txn.installment_number}")
            if written_off_on is None:
                due[txn.installment_number - 1][_P] += txn.amount_minor
                settled_on[txn.installment_number - 1] = None
                for source in received:
                    if isinstance(source, _Received) and source.overpayment > 0:
                        taken, source.overpayment = _pay(
                            source.overpayment,
                            on=txn.on,
                            order=order,
                            due=due,
                            paid=paid,
                            settled_on=settled_on,
                        )
                        source.take(taken)
                        if source.overpayment > 0:
                            break
        elif isinstance(txn, WriteOff):
            if written_off_on is None:
                written_off_on = txn.on
                written_off = sum(
                    (Components.of({c: d[c] - p[c] for c in d}) for d, p in zip(due, paid, strict=True)),
                    Components(),
                )
        elif isinstance(txn, Repayment):
            if written_off_on is not None:
                recovered += txn.amount_minor
                received.append(
                    Allocation(txn.sequence, txn.on, txn.amount_minor, Components(), (), 0, txn.amount_minor)
                )
                continue
            repayment = _Received(txn)
            taken, repayment.overpayment = _pay(
                txn.amount_minor, on=txn.on, order=order, due=due, paid=paid, settled_on=settled_on
            )
            repayment.take(taken)
            received.append(repayment)

    allocations = tuple(r.allocation() if isinstance(r, _Received) else r for r in received)
    credit = sum(a.overpayment_minor for a in allocations)
    installments = tuple(
        InstallmentState(
            number=row.number,
            from_date=row.from_date,
            due_date=row.due_date,
            due=Components.of(d),
            paid=Components.of(p),
            settled_on=settled_on[i] if all(d[c] == p[c] for c in d) else None,
        )
        for i, (row, d, p) in enumerate(zip(rows, due, paid, strict=True))
    )
    if written_off_on is not None:
        status = AccountStatus.WRITTEN_OFF
    elif credit > 0:
        status = AccountStatus.OVERPAID
    elif all(i.is_settled for i in installments):
        status = AccountStatus.CLOSED
    else:
        status = AccountStatus.ACTIVE
    return AccountState(
        as_of=as_of,
        status=status,
        installments=installments,
        allocations=allocations,
        written_off=written_off,
        credit_balance_minor=credit,
        recovered_minor=recovered,
        written_off_on=written_off_on,
    )


def reference_penalties_due(account: LoanAccount, *, as_of: date) -> tuple[PenaltyAssessment, ...]:
    """``LoanAccount.penalties_due``: one replay per distinct eve of a charge day."""
    terms = account.schedule.terms
    penalty = terms.overdue_penalty
    if penalty is None:
        return ()
    recorded = {t.key for t in account.transactions if isinstance(t, PenaltyCharge)}
    states: dict[date, AccountState] = {}
    found: list[PenaltyAssessment] = []
    for row in account.schedule.rows:
        for charge_day in penalty_dates(terms=terms, row=row, as_of=as_of):
            if (row.number, charge_day) in recorded:
                continue
            eve = charge_day - timedelta(days=1)
            if eve not in states:
                states[eve] = reference_replay_account(
                    schedule=account.schedule, transactions=account.transactions, as_of=eve
                )
            state = states[eve]
            if state.status is AccountStatus.WRITTEN_OFF:
                continue
            owed = state.installments[row.number - 1].outstanding
            if owed.total_minor - owed.penalty_minor <= terms.arrears_tolerance_minor:
                continue
            base = owed.principal_minor + owed.interest_minor
            amount = penalty_amount(penalty=penalty, overdue_principal_interest_minor=base, terms=terms)
            if amount > 0:
                found.append(PenaltyAssessment(row.number, charge_day, amount, base))
    return tuple(sorted(found, key=lambda a: (a.charged_on, a.installment_number)))

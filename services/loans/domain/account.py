"""Loan-account arithmetic: replay a fixed schedule and its transactions into a state.

The state is never stored incrementally; it is recomputed from scratch every time, so a
back-dated repayment or a reversal re-allocates everything after it. Replay rules:

* Transactions take effect in ``(on, sequence)`` order; reversed ones (by a reversal dated on
  or before the view date) are left out.
* A repayment pays installments oldest first, each one fully in the product's
  ``allocation_order`` (default penalties, fees, interest, principal) before the next one —
  Fineract's default "penalties, fees, interest, principal order" strategy. Future
  installments are prepaid the same way; what is left becomes a credit balance (overpaid).
* A penalty charge adds to its installment's penalty due. A credit balance standing when it
  is charged pays it at once (and anything else then owed, in the same order): a loan never
  shows both a credit and an amount owed. The credit is drawn from the repayments that
  overpaid, oldest first; what it pays moves from that repayment's ``overpayment_minor`` into
  its allocation, so each repayment still reconciles (allocated + overpayment = amount) and
  the credit balance is the sum of what remains over. The installment it settles is settled
  on the charge date.
* A write-off moves everything outstanding to ``written_off``; later repayments are
  recoveries, and later penalty charges are ignored.
* Status: written_off; else overpaid (credit balance); else closed (nothing outstanding);
  else active.

Arrears: an installment is in arrears when its due date has passed and its outstanding
amount (penalties included) exceeds ``arrears_tolerance_minor``; days past due count from
the oldest such installment's due date (due on the 10th, unpaid: 1 day past due on the 11th).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from services.loans.domain.arrears import (
    DelinquencyBucket,
    InterestAccrual,
    PenaltyAssessment,
    accrue_interest,
    delinquency_bucket,
    penalty_amount,
    penalty_dates,
)
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
_COMPONENTS = tuple(AllocationComponent)


class AccountStatus(StrEnum):
    """Lifecycle status derived from the replay."""

    ACTIVE = "active"
    CLOSED = "closed"
    OVERPAID = "overpaid"
    WRITTEN_OFF = "written_off"


@dataclass(frozen=True, slots=True)
class Components:
    """An amount split into penalty, fee, interest and principal minor units."""

    penalty_minor: int = 0
    fee_minor: int = 0
    interest_minor: int = 0
    principal_minor: int = 0

    @property
    def total_minor(self) -> int:
        """Sum of the four components."""
        return self.penalty_minor + self.fee_minor + self.interest_minor + self.principal_minor

    @classmethod
    def of(cls, values: dict[AllocationComponent, int]) -> Components:
        """Build from a component → amount mapping (missing components are zero)."""
        return cls(
            penalty_minor=values.get(_P, 0),
            fee_minor=values.get(_F, 0),
            interest_minor=values.get(_I, 0),
            principal_minor=values.get(_PR, 0),
        )

    def __add__(self, other: Components) -> Components:
        return Components(
            self.penalty_minor + other.penalty_minor,
            self.fee_minor + other.fee_minor,
            self.interest_minor + other.interest_minor,
            self.principal_minor + other.principal_minor,
        )

    def __sub__(self, other: Components) -> Components:
        return Components(
            self.penalty_minor - other.penalty_minor,
            self.fee_minor - other.fee_minor,
            self.interest_minor - other.interest_minor,
            self.principal_minor - other.principal_minor,
        )


@dataclass(frozen=True, slots=True)
class InstallmentState:
    """One installment after replay: what was due, what was paid, since when it is settled."""

    number: int
    from_date: date
    due_date: date
    due: Components
    paid: Components
    settled_on: date | None

    @property
    def outstanding(self) -> Components:
        """Due minus paid, per component."""
        return self.due - self.paid

    @property
    def is_settled(self) -> bool:
        """True when nothing is outstanding on this installment."""
        return self.outstanding.total_minor == 0


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one repayment was applied: per component, per installment, and the excess."""

    sequence: int
    on: date
    amount_minor: int
    allocated: Components
    by_installment: tuple[tuple[int, Components], ...]
    overpayment_minor: int
    recovery_minor: int


@dataclass(frozen=True, slots=True)
class AccountState:
    """The replayed account as of ``as_of`` (``None``: all transactions)."""

    as_of: date | None
    status: AccountStatus
    installments: tuple[InstallmentState, ...]
    allocations: tuple[Allocation, ...]
    written_off: Components
    credit_balance_minor: int
    recovered_minor: int
    written_off_on: date | None

    @property
    def paid(self) -> Components:
        """Everything paid into installments."""
        return sum((i.paid for i in self.installments), Components())

    @property
    def outstanding(self) -> Components:
        """Everything still owed (zero once written off)."""
        if self.status is AccountStatus.WRITTEN_OFF:
            return Components()
        return sum((i.outstanding for i in self.installments), Components())


class _Received:
    """A repayment during replay: what it paid so far, per installment, and what is over."""

    __slots__ = ("by_installment", "overpayment", "txn")

    def __init__(self, txn: Repayment) -> None:
        self.txn = txn
        self.by_installment: dict[int, dict[AllocationComponent, int]] = {}
        self.overpayment = 0

    def take(self, taken: list[tuple[int, dict[AllocationComponent, int]]]) -> None:
        """Add what one application of this repayment's money paid."""
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
    """Pay ``amount`` into installments oldest first, each in ``order``; return what each
    installment took (by index) and what is left over."""
    remaining = amount
    taken_by: list[tuple[int, dict[AllocationComponent, int]]] = []
    for index, (owed, got) in enumerate(zip(due, paid, strict=True)):
        if remaining == 0:
            break
        if owed == got:  # settled: it takes nothing (the loop below would take 0 of each)
            continue
        taken: dict[AllocationComponent, int] = {}
        for component in order:
            take = owed[component] - got[component]
            if take > remaining:
                take = remaining
            if take > 0:
                got[component] += take
                taken[component] = take
                remaining -= take
        if taken:
            taken_by.append((index, taken))
            if owed == got:
                settled_on[index] = on
    return taken_by, remaining


def replay_account(
    *, schedule: Schedule, transactions: Iterable[Transaction], as_of: date | None = None
) -> AccountState:
    """Recompute the account from its schedule and transactions dated on or before ``as_of``."""
    txns = tuple(transactions)
    check_transactions(transactions=txns)
    return _replay(schedule=schedule, txns=txns, as_of=as_of)


def _replay(*, schedule: Schedule, txns: tuple[Transaction, ...], as_of: date | None) -> AccountState:
    """``replay_account`` on transactions already checked (``LoanAccount`` checks its own once)."""
    visible = list(txns) if as_of is None else [t for t in txns if t.on <= as_of]
    reversed_ids = {t.reverses for t in visible if isinstance(t, Reversal)}
    effective = sorted(
        (t for t in visible if not isinstance(t, Reversal) and t.sequence not in reversed_ids),
        key=lambda t: (t.on, t.sequence),
    )
    rows = schedule.rows
    order = schedule.terms.allocation_order
    due = [{_P: r.penalty_minor, _F: r.fee_minor, _I: r.interest_minor, _PR: r.principal_minor} for r in rows]
    paid = [dict.fromkeys(_COMPONENTS, 0) for _ in rows]
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
                # a standing credit pays the new charge, drawn from the oldest overpayment first
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
    states: list[InstallmentState] = []
    all_settled = True
    for row, d, p, settled in zip(rows, due, paid, settled_on, strict=True):
        # Components.of and InstallmentState.is_settled, spelled out: this runs for every
        # installment of every replay (close of business replays each late loan twice).
        owed = Components(d[_P], d[_F], d[_I], d[_PR])
        got = Components(p[_P], p[_F], p[_I], p[_PR])
        if d != p:
            settled = None
            if all_settled and owed.total_minor - got.total_minor != 0:
                all_settled = False
        states.append(InstallmentState(row.number, row.from_date, row.due_date, owed, got, settled))
    installments = tuple(states)
    if written_off_on is not None:
        status = AccountStatus.WRITTEN_OFF
    elif credit > 0:
        status = AccountStatus.OVERPAID
    elif all_settled:
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


def days_past_due_of(state: AccountState, *, tolerance_minor: int, as_of: date) -> int:
    """Days past due of a replayed state: from the oldest installment due before ``as_of`` and
    unpaid beyond ``tolerance_minor`` (0 once written off)."""
    if state.status is AccountStatus.WRITTEN_OFF:
        return 0
    for inst in state.installments:
        if inst.due_date < as_of and inst.outstanding.total_minor > tolerance_minor:
            return (as_of - inst.due_date).days
    return 0


@dataclass(frozen=True, slots=True)
class LoanAccount:
    """A disbursed loan: its fixed schedule plus every transaction recorded against it."""

    schedule: Schedule
    transactions: tuple[Transaction, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "transactions", tuple(self.transactions))
        check_transactions(transactions=self.transactions)
        count = len(self.schedule.rows)
        for txn in self.transactions:
            if isinstance(txn, PenaltyCharge) and txn.installment_number > count:
                raise ValueError(f"penalty {txn.sequence} names unknown installment {txn.installment_number}")

    def with_transactions(self, *transactions: Transaction) -> LoanAccount:
        """A copy with ``transactions`` appended (order of recording does not matter)."""
        return LoanAccount(schedule=self.schedule, transactions=self.transactions + transactions)

    def state(self, *, as_of: date | None = None) -> AccountState:
        """The replayed state, seeing only transactions dated on or before ``as_of``."""
        return _replay(schedule=self.schedule, txns=self.transactions, as_of=as_of)

    def days_past_due(self, *, as_of: date) -> int:
        """Days since the oldest installment due before ``as_of`` and unpaid beyond tolerance."""
        return days_past_due_of(
            self.state(as_of=as_of), tolerance_minor=self.schedule.terms.arrears_tolerance_minor, as_of=as_of
        )

    def delinquency_bucket(self, *, as_of: date) -> DelinquencyBucket:
        """The delinquency bucket as of ``as_of``."""
        return delinquency_bucket(days_past_due=self.days_past_due(as_of=as_of))

    def penalties_due(self, *, as_of: date) -> tuple[PenaltyAssessment, ...]:
        """Overdue penalties chargeable up to ``as_of`` that are not yet on the account.

        Deterministic and idempotent: each assessment has a key (installment, charge date);
        keys of penalty charges already recorded (even if later reversed, i.e. waived) are
        skipped, so after the caller records the result, the same call returns nothing new.
        An installment is charged on a date when, at the end of the previous day, its
        principal + interest + fees outstanding exceeded the arrears tolerance.
        """
        terms = self.schedule.terms
        penalty = terms.overdue_penalty
        if penalty is None:
            return ()
        recorded = {t.key for t in self.transactions if isinstance(t, PenaltyCharge)}
        # The state at the end of a day depends only on the transactions dated by then, and
        # that set only grows with the day: eves that see as many transactions see the same
        # ones, and share one replay (status and outstanding amounts are all that is read).
        states: dict[int, AccountState] = {}
        seen_by: dict[date, int] = {}
        found: list[PenaltyAssessment] = []
        for row in self.schedule.rows:
            for charge_day in penalty_dates(terms=terms, row=row, as_of=as_of):
                if (row.number, charge_day) in recorded:
                    continue
                eve = charge_day - timedelta(days=1)
                seen = seen_by.get(eve)
                if seen is None:
                    seen = seen_by[eve] = sum(1 for t in self.transactions if t.on <= eve)
                state = states.get(seen)
                if state is None:
                    state = states[seen] = self.state(as_of=eve)
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

    def accrued_interest(self, *, as_of: date) -> InterestAccrual:
        """Interest accrued as of ``as_of`` (nothing accrues once written off)."""
        written_off = self.state(as_of=as_of).written_off_on is not None
        return accrue_interest(schedule=self.schedule, as_of=as_of, written_off=written_off)

    def outstanding_principal_minor(self, *, as_of: date | None = None) -> int:
        """Principal still owed as of ``as_of`` (zero when written off)."""
        return self.state(as_of=as_of).outstanding.principal_minor

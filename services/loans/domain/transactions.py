"""Loan-account transactions: immutable facts that an account state is replayed from.

Every transaction carries a ``sequence`` (unique within the loan, assigned by persistence in
the order they were recorded) and an effective date ``on``. Replay orders them by
``(on, sequence)``, so a back-dated repayment is simply replayed at its date. Nothing is ever
edited: a ``Reversal`` names the transaction it undoes, which then drops out of the replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple


def _check_base(sequence: int, on: date) -> None:
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise ValueError("sequence must be a non-negative int")
    if not isinstance(on, date):
        raise ValueError("on must be a date")


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int")


class PenaltyKey(NamedTuple):
    """Identity of one overdue-penalty charge: the installment and the date it was charged."""

    installment_number: int
    charged_on: date


@dataclass(frozen=True, slots=True)
class Repayment:
    """Money received from the borrower."""

    sequence: int
    on: date
    amount_minor: int

    def __post_init__(self) -> None:
        _check_base(self.sequence, self.on)
        _check_positive("amount_minor", self.amount_minor)


@dataclass(frozen=True, slots=True)
class PenaltyCharge:
    """An overdue penalty charged on one installment (normally from ``penalties_due``)."""

    sequence: int
    on: date
    installment_number: int
    amount_minor: int

    def __post_init__(self) -> None:
        _check_base(self.sequence, self.on)
        _check_positive("installment_number", self.installment_number)
        _check_positive("amount_minor", self.amount_minor)

    @property
    def key(self) -> PenaltyKey:
        """The idempotency key of this charge."""
        return PenaltyKey(self.installment_number, self.on)


@dataclass(frozen=True, slots=True)
class Reversal:
    """Undoes the transaction with sequence ``reverses`` (a repayment, penalty or write-off)."""

    sequence: int
    on: date
    reverses: int

    def __post_init__(self) -> None:
        _check_base(self.sequence, self.on)
        if isinstance(self.reverses, bool) or not isinstance(self.reverses, int):
            raise ValueError("reverses must be an int sequence")


@dataclass(frozen=True, slots=True)
class WriteOff:
    """Writes off everything outstanding; later repayments count as recoveries."""

    sequence: int
    on: date

    def __post_init__(self) -> None:
        _check_base(self.sequence, self.on)


Transaction = Repayment | PenaltyCharge | Reversal | WriteOff


def check_transactions(*, transactions: Iterable[Transaction]) -> None:
    """Raise ``ValueError`` unless sequences are unique and each reversal names a reversible one."""
    by_sequence: dict[int, Transaction] = {}
    for txn in transactions:
        if not isinstance(txn, Repayment | PenaltyCharge | Reversal | WriteOff):
            raise ValueError(f"not a loan transaction: {txn!r}")
        if txn.sequence in by_sequence:
            raise ValueError(f"duplicate transaction sequence {txn.sequence}")
        by_sequence[txn.sequence] = txn
    reversed_once: set[int] = set()
    for txn in by_sequence.values():
        if not isinstance(txn, Reversal):
            continue
        target = by_sequence.get(txn.reverses)
        if target is None:
            raise ValueError(f"reversal {txn.sequence} names unknown transaction {txn.reverses}")
        if isinstance(target, Reversal):
            raise ValueError(f"reversal {txn.sequence} cannot reverse another reversal")
        if txn.on < target.on:
            raise ValueError(f"reversal {txn.sequence} is dated before the transaction it reverses")
        if txn.reverses in reversed_once:
            raise ValueError(f"transaction {txn.reverses} is reversed twice")
        reversed_once.add(txn.reverses)

"""SQL for loans' instructions to escrow (``escrow_instructions``) and the rows the proceeds
reconciliation reads (the loans it checks, their sale-proceeds repayments).

The worker claims one due instruction at a time: the oldest pending one whose ``next_attempt_at``
has come and that no earlier pending instruction of the same loan precedes (per loan they go
in order), ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so replicas never take the same row
(SQLite writers are serialised anyway).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, exists, select, union
from sqlalchemy.orm import Session, aliased

from services.loans.models import EscrowInstruction, LoanTransaction

PENDING = "pending"


def claim_due(session: Session, *, now: datetime) -> EscrowInstruction | None:
    """Lock the next instruction to send (None when nothing is due)."""
    earlier = aliased(EscrowInstruction)
    blocked = exists().where(
        and_(
            earlier.loan_id == EscrowInstruction.loan_id,
            earlier.id < EscrowInstruction.id,
            earlier.status == PENDING,
        )
    )
    query = (
        select(EscrowInstruction)
        .where(
            EscrowInstruction.status == PENDING,
            EscrowInstruction.next_attempt_at <= now,
            ~blocked,
        )
        .order_by(EscrowInstruction.next_attempt_at, EscrowInstruction.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).first()


def get_instruction(session: Session, instruction_id: int, *, lock: bool = False) -> EscrowInstruction | None:
    """An instruction by id; ``lock`` takes its row lock."""
    query = select(EscrowInstruction).where(EscrowInstruction.id == instruction_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def instructions_of(session: Session, loan_id: str, kind: str | None = None) -> list[EscrowInstruction]:
    """A loan's instructions in the order they were written (of one kind when given)."""
    query = select(EscrowInstruction).where(EscrowInstruction.loan_id == loan_id)
    if kind is not None:
        query = query.where(EscrowInstruction.kind == kind)
    return list(session.scalars(query.order_by(EscrowInstruction.id)).all())


def instructions_of_many(session: Session, loan_ids: Sequence[str]) -> dict[str, list[EscrowInstruction]]:
    """The instructions of ``loan_ids`` by loan, in the order they were written."""
    grouped: dict[str, list[EscrowInstruction]] = defaultdict(list)
    if loan_ids:
        query = (
            select(EscrowInstruction)
            .where(EscrowInstruction.loan_id.in_(loan_ids))
            .order_by(EscrowInstruction.loan_id, EscrowInstruction.id)
        )
        for row in session.scalars(query):
            grouped[row.loan_id].append(row)
    return grouped


def proceeds_loan_ids(session: Session, *, limit: int, offset: int) -> list[str]:
    """A page (by loan id) of the loans whose sale proceeds can be reconciled: those with an
    instruction to escrow or a sale-proceeds transaction."""
    ids = union(
        select(EscrowInstruction.loan_id.label("loan_id")),
        select(LoanTransaction.loan_id.label("loan_id")).where(LoanTransaction.source == "sale_proceeds"),
    ).subquery()
    query = select(ids.c.loan_id).order_by(ids.c.loan_id).limit(limit).offset(offset)
    return list(session.scalars(query).all())


def sale_proceeds_repayments(session: Session, loan_ids: Sequence[str]) -> dict[str, list[LoanTransaction]]:
    """The sale-proceeds repayments of ``loan_ids`` by loan, in recording order."""
    grouped: dict[str, list[LoanTransaction]] = defaultdict(list)
    if loan_ids:
        query = (
            select(LoanTransaction)
            .where(
                LoanTransaction.loan_id.in_(loan_ids),
                LoanTransaction.kind == "repayment",
                LoanTransaction.source == "sale_proceeds",
            )
            .order_by(LoanTransaction.loan_id, LoanTransaction.sequence)
        )
        for row in session.scalars(query):
            grouped[row.loan_id].append(row)
    return grouped


def reversed_ids(session: Session, loan_ids: Sequence[str]) -> set[str]:
    """Ids of the transactions of ``loan_ids`` that a reversal reverses."""
    if not loan_ids:
        return set()
    query = select(LoanTransaction.reverses_id).where(
        LoanTransaction.loan_id.in_(loan_ids), LoanTransaction.kind == "reversal"
    )
    return {r for r in session.scalars(query) if r is not None}

"""Reconciliation of sale proceeds with escrow, a page of loans at a time
(``GET /v1/reconciliation/proceeds``, ``agrifin reconcile proceeds``).

The loans checked are those with an instruction to escrow or a sale-proceeds repayment, in
loan-id order. Loans' side is read in one short read-only unit of work; escrow's (each
loan's assignments by ``loan_ref`` and their sweeps and refunds) is asked afterwards with
no transaction open; ``domain.reconciliation.compare`` names the differences. Escrow out
of reach is a 503 problem (nothing can be said about a page it does not answer for), unless
there is no loan to check.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.loans.domain.lifecycle import LoanStatus
from services.loans.domain.reconciliation import (
    Difference,
    EscrowSide,
    EscrowSweep,
    InstructionState,
    LoansSide,
    RefundInstruction,
    compare,
)
from services.loans.models import EscrowInstruction
from services.loans.repository import accounts as accounts_repo
from services.loans.repository import escrow_instructions as repo
from services.loans.service.escrow_instructions import CLOSE, REFUND, REGISTER, payload_of
from services.loans.settings import LoansContext
from shared.clients.escrow import EscrowClient
from shared.errors import ServiceUnavailable
from shared.http_client import ServiceCallError

ESCROW_PREFIX = "escrow:"
_ENDED = frozenset({LoanStatus.CLOSED.value, LoanStatus.OVERPAID.value, LoanStatus.WRITTEN_OFF.value})
ASSIGNMENTS_PER_LOAN = 100


@dataclass(frozen=True)
class ProceedsReconciliation:
    """One page of the reconciliation: its differences and how many loans it checked."""

    differences: list[Difference]
    loans_checked: int
    limit: int
    offset: int

    @property
    def balanced(self) -> bool:
        """True when no loan of the page differs from escrow."""
        return not self.differences

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None when this one was the last."""
        return self.offset + self.limit if self.loans_checked == self.limit else None


def _state(row: EscrowInstruction) -> InstructionState:
    return InstructionState(status=row.status, attempts=row.attempts, error=row.last_error)


def _loans_sides(ctx: LoansContext, *, limit: int, offset: int) -> list[LoansSide]:
    with ctx.db.unit_of_work(read_only=True) as session:
        loan_ids = repo.proceeds_loan_ids(session, limit=limit, offset=offset)
        instructions = repo.instructions_of_many(session, loan_ids)
        repayments = repo.sale_proceeds_repayments(session, loan_ids)
        reversed_ids = repo.reversed_ids(session, loan_ids)
        sides = []
        for loan_id in loan_ids:
            loan = accounts_repo.get_loan(session, loan_id)
            assert loan is not None
            applied: dict[str, int] = {}
            others: list[tuple[str, int]] = []
            for txn in repayments.get(loan_id, []):
                if txn.id in reversed_ids:
                    continue
                external = txn.external_id or txn.id
                if external.startswith(ESCROW_PREFIX):
                    event = external.removeprefix(ESCROW_PREFIX)
                    applied[event] = applied.get(event, 0) + txn.amount_minor
                else:
                    others.append((external, txn.amount_minor))
            rows = instructions.get(loan_id, [])
            registers = [r for r in rows if r.kind == REGISTER]
            closes = [r for r in rows if r.kind == CLOSE]
            refunds = {
                str(payload_of(r)["event_id"]): RefundInstruction(
                    int(payload_of(r)["amount_minor"]), _state(r)
                )
                for r in rows
                if r.kind == REFUND
            }
            sides.append(
                LoansSide(
                    loan_id=loan_id,
                    currency=loan.currency,
                    ended=loan.status in _ENDED,
                    applied=applied,
                    other_repayments=others,
                    refunds=refunds,
                    register=_state(registers[-1]) if registers else None,
                    close=_state(closes[-1]) if closes else None,
                )
            )
        return sides


def _escrow_side(escrow: EscrowClient, loan_id: str) -> EscrowSide:
    statuses: dict[str, str] = {}
    sweeps: list[EscrowSweep] = []
    refunds: dict[str, int] = {}
    for assignment in escrow.list_assignments(loan_ref=loan_id, limit=ASSIGNMENTS_PER_LOAN):
        statuses[assignment.id] = assignment.status
        held = escrow.assignment_sweeps(assignment.id)
        sweeps.extend(EscrowSweep(assignment.id, s.event_id, s.amount_minor) for s in held.sweeps)
        for refund in held.refunds:
            refunds[refund.reference] = refunds.get(refund.reference, 0) + refund.amount_minor
    return EscrowSide(assignment_status=statuses, sweeps=sweeps, refunds=refunds)


def reconcile_proceeds(
    ctx: LoansContext, escrow: EscrowClient, *, limit: int = 100, offset: int = 0
) -> ProceedsReconciliation:
    """Compare one page of loans' sale proceeds with escrow's sweeps and refunds."""
    sides = _loans_sides(ctx, limit=limit, offset=offset)
    differences: list[Difference] = []
    for side in sides:
        try:
            held = _escrow_side(escrow, side.loan_id)
        except ServiceCallError as exc:
            raise ServiceUnavailable(f"escrow did not answer for loan {side.loan_id}: {exc}") from None
        differences.extend(compare(side, held))
    return ProceedsReconciliation(
        differences=differences, loans_checked=len(sides), limit=limit, offset=offset
    )


def reconcile_all_proceeds(
    ctx: LoansContext, escrow: EscrowClient, *, page: int = 100
) -> ProceedsReconciliation:
    """Every page of the reconciliation, as one."""
    differences: list[Difference] = []
    checked, offset = 0, 0
    while True:
        part = reconcile_proceeds(ctx, escrow, limit=page, offset=offset)
        differences.extend(part.differences)
        checked += part.loans_checked
        if part.next_offset is None:
            return ProceedsReconciliation(differences, checked, limit=max(checked, 1), offset=0)
        offset = part.next_offset

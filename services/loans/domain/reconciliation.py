"""Reconciliation of sale proceeds, loan by loan: escrow's sweeps against loans' books.

Escrow sweeps a share of a seller's release to the lender and says so with an
``assignment.swept`` event; loans applies what the loan owes as a ``sale_proceeds``
repayment (``external_id`` ``escrow:<event id>``) and refuses the rest, which it asks escrow
to refund to the seller (reference ``sweep-refused:<event id>``). So, for every sweep event:

    swept (escrow)  =  applied (loans' repayment)  +  refused (loans' refund instruction)

and every refund loans sent is one escrow made, of the same amount. ``compare`` names, in
plain words, every way one loan breaks that: a sweep with no repayment, a repayment with no
sweep, amounts that differ, a refund still pending or failed (or missing at escrow), a
refund escrow made that loans never asked for, an instruction escrow refused (register,
close), an assignment left active after its loan ended. No differences: balanced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

REFUND_REFERENCE_PREFIX = "sweep-refused:"
SWEPT_WITHOUT_REPAYMENT = "sweep_without_repayment"
REPAYMENT_WITHOUT_SWEEP = "repayment_without_sweep"
AMOUNTS_DIFFER = "amounts_differ"
REFUND_PENDING = "refund_pending"
REFUND_FAILED = "refund_failed"
REFUND_MISSING = "refund_missing_in_escrow"
REFUND_UNASKED = "refund_not_asked_by_loans"
REGISTER_FAILED = "register_failed"
REGISTER_NOT_DELIVERED = "register_not_delivered"
CLOSE_FAILED = "close_failed"
CLOSE_NOT_DELIVERED = "close_not_delivered"
STILL_ACTIVE = "assignment_active_after_loan_ended"
SWEEP_WITHOUT_EVENT = "sweep_without_event_id"


@dataclass(frozen=True)
class InstructionState:
    """Where one of loans' instructions to escrow stands."""

    status: str
    """``pending``, ``done`` or ``failed``."""
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class RefundInstruction:
    """Loans' instruction to refund the refused part of one sweep."""

    amount_minor: int
    state: InstructionState


@dataclass(frozen=True)
class LoansSide:
    """One loan's sale proceeds as loans recorded them."""

    loan_id: str
    currency: str
    ended: bool
    """The loan is closed, overpaid or written off."""
    applied: Mapping[str, int] = field(default_factory=dict)
    """Event id -> the sale-proceeds repayment applied for it (reversed ones left out)."""
    other_repayments: Sequence[tuple[str, int]] = ()
    """(external id, amount) of sale-proceeds repayments that name no escrow event."""
    refunds: Mapping[str, RefundInstruction] = field(default_factory=dict)
    """Event id -> the refund loans asked for."""
    register: InstructionState | None = None
    close: InstructionState | None = None


@dataclass(frozen=True)
class EscrowSweep:
    """One sweep escrow made to the lender under one of the loan's assignments."""

    assignment_id: str
    event_id: str | None
    amount_minor: int


@dataclass(frozen=True)
class EscrowSide:
    """One loan's assignments at escrow: their statuses, sweeps and refunds."""

    assignment_status: Mapping[str, str] = field(default_factory=dict)
    sweeps: Sequence[EscrowSweep] = ()
    refunds: Mapping[str, int] = field(default_factory=dict)
    """Refund reference -> amount refunded to the seller."""


@dataclass(frozen=True)
class Difference:
    """One thing that does not match, in plain words."""

    loan_id: str
    kind: str
    detail: str
    event_id: str | None = None
    escrow_minor: int | None = None
    loans_minor: int | None = None


def refund_reference(event_id: str) -> str:
    """The reference of the refund of the refused part of sweep ``event_id`` (unique at escrow)."""
    return f"{REFUND_REFERENCE_PREFIX}{event_id}"


def _undelivered(state: InstructionState) -> str:
    return f"after {state.attempts} attempt(s) escrow has not taken it yet: {state.error}"


def _instruction_differences(loans: LoansSide, escrow: EscrowSide) -> list[Difference]:
    found: list[Difference] = []
    loan = loans.loan_id
    if loans.register is not None:
        if loans.register.status == "failed":
            found.append(
                Difference(
                    loan,
                    REGISTER_FAILED,
                    f"the assignment of proceeds of loan {loan} was never "
                    f"registered with escrow: {loans.register.error}",
                )
            )
        elif loans.register.status == "pending" and loans.register.error:
            found.append(
                Difference(
                    loan,
                    REGISTER_NOT_DELIVERED,
                    f"the assignment of proceeds of loan {loan} is "
                    f"not registered yet: {_undelivered(loans.register)}",
                )
            )
    if loans.close is not None:
        if loans.close.status == "failed":
            found.append(
                Difference(
                    loan,
                    CLOSE_FAILED,
                    f"loan {loan} ended but escrow refused to close its assignment: {loans.close.error}",
                )
            )
        elif loans.close.status == "pending" and loans.close.error:
            found.append(
                Difference(
                    loan,
                    CLOSE_NOT_DELIVERED,
                    f"loan {loan} ended but its assignment is not closed yet: {_undelivered(loans.close)}",
                )
            )
    if loans.ended and (loans.close is None or loans.close.status == "done"):
        for assignment, status in sorted(escrow.assignment_status.items()):
            if status == "active":
                found.append(
                    Difference(
                        loan,
                        STILL_ACTIVE,
                        f"loan {loan} ended but its assignment {assignment} "
                        "is still active at escrow: releases can still sweep to the lender",
                    )
                )
    return found


def _sweep_differences(loans: LoansSide, escrow: EscrowSide) -> list[Difference]:
    found: list[Difference] = []
    loan, cur = loans.loan_id, loans.currency
    swept: dict[str, int] = {}
    for sweep in escrow.sweeps:
        if sweep.event_id is None:
            found.append(
                Difference(
                    loan,
                    SWEEP_WITHOUT_EVENT,
                    f"escrow swept {sweep.amount_minor} {cur} under "
                    f"assignment {sweep.assignment_id} with no event id: it cannot be matched",
                    escrow_minor=sweep.amount_minor,
                )
            )
            continue
        swept[sweep.event_id] = swept.get(sweep.event_id, 0) + sweep.amount_minor
    for event, amount in sorted(swept.items()):
        applied = loans.applied.get(event, 0)
        refund = loans.refunds.get(event)
        refused = refund.amount_minor if refund is not None else 0
        if applied == 0 and refused == 0:
            found.append(
                Difference(
                    loan,
                    SWEPT_WITHOUT_REPAYMENT,
                    f"escrow swept {amount} {cur} to the lender "
                    f"(event {event}) but loan {loan} has no repayment for it",
                    event,
                    amount,
                    0,
                )
            )
        elif applied + refused != amount:
            found.append(
                Difference(
                    loan,
                    AMOUNTS_DIFFER,
                    f"escrow swept {amount} {cur} (event {event}) but loan "
                    f"{loan} applied {applied} and refused {refused}: {amount - applied - refused} "
                    "unaccounted for",
                    event,
                    amount,
                    applied + refused,
                )
            )
    for event, applied in sorted(loans.applied.items()):
        if event not in swept:
            found.append(
                Difference(
                    loan,
                    REPAYMENT_WITHOUT_SWEEP,
                    f"loan {loan} has a sale-proceeds repayment of "
                    f"{applied} {cur} for event {event} but escrow has no such sweep",
                    event,
                    0,
                    applied,
                )
            )
    for external_id, amount in loans.other_repayments:
        found.append(
            Difference(
                loan,
                REPAYMENT_WITHOUT_SWEEP,
                f"loan {loan} has a sale-proceeds repayment of "
                f"{amount} {cur} ({external_id}) that names no escrow sweep",
                None,
                0,
                amount,
            )
        )
    return found


def _refund_differences(loans: LoansSide, escrow: EscrowSide) -> list[Difference]:
    found: list[Difference] = []
    loan, cur = loans.loan_id, loans.currency
    for event, refund in sorted(loans.refunds.items()):
        amount, state = refund.amount_minor, refund.state
        made = escrow.refunds.get(refund_reference(event))
        if state.status == "pending":
            extra = f": {_undelivered(state)}" if state.error else ""
            found.append(
                Difference(
                    loan,
                    REFUND_PENDING,
                    f"the refund of {amount} {cur} to the seller (event {event}, "
                    f"refused by loan {loan}) is still pending{extra}",
                    event,
                    made,
                    amount,
                )
            )
        elif state.status == "failed":
            found.append(
                Difference(
                    loan,
                    REFUND_FAILED,
                    f"the refund of {amount} {cur} to the seller (event {event}, "
                    f"refused by loan {loan}) failed: {state.error}",
                    event,
                    made,
                    amount,
                )
            )
        elif made is None:
            found.append(
                Difference(
                    loan,
                    REFUND_MISSING,
                    f"loan {loan} refunded {amount} {cur} of event {event} "
                    f"but escrow has no refund {refund_reference(event)}",
                    event,
                    None,
                    amount,
                )
            )
        elif made != amount:
            found.append(
                Difference(
                    loan,
                    AMOUNTS_DIFFER,
                    f"escrow refunded {made} {cur} for event {event} but loan {loan} refused {amount}",
                    event,
                    made,
                    amount,
                )
            )
    asked = {refund_reference(event) for event in loans.refunds}
    for reference, made in sorted(escrow.refunds.items()):
        if reference not in asked:
            found.append(
                Difference(
                    loan,
                    REFUND_UNASKED,
                    f"escrow refunded {made} {cur} to the seller ({reference}) "
                    f"that loan {loan} did not ask for",
                    None,
                    made,
                    0,
                )
            )
    return found


def compare(loans: LoansSide, escrow: EscrowSide) -> list[Difference]:
    """Every difference between one loan's books and escrow's (empty: balanced)."""
    return (
        _instruction_differences(loans, escrow)
        + _sweep_differences(loans, escrow)
        + _refund_differences(loans, escrow)
    )

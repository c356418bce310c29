"""The proceeds reconciliation's comparison, without a database: every kind of difference,
named in plain words, and a balanced loan."""

from __future__ import annotations

from services.loans.domain.reconciliation import (
    EscrowSide,
    EscrowSweep,
    InstructionState,
    LoansSide,
    RefundInstruction,
    compare,
    refund_reference,
)

DONE = InstructionState("done", attempts=1)


def _loans(**fields: object) -> LoansSide:
    base: dict[str, object] = {"loan_id": "L1", "currency": "KES", "ended": False, "register": DONE}
    return LoansSide(**(base | fields))  # type: ignore[arg-type]


def _escrow(
    *sweeps: tuple[str | None, int], refunds: dict[str, int] | None = None, status: str = "active"
) -> EscrowSide:
    return EscrowSide(
        assignment_status={"A1": status},
        sweeps=[EscrowSweep("A1", event, amount) for event, amount in sweeps],
        refunds=refunds or {},
    )


def test_applied_plus_refunded_equal_to_each_sweep_is_balanced() -> None:
    loans = _loans(
        applied={"e1": 29_250, "e2": 2_000},
        refunds={"e2": RefundInstruction(17_500, DONE)},
        ended=True,
        close=DONE,
    )
    escrow = _escrow(
        ("e1", 29_250), ("e2", 19_500), refunds={refund_reference("e2"): 17_500}, status="closed"
    )
    assert compare(loans, escrow) == []


def test_a_sweep_with_no_repayment_and_a_repayment_with_no_sweep() -> None:
    found = compare(_loans(applied={"e9": 500}), _escrow(("e1", 1_000)))
    assert [(d.kind, d.event_id, d.escrow_minor, d.loans_minor) for d in found] == [
        ("sweep_without_repayment", "e1", 1_000, 0),
        ("repayment_without_sweep", "e9", 0, 500),
    ]
    assert (
        found[0].detail
        == "escrow swept 1000 KES to the lender (event e1) but loan L1 has no repayment for it"
    )
    assert "escrow has no such sweep" in found[1].detail


def test_amounts_that_differ() -> None:
    (found,) = compare(_loans(applied={"e1": 700}), _escrow(("e1", 1_000)))
    assert (found.kind, found.escrow_minor, found.loans_minor) == ("amounts_differ", 1_000, 700)
    assert "300 unaccounted for" in found.detail


def test_refunds_pending_failed_missing_and_unasked() -> None:
    pending = RefundInstruction(300, InstructionState("pending", attempts=2, error="HTTP 503"))
    failed = RefundInstruction(400, InstructionState("failed", attempts=1, error="lender_paid_out"))
    missing = RefundInstruction(500, DONE)
    loans = _loans(
        applied={"e1": 700, "e2": 600, "e3": 500}, refunds={"e1": pending, "e2": failed, "e3": missing}
    )
    escrow = _escrow(("e1", 1_000), ("e2", 1_000), ("e3", 1_000), refunds={"sweep-refused:other": 50})
    kinds = [(d.kind, d.event_id) for d in compare(loans, escrow)]
    assert kinds == [
        ("refund_pending", "e1"),
        ("refund_failed", "e2"),
        ("refund_missing_in_escrow", "e3"),
        ("refund_not_asked_by_loans", None),
    ]
    details = [d.detail for d in compare(loans, escrow)]
    assert "still pending: after 2 attempt(s) escrow has not taken it yet: HTTP 503" in details[0]
    assert details[1].endswith("failed: lender_paid_out")


def test_instructions_escrow_refused_and_an_assignment_left_active() -> None:
    failed = InstructionState("failed", attempts=1, error="escrow refused it (HTTP 409): fully assigned")
    assert [d.kind for d in compare(_loans(register=failed), EscrowSide())] == ["register_failed"]
    retrying = InstructionState("pending", attempts=3, error="connection refused")
    assert [d.kind for d in compare(_loans(register=retrying), EscrowSide())] == ["register_not_delivered"]
    assert compare(_loans(register=InstructionState("pending")), EscrowSide()) == []  # not tried yet
    ended = _loans(ended=True, close=DONE)
    (active,) = compare(ended, _escrow())
    assert active.kind == "assignment_active_after_loan_ended" and "still active" in active.detail
    close_failed = _loans(ended=True, close=InstructionState("failed", error="not found"))
    assert [d.kind for d in compare(close_failed, _escrow())] == ["close_failed"]


def test_a_sweep_without_an_event_id_cannot_be_matched() -> None:
    (found,) = compare(_loans(), _escrow((None, 800)))
    assert found.kind == "sweep_without_event_id" and found.escrow_minor == 800

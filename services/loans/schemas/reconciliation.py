"""Response bodies of the proceeds reconciliation."""

from __future__ import annotations

from pydantic import BaseModel


class DifferenceOut(BaseModel):
    """One way a loan's sale proceeds differ from escrow's sweeps and refunds, in plain words."""

    loan_id: str
    kind: str
    """``sweep_without_repayment``, ``repayment_without_sweep``, ``amounts_differ``,
    ``refund_pending``, ``refund_failed``, ``refund_missing_in_escrow``,
    ``refund_not_asked_by_loans``, ``register_failed``, ``register_not_delivered``,
    ``close_failed``, ``close_not_delivered``, ``assignment_active_after_loan_ended``,
    ``sweep_without_event_id``."""
    detail: str
    event_id: str | None
    escrow_minor: int | None
    loans_minor: int | None


class ProceedsReconciliationOut(BaseModel):
    """A page of loans reconciled with escrow; ``balanced`` when no difference was found."""

    differences: list[DifferenceOut]
    loans_checked: int
    balanced: bool
    next_offset: int | None
    """Where the next page of loans starts (None: this was the last)."""

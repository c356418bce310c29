"""The status of one installment as a borrower or an officer reads it."""

from __future__ import annotations

from enum import StrEnum


class InstallmentStatus(StrEnum):
    """Paid in full, overdue, partly paid (not yet overdue), or still to come."""

    PAID = "paid"
    OVERDUE = "overdue"
    PARTIALLY_PAID = "partially_paid"
    UPCOMING = "upcoming"


def installment_status(*, due_minor: int, paid_minor: int, overdue: bool) -> InstallmentStatus:
    """Nothing left to pay is paid (even late); else overdue when the replay says so; else by payment."""
    if due_minor - paid_minor == 0:
        return InstallmentStatus.PAID
    if overdue:
        return InstallmentStatus.OVERDUE
    return InstallmentStatus.PARTIALLY_PAID if paid_minor else InstallmentStatus.UPCOMING

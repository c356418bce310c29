"""A loan's arrears as its page shows them, and the labels of loans' vocabulary (pure).

Loans computes days past due and the delinquency bucket; the page adds what is overdue (the
sum still owed on installments past their due date), how many installments that is, and the
oldest of them. The labels are marked for the catalogue and translated where a page renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from services.console.domain.catalogue import N_

BUCKET_LABELS = {
    "current": N_("Current"),
    "1-30": N_("1–30 days past due"),
    "31-60": N_("31–60 days past due"),
    "61-90": N_("61–90 days past due"),
    "91-180": N_("91–180 days past due"),
    "180+": N_("More than 180 days past due"),
}
"""Loans' delinquency buckets (``services.loans.domain.arrears.DelinquencyBucket`` values)."""

LOAN_STATUS_LABELS = {
    "approved": N_("Approved, not disbursed"),
    "active": N_("Active"),
    "closed": N_("Closed"),
    "overpaid": N_("Overpaid"),
    "written_off": N_("Written off"),
}
"""Loans' loan statuses, in their life's order (the list page's filter offers these)."""

INSTALLMENT_STATUS_LABELS = {
    "paid": N_("Paid"),
    "overdue": N_("Overdue"),
    "partially_paid": N_("Partly paid"),
    "upcoming": N_("Upcoming"),
}

TRANSACTION_KIND_LABELS = {
    "repayment": N_("Repayment"),
    "penalty": N_("Penalty"),
    "reversal": N_("Reversal"),
    "write_off": N_("Write-off"),
}

APPLICATION_STATUS_LABELS = {
    "pending_score": N_("Waiting for its score"),
    "scored": N_("Scored, waiting for a decision"),
    "score_failed": N_("Scoring refused it"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}

DECISION_HINT_LABELS = {
    "approve": N_("Suggests approval"),
    "review": N_("Needs review"),
    "decline": N_("Suggests decline"),
}

BORROWER_TYPE_LABELS = {"farmer": N_("Farmer"), "enterprise": N_("Enterprise")}


def label(labels: dict[str, str], value: str | None) -> str:
    """The label of ``value`` (the value itself when loans names something new)."""
    if value is None:
        return "—"
    return labels.get(value, value)


class InstallmentState(Protocol):
    """What arrears needs of one installment (loans' schedule row)."""

    @property
    def number(self) -> int: ...

    @property
    def due_date(self) -> date: ...

    @property
    def outstanding_minor(self) -> int: ...

    @property
    def overdue(self) -> bool: ...


@dataclass(frozen=True)
class Arrears:
    """Days past due and bucket (as loans computed them) and what is overdue on the schedule."""

    days_past_due: int
    bucket: str
    bucket_label: str
    overdue_minor: int
    overdue_installments: int
    oldest_overdue_due: date | None

    @property
    def in_arrears(self) -> bool:
        """Whether anything is overdue."""
        return self.days_past_due > 0 or self.overdue_minor > 0


def arrears_of(*, days_past_due: int, bucket: str, installments: Sequence[InstallmentState]) -> Arrears:
    """The arrears of a loan: loans' days past due and bucket, and the overdue installments' sum."""
    overdue = [row for row in installments if row.overdue and row.outstanding_minor > 0]
    return Arrears(
        days_past_due=days_past_due,
        bucket=bucket,
        bucket_label=label(BUCKET_LABELS, bucket),
        overdue_minor=sum(row.outstanding_minor for row in overdue),
        overdue_installments=len(overdue),
        oldest_overdue_due=min((row.due_date for row in overdue), default=None),
    )


def person_of_actor(actor: str | None) -> str:
    """Who an actor string names: ``person:amina:loan_officer:via:k1`` -> ``amina``; a key or a
    service as written (``key:k1``, ``service:escrow``)."""
    if not actor:
        return "—"
    parts = actor.split(":")
    if parts[0] == "person" and len(parts) > 1:
        return parts[1]
    return actor

"""The outcomes each loan has reported to scoring (``loan_outcomes``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.loans.models import Application, Loan, LoanOutcome


def reported_outcomes(session: Session, loan_ids: Sequence[str]) -> dict[str, set[str]]:
    """Loan id -> the outcomes it has already reported (every given id is a key)."""
    out: dict[str, set[str]] = {loan_id: set() for loan_id in loan_ids}
    if not loan_ids:
        return out
    rows = session.execute(
        select(LoanOutcome.loan_id, LoanOutcome.outcome).where(LoanOutcome.loan_id.in_(list(loan_ids)))
    )
    for loan_id, outcome in rows:
        out[loan_id].add(outcome)
    return out


def score_ids(session: Session, loan_ids: Sequence[str]) -> dict[str, str | None]:
    """Loan id -> the score id of the application it came from."""
    if not loan_ids:
        return {}
    rows = session.execute(
        select(Loan.id, Application.score_id)
        .join(Application, Application.id == Loan.application_id)
        .where(Loan.id.in_(list(loan_ids)))
    )
    return {row.id: row.score_id for row in rows}

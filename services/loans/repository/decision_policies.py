"""SQL for decision policies and the borrower facts a policy looks at."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.loans.domain.lifecycle import LoanStatus
from services.loans.models import DecisionPolicy, Loan

OPEN_STATUSES = (LoanStatus.APPROVED.value, LoanStatus.ACTIVE.value)


def current_policy(session: Session, product_id: str) -> DecisionPolicy | None:
    """The product's latest policy version, None when it has none."""
    return session.scalars(
        select(DecisionPolicy)
        .where(DecisionPolicy.product_id == product_id)
        .order_by(DecisionPolicy.version.desc())
        .limit(1)
    ).first()


def policy_history(session: Session, product_id: str) -> Sequence[DecisionPolicy]:
    """Every version of the product's policy, newest first."""
    return session.scalars(
        select(DecisionPolicy)
        .where(DecisionPolicy.product_id == product_id)
        .order_by(DecisionPolicy.version.desc())
    ).all()


def borrower_loan_facts(session: Session, borrower_id: str) -> tuple[int, int]:
    """(open loans, most days past due among them) of a borrower."""
    count, worst = session.execute(
        select(func.count(Loan.id), func.max(Loan.days_past_due)).where(
            Loan.borrower_id == borrower_id, Loan.status.in_(OPEN_STATUSES)
        )
    ).one()
    return int(count), int(worst or 0)

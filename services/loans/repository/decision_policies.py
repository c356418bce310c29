"""SQL for decision policies and the borrower facts a policy looks at."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.loans.domain.lifecycle import LoanStatus
from services.loans.models import Borrower, DecisionPolicy, Loan, Product

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


def lock_product(session: Session, product_id: str) -> Product | None:
    """A product with its row lock (PostgreSQL): one new policy version at a time."""
    return session.scalars(select(Product).where(Product.id == product_id).with_for_update()).first()


def lock_borrower(session: Session, borrower_id: str) -> None:
    """Take the borrower's row lock (PostgreSQL): one policy decision per borrower at a time, so two
    concurrent approvals cannot both count the same open loans. ``FOR NO KEY UPDATE``: the key-share
    locks the new application's and loan's foreign keys hold do not conflict with it (``FOR
    UPDATE`` deadlocked two submissions that had each inserted their application)."""
    if session.get_bind().dialect.name == "sqlite":
        return  # no row locks: a SQLite writer holds the database's one write lock already
    session.execute(select(Borrower.id).where(Borrower.id == borrower_id).with_for_update(key_share=True))

"""SQL for decision policies and the borrower facts a policy looks at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, true
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


class PolicyAndFacts(NamedTuple):
    """A product's current policy version (None fields: it has none) and a borrower's loan facts."""

    version: int | None
    rules: str | None
    open_loans: int
    worst_days_past_due: int


_loans, _policies = Loan.__table__, DecisionPolicy.__table__
_facts = (
    select(
        func.count(_loans.c.id).label("open_loans"),
        func.max(_loans.c.days_past_due).label("worst_days_past_due"),
    )
    .where(_loans.c.borrower_id == bindparam("borrower_id"), _loans.c.status.in_(OPEN_STATUSES))
    .subquery("facts")
)
_latest = (
    select(_policies.c.version, _policies.c.rules)
    .where(_policies.c.product_id == bindparam("product_id"))
    .order_by(_policies.c.version.desc())
    .limit(1)
    .subquery("latest")
)
_POLICY_AND_FACTS = select(
    _latest.c.version, _latest.c.rules, _facts.c.open_loans, _facts.c.worst_days_past_due
).select_from(_facts.outerjoin(_latest, true()))
"""Built once; the aggregate always gives one row, the policy joins it when there is one."""


def policy_and_facts(session: Session, product_id: str, borrower_id: str) -> PolicyAndFacts:
    """The product's latest policy version and the borrower's (open loans, most days past due
    among them), in one statement."""
    version, rules, count, worst = (
        session.connection()
        .execute(_POLICY_AND_FACTS, {"product_id": product_id, "borrower_id": borrower_id})
        .one()
    )
    return PolicyAndFacts(version, rules, int(count), int(worst or 0))


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

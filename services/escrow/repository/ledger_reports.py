"""The ledger as auditors read it: every account, and the checks ``verify_ledger`` runs.

Each function is one statement, so one snapshot (see ``service.ledger``).
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from services.escrow.repository.ledger import ACCOUNTS, ENTRIES, POSTINGS, StoredAccount, stored_account


def all_accounts(session: Session) -> list[StoredAccount]:
    """Every account with its stored balance, in AccountRef order."""
    rows = session.execute(select(ACCOUNTS)).mappings()
    return sorted((stored_account(r) for r in rows), key=lambda s: s.account.ref)


def accounts_with_postings(session: Session) -> list[tuple[StoredAccount, int, int]]:
    """Every account, its stored balance and the sums of its debit and credit postings.

    One statement, so one snapshot: under READ COMMITTED an entry committed between two
    statements would make a stored balance and its postings disagree that never did."""
    debit = func.sum(case((POSTINGS.c.side == "debit", POSTINGS.c.amount_minor), else_=0))
    credit = func.sum(case((POSTINGS.c.side == "credit", POSTINGS.c.amount_minor), else_=0))
    sums = (
        select(POSTINGS.c.account_id, debit.label("debit"), credit.label("credit"))
        .group_by(POSTINGS.c.account_id)
        .subquery()
    )
    rows = session.execute(
        select(
            ACCOUNTS,
            func.coalesce(sums.c.debit, 0).label("posted_debit"),
            func.coalesce(sums.c.credit, 0).label("posted_credit"),
        ).outerjoin(sums, sums.c.account_id == ACCOUNTS.c.id)
    ).mappings()
    found = [(stored_account(r), int(r["posted_debit"]), int(r["posted_credit"])) for r in rows]
    return sorted(found, key=lambda item: item[0].account.ref)


def orphan_posting_accounts(session: Session) -> list[int]:
    """Account ids that postings name but no account has (the foreign key forbids any)."""
    known = select(ACCOUNTS.c.id).where(ACCOUNTS.c.id == POSTINGS.c.account_id)
    rows = session.execute(
        select(POSTINGS.c.account_id).where(~known.exists()).distinct().order_by(POSTINGS.c.account_id)
    ).all()
    return [int(r[0]) for r in rows]


def unbalanced_entries(session: Session, limit: int = 50) -> list[tuple[str, str, int]]:
    """Entries whose postings do not sum to zero in some currency: (ref, currency, net)."""
    net = func.sum(
        case((POSTINGS.c.side == "debit", POSTINGS.c.amount_minor), else_=-POSTINGS.c.amount_minor)
    )
    rows = session.execute(
        select(ENTRIES.c.ref, POSTINGS.c.currency, net)
        .join(POSTINGS, POSTINGS.c.entry_id == ENTRIES.c.id)
        .group_by(ENTRIES.c.ref, POSTINGS.c.currency)
        .having(net != 0)
        .limit(limit)
    ).all()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def short_entries(session: Session, limit: int = 50) -> list[str]:
    """Entries with fewer than two postings."""
    count = func.count(POSTINGS.c.id)
    rows = session.execute(
        select(ENTRIES.c.ref)
        .outerjoin(POSTINGS, POSTINGS.c.entry_id == ENTRIES.c.id)
        .group_by(ENTRIES.c.ref)
        .having(count < 2)
        .limit(limit)
    ).all()
    return [str(r[0]) for r in rows]


def ledger_counts(session: Session) -> tuple[int, int]:
    """(entries, postings) in the ledger, counted in one statement."""
    entries = select(func.count()).select_from(ENTRIES).scalar_subquery()
    postings = select(func.count()).select_from(POSTINGS).scalar_subquery()
    counted = session.execute(select(entries, postings)).one()
    return int(counted[0]), int(counted[1])

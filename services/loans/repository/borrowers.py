"""SQL for borrowers (their personal data is stored encrypted; look-ups go by keyed hash)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.loans.models import Borrower


def get_borrower(session: Session, borrower_id: str) -> Borrower | None:
    """A borrower by id."""
    return session.get(Borrower, borrower_id)


def borrower_by_national_id_hash(session: Session, lookup_hash: str) -> Borrower | None:
    """The borrower whose national id hashes to ``lookup_hash``."""
    return session.scalars(select(Borrower).where(Borrower.national_id_hash == lookup_hash)).first()


def borrower_by_marketplace_party(session: Session, party_id: str) -> Borrower | None:
    """The borrower linked to marketplace party ``party_id``."""
    return session.scalars(select(Borrower).where(Borrower.marketplace_party_id == party_id)).first()


def list_borrowers(session: Session, *, limit: int, offset: int) -> Sequence[Borrower]:
    """Borrowers, oldest first."""
    query = select(Borrower).order_by(Borrower.created_at, Borrower.id).limit(limit).offset(offset)
    return session.scalars(query).all()


def borrowers_by_ids(session: Session, ids: Sequence[str]) -> Sequence[Borrower]:
    """The borrowers among ``ids`` (in no particular order; unknown ids are absent)."""
    return session.scalars(select(Borrower).where(Borrower.id.in_(ids))).all()

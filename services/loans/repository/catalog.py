"""SQL for products, borrowers, the business date and COB runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.loans.models import Borrower, BusinessDate, CobRun, Product

_BUSINESS_DATE_ROW = 1


def add(session: Session, row: object) -> None:
    """Stage a new row and flush it (ids are client-generated)."""
    session.add(row)
    session.flush()


def get_product(session: Session, product_id: str) -> Product | None:
    """A product by id."""
    return session.get(Product, product_id)


def product_named(session: Session, name: str) -> Product | None:
    """A product by its unique name."""
    return session.scalars(select(Product).where(Product.name == name)).first()


def list_products(session: Session) -> Sequence[Product]:
    """Every product, oldest first."""
    return session.scalars(select(Product).order_by(Product.created_at, Product.id)).all()


def get_borrower(session: Session, borrower_id: str) -> Borrower | None:
    """A borrower by id."""
    return session.get(Borrower, borrower_id)


def borrower_by_national_id_hash(session: Session, lookup_hash: str) -> Borrower | None:
    """The borrower whose national id hashes to ``lookup_hash``."""
    return session.scalars(select(Borrower).where(Borrower.national_id_hash == lookup_hash)).first()


def list_borrowers(session: Session, *, limit: int, offset: int) -> Sequence[Borrower]:
    """Borrowers, oldest first."""
    query = select(Borrower).order_by(Borrower.created_at, Borrower.id).limit(limit).offset(offset)
    return session.scalars(query).all()


def stored_business_date(session: Session, *, lock: bool = False) -> BusinessDate | None:
    """The stored business date row, if one was ever set."""
    query = select(BusinessDate).where(BusinessDate.id == _BUSINESS_DATE_ROW)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def save_business_date(session: Session, *, value: date, now: datetime, actor: str) -> None:
    """Insert or move the business date."""
    row = stored_business_date(session, lock=True)
    if row is None:
        session.add(
            BusinessDate(id=_BUSINESS_DATE_ROW, business_date=value, updated_at=now, updated_by=actor)
        )
    else:
        row.business_date, row.updated_at, row.updated_by = value, now, actor
    session.flush()


def cob_run_for(session: Session, business_date: date) -> CobRun | None:
    """The COB run of a date, if any."""
    return session.scalars(select(CobRun).where(CobRun.business_date == business_date)).first()


def latest_cob_date(session: Session) -> date | None:
    """The latest date a COB run exists for."""
    value: date | None = session.scalar(select(func.max(CobRun.business_date)))
    return value


def list_cob_runs(session: Session, *, limit: int) -> Sequence[CobRun]:
    """The latest COB runs, newest first."""
    return session.scalars(select(CobRun).order_by(CobRun.business_date.desc()).limit(limit)).all()

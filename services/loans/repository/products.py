"""SQL for loan products, and the per-process memory of them (a product never changes once created).

A product row is never updated or deleted, so once a transaction that read it commits, every
later transaction of this process may use what it read without reading it again
(``known_product``). What a transaction reads is published only when it commits
(``shared.committed_memory``, one memory per connection pool). Only the columns applications
are checked and decided with are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from services.loans.models import Product
from shared.committed_memory import CommittedMemory

_MAX_KNOWN = 4096
"""Products remembered per pool before the memory starts over (a book has few products)."""


@dataclass(frozen=True, slots=True)
class ProductRow:
    """What an application is checked against and decided with: columns that never change."""

    id: str
    currency: str
    min_principal_minor: int
    max_principal_minor: int
    min_repayments: int
    max_repayments: int
    min_annual_interest_rate: str | None
    max_annual_interest_rate: str | None
    terms: str
    maker_checker: bool
    score_without_marketplace: bool


_t = Product.__table__
PRODUCT_ROW_COLUMNS = (
    _t.c.id,
    _t.c.currency,
    _t.c.min_principal_minor,
    _t.c.max_principal_minor,
    _t.c.min_repayments,
    _t.c.max_repayments,
    _t.c.min_annual_interest_rate,
    _t.c.max_annual_interest_rate,
    _t.c.terms,
    _t.c.maker_checker,
    _t.c.score_without_marketplace,
)
"""The columns of a ``ProductRow``, in its fields' order (``product_row`` reads them back)."""
_PRODUCT_ROW = select(*PRODUCT_ROW_COLUMNS).where(_t.c.id == bindparam("product_id"))


_PRODUCTS: CommittedMemory[str, ProductRow] = CommittedMemory("loans.products", max_entries=_MAX_KNOWN)


def product_row(row: Sequence[Any], offset: int = 0) -> ProductRow:
    """A ``ProductRow`` from ``PRODUCT_ROW_COLUMNS`` selected from ``offset`` on in ``row``."""
    return ProductRow(*row[offset : offset + len(PRODUCT_ROW_COLUMNS)])


def known_product(session: Session, product_id: str) -> ProductRow | None:
    """The product, if this process (or this transaction) has read it already; None otherwise."""
    return _PRODUCTS.recall_one(session, product_id)


def saw_product(session: Session, product: ProductRow) -> None:
    """Remember ``product``, read by this transaction, once (and if) it commits."""
    _PRODUCTS.remember(session, {product.id: product})


def product_terms(session: Session, product_id: str) -> ProductRow | None:
    """A product's ``ProductRow`` (remembered, or read by id: one statement); None when unknown."""
    seen = known_product(session, product_id)
    if seen is not None:
        return seen
    row = session.connection().execute(_PRODUCT_ROW, {"product_id": product_id}).first()
    if row is None:
        return None
    product = product_row(row)
    saw_product(session, product)
    return product


def get_product(session: Session, product_id: str) -> Product | None:
    """A product by id."""
    return session.get(Product, product_id)


def product_named(session: Session, name: str) -> Product | None:
    """A product by its unique name."""
    return session.scalars(select(Product).where(Product.name == name)).first()


def list_products(session: Session) -> Sequence[Product]:
    """Every product, oldest first."""
    return session.scalars(select(Product).order_by(Product.created_at, Product.id)).all()

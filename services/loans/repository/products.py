"""SQL for loan products."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.loans.models import Product


def get_product(session: Session, product_id: str) -> Product | None:
    """A product by id."""
    return session.get(Product, product_id)


def product_named(session: Session, name: str) -> Product | None:
    """A product by its unique name."""
    return session.scalars(select(Product).where(Product.name == name)).first()


def list_products(session: Session) -> Sequence[Product]:
    """Every product, oldest first."""
    return session.scalars(select(Product).order_by(Product.created_at, Product.id)).all()

"""The per-process memory of products (``repository.products``): a product never changes once
created, so what a committed transaction read is used again without a statement; what a
transaction that rolled back read is not remembered, and nothing is remembered of an unknown id."""

from __future__ import annotations

import pytest

from services.loans.repository import products as repo
from services.loans.settings import LoansContext
from tests.loans.kit import LoansApi


class _Abandon(Exception):
    pass


def test_a_product_is_remembered_once_the_transaction_that_read_it_commits(
    ctx: LoansContext, api: LoansApi
) -> None:
    product = api.product()

    def read_then_abandon() -> None:
        with ctx.db.unit_of_work(read_only=True) as session:
            read = repo.product_terms(session, product["id"])
            assert read is not None and read.id == product["id"] and read.currency == product["currency"]
            assert repo.known_product(session, product["id"]) == read  # this transaction's own reads
            raise _Abandon

    with pytest.raises(_Abandon):
        read_then_abandon()
    with ctx.db.unit_of_work(read_only=True) as session:
        assert repo.known_product(session, product["id"]) is None
        read = repo.product_terms(session, product["id"])
    with ctx.db.unit_of_work(read_only=True) as session:
        assert repo.known_product(session, product["id"]) == read
        assert repo.product_terms(session, "no-such-product") is None
    with ctx.db.unit_of_work(read_only=True) as session:
        assert repo.known_product(session, "no-such-product") is None

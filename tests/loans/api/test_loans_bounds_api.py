"""Bounds on loans' money and terms (issue 9): an ``installment_multiple_of_minor`` larger
than the principal, periods beyond any schedule, and amounts above the configured maximum
per currency are 422 problems naming the field."""

from __future__ import annotations

from typing import Any

from services.loans.settings import LoansContext
from tests.factories.loans import ProductPayloadFactory
from tests.loans.kit import LoansApi


def fields(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem["errors"]]


def test_an_installment_multiple_larger_than_the_principal_is_refused(api: LoansApi) -> None:
    body = ProductPayloadFactory(installment_multiple_of_minor=10**14)
    problem = api.post("/v1/products", body, as_="manager", expect=422)
    assert fields(problem) == ["installment_multiple_of_minor"]
    product = api.product(installment_multiple_of_minor=1_000_000)
    preview = {
        "terms": product["id"],
        "principal_minor": 500_000,
        "annual_interest_rate": "12",
        "number_of_repayments": 3,
        "disbursement_date": "2026-01-15",
    }
    problem = api.post("/v1/schedules/preview", preview, as_="officer", expect=422)
    assert (
        "installment_multiple_of_minor (1000000) must not be larger than the principal" in problem["detail"]
    )


def test_periods_and_amounts_beyond_any_schedule_are_refused(api: LoansApi) -> None:
    for field, value in (
        ("grace_on_principal_periods", 10**18),
        ("principal_moratorium_every", 2**63),
        ("installment_multiple_of_minor", 2**63),
        ("max_principal_minor", 2**64),
    ):
        problem = api.post("/v1/products", ProductPayloadFactory(**{field: value}), as_="manager", expect=422)
        assert field in fields(problem), (field, problem)


def test_repayments_and_principals_above_the_maximum_per_currency_are_refused(
    api: LoansApi, ctx: LoansContext
) -> None:
    product = api.product(min_principal_minor=10_000)
    loan = api.active_loan(product["id"], principal_minor=500_000)
    ctx.settings.max_amount_minor_by_currency = {"KES": 50_000}
    problem = api.repay(loan["id"], 50_001, "2026-01-15", "big", expect=422)
    assert fields(problem) == ["amount_minor"] and "at most 50000 KES" in problem["errors"][0]["message"]
    api.repay(loan["id"], 50_000, "2026-01-15", "max")
    borrower = api.borrower()
    application = api.apply(
        product["id"], borrower["id"], disbursement_date="2026-01-15", principal_minor=60_000
    )
    approved = api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
    problem = api.post(
        f"/v1/loans/{approved['id']}/disburse", {"date": "2026-01-15"}, as_="manager", expect=422
    )
    assert fields(problem) == ["principal_minor"]

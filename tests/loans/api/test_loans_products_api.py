"""Products, schedule previews and borrowers over the API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.loans.domain import build_schedule
from services.loans.models import Borrower, Product
from services.loans.schemas.terms import LoanTermsModel
from shared.platform import ServiceContext
from tests.loans.kit import LoansApi
from tests.support import count_rows

PENALTY = {"calculation": "flat", "frequency": "once", "amount_minor": 5_000}
SEASONAL = {
    "currency": "KES",
    "grace_on_principal_periods": 2,
    "balloon_percent": "40",
    "fees": [
        {"name": "service", "timing": "per_installment", "calculation": "flat", "amount_minor": 500},
        {"name": "origination", "timing": "disbursement", "calculation": "percent", "percent": "1.5"},
    ],
    "overdue_penalty": PENALTY,
    "rounding_mode": "half_up",
    "installment_multiple_of_minor": 100,
}


def test_create_list_and_get_a_product(api: LoansApi) -> None:
    product = api.product(name="maize-season", **SEASONAL)
    assert product["terms"]["balloon_percent"] == "40"
    assert product["terms"]["overdue_penalty"]["amount_minor"] == 5_000
    assert product["maker_checker"] is True
    assert api.get(f"/v1/products/{product['id']}", as_="officer") == product
    assert [p["id"] for p in api.get("/v1/products")] == [product["id"]]
    api.get("/v1/products/nope", expect=404)


def test_product_roles(api: LoansApi) -> None:
    body = {
        "name": "x",
        "currency": "KES",
        "min_principal_minor": 1,
        "max_principal_minor": 2,
        "max_repayments": 3,
    }
    api.post("/v1/products", body, as_="officer", expect=403)
    api.post("/v1/products", body, as_="marketplace", expect=403)
    api.get("/v1/products", as_="marketplace", expect=403)
    api.post("/v1/products", body, as_="admin", expect=201)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"min_principal_minor": 10, "max_principal_minor": 5}, "body"),
        ({"allocation_order": ["penalty", "fee", "interest"]}, "terms"),
        ({"bullet": True, "balloon_percent": "10"}, "terms"),
        ({"currency": "XYZ"}, "terms"),
        ({"balloon_percent": 12.5}, "balloon_percent"),
    ],
)
def test_invalid_products_are_422_naming_the_problem(
    api: LoansApi, overrides: dict[str, object], field: str
) -> None:
    body = {
        "name": "bad",
        "currency": "KES",
        "min_principal_minor": 1,
        "max_principal_minor": 2,
        "max_repayments": 3,
        **overrides,
    }
    problem = api.post("/v1/products", body, as_="manager", expect=422)
    assert problem["errors"][0]["field"] == field, problem


def test_preview_matches_the_domain_and_stores_nothing(api: LoansApi, ctx: ServiceContext) -> None:
    before = count_rows(ctx, ctx.tables.audit_log), count_rows(ctx, Product.__table__)
    body = {
        "terms": SEASONAL,
        "principal_minor": 2_500_000,
        "annual_interest_rate": "21.5",
        "number_of_repayments": 8,
        "disbursement_date": "2026-02-10",
    }
    preview = api.post("/v1/schedules/preview", body, as_="officer")
    expected = build_schedule(
        terms=LoanTermsModel.model_validate(SEASONAL).to_domain(),
        principal_minor=2_500_000,
        annual_interest_rate=Decimal("21.5"),
        number_of_repayments=8,
        disbursement_date=date(2026, 2, 10),
    )
    assert [
        (
            r["number"],
            date.fromisoformat(r["due_date"]),
            r["principal_minor"],
            r["interest_minor"],
            r["fee_minor"],
            r["penalty_minor"],
            r["total_minor"],
            r["balance_minor"],
        )
        for r in preview["rows"]
    ] == [
        (
            r.number,
            r.due_date,
            r.principal_minor,
            r.interest_minor,
            r.fee_minor,
            r.penalty_minor,
            r.total_minor,
            r.balance_minor,
        )
        for r in expected.rows
    ]
    assert preview["totals"] == {
        "principal_minor": 2_500_000,
        "interest_minor": expected.total_interest_minor,
        "fee_minor": expected.total_fee_minor,
        "penalty_minor": 0,
        "total_minor": expected.total_due_minor,
        "disbursement_fees_minor": 37_500,
    }
    assert (count_rows(ctx, ctx.tables.audit_log), count_rows(ctx, Product.__table__)) == before


def test_preview_by_product_id_and_its_errors(api: LoansApi) -> None:
    product = api.product(**SEASONAL)
    body = {
        "terms": product["id"],
        "principal_minor": 2_500_000,
        "annual_interest_rate": "21.5",
        "number_of_repayments": 8,
        "disbursement_date": "2026-02-10",
        "first_repayment_date": "2026-03-31",
    }
    preview = api.post("/v1/schedules/preview", body, as_="manager")
    assert preview["rows"][0]["due_date"] == "2026-03-31" and preview["currency"] == "KES"
    assert (
        api.post("/v1/schedules/preview", {**body, "terms": "missing"}, as_="officer", expect=422)["errors"][
            0
        ]["field"]
        == "terms"
    )
    problem = api.post(
        "/v1/schedules/preview", {**body, "number_of_repayments": 2}, as_="officer", expect=422
    )
    assert "grace_on_principal_periods" in problem["detail"]
    problem = api.post(
        "/v1/schedules/preview", {**body, "annual_interest_rate": 21.5}, as_="officer", expect=422
    )
    assert problem["errors"][0]["field"] == "annual_interest_rate"
    api.post("/v1/schedules/preview", body, as_="auditor", expect=403)


def test_borrower_personal_data_is_encrypted_and_found_by_national_id(
    api: LoansApi, ctx: ServiceContext
) -> None:
    created = api.borrower(name="Amina Otieno", national_id="KE-12345678", phone="+254700000001")
    with ctx.db.unit_of_work(read_only=True) as session:
        row = session.scalars(select(Borrower)).one()
    stored = " ".join([row.name_enc, row.national_id_enc, row.phone_enc or "", row.national_id_hash])
    assert "Amina" not in stored and "12345678" not in stored and "254700000001" not in stored
    assert api.get(f"/v1/borrowers/{created['id']}", as_="manager")["name"] == "Amina Otieno"
    found = api.get("/v1/borrowers", national_id=" ke-12345678 ")
    assert [b["id"] for b in found] == [created["id"]] and found[0]["phone"] == "+254700000001"
    assert api.get("/v1/borrowers", national_id="KE-0") == []
    api.post(
        "/v1/borrowers",
        {"type": "farmer", "name": "Dup", "national_id": "KE-12345678"},
        as_="officer",
        expect=409,
    )
    api.get("/v1/borrowers", as_="marketplace", expect=403)


def test_a_borrower_links_to_one_marketplace_party(api: LoansApi, ctx: ServiceContext) -> None:
    body = {"type": "farmer", "name": "Wanjiru", "national_id": "KE-777", "marketplace_party_id": "seller-77"}
    created = api.post("/v1/borrowers", body, as_="officer", expect=201)
    assert created["marketplace_party_id"] == "seller-77"
    assert api.get(f"/v1/borrowers/{created['id']}")["marketplace_party_id"] == "seller-77"
    assert api.borrower(name="Unlinked", national_id="KE-778")["marketplace_party_id"] is None
    taken = api.post("/v1/borrowers", {**body, "national_id": "KE-779"}, as_="officer", expect=409)
    assert "seller-77" in taken["detail"]
    assert count_rows(ctx, Borrower) == 2
    unnamed = {**body, "national_id": "KE-780", "marketplace_party_id": ""}
    api.post("/v1/borrowers", unnamed, as_="officer", expect=422)

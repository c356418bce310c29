"""A loan's account over the API: disbursement, allocation, back-dating, reversal,
overpayment, closure, write-off, external_id idempotency, roles and the audit chain.

The loan is the domain testkit's small loan: KES 3,000.00 at 12%, equal principal over three
months with a 5.00 fee per installment, disbursed 2025-01-01; installments of 1,035.00,
1,025.00 and 1,015.00 fall due on Feb 1, Mar 1 and Apr 1 2025.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.loans.models import LoanTransaction
from services.loans.settings import LoansContext
from shared.platform import ServiceContext
from tests.loans.kit import LoansApi
from tests.support import count_rows

SMALL = {
    "amortization": "equal_principal",
    "max_repayments": 6,
    "min_principal_minor": 100_000,
    "fees": [{"name": "service", "timing": "per_installment", "calculation": "flat", "amount_minor": 500}],
}


def small_loan(api: LoansApi, **product: Any) -> dict[str, Any]:
    api.set_date("2025-01-01")
    made = api.product(**{**SMALL, **product})
    return api.active_loan(
        made["id"],
        disburse_on="2025-01-01",
        principal_minor=300_000,
        annual_interest_rate="12",
        number_of_repayments=3,
    )


def allocation(txn: dict[str, Any]) -> tuple[int, int, int, int]:
    a = txn["allocation"]
    return a["penalty_minor"], a["fee_minor"], a["interest_minor"], a["principal_minor"]


def test_disbursement_fixes_and_stores_the_schedule(api: LoansApi) -> None:
    loan = small_loan(api)
    assert loan["status"] == "active" and loan["disbursed_on"] == "2025-01-01"
    assert loan["maturity_date"] == "2025-04-01"
    assert loan["outstanding"] == {
        "principal_minor": 300_000,
        "interest_minor": 6_000,
        "fee_minor": 1_500,
        "penalty_minor": 0,
        "total_minor": 307_500,
    }
    rows = api.schedule(loan["id"])
    assert [(r["due_date"], r["total_minor"], r["status"]) for r in rows] == [
        ("2025-02-01", 103_500, "upcoming"),
        ("2025-03-01", 102_500, "upcoming"),
        ("2025-04-01", 101_500, "upcoming"),
    ]
    api.post(f"/v1/loans/{loan['id']}/disburse", {"date": "2025-01-01"}, as_="manager", expect=409)


def test_repayment_is_allocated_in_the_product_order(api: LoansApi) -> None:
    loan = small_loan(api)
    api.set_date("2025-02-10")
    txn = api.repay(loan["id"], 5_000, "2025-02-10", "mpesa-1")
    assert allocation(txn) == (0, 500, 3_000, 1_500)
    assert txn["allocation"]["by_installment"] == [
        {
            "installment": 1,
            "penalty_minor": 0,
            "fee_minor": 500,
            "interest_minor": 3_000,
            "principal_minor": 1_500,
        }
    ]
    other = small_loan(api, allocation_order=["principal", "interest", "fee", "penalty"])
    api.set_date("2025-02-10")
    assert allocation(api.repay(other["id"], 5_000, "2025-02-10", "mpesa-2")) == (0, 0, 0, 5_000)


def test_a_back_dated_repayment_reallocates_later_ones(api: LoansApi) -> None:
    loan = small_loan(api)
    api.set_date("2025-03-01")
    first = api.repay(loan["id"], 103_500, "2025-03-01", "late-record")
    assert [i["installment"] for i in first["allocation"]["by_installment"]] == [1]
    assert api.loan(loan["id"])["days_past_due"] == 0  # installment 2 falls due today
    back = api.repay(loan["id"], 103_500, "2025-02-01", "paid-on-time")
    assert [i["installment"] for i in back["allocation"]["by_installment"]] == [1]
    by_id = {t["id"]: t for t in api.transactions(loan["id"])}
    assert by_id[first["id"]]["allocation"]["by_installment"] == [
        {
            "installment": 2,
            "penalty_minor": 0,
            "fee_minor": 500,
            "interest_minor": 2_000,
            "principal_minor": 100_000,
        },
        {"installment": 3, "penalty_minor": 0, "fee_minor": 500, "interest_minor": 500, "principal_minor": 0},
    ]
    state = api.loan(loan["id"])
    assert state["days_past_due"] == 0 and state["outstanding"]["total_minor"] == 307_500 - 207_000


def test_reversal_adds_a_transaction_and_never_edits(api: LoansApi, ctx: ServiceContext) -> None:
    loan = small_loan(api)
    api.set_date("2025-02-05")
    paid = api.repay(loan["id"], 103_500, "2025-02-01", "cheque-7")
    api.post(f"/v1/loans/{loan['id']}/transactions/{paid['id']}/reverse", as_="officer", expect=403)
    reversal = api.post(
        f"/v1/loans/{loan['id']}/transactions/{paid['id']}/reverse",
        {"note": "bounced"},
        as_="manager",
        expect=201,
    )
    assert reversal["kind"] == "reversal" and reversal["reverses_id"] == paid["id"]
    txns = {t["id"]: t for t in api.transactions(loan["id"])}
    assert txns[paid["id"]]["reversed_by_id"] == reversal["id"]
    assert txns[paid["id"]]["amount_minor"] == 103_500 and txns[paid["id"]]["allocation"] is None
    state = api.loan(loan["id"])
    assert state["outstanding"]["total_minor"] == 307_500 and state["days_past_due"] == 4
    api.post(f"/v1/loans/{loan['id']}/transactions/{paid['id']}/reverse", as_="manager", expect=409)
    api.post(f"/v1/loans/{loan['id']}/transactions/{reversal['id']}/reverse", as_="manager", expect=409)
    api.post(f"/v1/loans/{loan['id']}/transactions/missing/reverse", as_="manager", expect=404)
    assert count_rows(ctx, LoanTransaction.__table__) == 2


def test_overpayment_leaves_a_credit_balance(api: LoansApi, ctx: LoansContext) -> None:
    ctx.settings.overpayment_tolerance_minor = 12_500  # the default (1.00) would refuse 125.00 over
    loan = small_loan(api)
    api.set_date("2025-02-01")
    txn = api.repay(loan["id"], 320_000, "2025-02-01", "harvest")
    assert txn["allocation"]["overpayment_minor"] == 12_500
    state = api.loan(loan["id"])
    assert state["status"] == "overpaid" and state["credit_balance_minor"] == 12_500
    assert state["outstanding"]["total_minor"] == 0
    assert "loan.overpaid" in topics(ctx)


def test_paying_every_installment_closes_the_loan(api: LoansApi, ctx: ServiceContext) -> None:
    loan = small_loan(api)
    for n, (day, amount) in enumerate(
        [("2025-02-01", 103_500), ("2025-03-01", 102_500), ("2025-04-01", 101_500)]
    ):
        api.set_date(day)
        api.repay(loan["id"], amount, day, f"inst-{n}")
        assert api.loan(loan["id"])["status"] == ("closed" if n == 2 else "active")
    state = api.loan(loan["id"])
    assert state["closed_on"] == "2025-04-01" and state["outstanding"]["total_minor"] == 0
    assert [r["status"] for r in api.schedule(loan["id"])] == ["paid", "paid", "paid"]
    assert "loan.closed" in topics(ctx)


def test_write_off_then_a_recovery(api: LoansApi) -> None:
    loan = small_loan(api)
    api.set_date("2025-06-30")
    api.repay(loan["id"], 103_500, "2025-02-01", "first")
    api.post(f"/v1/loans/{loan['id']}/write-off", as_="officer", expect=403)
    written = api.post(f"/v1/loans/{loan['id']}/write-off", {"note": "drought"}, as_="manager", expect=201)
    assert written["kind"] == "write_off" and written["amount_minor"] == 204_000
    state = api.loan(loan["id"])
    assert state["status"] == "written_off" and state["written_off_on"] == "2025-06-30"
    assert state["outstanding"]["total_minor"] == 0 and state["days_past_due"] == 0
    api.set_date("2025-07-15")
    recovery = api.repay(loan["id"], 20_000, "2025-07-15", "recovery-1")
    assert recovery["allocation"]["recovery_minor"] == 20_000
    api.post(f"/v1/loans/{loan['id']}/write-off", as_="manager", expect=409)


def test_a_back_dated_write_off_records_what_was_owed_that_day(api: LoansApi) -> None:
    loan = small_loan(api)
    api.set_date("2025-06-30")
    api.repay(loan["id"], 103_500, "2025-02-01", "first")
    api.repay(loan["id"], 30_000, "2025-06-01", "late")  # dated after the write-off below
    written = api.post(f"/v1/loans/{loan['id']}/write-off", {"date": "2025-05-01"}, as_="manager", expect=201)
    assert written["amount_minor"] == 204_000  # owed on 2025-05-01; the June payment is a recovery
    late = next(t for t in api.transactions(loan["id"]) if t.get("external_id") == "late")
    assert late["allocation"]["recovery_minor"] == 30_000


def test_external_id_makes_a_repayment_idempotent(api: LoansApi, ctx: ServiceContext) -> None:
    loan = small_loan(api)
    api.set_date("2025-02-01")
    first = api.repay(loan["id"], 50_000, "2025-02-01", "mpesa-QW12")
    again = api.repay(loan["id"], 50_000, "2025-02-01", "mpesa-QW12", expect=200)
    assert again == first
    problem = api.repay(loan["id"], 60_000, "2025-02-01", "mpesa-QW12", expect=409)
    assert problem["transaction_id"] == first["id"]
    assert count_rows(ctx, LoanTransaction.__table__) == 1


@pytest.mark.parametrize(("on", "status"), [("2025-02-02", 422), ("2024-12-31", 422)])
def test_repayment_dates_are_checked(api: LoansApi, on: str, status: int) -> None:
    loan = small_loan(api)
    api.set_date("2025-02-01")
    problem = api.repay(loan["id"], 1_000, on, "x", expect=status)
    assert problem["errors"][0]["field"] == "date"


def test_a_loan_not_disbursed_takes_no_repayment(api: LoansApi) -> None:
    product, borrower = api.product(**SMALL), api.borrower()
    application = api.apply(product["id"], borrower["id"], principal_minor=300_000, number_of_repayments=3)
    loan = api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
    assert api.repay(loan["id"], 1_000, "2026-01-20", "x", expect=409)["current_state"] == "approved"
    api.repay("missing", 1_000, "2026-01-20", "x", expect=404)


def test_service_keys_post_sale_proceeds_only_where_the_product_allows(api: LoansApi) -> None:
    closed_to_sales = small_loan(api)
    api.set_date("2025-02-01")
    api.repay(
        closed_to_sales["id"], 1_000, "2025-02-01", "esc-1", as_="service", source="sale_proceeds", expect=403
    )
    open_to_sales = small_loan(api, allow_sale_proceeds=True)
    api.set_date("2025-02-01")
    api.repay(open_to_sales["id"], 1_000, "2025-02-01", "esc-2", as_="service", expect=403)  # not a sale
    txn = api.repay(open_to_sales["id"], 1_000, "2025-02-01", "esc-3", as_="service", source="sale_proceeds")
    assert txn["source"] == "sale_proceeds" and txn["created_by"].startswith("service:")
    api.repay(open_to_sales["id"], 1_000, "2025-02-01", "esc-4", as_="marketplace", expect=403)
    api.get(f"/v1/loans/{open_to_sales['id']}", as_="service", expect=403)


def test_every_change_is_audited_and_the_chain_verifies(api: LoansApi, ctx: ServiceContext) -> None:
    loan = small_loan(api)
    api.set_date("2025-02-01")
    paid = api.repay(loan["id"], 103_500, "2025-02-01", "a")
    api.post(f"/v1/loans/{loan['id']}/transactions/{paid['id']}/reverse", as_="manager", expect=201)
    assert api.get("/v1/audit/verify")["ok"] is True
    actions = [e["action"] for e in api.get("/v1/audit/entries", limit=100)["entries"]]
    for action in (
        "loan.product_created",
        "loan.borrower_registered",
        "loan.application_submitted",
        "loan.application_scored",
        "loan.approved",
        "loan.disbursed",
        "loan.repayment_posted",
        "loan.transaction_reversed",
        "loan.business_date_changed",
    ):
        assert action in actions
    assert set(actions) - {"loan.business_date_changed"} <= set(topics(ctx))
    api.get("/v1/audit/verify", as_="officer", expect=403)


def topics(ctx: ServiceContext) -> list[str]:
    with ctx.db.unit_of_work(read_only=True) as session:
        return list(session.scalars(select(ctx.tables.outbox.c.topic)).all())

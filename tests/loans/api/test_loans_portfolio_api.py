"""Portfolio at risk on a seeded book: JSON and CSV, stored and replayed paths agree."""

from __future__ import annotations

import csv
import io
from typing import Any

from services.loans.domain import LoanExposure, portfolio_at_risk
from tests.loans.kit import LoansApi

MONTHLY = {"amortization": "equal_principal", "max_repayments": 12}


def seed(api: LoansApi) -> list[dict[str, Any]]:
    """Six loans over two products: current, 1-30, 31-60 and 90+ days late, one closed."""
    api.set_date("2025-01-10")
    maize = api.product(name="maize", **MONTHLY)
    dairy = api.product(name="dairy", **MONTHLY)
    loans = [
        api.active_loan(p["id"], disburse_on="2025-01-10", principal_minor=amount, number_of_repayments=6)
        for p, amount in (
            (maize, 600_000),
            (maize, 1_200_000),
            (maize, 900_000),
            (dairy, 300_000),
            (dairy, 1_500_000),
            (dairy, 600_000),
        )
    ]
    due = [api.schedule(loan["id"]) for loan in loans]
    api.set_date("2025-06-20")
    payments = {0: 5, 1: 4, 2: 3, 4: 1}  # installments paid on time; loan 3 never pays
    for index, count in payments.items():
        for row in due[index][:count]:
            api.repay(loans[index]["id"], row["total_minor"], row["due_date"], f"{index}-{row['number']}")
    payoff = sum(row["total_minor"] for row in due[5])  # loan 5 pays everything late, today
    api.repay(loans[5]["id"], payoff, "2025-06-20", "5-all")
    assert api.loan(loans[5]["id"])["status"] == "closed"
    return loans


def expected(api: LoansApi, loans: list[dict[str, Any]]) -> dict[str, Any]:
    exposures = []
    for loan in loans:
        live = api.loan(loan["id"])
        exposures.append(
            LoanExposure(
                loan["id"],
                loan["product_id"],
                "KES",
                live["outstanding"]["principal_minor"],
                live["days_past_due"],
            )
        )
    return {"report": portfolio_at_risk(exposures=exposures, currency="KES"), "exposures": exposures}


def test_par_per_product_and_total(api: LoansApi) -> None:
    loans = seed(api)
    want = expected(api, loans)
    assert sorted(e.days_past_due for e in want["exposures"]) == [0, 0, 10, 41, 102, 130]
    before_cob = api.get("/v1/portfolio/par", as_="officer")
    api.cob()
    after_cob = api.get("/v1/portfolio/par", as_of="2025-06-20")
    assert before_cob == after_cob
    (block,) = after_cob["currencies"]
    total, report = block["total"], want["report"].total
    assert block["currency"] == "KES" and after_cob["as_of"] == "2025-06-20"
    assert total["loan_count"] == report.loan_count == 5
    assert total["outstanding_principal_minor"] == report.outstanding_principal_minor
    for key in ("par1", "par30", "par90"):
        figure = getattr(report, key)
        assert total[key] == {
            "threshold_days": figure.threshold_days,
            "at_risk_principal_minor": figure.at_risk_principal_minor,
            "loans_at_risk": figure.loans_at_risk,
            "ratio": str(figure.ratio),
        }
    assert total["par90"]["loans_at_risk"] == 2
    names = {p["product_name"]: p for p in block["by_product"]}
    assert set(names) == {"maize", "dairy"}
    assert names["dairy"]["par90"]["at_risk_principal_minor"] == 300_000 + 1_250_000


def test_par_as_of_an_earlier_date_replays_the_book(api: LoansApi) -> None:
    seed(api)
    api.cob()
    early = api.get("/v1/portfolio/par", as_of="2025-02-15")["currencies"][0]["total"]
    assert early["loan_count"] == 6 and early["par1"]["loans_at_risk"] == 2  # loans 3 and 5 missed Feb 10
    assert api.get("/v1/portfolio/par", as_of="2024-12-31") == {"as_of": "2024-12-31", "currencies": []}


def test_par_csv_export(api: LoansApi) -> None:
    seed(api)
    response = api.call("GET", "/v1/portfolio/par.csv", as_="auditor", expect=200)
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="par-2025-06-20.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    # One line per product in product-id order (ids are random, so the names' order is not
    # fixed), then the currency's ALL line.
    products = rows[:-1]
    assert sorted(r["product_name"] for r in products) == ["dairy", "maize"]
    assert [r["product_id"] for r in products] == sorted(r["product_id"] for r in products)
    assert rows[-1]["product_name"] == "all products"
    total = api.get("/v1/portfolio/par")["currencies"][0]["total"]
    last = rows[-1]
    assert (last["product_id"], int(last["outstanding_principal_minor"]), last["par30_ratio"]) == (
        "ALL",
        total["outstanding_principal_minor"],
        total["par30"]["ratio"],
    )
    api.call("GET", "/v1/portfolio/par.csv", as_="marketplace", expect=403)

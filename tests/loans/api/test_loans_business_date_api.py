"""The business date over the API: bounded forward moves, corrections by two admins while no
later day is closed, and the worker closing each day in order (issue 9)."""

from __future__ import annotations

from typing import Any

from services.loans import jobs
from services.loans.settings import LoansContext
from tests.loans.kit import LoansApi
from tests.support import assert_problem

SMALL = {
    "amortization": "equal_principal",
    "max_repayments": 6,
    "min_principal_minor": 100_000,
    "fees": [{"name": "service", "timing": "per_installment", "calculation": "flat", "amount_minor": 500}],
}


def audit_entries(api: LoansApi) -> list[dict[str, Any]]:
    return list(api.get("/v1/audit/entries", limit=100)["entries"])


def test_one_request_cannot_move_the_business_date_years_ahead(api: LoansApi) -> None:
    api.set_date("2025-03-01")
    response = api.call("POST", "/v1/business-date", as_="admin", json={"date": "7025-03-01"})
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "date" and "at most 31 days" in problem["errors"][0]["message"]
    api.post("/v1/business-date", {"date": "2025-04-01"})  # 31 days: the most one request moves it
    api.post("/v1/business-date", {"date": "2025-05-03"}, expect=422)
    assert api.get("/v1/business-date")["date"] == "2025-04-01"


def test_the_first_setting_is_bounded_by_the_clock(api: LoansApi) -> None:
    # The test clock reads 2026-03-02 and no date was ever set.
    api.post("/v1/business-date", {"date": "7026-03-02"}, expect=422)
    api.post("/v1/business-date", {"date": "2026-04-03"}, expect=422)
    api.post("/v1/business-date", {"date": "2026-04-02"})


def test_the_limit_is_configurable(api: LoansApi, ctx: LoansContext) -> None:
    ctx.settings.business_date_max_forward_days = 7
    api.post("/v1/business-date", {"date": "2026-03-01"})
    api.post("/v1/business-date", {"date": "2026-03-09"}, expect=422)
    api.post("/v1/business-date", {"date": "2026-03-08"})


def test_a_mistaken_date_is_corrected_by_two_admins(api: LoansApi) -> None:
    api.set_date("2025-03-01")
    api.post("/v1/business-date", {"date": "2025-03-31"})  # meant 2025-03-03
    assert api.post("/v1/business-date", {"date": "2025-03-03"}, expect=409)["current_state"] == "2025-03-31"
    body = {"date": "2025-03-03", "reason": "typed 31 for 03"}
    proposed = api.post("/v1/business-date/corrections", body, expect=201)
    assert (proposed["status"], proposed["from_date"], proposed["to_date"]) == (
        "proposed",
        "2025-03-31",
        "2025-03-03",
    )
    assert proposed["allowed_actions"] == ["confirm"]
    assert api.get("/v1/business-date")["date"] == "2025-03-31"  # nothing moves until confirmed
    confirm = f"/v1/business-date/corrections/{proposed['id']}/confirm"
    assert "second person" in api.post(confirm, as_="admin", expect=409)["detail"]
    api.post(confirm, as_="manager", expect=403)
    confirmed = api.post(confirm, as_="admin2")
    assert confirmed["status"] == "confirmed" and confirmed["allowed_actions"] == []
    assert api.get("/v1/business-date")["date"] == "2025-03-03"
    api.post(confirm, as_="admin2", expect=409)  # once only
    assert [c["id"] for c in api.get("/v1/business-date/corrections")["corrections"]] == [proposed["id"]]
    entries = {e["action"]: e for e in audit_entries(api)}
    assert entries["loan.business_date_correction_proposed"]["payload"]["reason"] == "typed 31 for 03"
    changed = [e for e in audit_entries(api) if e["action"] == "loan.business_date_changed"]
    assert any(e["payload"].get("correction_id") == proposed["id"] for e in changed)
    api.post("/v1/business-date/corrections", body, as_="officer", expect=403)


def test_no_correction_once_a_later_day_is_closed(api: LoansApi) -> None:
    api.set_date("2025-03-01")
    api.post("/v1/business-date", {"date": "2025-03-31"})
    proposed = api.post("/v1/business-date/corrections", {"date": "2025-03-03", "reason": "typo"}, expect=201)
    api.cob()  # closes 2025-03-31
    api.post(f"/v1/business-date/corrections/{proposed['id']}/confirm", as_="admin2", expect=409)
    api.post("/v1/business-date/corrections", {"date": "2025-03-30", "reason": "typo"}, expect=409)
    assert api.get("/v1/business-date")["date"] == "2025-03-31"


def test_a_correction_proposed_for_another_date_is_stale(api: LoansApi) -> None:
    api.set_date("2025-03-01")
    proposed = api.post("/v1/business-date/corrections", {"date": "2025-02-20", "reason": "x"}, expect=201)
    api.post("/v1/business-date", {"date": "2025-03-02"})
    stale = api.post(f"/v1/business-date/corrections/{proposed['id']}/confirm", as_="admin2", expect=409)
    assert "propose it again" in stale["detail"]
    api.post("/v1/business-date/corrections/nope/confirm", as_="admin2", expect=404)


def test_the_worker_closes_each_day_in_order(api: LoansApi, ctx: LoansContext) -> None:
    api.set_date("2025-01-01")
    product = api.product(**SMALL)
    terms = {"principal_minor": 300_000, "annual_interest_rate": "12", "number_of_repayments": 3}
    loan = api.active_loan(product["id"], disburse_on="2025-01-01", **terms)
    api.set_date("2025-02-01")
    assert jobs.close_business_date_if_due(ctx) is not None  # closes 2025-02-01
    api.set_date("2025-02-04")
    summary = jobs.close_business_date_if_due(ctx)
    assert summary is not None and summary.business_date.isoformat() == "2025-02-04"
    runs = [r["business_date"] for r in api.get("/v1/close-of-business/runs")["runs"]]
    assert runs == ["2025-02-04", "2025-02-03", "2025-02-02", "2025-02-01"]
    assert jobs.close_business_date_if_due(ctx) is None
    assert api.get(f"/v1/loans/{loan['id']}")["days_past_due"] == 3


def test_the_worker_catches_up_at_most_the_configured_days_per_run(api: LoansApi, ctx: LoansContext) -> None:
    api.set_date("2025-01-01")
    api.cob()
    api.set_date("2025-01-06")
    ctx.settings.business_date_max_forward_days = 2
    assert jobs.close_business_date_if_due(ctx).business_date.isoformat() == "2025-01-03"  # type: ignore[union-attr]
    assert jobs.close_business_date_if_due(ctx).business_date.isoformat() == "2025-01-05"  # type: ignore[union-attr]
    assert jobs.close_business_date_if_due(ctx).business_date.isoformat() == "2025-01-06"  # type: ignore[union-attr]
    assert jobs.close_business_date_if_due(ctx) is None

"""Close of business over a simulated season: aging, buckets, penalties, accrual, idempotency;
and the same run from the CLI and the worker job."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer import Typer
from typer.testing import CliRunner

from services.loans import cli, jobs
from services.loans.models import CobRun, Installment, Loan, LoanTransaction
from services.loans.service.cob import COB_LOCK, run_close_of_business
from services.loans.settings import LoansContext
from shared.db import Database
from shared.errors import Conflict
from shared.exclusive import held_exclusively
from shared.jobs import run_queued_jobs
from shared.platform import ServiceContext
from tests.loans.kit import LoansApi
from tests.support import count_rows

PENALTY_2PCT_MONTHLY = {"calculation": "percent", "frequency": "per_period", "percent": "2"}
SMALL = {
    "amortization": "equal_principal",
    "max_repayments": 6,
    "min_principal_minor": 100_000,
    "fees": [{"name": "service", "timing": "per_installment", "calculation": "flat", "amount_minor": 500}],
    "overdue_penalty": PENALTY_2PCT_MONTHLY,
}


def season_loans(api: LoansApi) -> tuple[dict[str, Any], dict[str, Any]]:
    api.set_date("2025-01-01")
    product = api.product(**SMALL)
    terms = {"principal_minor": 300_000, "annual_interest_rate": "12", "number_of_repayments": 3}
    late = api.active_loan(product["id"], disburse_on="2025-01-01", **terms)
    punctual = api.active_loan(product["id"], disburse_on="2025-01-01", **terms)
    return late, punctual


def stored(api: LoansApi) -> dict[str, dict[str, Any]]:
    return {loan["id"]: loan for loan in api.get("/v1/loans")}


def snapshot(ctx: ServiceContext) -> tuple[Any, ...]:
    with ctx.db.unit_of_work(read_only=True) as session:
        loans = session.execute(select(Loan.__table__).order_by(Loan.id)).all()
        installments = session.execute(
            select(Installment.__table__).order_by(Installment.loan_id, Installment.number)
        ).all()
    return (
        tuple(loans),
        tuple(installments),
        count_rows(ctx, LoanTransaction.__table__),
        count_rows(ctx, ctx.tables.outbox),
        count_rows(ctx, ctx.tables.audit_log),
    )


def penalties(api: LoansApi, loan_id: str) -> list[tuple[int, str, int]]:
    return [
        (t["installment_number"], t["date"], t["amount_minor"])
        for t in api.transactions(loan_id)
        if t["kind"] == "penalty"
    ]


def test_a_season_of_close_of_business(api: LoansApi, ctx: ServiceContext) -> None:
    late, punctual = season_loans(api)
    for day, amount in (("2025-02-01", 103_500), ("2025-03-01", 102_500)):
        api.set_date(day)
        api.repay(punctual["id"], amount, day, f"p-{day}")
    api.set_date("2025-02-01")
    api.repay(late["id"], 103_500, "2025-02-01", "late-1")
    # February and March: the late farmer is current (installment 2 is due on Mar 1).
    for day in ("2025-02-01", "2025-03-01"):
        api.set_date(day)
        summary = api.cob()
        assert summary["loans_processed"] == 2 and summary["penalties_charged"] == 0
        assert stored(api)[late["id"]]["days_past_due"] == 0
    # April 1: installment 2 is 31 days late; 2% of its 1,020.00 was charged on Mar 2.
    api.set_date("2025-04-01")
    summary = api.cob()  # closes Mar 2 .. Mar 31 one day at a time, then Apr 1
    assert summary["days_closed_before"] == [f"2025-03-{d:02d}" for d in range(2, 32)]
    assert summary["totals"]["days_closed"] == 31 and summary["buckets_changed"] == 1
    assert summary["totals"]["penalties_charged"] == 1
    assert summary["totals"]["penalty_minor_by_currency"] == {"KES": 2_040}
    book = stored(api)
    assert (book[late["id"]]["days_past_due"], book[late["id"]]["delinquency_bucket"]) == (31, "31-60")
    assert book[late["id"]]["outstanding"]["penalty_minor"] == 2_040
    assert penalties(api, late["id"]) == [(2, "2025-03-02", 2_040)]
    rows = api.schedule(late["id"])
    assert [(r["overdue"], r["status"]) for r in rows] == [
        (False, "paid"),
        (True, "overdue"),
        (False, "upcoming"),
    ]
    assert rows[1]["penalty_minor"] == 2_040
    # Re-running the same date changes nothing at all.
    before = snapshot(ctx)
    again = api.cob("2025-04-01")
    assert again["already_done"] is True and again["penalties_charged"] == summary["penalties_charged"]
    assert again["totals"]["days_closed"] == 0
    assert snapshot(ctx) == before
    # May 1: 61 days late, charged again for installment 2 and now for installment 3.
    api.set_date("2025-05-01")
    api.cob()
    book = stored(api)
    assert (book[late["id"]]["days_past_due"], book[late["id"]]["delinquency_bucket"]) == (61, "61-90")
    assert penalties(api, late["id"]) == [
        (2, "2025-03-02", 2_040),
        (2, "2025-04-02", 2_040),
        (3, "2025-04-02", 2_020),
    ]
    # What COB stored is what a live replay says.
    live = api.loan(late["id"])
    for key in ("days_past_due", "delinquency_bucket", "outstanding", "interest_accrued_minor"):
        assert book[late["id"]][key] == live[key], key
    assert (
        book[punctual["id"]]["interest_accrued_minor"] == api.loan(punctual["id"])["interest_accrued_minor"]
    )
    # Harvest: everything is paid, the loan closes and leaves COB.
    api.set_date("2025-05-10")
    owed = live["outstanding"]["total_minor"]
    assert owed == 204_000 + 6_100
    api.repay(late["id"], owed, "2025-05-10", "harvest")
    assert api.loan(late["id"])["status"] == "closed"
    assert api.cob()["loans_processed"] == 1  # only the punctual loan is still active


def test_a_back_dated_payment_before_cob_avoids_the_penalty(api: LoansApi) -> None:
    late, _ = season_loans(api)
    api.set_date("2025-02-20")
    api.repay(late["id"], 103_500, "2025-02-01", "paid-at-the-agent")  # recorded late, paid on time
    api.cob()
    assert penalties(api, late["id"]) == []
    api.set_date("2025-03-10")
    api.repay(late["id"], 50_000, "2025-03-05", "part")
    api.cob()
    # Installment 2 was overdue on the evening of Mar 1; the part payment came after.
    assert penalties(api, late["id"]) == [(2, "2025-03-02", 2_040)]
    assert stored(api)[late["id"]]["days_past_due"] == 9


def test_cob_refuses_the_future_and_the_past(api: LoansApi) -> None:
    season_loans(api)
    api.set_date("2025-03-01")
    assert (
        api.post("/v1/close-of-business", {"date": "2025-03-02"}, expect=409)["current_state"] == "2025-03-01"
    )
    api.cob()
    api.post("/v1/close-of-business", {"date": "2025-02-15"}, expect=409)
    api.post("/v1/business-date", {"date": "2025-02-01"}, expect=409)
    api.post("/v1/close-of-business", as_="manager", expect=403)
    runs = api.get("/v1/close-of-business/runs")["runs"]
    assert [(r["business_date"], r["status"]) for r in runs] == [("2025-03-01", "completed")]
    assert api.get("/v1/business-date", as_="officer") == {
        "date": "2025-03-01",
        "source": "set",
        "last_cob_date": "2025-03-01",
    }


def test_close_of_business_is_a_job_the_request_only_queues(api: LoansApi, ctx: ServiceContext) -> None:
    season_loans(api)
    api.set_date("2025-02-05")
    key = {"Idempotency-Key": "cob-2025-02-05"}
    response = api.call("POST", "/v1/close-of-business", as_="admin", expect=202, json={}, headers=key)
    job = response.json()
    assert response.headers["location"] == job["href"] == f"/v1/jobs/{job['job_id']}"
    assert (job["kind"], job["status"], job["result"]) == ("loans.cob", "queued", None)
    replay = api.call("POST", "/v1/close-of-business", as_="admin", expect=202, json={}, headers=key)
    assert replay.json()["job_id"] == job["job_id"]
    # The request ran nothing: no run is recorded until the worker runs the job.
    assert count_rows(ctx, CobRun.__table__) == 0
    assert api.get(job["href"])["status"] == "queued"  # auditors may poll
    api.get(job["href"], as_="manager", expect=403)
    assert run_queued_jobs(ctx, jobs.job_handlers(ctx)) == 1
    done = api.get(job["href"], as_="admin")
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["progress"] == {"stage": "completed", "loans_processed": 2, "days_closed": 1}
    assert done["result"]["business_date"] == "2025-02-05" and done["result"]["loans_processed"] == 2
    assert done["result"]["buckets_changed"] == 2 and done["result"]["already_done"] is False
    runs = api.get("/v1/close-of-business/runs")["runs"]
    assert [(r["business_date"], r["status"]) for r in runs] == [("2025-02-05", "completed")]


def test_the_worker_job_closes_the_business_date_once(api: LoansApi, ctx: ServiceContext) -> None:
    season_loans(api)
    api.set_date("2025-02-05")
    names = [name for name, _, _ in jobs.periodic_jobs(ctx)]
    assert names == [
        "loans.scoring.retry",
        "loans.cob",
        "loans.jobs.run",
        "loans.escrow.subscribe",
        "loans.escrow.instructions",
    ]
    summary = jobs.close_business_date_if_due(ctx)
    assert summary is not None and summary.business_date.isoformat() == "2025-02-05"
    assert summary.loans_processed == 2 and summary.buckets_changed == 2
    assert jobs.close_business_date_if_due(ctx) is None
    assert count_rows(ctx, CobRun.__table__) == 1


def test_one_worker_at_a_time_closes_days(api: LoansApi, ctx: LoansContext) -> None:
    season_loans(api)
    api.set_date("2025-02-05")
    other_worker = Database(ctx.settings.database_url)
    try:
        with held_exclusively(other_worker, COB_LOCK) as held:
            assert held
            assert jobs.close_business_date_if_due(ctx) is None  # it skips its turn
            with pytest.raises(Conflict, match="running in another worker"):
                run_close_of_business(ctx, as_of=date(2025, 2, 5), actor="cli")
            assert count_rows(ctx, CobRun.__table__) == 0
    finally:
        other_worker.dispose()
    summary = jobs.close_business_date_if_due(ctx)  # the other finished (or died): this one closes
    assert summary is not None and summary.business_date.isoformat() == "2025-02-05"
    assert count_rows(ctx, CobRun.__table__) == 1


def test_the_cli_runs_cob_for_a_date(
    api: LoansApi, ctx: ServiceContext, keys_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    late, _ = season_loans(api)
    api.set_date("2025-03-15")
    monkeypatch.setenv("AGRIFIN_LOANS_DATABASE_URL", ctx.db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("AGRIFIN_KEYS_DIR", str(keys_dir))
    monkeypatch.setenv("AGRIFIN_VAR_DIR", str(tmp_path))
    app = Typer()
    cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `cob` a sub-command
    result = CliRunner().invoke(app, ["cob", "--date", "2025-03-15"])
    assert result.exit_code == 0, result.output
    # each loan: installment 1 on Feb 2 and Mar 2, installment 2 on Mar 2
    assert '"penalties_charged": 6' in result.output
    assert stored(api)[late["id"]]["days_past_due"] == 42
    result = CliRunner().invoke(app, ["cob", "--date", "2025-03-16"])
    assert result.exit_code == 1 and "after the business date" in result.output

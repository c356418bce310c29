"""``loan.outcome``: each loan tells scoring once per outcome what became of it (repaid, 30/60/90
days past due first seen by close of business, written off), with the score id that decided it;
and service:scoring may subscribe to exactly that topic."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from services.loans.models import LoanOutcome
from services.loans.service.cob import run_close_of_business
from services.loans.settings import LoansContext
from shared.auth import Role
from tests.loans.kit import LoansApi
from tests.support import auth, issue_key

THREE_MONTHS = {"principal_minor": 300_000, "annual_interest_rate": "12", "number_of_repayments": 3}


def outcome_events(ctx: LoansContext) -> list[dict[str, Any]]:
    """The ``loan.outcome`` events in the order they were recorded (the audit chain's order),
    checked to be exactly what the outbox holds for delivery."""
    outbox, audit = ctx.tables.outbox, ctx.tables.audit_log
    with ctx.db.unit_of_work(read_only=True) as session:
        queued = session.execute(
            select(outbox.c.subject, outbox.c.payload).where(outbox.c.topic == "loan.outcome")
        ).all()
        audited = session.execute(
            select(audit.c.subject, audit.c.payload)
            .where(audit.c.action == "loan.outcome")
            .order_by(audit.c.seq)
        ).all()
    events = [{"subject": subject, **json.loads(payload)} for subject, payload in audited]
    key = json.dumps
    assert sorted(map(key, events)) == sorted(key({"subject": s, **json.loads(p)}) for s, p in queued)
    return events


def score_id_of(api: LoansApi, loan: dict[str, Any]) -> str:
    application = api.get(f"/v1/applications/{loan['application_id']}")
    return str(application["score"]["id"])


def season_loan(api: LoansApi) -> dict[str, Any]:
    api.set_date("2025-01-01")
    product = api.product()
    return api.active_loan(product["id"], disburse_on="2025-01-01", **THREE_MONTHS)


def test_arrears_outcomes_are_emitted_once_each_as_close_of_business_first_sees_them(
    api: LoansApi, ctx: LoansContext
) -> None:
    loan = season_loan(api)  # first installment due 2025-02-01, never paid
    api.set_date("2025-03-02")
    api.cob()
    assert outcome_events(ctx) == []  # 29 days past due
    api.set_date("2025-03-03")
    api.cob()
    assert api.loan(loan["id"])["days_past_due"] == 30
    (dpd30,) = outcome_events(ctx)
    assert dpd30 == {
        "subject": f"loan:{loan['id']}",
        "loan_id": loan["id"],
        "score_id": score_id_of(api, loan),
        "outcome": "dpd30",
        "occurred_on": "2025-03-03",
        "disbursed_on": "2025-01-01",
    }
    # Still past due on later days, and the same day closed again: nothing more.
    api.set_date("2025-03-20")
    api.cob()
    assert api.cob("2025-03-20")["already_done"] is True
    assert [e["outcome"] for e in outcome_events(ctx)] == ["dpd30"]
    api.set_date("2025-04-02")
    api.cob()
    api.set_date("2025-05-02")
    api.cob()
    api.set_date("2025-05-20")
    api.cob()
    events = outcome_events(ctx)
    assert [(e["outcome"], e["occurred_on"]) for e in events] == [
        ("dpd30", "2025-03-03"),
        ("dpd60", "2025-04-02"),
        ("dpd90", "2025-05-02"),
    ]
    with ctx.db.unit_of_work(read_only=True) as session:
        stored = session.execute(select(LoanOutcome.outcome).where(LoanOutcome.loan_id == loan["id"]))
        assert sorted(stored.scalars()) == ["dpd30", "dpd60", "dpd90"]


def test_a_loan_first_seen_at_95_days_past_due_reports_30_60_and_90_in_order(
    api: LoansApi, ctx: LoansContext
) -> None:
    loan = season_loan(api)
    api.set_date("2025-05-07")
    # One close of business (no earlier day closed) sees the loan 95 days late at once.
    summary = run_close_of_business(ctx, as_of=date(2025, 5, 7), actor="system:test")
    assert summary.loans_evaluated == 1
    assert api.loan(loan["id"])["days_past_due"] == 95
    events = outcome_events(ctx)
    assert [(e["outcome"], e["occurred_on"]) for e in events] == [
        ("dpd30", "2025-03-03"),
        ("dpd60", "2025-04-02"),
        ("dpd90", "2025-05-02"),
    ]
    assert {e["score_id"] for e in events} == {score_id_of(api, loan)}
    # The next day's close of business is still 96 days late: nothing new.
    api.set_date("2025-05-08")
    run_close_of_business(ctx, as_of=date(2025, 5, 8), actor="system:test")
    assert len(outcome_events(ctx)) == 3


def test_repaid_in_full_reports_repaid_once_even_if_reopened_and_closed_again(
    api: LoansApi, ctx: LoansContext
) -> None:
    loan = season_loan(api)
    api.set_date("2025-01-20")
    owed = api.loan(loan["id"])["outstanding"]["total_minor"]
    paid = api.repay(loan["id"], owed, "2025-01-20", "all-1")
    assert api.loan(loan["id"])["status"] == "closed"
    (repaid,) = outcome_events(ctx)
    assert repaid == {
        "subject": f"loan:{loan['id']}",
        "loan_id": loan["id"],
        "score_id": score_id_of(api, loan),
        "outcome": "repaid",
        "occurred_on": "2025-01-20",
        "disbursed_on": "2025-01-01",
    }
    # A reversal reopens the loan; paying again closes it again, but it was already reported.
    api.post(f"/v1/loans/{loan['id']}/transactions/{paid['id']}/reverse", as_="manager", expect=201)
    assert api.loan(loan["id"])["status"] == "active"
    api.repay(loan["id"], api.loan(loan["id"])["outstanding"]["total_minor"], "2025-01-20", "all-2")
    assert api.loan(loan["id"])["status"] == "closed"
    assert [e["outcome"] for e in outcome_events(ctx)] == ["repaid"]


def test_a_partial_repayment_reports_nothing(api: LoansApi, ctx: LoansContext) -> None:
    loan = season_loan(api)
    api.set_date("2025-02-01")
    api.repay(loan["id"], 50_000, "2025-02-01", "part-1")
    assert outcome_events(ctx) == []


def test_a_write_off_reports_written_off_on_its_date(api: LoansApi, ctx: LoansContext) -> None:
    loan = season_loan(api)
    api.set_date("2025-03-03")
    api.cob()
    api.post(f"/v1/loans/{loan['id']}/write-off", {"note": "drought"}, as_="manager", expect=201)
    events = outcome_events(ctx)
    assert [(e["outcome"], e["occurred_on"]) for e in events] == [
        ("dpd30", "2025-03-03"),
        ("written_off", "2025-03-03"),
    ]
    assert events[-1]["score_id"] == score_id_of(api, loan)
    # A recovery after the write-off closes nothing new and reports nothing more.
    api.repay(loan["id"], 10_000, "2025-03-03", "recovery-1")
    assert len(outcome_events(ctx)) == 2


def test_service_scoring_may_subscribe_to_loan_outcome_only(api: LoansApi, ctx: LoansContext) -> None:
    client: TestClient = api.client
    scoring = issue_key(ctx, Role.SERVICE, "scoring")
    hook = {"url": "http://scoring.test/v1/inbound/loans"}
    created = client.post("/v1/webhooks", json={**hook, "topics": ["loan.outcome"]}, headers=auth(scoring))
    assert created.status_code == 201, created.text
    assert created.json()["topics"] == ["loan.outcome"] and created.json()["secret"]
    for topics in (["loan.*"], ["*"], ["loan.closed"], ["loan.outcome", "loan.written_off"]):
        refused = client.post("/v1/webhooks", json={**hook, "topics": topics}, headers=auth(scoring))
        assert refused.status_code == 403, topics
    escrow = issue_key(ctx, Role.SERVICE, "escrow")
    other = client.post("/v1/webhooks", json={**hook, "topics": ["loan.outcome"]}, headers=auth(escrow))
    assert other.status_code == 403

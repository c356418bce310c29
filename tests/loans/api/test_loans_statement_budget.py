"""An application decided by the product's policy runs within a statement budget (issue 13, #11).

The path is the one ``bench/loans_decision_http.py`` times: ``POST /v1/applications`` for a
borrower linked to a marketplace party, the marketplace features omitted (loans fills them
from escrow's trade summary, a fake here), scored (FakeScoring) and decided by the product's
decision policy in the same request — approved, declined, or left for review — and then a
credit manager's approval of one left for review. Every statement the loans engine's cursors
execute is counted per step (``before_cursor_execute``); two kinds are counted apart and named
in the breakdown, as in escrow's budget:

* the API-key look-up of each request (``api_keys``): authentication, which ``shared`` caches;
* SQLite's ``BEGIN`` / ``BEGIN IMMEDIATE`` (``shared.db``'s begin hook), which PostgreSQL's
  driver opens without a statement the hook sees.

The budgets are what the path reached, on both backends; the Idempotency-Key's own statements
(``shared.idempotency``) are counted in the keyed step. A count, not a timing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.loans.app import create_app
from services.loans.settings import LoansContext
from shared.clients.escrow import EscrowClient
from tests.factories.loans import FARMER_FEATURES
from tests.loans.kit import FakeScoring, LoansApi
from tests.statement_log import StatementLog, logging_statements

BUDGETS = {
    "sqlite": {"approve": 9, "decline": 8, "review": 8, "keyed": 12, "manual_approve": 6},
    "postgresql": {"approve": 12, "decline": 10, "review": 10, "keyed": 15, "manual_approve": 7},
}
"""Counted statements per step (API-key look-ups and SQLite's BEGINs apart), as reached.

When first counted (issue 13) an approval ran 20 on SQLite and a decline or a review 17: the
application was inserted, then updated by the score, by the policy's result and by the
decision; the product was read twice. Now it is written once, in its final state, with its
loan. Per approval, loans' own statements are the borrower (with the product the first time
a process sees it: a product never changes, so it is remembered), one statement for the
current policy version and the facts the policy looks at, and the two inserts; a manual
approval reads no product either. The rest is ``shared``'s: one outbox row per recorded
change (submitted, scored, approved) and the audit chain's append at commit (two statements
per entry; PostgreSQL also takes the chain's advisory lock per entry, and the borrower's row
lock, which SQLite's one write lock makes unnecessary).
"""

PARTY = "seller-7"


def _trade_summary(request: httpx.Request) -> httpx.Response:
    """Escrow's answer for every party: two completed escrows, no disputes."""
    assert request.url.path == f"/v1/parties/{PARTY}/trade-summary"
    as_of = request.url.params.get("as_of") or datetime.now(UTC).isoformat()
    rate = {"value": "0.0000", "numerator": 0, "denominator": 2}
    return httpx.Response(
        200,
        json={
            "party_id": PARTY,
            "as_of": as_of,
            "window_start": "2025-01-01T00:00:00+00:00",
            "escrows": 2,
            "completed_escrows": 2,
            "on_time_delivery_rate": {"value": "1.0000", "numerator": 2, "denominator": 2},
            "acceptance_rate": {"value": "1.0000", "numerator": 2, "denominator": 2},
            "dispute_rate": rate,
            "currencies": [
                {
                    "currency": "KES",
                    "escrows": 2,
                    "completed_escrows": 2,
                    "gross_minor": 800_000,
                    "fees_minor": 20_000,
                    "net_minor": 780_000,
                    "refunds": 0,
                    "refunded_minor": 0,
                }
            ],
        },
    )


@pytest.fixture
def app(ctx: LoansContext, scoring: FakeScoring) -> FastAPI:
    transport = httpx.MockTransport(_trade_summary)
    escrow = EscrowClient(httpx.Client(base_url="http://escrow.test", transport=transport), api_key="k")
    return create_app(ctx, scoring_client=scoring.client(), escrow_client=escrow)


@pytest.fixture
def statements(ctx: LoansContext) -> Iterator[StatementLog]:
    with logging_statements(ctx.db.engine, audit_apart=False) as log:
        yield log


def _features(years: int) -> dict[str, Any]:
    return {**FARMER_FEATURES, "years_farming": years}  # no marketplace feature: escrow fills them


def _submit(api: LoansApi, body: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    response = api.call("POST", "/v1/applications", as_="officer", expect=201, json=body, headers=headers)
    return dict(response.json())


@pytest.fixture
def world(api: LoansApi) -> Callable[[int], dict[str, Any]]:
    product = api.product(maker_checker=False)
    api.post(
        f"/v1/products/{product['id']}/decision-policy",
        {
            "auto_approve_min_score": "600",
            "auto_approve_max_principal_minor": 5_000_000,
            "auto_decline_below_score": "520",
            "max_days_past_due": 30,
            "max_open_loans": 50,
        },
        as_="manager",
        expect=201,
    )
    borrower = api.borrower(marketplace_party_id=PARTY)

    def body(years: int) -> dict[str, Any]:
        return {
            "product_id": product["id"],
            "borrower_id": borrower["id"],
            "principal_minor": 1_200_000,
            "annual_interest_rate": "18",
            "number_of_repayments": 6,
            "disbursement_date": "2026-01-15",
            "features": _features(years),
        }

    _submit(api, body(12))  # warm-up: the platform rows every request shares exist, as in service
    return body


def _run(api: LoansApi, log: StatementLog, body: Callable[[int], dict[str, Any]]) -> dict[str, str]:
    """One application per policy outcome, one keyed, one manual approval; each one's status."""
    statuses = {}
    for step, years in (("approve", 12), ("decline", 1), ("review", 3)):
        log.step = step
        answer = _submit(api, body(years))
        statuses[step] = answer["status"]
        if step == "review":
            reviewed = answer
    log.step = "keyed"
    statuses["keyed"] = _submit(api, body(12), key=uuid.uuid4().hex)["status"]
    log.step = "manual_approve"
    loan = api.post(f"/v1/applications/{reviewed['id']}/approve", as_="manager", expect=201)
    statuses["manual_approve"] = loan["status"]
    log.step = "-"
    return statuses


def test_the_application_path_runs_within_the_statement_budget(
    ctx: LoansContext, api: LoansApi, statements: StatementLog, world: Callable[[int], dict[str, Any]]
) -> None:
    statements.clear()
    statuses = _run(api, statements, world)
    assert statuses == {
        "approve": "approved",
        "decline": "rejected",
        "review": "scored",
        "keyed": "approved",
        "manual_approve": "approved",
    }
    print(statements.breakdown())
    for step, budget in BUDGETS[ctx.db.engine.dialect.name].items():
        assert statements.count(step=step) <= budget, f"{step}\n{statements.breakdown()}"
    for step in BUDGETS["sqlite"]:  # authentication looks the key up at most once per request
        assert statements.count("api_key", step) <= 1, statements.breakdown()


def _loans_counts(log: StatementLog) -> Counter[str]:
    """Counted statements per step, the audit chain's apart: how a chain is appended to may
    depend on what is already in it (``shared``'s business, not this path's)."""
    return log.counted_per_step(without_audit=True)


def test_the_count_is_the_same_for_the_next_applications(
    api: LoansApi, statements: StatementLog, world: Callable[[int], dict[str, Any]]
) -> None:
    statements.clear()
    _run(api, statements, world)
    first, first_breakdown = _loans_counts(statements), statements.breakdown()
    statements.clear()
    _run(api, statements, world)
    assert _loans_counts(statements) == first, f"{first_breakdown}\n---\n{statements.breakdown()}"


def test_every_statement_of_the_application_path_is_compiled_once(
    api: LoansApi, statements: StatementLog, world: Callable[[int], dict[str, Any]]
) -> None:
    """A statement without a cache key is compiled again on every execution."""
    statements.clear()
    _run(api, statements, world)
    assert statements.uncached == []

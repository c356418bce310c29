"""Loans' signed ``loan.outcome`` events: applied once, in any order; bad signatures change
nothing; an unknown score is refused (audited) and acknowledged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.scoring.domain.synthetic import generate
from services.scoring.models import Outcome
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.webhooks import SIGNATURE_HEADER, sign_payload
from tests.factories.scoring import frame_to_requests
from tests.scoring.kit import post_score
from tests.support import assert_problem, count_rows

Headers = Callable[[Role], dict[str, str]]
SECRET = "whsec-scoring-test"


@pytest.fixture
def score_id(client: TestClient, headers: Headers, ctx: ScoringContext) -> str:
    """A stored farmer decision; the loans webhook secret configured."""
    ctx.settings.loans_webhook_secret = SECRET
    body = frame_to_requests(generate("farmer", 1, 31), "farmer")[0]
    return str(post_score(client, headers(Role.LOAN_OFFICER), body)["id"])


def deliver(
    client: TestClient,
    ctx: ScoringContext,
    event_id: str,
    data: dict[str, Any],
    *,
    topic: str = "loan.outcome",
    secret: str = SECRET,
) -> Any:
    event = {"id": event_id, "topic": topic, "subject": f"loan:{data.get('loan_id')}", "data": data}
    body = json.dumps(event).encode()
    signature = sign_payload(secret, body, int(ctx.clock.now().timestamp()))
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
    return client.post("/v1/inbound/loans", content=body, headers=headers)


def outcome(score_id: str, kind: str, occurred_on: str = "2026-05-01") -> dict[str, Any]:
    return {
        "loan_id": "loan-1",
        "score_id": score_id,
        "outcome": kind,
        "occurred_on": occurred_on,
        "disbursed_on": "2026-01-15",
    }


def stored(ctx: ScoringContext) -> list[tuple[str, str, str]]:
    with ctx.db.unit_of_work(read_only=True) as session:
        rows = session.scalars(select(Outcome).order_by(Outcome.id))
        return [(r.score_id, r.outcome, r.occurred_on.isoformat()) for r in rows]


def audit_actions(client: TestClient, headers: Headers, subject: str) -> list[str]:
    response = client.get("/v1/audit/entries", params={"subject": subject}, headers=headers(Role.AUDITOR))
    assert response.status_code == 200, response.text
    return [e["action"] for e in response.json()["entries"]]


def test_an_outcome_is_recorded_once_however_often_it_is_delivered(
    client: TestClient, headers: Headers, ctx: ScoringContext, score_id: str
) -> None:
    first = deliver(client, ctx, "ev-1", outcome(score_id, "dpd30"))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "event_id": "ev-1",
        "result": "recorded",
        "score_id": score_id,
        "outcome": "dpd30",
    }
    again = deliver(client, ctx, "ev-1", outcome(score_id, "dpd30"))
    assert again.status_code == 200 and again.json() == {"event_id": "ev-1", "result": "duplicate"}
    # the same outcome under another event id (loans re-emitted it) is not stored twice
    other = deliver(client, ctx, "ev-2", outcome(score_id, "dpd30", "2026-05-02"))
    assert other.status_code == 200 and other.json()["result"] == "already_recorded"
    assert stored(ctx) == [(score_id, "dpd30", "2026-05-01")]
    assert audit_actions(client, headers, f"score:{score_id}").count("score.outcome_recorded") == 1


def test_outcomes_out_of_order_are_each_stored(
    client: TestClient, headers: Headers, ctx: ScoringContext, score_id: str
) -> None:
    assert (
        deliver(client, ctx, "ev-90", outcome(score_id, "dpd90", "2026-07-01")).json()["result"] == "recorded"
    )
    assert (
        deliver(client, ctx, "ev-30", outcome(score_id, "dpd30", "2026-05-01")).json()["result"] == "recorded"
    )
    assert (
        deliver(client, ctx, "ev-90", outcome(score_id, "dpd90", "2026-07-01")).json()["result"]
        == "duplicate"
    )
    assert sorted(stored(ctx)) == [(score_id, "dpd30", "2026-05-01"), (score_id, "dpd90", "2026-07-01")]
    assert audit_actions(client, headers, f"score:{score_id}").count("score.outcome_recorded") == 2


def test_a_bad_signature_is_401_and_changes_nothing(
    client: TestClient, ctx: ScoringContext, score_id: str
) -> None:
    inbox = count_rows(ctx, ctx.tables.webhook_inbox)
    rejected = deliver(client, ctx, "ev-1", outcome(score_id, "repaid"), secret="not-the-secret")
    assert "signature" in assert_problem(rejected, 401)["detail"]
    body = json.dumps({"id": "ev-1", "topic": "loan.outcome", "data": outcome(score_id, "repaid")})
    unsigned = client.post("/v1/inbound/loans", content=body, headers={"Content-Type": "application/json"})
    assert_problem(unsigned, 401)
    assert stored(ctx) == [] and count_rows(ctx, ctx.tables.webhook_inbox) == inbox
    # the event id was not consumed: the genuine delivery is still applied
    assert deliver(client, ctx, "ev-1", outcome(score_id, "repaid")).json()["result"] == "recorded"


def test_an_unknown_score_is_refused_audited_and_acknowledged(
    client: TestClient, headers: Headers, ctx: ScoringContext, score_id: str
) -> None:
    refused = deliver(client, ctx, "ev-x", outcome("no-such-score", "written_off"))
    assert refused.status_code == 200, refused.text
    assert refused.json() == {
        "event_id": "ev-x",
        "result": "refused",
        "reason": "scoring never issued a score with id no-such-score",
    }
    assert stored(ctx) == []
    assert audit_actions(client, headers, "score:no-such-score") == ["score.outcome_refused"]
    redelivered = deliver(client, ctx, "ev-x", outcome("no-such-score", "written_off"))
    assert redelivered.json()["result"] == "duplicate"


def test_malformed_outcomes_are_422_other_topics_ignored_and_no_secret_503(
    client: TestClient, ctx: ScoringContext, score_id: str
) -> None:
    bad = deliver(client, ctx, "ev-b", {**outcome(score_id, "dpd120"), "occurred_on": "soon"})
    fields = {e["field"] for e in assert_problem(bad, 422)["errors"]}
    assert "data.outcome" in fields
    early = deliver(client, ctx, "ev-c", outcome(score_id, "repaid", "2026-01-01"))
    assert "before the disbursement" in assert_problem(early, 422)["errors"][0]["message"]
    other = deliver(client, ctx, "ev-d", outcome(score_id, "repaid"), topic="loan.disbursed")
    assert other.json() == {"event_id": "ev-d", "result": "ignored", "topic": "loan.disbursed"}
    assert stored(ctx) == []
    ctx.settings.loans_webhook_secret = None
    assert_problem(deliver(client, ctx, "ev-e", outcome(score_id, "repaid")), 503)

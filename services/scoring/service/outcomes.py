"""Loan outcomes: loans tells scoring, by a signed event, what became of a loan a score decided.

Event (loans' outbox, delivered as a signed webhook to ``POST /v1/inbound/loans``)::

    {"id": "<event id>", "topic": "loan.outcome", "subject": "loan:<loan id>",
     "created_at": "...",
     "data": {"loan_id": "<loan id>", "score_id": "<scoring decision id>",
              "outcome": "repaid" | "dpd30" | "dpd60" | "dpd90" | "written_off",
              "occurred_on": "YYYY-MM-DD", "disbursed_on": "YYYY-MM-DD"}}

One event per outcome reached (a loan that went 30, 60 then 90 days past due sends three).
Applied exactly once: the inbox records each event id once (a redelivery is a
``duplicate``), and ``scoring_outcomes`` holds one row per decision and outcome, so the same
outcome sent again under another event id is ``already_recorded``. Order does not matter:
each outcome is its own row (a ``dpd30`` arriving after the ``dpd90`` is stored too).

An outcome for a score id scoring never issued is refused — audited as
``score.outcome_refused`` with its reason, nothing stored — and acknowledged (200, result
``refused``) so loans does not redeliver it forever. A malformed ``loan.outcome`` is a 422;
other topics are acknowledged as ``ignored``. A recorded outcome is audited as
``score.outcome_recorded`` (subject ``score:<id>``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.models import OUTCOMES, Outcome
from services.scoring.repository import decisions as decisions_repo
from services.scoring.repository import outcomes as repo
from services.scoring.settings import ScoringContext
from shared.auth import Principal, Role
from shared.changes import record_change
from shared.errors import ValidationProblem
from shared.webhooks import record_inbox

LOANS_SOURCE = "loans"
OUTCOME_TOPIC = "loan.outcome"
LOANS_PRINCIPAL = Principal(key_id="webhook:loans", role=Role.SERVICE, owner="loans")


def _date(data: dict[str, Any], field: str) -> date:
    value = data.get(field)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationProblem([(f"data.{field}", f"a date (YYYY-MM-DD) is required, not {value!r}")])


def _parse(data: dict[str, Any]) -> tuple[str, str, str, date, date]:
    loan_id, score_id, outcome = data.get("loan_id"), data.get("score_id"), data.get("outcome")
    errors: list[tuple[str, str]] = []
    if not isinstance(loan_id, str) or not loan_id or len(loan_id) > 64:
        errors.append(("data.loan_id", "a loan id (at most 64 characters) is required"))
        loan_id = ""
    if not isinstance(score_id, str) or not score_id:
        errors.append(("data.score_id", "the id of the score that decided the loan is required"))
        score_id = ""
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        errors.append(("data.outcome", f"the outcome must be one of {', '.join(OUTCOMES)}"))
        outcome = ""
    if errors:
        raise ValidationProblem(errors)
    occurred_on, disbursed_on = _date(data, "occurred_on"), _date(data, "disbursed_on")
    if occurred_on < disbursed_on:
        raise ValidationProblem([("data.occurred_on", "an outcome cannot occur before the disbursement")])
    return loan_id, score_id, outcome, occurred_on, disbursed_on


def apply_loans_event(session: Session, ctx: ScoringContext, *, event: dict[str, Any]) -> dict[str, Any]:
    """Handle one verified loans event; answer what was done (for the delivery log)."""
    event_id, topic = str(event.get("id", "")), str(event.get("topic", ""))
    if not event_id or not topic or len(event_id) > 64:
        raise ValidationProblem([("id", "an event needs an id (at most 64 characters) and a topic")])
    if topic != OUTCOME_TOPIC:
        return {"event_id": event_id, "result": "ignored", "topic": topic}
    data = event.get("data")
    if not isinstance(data, dict):
        raise ValidationProblem([("data", "loan.outcome needs a data object")])
    loan_id, score_id, outcome, occurred_on, disbursed_on = _parse(data)
    now = ctx.clock.now()
    if not record_inbox(session, ctx.tables, event_id=event_id, source=LOANS_SOURCE, topic=topic, now=now):
        return {"event_id": event_id, "result": "duplicate"}
    facts: dict[str, Any] = {
        "event_id": event_id,
        "score_id": score_id,
        "loan_id": loan_id,
        "outcome": outcome,
        "occurred_on": occurred_on.isoformat(),
        "disbursed_on": disbursed_on.isoformat(),
    }
    if decisions_repo.get_decision(session, score_id) is None:
        reason = f"scoring never issued a score with id {score_id}"
        record_change(
            session,
            ctx,
            actor=LOANS_PRINCIPAL.actor,
            action="score.outcome_refused",
            subject=f"score:{score_id}",
            payload={**facts, "reason": reason},
            event=False,
        )
        return {"event_id": event_id, "result": "refused", "reason": reason}
    row = Outcome(
        score_id=score_id,
        loan_id=loan_id,
        outcome=outcome,
        occurred_on=occurred_on,
        disbursed_on=disbursed_on,
        event_id=event_id,
        received_at=now,
    )
    if not repo.add_outcome(session, row):
        return {"event_id": event_id, "result": "already_recorded", "score_id": score_id, "outcome": outcome}
    record_change(
        session,
        ctx,
        actor=LOANS_PRINCIPAL.actor,
        action="score.outcome_recorded",
        subject=f"score:{score_id}",
        payload=facts,
        event=False,
    )
    return {"event_id": event_id, "result": "recorded", "score_id": score_id, "outcome": outcome}

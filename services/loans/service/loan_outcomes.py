"""What became of a loan, told to scoring: one ``loan.outcome`` event per loan and outcome.

Outcomes: ``repaid`` (the loan closed, or overpaid, by repayment), ``written_off``, and
``dpd30``/``dpd60``/``dpd90`` when close of business first sees the loan that many days past
due (a loan seen at 95 days at once reports all three, in that order, each dated the day it
reached its threshold). Each goes through the outbox (``record_change``, topic
``loan.outcome``, subject ``loan:<id>``), and is delivered to scoring's
``POST /v1/inbound/loans`` as a signed webhook whose body is
``{id, topic, subject, created_at, data}`` with ``data``::

    {"loan_id", "score_id", "outcome", "occurred_on": "YYYY-MM-DD", "disbursed_on": "YYYY-MM-DD"}

``loan_outcomes`` keeps one row per loan and outcome, so a re-run close of business, a
reversal that reopens a loan and a repeat closure never report the same outcome twice. A
loan whose application has no score id (nothing scoring could learn from) reports nothing.
Every call site holds the loan's row lock (a change) or its COB chunk lock.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from services.loans.models import LoanOutcome
from services.loans.repository import add
from services.loans.repository import outcomes as repo
from services.loans.settings import LoansContext
from shared.changes import record_change

OUTCOME_TOPIC = "loan.outcome"
REPAID, WRITTEN_OFF = "repaid", "written_off"
DPD_THRESHOLDS = ((30, "dpd30"), (60, "dpd60"), (90, "dpd90"))


def arrears_outcomes(days_past_due: int, as_of: date) -> list[tuple[str, date]]:
    """The arrears outcomes a loan ``days_past_due`` late on ``as_of`` has reached, each with
    the day it reached it, in order."""
    return [
        (name, as_of - timedelta(days=days_past_due - threshold))
        for threshold, name in DPD_THRESHOLDS
        if days_past_due >= threshold
    ]


def report_outcomes(
    session: Session,
    ctx: LoansContext,
    *,
    loan_id: str,
    disbursed_on: date | None,
    outcomes: list[tuple[str, date]],
    actor: str,
    reported: set[str] | None = None,
    score_id: str | None = None,
) -> list[str]:
    """Emit each of ``outcomes`` the loan has not reported yet; answer those emitted.

    ``reported`` and ``score_id`` may be given when the caller read them in bulk (COB).
    """
    if not outcomes or disbursed_on is None:
        return []
    if reported is None:
        reported = repo.reported_outcomes(session, [loan_id])[loan_id]
        score_id = repo.score_ids(session, [loan_id]).get(loan_id)
    if score_id is None:
        return []
    emitted: list[str] = []
    for outcome, occurred_on in outcomes:
        if outcome in reported:
            continue
        occurred_on = max(occurred_on, disbursed_on)
        add(
            session,
            LoanOutcome(
                loan_id=loan_id,
                outcome=outcome,
                occurred_on=occurred_on,
                score_id=score_id,
                reported_at=ctx.clock.now(),
            ),
        )
        record_change(
            session,
            ctx,
            actor=actor,
            action=OUTCOME_TOPIC,
            subject=f"loan:{loan_id}",
            payload={
                "loan_id": loan_id,
                "score_id": score_id,
                "outcome": outcome,
                "occurred_on": occurred_on.isoformat(),
                "disbursed_on": disbursed_on.isoformat(),
            },
        )
        reported.add(outcome)
        emitted.append(outcome)
    return emitted

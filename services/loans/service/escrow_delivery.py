"""The worker sends loans' instructions to escrow (``loans.escrow.instructions``).

One instruction at a time, each in three steps, so no transaction is open while escrow is
called and no two workers send the same instruction:

1. claim (one short transaction): lock the next due instruction (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL; per loan, only once every earlier instruction is no longer pending), count
   the attempt and move ``next_attempt_at`` one lease ahead — while the call is in flight no
   other worker takes it, and if this worker dies it is due again when the lease ends;
2. send (no transaction): the call to escrow with the instruction's stored Idempotency-Key;
3. record (one short transaction): ``done`` with escrow's answer (a register stores the
   assignment id), ``failed`` with escrow's problem detail when escrow refused it for good (a
   4xx that no retry can change; audited as ``loan.escrow_instruction_failed``), or still
   ``pending`` with backoff when escrow could not be reached or could not take it now (a
   5xx, 401/403, 408, 409 in progress, 429). A result whose lease another worker took over
   is dropped.

Answers that are lost are safe: a register first looks for an assignment escrow already
holds for the loan (``loan_ref``) and adopts it, whatever the age of the Idempotency-Key; a
close of an assignment escrow already closed is done; a refund's reference is unique at
escrow, so the same reference and amount answers the first refund again. A close whose
register failed has no assignment to close: it is done with nothing sent.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.loans.models import EscrowInstruction
from services.loans.repository import escrow_instructions as repo
from services.loans.service.escrow_instructions import (
    CLOSE,
    DONE,
    FAILED,
    PENDING,
    REFUND,
    REGISTER,
    payload_of,
    result_of,
)
from services.loans.settings import LoansContext
from shared.changes import record_change
from shared.clients.escrow import EscrowClient
from shared.http_client import ServiceUnreachable, UpstreamProblem
from shared.webhook_delivery import backoff_delay
from shared.worker import stop_requested

log = logging.getLogger("agrifin.loans.escrow_delivery")

INSTRUCTIONS_ACTOR = "system:loans.escrow-instructions"
LEASE = timedelta(seconds=120)
"""Longer than one instruction's calls (a register reads then creates; the client retries)."""
_RETRY_LATER = frozenset({401, 403, 408, 425, 429})


@dataclass(frozen=True)
class Claimed:
    """An instruction claimed for one send, with what the send needs (no database needed)."""

    id: int
    loan_id: str
    kind: str
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int
    assignment_id: str | None


@dataclass(frozen=True)
class Sent:
    """Escrow did what the instruction asked (or had done it already)."""

    result: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """Escrow refused the instruction for good."""

    status: int
    detail: str


@dataclass(frozen=True)
class Unavailable:
    """Escrow could not be reached or could not take it now: try again later."""

    error: str


Outcome = Sent | Refused | Unavailable


@dataclass(frozen=True)
class InstructionReport:
    """What one run of the job did."""

    sent: int
    failed: int
    retrying: int


def send_due_instructions(ctx: LoansContext, escrow: EscrowClient, *, limit: int = 100) -> InstructionReport:
    """Send every due instruction (at most ``limit``), in order per loan."""
    counts: Counter[str] = Counter()
    for _ in range(limit):
        if stop_requested():
            break
        claimed = _claim(ctx)
        if claimed is None:
            break
        if isinstance(claimed, str):  # settled without a call
            counts[claimed] += 1
            continue
        counts[_record(ctx, claimed, _send(escrow, claimed))] += 1
    return InstructionReport(sent=counts[DONE], failed=counts[FAILED], retrying=counts[PENDING])


def _claim(ctx: LoansContext) -> Claimed | str | None:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        row = repo.claim_due(session, now=now)
        if row is None:
            return None
        assignment_id: str | None = None
        if row.kind == CLOSE:
            assignment_id = _registered_assignment(repo.instructions_of(session, row.loan_id, REGISTER))
            if assignment_id is None:
                _settle(row, DONE, now=now, result={"skipped": "no assignment was registered for this loan"})
                return DONE
        row.attempts += 1
        row.next_attempt_at = now + LEASE
        session.flush()
        return Claimed(
            id=row.id,
            loan_id=row.loan_id,
            kind=row.kind,
            payload=payload_of(row),
            idempotency_key=row.idempotency_key,
            attempts=row.attempts,
            assignment_id=assignment_id,
        )


def _registered_assignment(registers: list[EscrowInstruction]) -> str | None:
    for row in registers:
        found = result_of(row).get("assignment_id")
        if row.status == DONE and isinstance(found, str):
            return found
    return None


def _send(escrow: EscrowClient, claimed: Claimed) -> Outcome:
    try:
        if claimed.kind == REGISTER:
            return _register(escrow, claimed)
        if claimed.kind == CLOSE:
            return _close(escrow, claimed)
        if claimed.kind == REFUND:
            return _refund(escrow, claimed)
        return Refused(0, f"unknown instruction kind {claimed.kind!r}")
    except ServiceUnreachable as exc:
        return Unavailable(str(exc))
    except UpstreamProblem as exc:
        if exc.status >= 500 or exc.status in _RETRY_LATER or _in_progress(exc):
            return Unavailable(str(exc))
        return Refused(exc.status, str(exc.problem.get("detail") or exc.problem.get("title") or exc))


def _in_progress(exc: UpstreamProblem) -> bool:
    return exc.status == 409 and exc.problem.get("current_state") == "in_progress"


def _register(escrow: EscrowClient, claimed: Claimed) -> Outcome:
    body = claimed.payload
    held = [
        a
        for a in escrow.list_assignments(loan_ref=claimed.loan_id)
        if a.seller_id == body["seller_id"] and a.lender_id == body["lender_id"]
    ]
    if held:  # an earlier attempt's answer was lost: escrow has it already
        first = min(held, key=lambda a: a.created_at)
        return Sent({"assignment_id": first.id, "status": first.status, "adopted": True})
    made = escrow.create_assignment(
        seller_id=body["seller_id"],
        lender_id=body["lender_id"],
        currency=body["currency"],
        share_bps=body["share_bps"],
        cap_minor=body["cap_minor"],
        loan_ref=body["loan_ref"],
        idempotency_key=claimed.idempotency_key,
    )
    return Sent({"assignment_id": made.id, "status": made.status})


def _close(escrow: EscrowClient, claimed: Claimed) -> Outcome:
    assert claimed.assignment_id is not None
    try:
        closed = escrow.close_assignment(claimed.assignment_id, idempotency_key=claimed.idempotency_key)
    except UpstreamProblem as exc:
        if exc.status == 409 and exc.problem.get("current_state") == "closed":
            return Sent({"assignment_id": claimed.assignment_id, "status": "closed", "already_closed": True})
        raise
    return Sent({"assignment_id": closed.id, "status": closed.status})


def _refund(escrow: EscrowClient, claimed: Claimed) -> Outcome:
    body = claimed.payload
    refund = escrow.refund_sweep(
        body["assignment_id"],
        amount_minor=body["amount_minor"],
        reference=body["reference"],
        reason=body["reason"],
        idempotency_key=claimed.idempotency_key,
    )
    return Sent(
        {"assignment_id": body["assignment_id"], "refund_id": refund.id, "entry_ref": refund.entry_ref}
    )


def _settle(
    row: EscrowInstruction,
    status: str,
    *,
    now: datetime,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    row.status = status
    row.next_attempt_at = None
    row.done_at = now
    if result is not None:
        row.result = json.dumps(result, sort_keys=True)
    if error is not None:
        row.last_error = error


def _record(ctx: LoansContext, claimed: Claimed, outcome: Outcome) -> str:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        row = repo.get_instruction(session, claimed.id, lock=True)
        if row is None or row.status != PENDING or row.attempts != claimed.attempts:
            return "lost"  # another worker took the instruction over after our lease ran out
        subject = f"loan:{row.loan_id}"
        audit = {"instruction_id": row.id, "kind": row.kind, "loan_id": row.loan_id, "attempts": row.attempts}
        if isinstance(outcome, Unavailable):
            row.last_error = outcome.error
            row.next_attempt_at = now + backoff_delay(row.attempts)
            log.warning("escrow instruction %s (%s) not delivered yet: %s", row.id, row.kind, outcome.error)
            return PENDING
        if isinstance(outcome, Sent):
            _settle(row, DONE, now=now, result=outcome.result)
            session.flush()
            record_change(
                session,
                ctx,
                actor=INSTRUCTIONS_ACTOR,
                action=f"loan.escrow_{row.kind}_done",
                subject=subject,
                payload={**audit, "result": outcome.result},
                event=False,
            )
            return DONE
        _settle(row, FAILED, now=now, error=f"escrow refused it (HTTP {outcome.status}): {outcome.detail}")
        session.flush()
        record_change(
            session,
            ctx,
            actor=INSTRUCTIONS_ACTOR,
            action="loan.escrow_instruction_failed",
            subject=subject,
            payload={**audit, "status": outcome.status, "error": row.last_error, "payload": claimed.payload},
            event=False,
        )
        log.error("escrow instruction %s (%s) failed: %s", row.id, row.kind, row.last_error)
        return FAILED

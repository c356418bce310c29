"""Persisting one domain transition: state, ledger entries, sweeps, timeline, events, audit.

The caller holds the escrow row's lock and has run the domain transition. Here: the timeline
item is appended (with the history's read on PostgreSQL), then, in the lock order of
``repository.ledger``, the seller's assignment rows are locked (only when money is
released), the entries are posted, and the events and the audit entry are queued to the
commit tail. Entry references
are ``<escrow>:<action>[:<lot>]/<n>`` and unique in the ledger, so a lot's money can never
be released or refunded twice even if every other guard failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.escrow.domain.assignment import Assignment
from services.escrow.domain.ledger import EntryKind, JournalEntry
from services.escrow.domain.model import (
    Action,
    EscrowStatus,
    Funding,
    Movement,
    Refund,
    Release,
    Transition,
)
from services.escrow.domain.postings import PostingPlan, entries_for_transition, holding_account
from services.escrow.models import AssignmentRow, EscrowRow, LotRow, SweepRow
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository.assignments import lock_active_assignments
from services.escrow.repository.escrows import TimelineEntry
from services.escrow.repository.history import EscrowHistory, add_timeline_and_load_history
from services.escrow.repository.ledger import post_entries
from services.escrow.service.errors import domain_errors
from services.escrow.service.mapping import write_back
from services.escrow.settings import EscrowContext
from shared.changes import record_change
from shared.money import Money
from shared.webhooks import emit_events, outbox_row

ACTION_TOPICS = {
    Action.FUND: "escrow.funded",
    Action.CANCEL: "escrow.cancelled",
    Action.EXPIRE: "escrow.expired",
    Action.SHIP: "lot.shipped",
    Action.DELIVER: "lot.delivered",
    Action.ACCEPT: "lot.accepted",
    Action.REJECT: "lot.rejected",
    Action.RETURN_RECEIVED: "lot.returned",
    Action.DISPUTE: "escrow.disputed",
    Action.RESOLVE: "dispute.resolved",
    Action.AUTO_RELEASE: "lot.auto_released",
    Action.REFUND_UNDELIVERED: "lot.undelivered",
}
"""The outbox topic of each action; money moved adds lot.released / lot.refunded events."""


def entry_ref(escrow_id: str, action: Action, lot_ref: str | None) -> str:
    """The reference prefix of the entries one action posts."""
    return f"{escrow_id}:{action.value}" + (f":{lot_ref}" if lot_ref else "")


def escrow_event_row(ctx: EscrowContext, row: EscrowRow, topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """An outbox row about ``row``, owned by its marketplace."""
    body = {
        "escrow_id": row.id,
        "order_ref": row.order_ref,
        "marketplace": row.owner,
        "status": row.status,
        **data,
    }
    return outbox_row(
        topic=topic, subject=f"escrow:{row.id}", data=body, now=ctx.clock.now(), owner=row.owner
    )


def record_escrow_change(
    session: Session,
    ctx: EscrowContext,
    row: EscrowRow,
    *,
    actor: str,
    now: datetime,
    timeline_event: str,
    timeline_data: dict[str, Any],
    events: list[dict[str, Any]],
    lot_ref: str | None = None,
    audit_action: str | None = None,
    audit_payload: dict[str, Any] | None = None,
    history: EscrowHistory | None = None,
) -> TimelineEntry:
    """The records of one change to an escrow: a timeline item, its outbox events (one multi-row
    insert, rows from ``escrow_event_row``) and, when money moved, an audit entry (at commit).

    Returns the timeline item, also added to ``history`` (what the transaction holds) if given."""
    item = _add_timeline(
        session, row, history, event=timeline_event, actor=actor, now=now, lot_ref=lot_ref, data=timeline_data
    )
    record_escrow_events(
        session,
        ctx,
        row,
        actor=actor,
        events=events,
        audit_action=audit_action or timeline_event,
        audit_payload=audit_payload,
    )
    return item


def _add_timeline(
    session: Session,
    row: EscrowRow,
    history: EscrowHistory | None,
    *,
    event: str,
    actor: str,
    now: datetime,
    lot_ref: str | None,
    data: dict[str, Any],
) -> TimelineEntry:
    """Append a timeline item of ``row`` (and to ``history``, what the transaction holds, if given)."""
    item = escrow_repo.add_timeline(
        session, escrow_id=row.id, event=event, actor=actor, now=now, lot_ref=lot_ref, data=data
    )
    if history is not None:
        history.add_timeline(item)
    return item


def record_escrow_events(
    session: Session,
    ctx: EscrowContext,
    row: EscrowRow,
    *,
    actor: str,
    events: list[dict[str, Any]],
    audit_action: str,
    audit_payload: dict[str, Any] | None,
) -> None:
    """A change's outbox events and, when money moved, its audit entry (both at commit)."""
    emit_events(session, ctx.tables, events)
    if audit_payload is not None:
        record_change(
            session,
            ctx,
            actor=actor,
            action=audit_action,
            subject=f"escrow:{row.id}",
            payload=audit_payload,
            event=False,
        )


def _assignment(row: AssignmentRow) -> Assignment:
    return Assignment(
        row.id,
        row.lender_id,
        row.share_bps,
        Money(row.cap_minor, row.currency),
        Money(row.swept_minor, row.currency),
    )


def entry_legs(entry: JournalEntry) -> list[list[object]]:
    """An entry's legs as [account, side, minor] rows (audit payloads)."""
    return [[str(leg.account), leg.side.value, leg.amount.minor] for leg in entry.postings]


def apply_transition(
    session: Session,
    ctx: EscrowContext,
    *,
    row: EscrowRow,
    lots: list[LotRow],
    transition: Transition,
    actor: str,
    data: dict[str, Any] | None = None,
    history: EscrowHistory | None = None,
    read_history: bool = False,
) -> EscrowHistory | None:
    """Store ``transition`` of the locked escrow ``row`` with everything it implies.

    The timeline item is written first: with ``read_history`` and no ``history`` (read with the
    lock), the escrow's history is read in the same statement on PostgreSQL (after the lock:
    see ``repository.history``). The history, read or given, gets the timeline item and the
    entries written here and is returned; if it says the seller had no active assignment,
    none is locked (a row created since is not visible to a lock either)."""
    escrow, lot_ref = transition.escrow, transition.lot_id
    now = escrow.updated_at
    write_back(row, lots, escrow)
    extra = dict(data or {})
    timeline_event = transition.action.value
    timeline_data = {**extra, **_movements(transition.movements)}
    if history is None and read_history:
        _, history = add_timeline_and_load_history(
            session,
            escrow_id=row.id,
            seller_id=row.seller_id,
            currency=row.currency,
            event=timeline_event,
            actor=actor,
            now=now,
            lot_ref=lot_ref,
            data=timeline_data,
        )
    else:
        _add_timeline(
            session,
            row,
            history,
            event=timeline_event,
            actor=actor,
            now=now,
            lot_ref=lot_ref,
            data=timeline_data,
        )
    releases = any(isinstance(m, Release) for m in transition.movements)
    if history is not None and history.seller_has_assignments is False:
        releases = False
    assignment_rows = (
        lock_active_assignments(session, seller_id=row.seller_id, currency=row.currency) if releases else []
    )
    plan = entries_for_transition(
        transition=transition,
        assignments=[_assignment(a) for a in assignment_rows],
        provider=row.provider,
        ref=entry_ref(row.id, transition.action, lot_ref),
    )
    holding = holding_account(escrow_id=row.id, currency=row.currency)
    read = {holding: history.holding} if history is not None and history.holding is not None else None
    with domain_errors():
        post_entries(
            session, entries=plan.entries, escrow_id=row.id, now=now, serialized=[holding], read=read
        )
    if history is not None:
        history.add_entries(list(plan.entries))
    events = _record_sweeps(
        session, ctx, row=row, lot_ref=lot_ref, assignment_rows=assignment_rows, plan=plan, now=now
    )

    lot_status = escrow.lot(lot_ref).status.value if lot_ref else None
    base = {"lot_ref": lot_ref, "lot_status": lot_status} if lot_ref else {}
    events.append(escrow_event_row(ctx, row, ACTION_TOPICS[transition.action], {**base, **extra}))
    events.extend(
        _movement_event(ctx, row, transition.action, m, plan)
        for m in transition.movements
        if not isinstance(m, Funding)
    )
    if escrow.status in (EscrowStatus.COMPLETED, EscrowStatus.REFUNDED) and lot_ref is not None:
        events.append(escrow_event_row(ctx, row, "escrow.closed", {"closed_status": escrow.status.value}))
    audit = (
        {
            "order_ref": row.order_ref,
            "lot_ref": lot_ref,
            **extra,
            "entries": [{"ref": e.ref, "kind": e.kind.value, "legs": entry_legs(e)} for e in plan.entries],
        }
        if plan.entries
        else None
    )
    record_escrow_events(
        session,
        ctx,
        row,
        actor=actor,
        events=events,
        audit_action=f"escrow.{transition.action.value}",
        audit_payload=audit,
    )
    return history


def _movements(movements: tuple[Movement, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in movements:
        if isinstance(m, Funding):
            out["funded_minor"] = m.amount.minor
        elif isinstance(m, Release):
            out.update(released_minor=m.gross.minor, fee_minor=m.fee.minor, net_minor=m.net.minor)
        else:
            out["refunded_minor"] = m.amount.minor
    return out


def _movement_event(
    ctx: EscrowContext,
    row: EscrowRow,
    action: Action,
    movement: Release | Refund,
    plan: PostingPlan,
) -> dict[str, Any]:
    if isinstance(movement, Release):
        swept = sum(s.amount.minor for s in plan.sweeps)
        return escrow_event_row(
            ctx,
            row,
            "lot.released",
            {
                "lot_ref": movement.lot_id,
                "reason": action.value,
                "currency": row.currency,
                "gross_minor": movement.gross.minor,
                "fee_minor": movement.fee.minor,
                "net_minor": movement.net.minor,
                "swept_minor": swept,
                "to_seller_minor": movement.net.minor - swept,
            },
        )
    topic = "lot.refunded" if movement.lot_id else "escrow.refunded"
    return escrow_event_row(
        ctx,
        row,
        topic,
        {
            "lot_ref": movement.lot_id,
            "reason": action.value,
            "currency": row.currency,
            "amount_minor": movement.amount.minor,
        },
    )


def _record_sweeps(
    session: Session,
    ctx: EscrowContext,
    *,
    row: EscrowRow,
    lot_ref: str | None,
    assignment_rows: list[AssignmentRow],
    plan: PostingPlan,
    now: datetime,
) -> list[dict[str, Any]]:
    """Store the sweeps of ``plan`` on the assignments at the transition's ``now``; their outbox rows."""
    if not plan.sweeps:
        return []
    release_ref = next(e.ref for e in plan.entries if e.kind is EntryKind.RELEASE)
    after = {a.assignment_id: a for a in plan.assignments}
    by_id = {a.id: a for a in assignment_rows}
    events = []
    for sweep in plan.sweeps:
        assignment_row = by_id[sweep.assignment.assignment_id]
        updated = after[assignment_row.id]
        assignment_row.swept_minor = updated.swept.minor
        assignment_row.status = "repaid" if updated.is_repaid else "active"
        assignment_row.updated_at = now
        event = escrow_event_row(
            ctx,
            row,
            "assignment.swept",
            {
                "assignment_id": assignment_row.id,
                "loan_ref": assignment_row.loan_ref,
                "lender_id": assignment_row.lender_id,
                "seller_id": assignment_row.seller_id,
                "currency": row.currency,
                "amount_minor": sweep.amount.minor,
                "swept_minor": updated.swept.minor,
                "cap_minor": updated.cap.minor,
                "remaining_minor": updated.remaining.minor,
                "repaid": updated.is_repaid,
                "lot_ref": lot_ref,
                "entry_ref": release_ref,
            },
        )
        events.append(event)
        session.add(
            SweepRow(
                assignment_id=assignment_row.id,
                escrow_id=row.id,
                lot_ref=lot_ref or "",
                entry_ref=release_ref,
                event_id=event["id"],  # the event loans turns into a repayment (its external id)
                amount_minor=sweep.amount.minor,
                created_at=now,
            )
        )
    return events

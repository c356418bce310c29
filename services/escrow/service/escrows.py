"""Escrow use cases: open, read, list, and every action on an escrow or one of its lots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.escrow.domain import lifecycle
from services.escrow.domain.fees import FeeSchedule
from services.escrow.domain.model import Action, Escrow, LotStatus, LotTerms, Transition
from services.escrow.domain.postings import (
    buyer_refund_account,
    fee_revenue_account,
    holding_account,
    payout_clearing_account,
    provider_clearing_account,
    seller_payable_account,
)
from services.escrow.models import EscrowRow, LotRow
from services.escrow.presenters import escrow_summary
from services.escrow.providers import get_provider
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository.history import EscrowHistory, lock_escrow_with_history
from services.escrow.repository.ledger import ensure_accounts
from services.escrow.schemas import EntryList, EscrowIn, EscrowList, EscrowOut
from services.escrow.service.errors import domain_errors
from services.escrow.service.mapping import to_domain
from services.escrow.service.transitions import apply_transition, escrow_event_row, record_escrow_events
from services.escrow.service.views import entries_out, escrow_out
from services.escrow.settings import EscrowContext
from shared.auth import Principal
from shared.changes import new_id
from shared.clock import as_utc
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.money import Money

DomainStep = Callable[[Escrow, datetime], Transition]
"""A domain transition waiting for the locked escrow and the time."""


def _owner(who: Principal, requested: str | None) -> str:
    if who.owner is not None:
        if requested is not None and requested != who.owner:
            raise ValidationProblem([("marketplace", "a marketplace key opens escrows for itself only")])
        return who.owner
    return requested or "admin"


def _check_deadlines(body: EscrowIn, now: datetime, *, horizon_days: int) -> None:
    """Deadlines lie in the future, and no further than ``horizon_days`` from now."""
    latest = now + timedelta(days=horizon_days)
    deadlines = [("funding_deadline", body.funding_deadline), ("delivery_deadline", body.delivery_deadline)]
    deadlines += [
        (f"lots.{i}.delivery_deadline", lot.delivery_deadline)
        for i, lot in enumerate(body.lots)
        if lot.delivery_deadline is not None
    ]
    errors = []
    for field, deadline in deadlines:
        if deadline <= now:
            errors.append((field, "must be in the future"))
        elif deadline > latest:
            errors.append((field, f"must be within {horizon_days} days from now (by {latest.isoformat()})"))
    if errors:
        raise ValidationProblem(errors)


def _check_amounts(body: EscrowIn, *, maximum: int) -> None:
    """No lot, and no escrow's total, above the configured maximum for its currency."""
    errors = [
        (f"lots.{i}.amount_minor", f"must be at most {maximum} {body.currency}")
        for i, lot in enumerate(body.lots)
        if lot.amount_minor > maximum
    ]
    if not errors and sum(lot.amount_minor for lot in body.lots) > maximum:
        errors.append(("lots", f"the lots add up to more than {maximum} {body.currency}"))
    if errors:
        raise ValidationProblem(errors)


def create_escrow(session: Session, ctx: EscrowContext, *, who: Principal, body: EscrowIn) -> EscrowOut:
    """Open an escrow for a marketplace order (status ``created``, waiting for funding)."""
    now = ctx.clock.now()
    owner = _owner(who, body.marketplace)
    _check_deadlines(body, now, horizon_days=ctx.settings.max_deadline_days)
    _check_amounts(body, maximum=ctx.settings.max_amount_for(body.currency))
    provider = get_provider(ctx.settings.default_provider).name
    escrow_id = new_id()
    with domain_errors(amount_field="lots"):
        escrow = lifecycle.open_escrow(
            escrow_id=escrow_id,
            buyer_id=body.buyer_id,
            seller_id=body.seller_id,
            lots=[
                LotTerms(
                    lot.lot_ref,
                    Money(lot.amount_minor, body.currency),
                    lot.delivery_deadline or body.delivery_deadline,
                )
                for lot in body.lots
            ],
            fee_schedule=FeeSchedule(bps=body.fee.bps, min_minor=body.fee.min_minor),
            inspection_period=timedelta(hours=body.inspection_period_hours),
            funding_deadline=body.funding_deadline,
            now=now,
        )
    row = EscrowRow(
        id=escrow_id,
        owner=owner,
        order_ref=body.order_ref,
        buyer_id=body.buyer_id,
        seller_id=body.seller_id,
        currency=body.currency,
        total_minor=escrow.total.minor,
        fee_bps=body.fee.bps,
        fee_min_minor=body.fee.min_minor,
        inspection_seconds=body.inspection_period_hours * 3600,
        funding_deadline=body.funding_deadline,
        delivery_deadline=body.delivery_deadline,
        provider=provider,
        status=escrow.status.value,
        funded_minor=0,
        funded_at=None,
        closed_at=None,
        created_at=now,
        updated_at=now,
    )
    lots = [
        LotRow(
            escrow_id=escrow_id,
            position=i,
            lot_ref=lot.lot_id,
            description=body.lots[i].description,
            amount_minor=lot.amount.minor,
            delivery_deadline=lot.delivery_deadline,
            status=LotStatus.PENDING.value,
            released_minor=0,
            refunded_minor=0,
        )
        for i, lot in enumerate(escrow.lots)
    ]
    currency = body.currency
    try:
        created = escrow_repo.add_escrow(
            session,
            row,
            lots,
            event="created",
            actor=who.actor,
            data={"total_minor": row.total_minor, "currency": currency},
        )
    except escrow_repo.DuplicateOrderRef as exc:
        raise Conflict(
            f"marketplace {owner!r} already has an escrow for order {body.order_ref!r}",
            current_state="exists",
            order_ref=body.order_ref,
        ) from exc
    ensure_accounts(
        session,
        now=now,
        refs=[
            holding_account(escrow_id=escrow_id, currency=currency),
            seller_payable_account(seller_id=body.seller_id, currency=currency),
            buyer_refund_account(buyer_id=body.buyer_id, currency=currency),
            fee_revenue_account(currency=currency),
            provider_clearing_account(provider=provider, currency=currency),
            payout_clearing_account(provider=provider, currency=currency),
        ],
    )
    record_escrow_events(
        session,
        ctx,
        row,
        actor=who.actor,
        events=[
            escrow_event_row(
                ctx,
                row,
                "escrow.created",
                {
                    "buyer_id": row.buyer_id,
                    "seller_id": row.seller_id,
                    "currency": currency,
                    "total_minor": row.total_minor,
                    "lots": [lot.lot_id for lot in escrow.lots],
                },
            )
        ],
        audit_action="created",
        audit_payload=None,
    )
    # A new escrow has no payments or entries yet; its timeline is the item just written.
    return escrow_out(session, row, now=now, lots=lots, history=EscrowHistory(timeline=[created]))


def _visible(row: EscrowRow | None, who: Principal | None, escrow_id: str) -> EscrowRow:
    if row is None or (who is not None and not who.can_see(row.owner)):
        raise NotFound(f"escrow {escrow_id} not found")
    return row


def read_escrow(session: Session, ctx: EscrowContext, *, who: Principal, escrow_id: str) -> EscrowOut:
    """An escrow the caller may see."""
    row = _visible(escrow_repo.get_escrow(session, escrow_id), who, escrow_id)
    return escrow_out(session, row, now=ctx.clock.now())


def list_escrows(
    session: Session,
    *,
    who: Principal,
    order_ref: str | None = None,
    status: str | None = None,
    seller_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> EscrowList:
    """Escrows the caller may see (a marketplace only its own), newest first, filtered."""
    if created_from is not None and created_to is not None and created_to <= created_from:
        raise ValidationProblem([("query.created_to", "must be later than created_from")])
    where = escrow_repo.EscrowFilter(
        owner=who.owner,
        order_ref=order_ref,
        status=status,
        seller_id=seller_id,
        # SQLite compares stored UTC text: a window given in another offset is converted first.
        created_from=None if created_from is None else as_utc(created_from),
        created_to=None if created_to is None else as_utc(created_to),
    )
    rows = escrow_repo.list_escrows(session, where=where, limit=limit, offset=offset)
    return EscrowList(escrows=[escrow_summary(row) for row in rows])


def read_entries(session: Session, *, who: Principal, escrow_id: str) -> EntryList:
    """The journal entries of an escrow the caller may see, oldest first."""
    row = _visible(escrow_repo.get_escrow(session, escrow_id), who, escrow_id)
    return EntryList(escrow_id=row.id, entries=entries_out(session, row.id))


def lock_visible(session: Session, *, who: Principal | None, escrow_id: str) -> escrow_repo.LockedEscrow:
    """The escrow row and its lots, locked, if the caller (None: the worker) may see it, else NotFound."""
    locked = escrow_repo.lock_escrow(session, escrow_id)
    if locked is None or (who is not None and not who.can_see(locked.row.owner)):
        raise NotFound(f"escrow {escrow_id} not found")
    return locked


def lock_visible_with_history(
    session: Session, *, who: Principal | None, escrow_id: str
) -> tuple[escrow_repo.LockedEscrow, EscrowHistory | None]:
    """``lock_visible``, with the escrow's history when the lock read it (SQLite; see
    ``repository.history.lock_escrow_with_history``), else None."""
    found = lock_escrow_with_history(session, escrow_id)
    if found is None or (who is not None and not who.can_see(found[0].row.owner)):
        raise NotFound(f"escrow {escrow_id} not found")
    return found


def run_action(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal | None,
    actor: str,
    escrow_id: str,
    step: DomainStep,
    data: dict[str, Any] | None = None,
    amount_field: str = "amount_minor",
) -> EscrowOut:
    """Lock the escrow, run one domain transition on it, store everything it implies.

    The answer is built from what the transaction holds: the rows locked, the history read
    once (with the lock on SQLite, with the timeline item's insert on PostgreSQL), and what
    the transition wrote."""
    locked, history = lock_visible_with_history(session, who=who, escrow_id=escrow_id)
    row, lots = locked.row, locked.lots
    with domain_errors(amount_field=amount_field):
        transition = step(to_domain(row, lots), ctx.clock.now())
    history = apply_transition(
        session,
        ctx,
        row=row,
        lots=lots,
        transition=transition,
        actor=actor,
        data=data,
        history=history,
        read_history=True,
    )
    return escrow_out(session, row, now=ctx.clock.now(), lots=lots, history=history)


def cancel(session: Session, ctx: EscrowContext, *, who: Principal, escrow_id: str, reason: str) -> EscrowOut:
    """Cancel an escrow before anything shipped; a funded one is refunded in full."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.cancel_escrow(escrow=e, now=now),
        data={"reason": reason} if reason else None,
    )


def expire(session: Session, ctx: EscrowContext, *, escrow_id: str, actor: str) -> None:
    """Expire an escrow still unfunded at its funding deadline (the worker's job)."""
    run_action(
        session,
        ctx,
        who=None,
        actor=actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.expire_escrow(escrow=e, now=now),
    )


def auto_release(session: Session, ctx: EscrowContext, *, escrow_id: str, actor: str) -> int:
    """Release every lot of a locked escrow whose inspection is over; return how many."""
    locked = lock_visible(session, who=None, escrow_id=escrow_id)
    row, lots = locked.row, locked.lots
    escrow, now = to_domain(row, lots), ctx.clock.now()
    released = 0
    for lot_ref in [lot.lot_id for lot in escrow.lots]:
        if Action.AUTO_RELEASE not in lifecycle.allowed_actions(escrow=escrow, now=now, lot_id=lot_ref):
            continue
        transition = lifecycle.auto_release_lot(escrow=escrow, lot_id=lot_ref, now=now)
        apply_transition(session, ctx, row=row, lots=lots, transition=transition, actor=actor)
        escrow = transition.escrow
        released += 1
    return released

"""Escrow and lot state machines: which action is allowed when, and what money it moves.

Every transition is a pure function of the current ``Escrow``, the action's arguments and
``now`` (a tz-aware UTC datetime the caller injects; the domain never reads the clock). It
returns a ``Transition`` (the new escrow plus the money movements to post) or raises
``InvalidTransitionError`` naming the current state and the actions allowed at ``now``.
The one source of truth for "allowed" is ``allowed_actions``; transitions consult it.

Escrow (whole order)::

    status     action   guard                         next       money
    created    fund     amount == total exactly       funded     Funding(total)
    created    cancel   -                             cancelled  -
    created    expire   now >= funding_deadline       expired    -
    funded     cancel   (no lot shipped yet)          cancelled  Refund(total)

A late payment is still accepted while the escrow is ``created`` (the deadline exists to
clean up abandoned orders; money that did arrive is not turned away). Once funded, the
status follows the lots: ``funded`` while all are pending, ``disputed`` while any is
disputed, ``in_progress`` otherwise; when every lot is final it is ``completed`` if any
money was released to the seller, else ``refunded``.

Lot (lot actions need a funded escrow)::

    status     action              guard                      next                money
    pending    ship                -                          shipped             -
    pending    refund_undelivered  now >= delivery_deadline   refunded            Refund(lot)
    shipped    deliver             -                          delivered           -
    shipped    dispute             -                          disputed            -
    shipped    refund_undelivered  now >= delivery_deadline   refunded            Refund(lot)
    delivered  accept              (partial: in inspection)   accepted /          Release(x),
                                                              partially_accepted  Refund(rest)
    delivered  reject              in inspection              rejected            -
    delivered  dispute             in inspection              disputed            -
    delivered  auto_release        inspection over            auto_released       Release(lot)
    rejected   return_received     -                          returned            Refund(lot)
    rejected   dispute             -                          disputed            -
    disputed   resolve             arbiter's split            resolved            Release(s),
                                                                                  Refund(rest)

"In inspection" means ``delivered_at <= now < delivered_at + inspection_period``.

Decisions: a dispute is allowed while shipped (a stalled or lost shipment needs an arbiter
before the delivery deadline) and while rejected (the seller contests the return); a
dispute freezes the lot until resolved (no auto-release, no undelivered refund). A full
acceptance is allowed even after inspection ends (it gives the seller what auto-release
would); a partial one only during inspection. The fee applies to released money only (the
accepted part, the seller's share of a resolution), never to refunds. Delivery after the
delivery deadline is still accepted unless the buyer has already been refunded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from services.escrow.domain.fees import FeeSchedule, split_fee
from services.escrow.domain.model import (
    Action,
    AmountError,
    Escrow,
    EscrowStatus,
    Funding,
    InvalidTransitionError,
    Lot,
    LotStatus,
    LotTerms,
    Movement,
    Refund,
    Release,
    Transition,
)
from shared.money import Money

ESCROW_TRANSITIONS: Mapping[EscrowStatus, Mapping[Action, EscrowStatus]] = {
    EscrowStatus.CREATED: {
        Action.FUND: EscrowStatus.FUNDED,
        Action.CANCEL: EscrowStatus.CANCELLED,
        Action.EXPIRE: EscrowStatus.EXPIRED,
    },
    EscrowStatus.FUNDED: {Action.CANCEL: EscrowStatus.CANCELLED},
}
"""Escrow-level actions by status (before time guards)."""

LOT_TRANSITIONS: Mapping[LotStatus, Mapping[Action, LotStatus]] = {
    LotStatus.PENDING: {
        Action.SHIP: LotStatus.SHIPPED,
        Action.REFUND_UNDELIVERED: LotStatus.REFUNDED,
    },
    LotStatus.SHIPPED: {
        Action.DELIVER: LotStatus.DELIVERED,
        Action.DISPUTE: LotStatus.DISPUTED,
        Action.REFUND_UNDELIVERED: LotStatus.REFUNDED,
    },
    LotStatus.DELIVERED: {
        Action.ACCEPT: LotStatus.ACCEPTED,  # or PARTIALLY_ACCEPTED, by amount
        Action.REJECT: LotStatus.REJECTED,
        Action.DISPUTE: LotStatus.DISPUTED,
        Action.AUTO_RELEASE: LotStatus.AUTO_RELEASED,
    },
    LotStatus.REJECTED: {
        Action.RETURN_RECEIVED: LotStatus.RETURNED,
        Action.DISPUTE: LotStatus.DISPUTED,
    },
    LotStatus.DISPUTED: {Action.RESOLVE: LotStatus.RESOLVED},
}
"""Lot-level actions by lot status (before time guards); final statuses allow none."""

_LOTS_OPEN = frozenset({EscrowStatus.FUNDED, EscrowStatus.IN_PROGRESS, EscrowStatus.DISPUTED})


def require_utc(now: datetime) -> datetime:
    """Return ``now`` if it is tz-aware UTC; naive or other-offset datetimes are refused."""
    if now.tzinfo is None or now.utcoffset() != timedelta(0):
        raise ValueError(f"expected a tz-aware UTC datetime, got {now!r}")
    return now


def open_escrow(
    *,
    escrow_id: str,
    buyer_id: str,
    seller_id: str,
    lots: Sequence[LotTerms],
    fee_schedule: FeeSchedule,
    inspection_period: timedelta,
    funding_deadline: datetime,
    now: datetime,
) -> Escrow:
    """A new, unfunded escrow of one or more lots in one currency."""
    require_utc(now)
    require_utc(funding_deadline)
    if not lots:
        raise AmountError("an escrow needs at least one lot")
    currency = lots[0].amount.currency
    if len({t.lot_id for t in lots}) != len(lots):
        raise AmountError("lot ids must be unique within an escrow")
    for terms in lots:
        if terms.amount.currency != currency or terms.amount.minor <= 0:
            raise AmountError(f"lot {terms.lot_id!r}: amounts must be positive and all in {currency}")
        require_utc(terms.delivery_deadline)
    if inspection_period <= timedelta(0):
        raise ValueError("the inspection period must be positive")
    if funding_deadline <= now:
        raise ValueError("the funding deadline must be in the future")
    zero = Money.zero(currency)
    return Escrow(
        escrow_id=escrow_id,
        buyer_id=buyer_id,
        seller_id=seller_id,
        currency=currency,
        lots=tuple(Lot(t.lot_id, t.amount, t.delivery_deadline, LotStatus.PENDING, zero, zero) for t in lots),
        fee_schedule=fee_schedule,
        inspection_period=inspection_period,
        funding_deadline=funding_deadline,
        created_at=now,
        updated_at=now,
        status=EscrowStatus.CREATED,
        funded=zero,
    )


# --- what is allowed ------------------------------------------------------------------------


def allowed_actions(*, escrow: Escrow, now: datetime, lot_id: str | None = None) -> tuple[Action, ...]:
    """Actions allowed at ``now`` on the escrow (``lot_id`` None) or on one of its lots.

    A ``now`` behind the escrow's last change (clock skew between replicas) is taken as the
    time of that change, as the transitions take it (``_check``).
    """
    now = max(require_utc(now), escrow.updated_at)
    if lot_id is None:
        by_status = ESCROW_TRANSITIONS.get(escrow.status, {})
        return tuple(a for a in sorted(by_status) if _escrow_guard(escrow, a, now))
    lot = escrow.lot(lot_id)
    if escrow.status not in _LOTS_OPEN:
        return ()
    by_lot_status = LOT_TRANSITIONS.get(lot.status, {})
    return tuple(a for a in sorted(by_lot_status) if _lot_guard(escrow, lot, a, now))


def _escrow_guard(escrow: Escrow, action: Action, now: datetime) -> bool:
    if action is Action.EXPIRE:
        return now >= escrow.funding_deadline
    return True


def _lot_guard(escrow: Escrow, lot: Lot, action: Action, now: datetime) -> bool:
    if action is Action.REFUND_UNDELIVERED:
        return now >= lot.delivery_deadline
    ends = escrow.inspection_ends_at(lot)
    if ends is None:
        return True
    if action in (Action.REJECT, Action.DISPUTE) and lot.status is LotStatus.DELIVERED:
        return now < ends
    if action is Action.AUTO_RELEASE:
        return now >= ends
    return True


def _check(escrow: Escrow, action: Action, now: datetime, lot_id: str | None = None) -> datetime:
    """The effective ``now`` if ``action`` is allowed, else ``InvalidTransitionError``.

    A ``now`` behind the escrow's last change (clock skew between replicas) is taken as the
    time of that change, so the times recorded on an escrow never run backwards.
    """
    now = max(require_utc(now), escrow.updated_at)
    allowed = allowed_actions(escrow=escrow, now=now, lot_id=lot_id)
    if action not in allowed:
        if lot_id is None:
            raise InvalidTransitionError(escrow.status.value, action, allowed)
        state = escrow.lot(lot_id).status.value
        if escrow.status not in _LOTS_OPEN:
            state = f"{state} (escrow {escrow.status.value})"
        raise InvalidTransitionError(state, action, allowed, subject=f"lot {lot_id!r}")
    return now


def derive_status(*, lots: Sequence[Lot]) -> EscrowStatus:
    """The status of a funded escrow, from its lots."""
    if any(lot.status is LotStatus.DISPUTED for lot in lots):
        return EscrowStatus.DISPUTED
    if all(lot.is_final for lot in lots):
        released = any(lot.released.minor > 0 for lot in lots)
        return EscrowStatus.COMPLETED if released else EscrowStatus.REFUNDED
    if all(lot.status is LotStatus.PENDING for lot in lots):
        return EscrowStatus.FUNDED
    return EscrowStatus.IN_PROGRESS


def _with_lot(escrow: Escrow, lot: Lot, now: datetime) -> Escrow:
    lots = tuple(lot if old.lot_id == lot.lot_id else old for old in escrow.lots)
    status = derive_status(lots=lots)
    closed = now if status in (EscrowStatus.COMPLETED, EscrowStatus.REFUNDED) else None
    return replace(escrow, lots=lots, status=status, updated_at=now, closed_at=closed)


def _transition(
    escrow: Escrow, lot: Lot, action: Action, now: datetime, movements: tuple[Movement, ...]
) -> Transition:
    return Transition(_with_lot(escrow, lot, now), action, lot.lot_id, movements)


def _release(lot: Lot, gross: Money, schedule: FeeSchedule) -> Release:
    split = split_fee(gross=gross, schedule=schedule)
    return Release(lot.lot_id, split.gross, split.fee, split.net)


# --- escrow-level transitions ---------------------------------------------------------------


def fund_escrow(*, escrow: Escrow, amount: Money, now: datetime) -> Transition:
    """Record the buyer's payment; it must be exactly the escrow total."""
    now = _check(escrow, Action.FUND, now)
    if amount != escrow.total:
        raise AmountError(
            f"funding must be exactly {escrow.total.minor} {escrow.currency}, "
            f"got {amount.minor} {amount.currency}"
        )
    funded = replace(escrow, status=EscrowStatus.FUNDED, funded=amount, funded_at=now, updated_at=now)
    return Transition(funded, Action.FUND, None, (Funding(amount),))


def cancel_escrow(*, escrow: Escrow, now: datetime) -> Transition:
    """Cancel before any lot has shipped; a funded escrow is refunded in full."""
    now = _check(escrow, Action.CANCEL, now)
    refund = escrow.is_funded
    lots = tuple(
        replace(
            lot,
            status=LotStatus.CANCELLED,
            closed_at=now,
            refunded=lot.amount if refund else lot.refunded,
        )
        for lot in escrow.lots
    )
    cancelled = replace(escrow, lots=lots, status=EscrowStatus.CANCELLED, updated_at=now, closed_at=now)
    movements: tuple[Movement, ...] = (Refund(None, escrow.funded),) if refund else ()
    return Transition(cancelled, Action.CANCEL, None, movements)


def expire_escrow(*, escrow: Escrow, now: datetime) -> Transition:
    """Expire an escrow still unfunded at its funding deadline."""
    now = _check(escrow, Action.EXPIRE, now)
    lots = tuple(replace(lot, status=LotStatus.CANCELLED, closed_at=now) for lot in escrow.lots)
    expired = replace(escrow, lots=lots, status=EscrowStatus.EXPIRED, updated_at=now, closed_at=now)
    return Transition(expired, Action.EXPIRE, None, ())


# --- lot-level transitions ------------------------------------------------------------------


def ship_lot(*, escrow: Escrow, lot_id: str, carrier: str, tracking: str, now: datetime) -> Transition:
    """The seller shipped a lot, with the carrier and tracking reference."""
    now = _check(escrow, Action.SHIP, now, lot_id)
    lot = replace(
        escrow.lot(lot_id),
        status=LotStatus.SHIPPED,
        carrier=carrier,
        tracking=tracking,
        shipped_at=now,
    )
    return _transition(escrow, lot, Action.SHIP, now, ())


def deliver_lot(*, escrow: Escrow, lot_id: str, now: datetime) -> Transition:
    """A shipped lot was delivered; the inspection period starts at ``now``."""
    now = _check(escrow, Action.DELIVER, now, lot_id)
    lot = replace(escrow.lot(lot_id), status=LotStatus.DELIVERED, delivered_at=now)
    return _transition(escrow, lot, Action.DELIVER, now, ())


def accept_lot(*, escrow: Escrow, lot_id: str, now: datetime, amount_minor: int | None = None) -> Transition:
    """The buyer accepts a delivered lot, fully or (``amount_minor``) partly; rest refunded."""
    now = _check(escrow, Action.ACCEPT, now, lot_id)
    lot = escrow.lot(lot_id)
    accepted = lot.amount.minor if amount_minor is None else amount_minor
    if not 0 < accepted <= lot.amount.minor:
        raise AmountError(f"accepted amount must be within 1..{lot.amount.minor}, got {accepted}")
    ends = escrow.inspection_ends_at(lot)
    if accepted < lot.amount.minor and ends is not None and now >= ends:
        raise AmountError(
            f"partial acceptance is only possible until the inspection ended at {ends.isoformat()}"
        )
    return _settle(escrow, lot, Action.ACCEPT, now, accepted, LotStatus.ACCEPTED)


def reject_lot(*, escrow: Escrow, lot_id: str, now: datetime, reason: str = "") -> Transition:
    """The buyer rejects a delivered lot during inspection; its return is awaited."""
    now = _check(escrow, Action.REJECT, now, lot_id)
    lot = replace(escrow.lot(lot_id), status=LotStatus.REJECTED, rejection_reason=reason)
    return _transition(escrow, lot, Action.REJECT, now, ())


def receive_return(*, escrow: Escrow, lot_id: str, now: datetime) -> Transition:
    """The seller received a rejected lot back; the buyer is refunded the lot in full."""
    now = _check(escrow, Action.RETURN_RECEIVED, now, lot_id)
    lot = escrow.lot(lot_id)
    return _settle(escrow, lot, Action.RETURN_RECEIVED, now, 0, LotStatus.RETURNED)


def dispute_lot(*, escrow: Escrow, lot_id: str, reason: str, now: datetime) -> Transition:
    """Open a dispute on a lot; it stays frozen until an arbiter resolves it."""
    now = _check(escrow, Action.DISPUTE, now, lot_id)
    lot = replace(escrow.lot(lot_id), status=LotStatus.DISPUTED, dispute_reason=reason)
    return _transition(escrow, lot, Action.DISPUTE, now, ())


def resolve_dispute(*, escrow: Escrow, lot_id: str, seller_minor: int, now: datetime) -> Transition:
    """An arbiter splits a disputed lot: ``seller_minor`` released (less fee), the rest refunded."""
    now = _check(escrow, Action.RESOLVE, now, lot_id)
    lot = escrow.lot(lot_id)
    if not 0 <= seller_minor <= lot.amount.minor:
        raise AmountError(f"seller's share must be within 0..{lot.amount.minor}, got {seller_minor}")
    return _settle(escrow, lot, Action.RESOLVE, now, seller_minor, LotStatus.RESOLVED)


def auto_release_lot(*, escrow: Escrow, lot_id: str, now: datetime) -> Transition:
    """Release a delivered, undisputed lot in full once its inspection period is over."""
    now = _check(escrow, Action.AUTO_RELEASE, now, lot_id)
    lot = escrow.lot(lot_id)
    return _settle(escrow, lot, Action.AUTO_RELEASE, now, lot.amount.minor, LotStatus.AUTO_RELEASED)


def refund_undelivered_lot(*, escrow: Escrow, lot_id: str, now: datetime) -> Transition:
    """At the buyer's request, refund a lot not delivered by its delivery deadline."""
    now = _check(escrow, Action.REFUND_UNDELIVERED, now, lot_id)
    lot = escrow.lot(lot_id)
    return _settle(escrow, lot, Action.REFUND_UNDELIVERED, now, 0, LotStatus.REFUNDED)


def _settle(
    escrow: Escrow, lot: Lot, action: Action, now: datetime, seller_minor: int, status: LotStatus
) -> Transition:
    """Close ``lot``: ``seller_minor`` released (fee applies), the rest refunded to the buyer."""
    gross = Money(seller_minor, lot.amount.currency)
    back = lot.amount - gross
    movements: list[Movement] = []
    if gross.minor > 0:
        movements.append(_release(lot, gross, escrow.fee_schedule))
    if back.minor > 0:
        movements.append(Refund(lot.lot_id, back))
    if status is LotStatus.ACCEPTED and back.minor > 0:
        status = LotStatus.PARTIALLY_ACCEPTED
    closed = replace(lot, status=status, released=gross, refunded=back, closed_at=now)
    return _transition(escrow, closed, action, now, tuple(movements))

"""Rows to the pure domain's ``Escrow`` and back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.escrow.domain.fees import FeeSchedule
from services.escrow.domain.model import Escrow, EscrowStatus, Lot, LotStatus
from services.escrow.models import EscrowRow, LotRow
from shared.clock import as_utc
from shared.money import Money


def _opt(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def to_domain(row: EscrowRow, lots: Sequence[LotRow]) -> Escrow:
    """The domain escrow stored in ``row`` and its ``lots``."""
    currency = row.currency
    return Escrow(
        escrow_id=row.id,
        buyer_id=row.buyer_id,
        seller_id=row.seller_id,
        currency=currency,
        lots=tuple(
            Lot(
                lot_id=lot.lot_ref,
                amount=Money(lot.amount_minor, currency),
                delivery_deadline=as_utc(lot.delivery_deadline),
                status=LotStatus(lot.status),
                released=Money(lot.released_minor, currency),
                refunded=Money(lot.refunded_minor, currency),
                carrier=lot.carrier,
                tracking=lot.tracking,
                shipped_at=_opt(lot.shipped_at),
                delivered_at=_opt(lot.delivered_at),
                closed_at=_opt(lot.closed_at),
                rejection_reason=lot.rejection_reason,
                dispute_reason=lot.dispute_reason,
            )
            for lot in lots
        ),
        fee_schedule=FeeSchedule(bps=row.fee_bps, min_minor=row.fee_min_minor),
        inspection_period=timedelta(seconds=row.inspection_seconds),
        funding_deadline=as_utc(row.funding_deadline),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        status=EscrowStatus(row.status),
        funded=Money(row.funded_minor, currency),
        funded_at=_opt(row.funded_at),
        closed_at=_opt(row.closed_at),
    )


def _set(row: object, name: str, value: object) -> None:
    """Assign only a changed value: SQLite hands back naive UTC times, equal to the aware ones
    the domain returns, and an assignment the ORM cannot tell is equal is an UPDATE."""
    current = getattr(row, name)
    if isinstance(current, datetime) and isinstance(value, datetime):
        if as_utc(current) == as_utc(value):
            return
    elif current == value:
        return
    setattr(row, name, value)


def write_back(row: EscrowRow, lots: Sequence[LotRow], escrow: Escrow) -> None:
    """Copy the state of ``escrow`` onto its rows (the session flushes what changed)."""
    _set(row, "status", escrow.status.value)
    _set(row, "funded_minor", escrow.funded.minor)
    _set(row, "funded_at", escrow.funded_at)
    _set(row, "updated_at", escrow.updated_at)
    _set(row, "closed_at", escrow.closed_at)
    by_ref = {lot.lot_id: lot for lot in escrow.lots}
    for lot_row in lots:
        lot = by_ref[lot_row.lot_ref]
        if lot_row.status == lot.status.value:
            continue  # every lot transition changes the lot's status; this lot was not touched
        _set(lot_row, "status", lot.status.value)
        _set(lot_row, "released_minor", lot.released.minor)
        _set(lot_row, "refunded_minor", lot.refunded.minor)
        _set(lot_row, "carrier", lot.carrier)
        _set(lot_row, "tracking", lot.tracking)
        _set(lot_row, "shipped_at", lot.shipped_at)
        _set(lot_row, "delivered_at", lot.delivered_at)
        _set(lot_row, "inspection_ends_at", escrow.inspection_ends_at(lot))
        _set(lot_row, "closed_at", lot.closed_at)
        _set(lot_row, "rejection_reason", lot.rejection_reason)
        _set(lot_row, "dispute_reason", lot.dispute_reason)

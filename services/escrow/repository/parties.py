"""SQL of a party's trade summary: one aggregate query over its escrows as seller.

The query reads the escrows of one seller created within ``[start, end)`` through the index
``ix_escrows_seller_id_created_at``, joins their lots, and aggregates in two steps: per escrow
(lot sums, whether any lot was disputed, the platform fees its releases paid, read from the
ledger) and then per currency. It is one statement, one round trip.

The statement is built once, at import, with bound parameters for the seller and the window
(``TRADE_SUMMARY``), so a request neither rebuilds it nor regenerates its cache key (memoized on
the statement) to find the compiled form; it runs on the session's connection (Core: no ORM
compile state or result processing), inside the caller's unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from services.escrow.domain.ledger import AccountKind, EntryKind
from services.escrow.domain.model import EscrowStatus, LotStatus
from services.escrow.models import AccountRow, EntryRow, EscrowRow, LotRow, PostingRow

ACCEPTED_LOT_STATUSES = (LotStatus.ACCEPTED, LotStatus.PARTIALLY_ACCEPTED, LotStatus.AUTO_RELEASED)
"""A lot the buyer accepted, in full, in part, or by letting the inspection period pass."""

REJECTED_LOT_STATUSES = (LotStatus.REJECTED, LotStatus.RETURNED)
"""A lot the buyer rejected (and that was not disputed afterwards)."""


@dataclass(frozen=True, slots=True)
class CurrencyAggregate:
    """One currency's figures of a seller's escrows in the window."""

    currency: str
    escrows: int
    completed_escrows: int
    disputed_escrows: int
    gross_minor: int
    fees_minor: int
    refunds: int
    refunded_minor: int
    lots_delivered: int
    lots_delivered_on_time: int
    lots_with_verdict: int
    lots_accepted: int


def _constant(value: str | int) -> ColumnElement[Any]:
    """``value`` written into the SQL text: a constant of the statement, where a literal
    would be a parameter bound (and an ``IN`` list expanded) anew on every execution."""
    if isinstance(value, int):
        return literal_column(str(int(value)), Integer)
    if not value.replace("_", "").isalnum():
        raise ValueError(f"not a plain code: {value!r}")
    return literal_column(f"'{value}'", String)


def _one_of(
    column: ColumnElement[str] | InstrumentedAttribute[str], codes: tuple[str, ...]
) -> ColumnElement[bool]:
    """``column IN ('a', 'b', ...)`` with the codes as constants."""
    return column.in_([_constant(code) for code in codes])


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 where ``condition`` holds, else 0 (a conditional aggregate's term)."""
    return case((condition, _constant(1)), else_=_constant(0))


def _trade_summary_statement() -> Select[tuple[Any, ...]]:
    """The summary's statement: funded escrows of ``:seller_id`` created in ``[:start, :end)``."""
    fees = (
        select(func.coalesce(func.sum(PostingRow.amount_minor), _constant(0)))
        .select_from(EntryRow)
        .join(PostingRow, PostingRow.entry_id == EntryRow.id)
        .join(AccountRow, AccountRow.id == PostingRow.account_id)
        .where(
            EntryRow.escrow_id == EscrowRow.id,
            EntryRow.kind == _constant(EntryKind.RELEASE.value),
            AccountRow.kind == _constant(AccountKind.PLATFORM_FEE_REVENUE.value),
            PostingRow.side == _constant("credit"),
        )
        .correlate(EscrowRow)
        .scalar_subquery()
    )
    delivered = LotRow.delivered_at.is_not(None)
    accepted = _one_of(LotRow.status, tuple(s.value for s in ACCEPTED_LOT_STATUSES))
    # A verdict: accepted, rejected, or disputed after delivery (a resolution is the verdict then).
    verdict = (
        accepted
        | _one_of(LotRow.status, tuple(s.value for s in REJECTED_LOT_STATUSES))
        | and_(delivered, LotRow.dispute_reason.is_not(None))
    )
    per_escrow = (
        select(
            EscrowRow.id.label("escrow_id"),
            EscrowRow.currency.label("currency"),
            EscrowRow.status.label("status"),
            fees.label("fees_minor"),
            func.sum(LotRow.released_minor).label("gross_minor"),
            func.sum(LotRow.refunded_minor).label("refunded_minor"),
            func.sum(_flag(LotRow.refunded_minor > _constant(0))).label("refunds"),
            func.max(_flag(LotRow.dispute_reason.is_not(None))).label("disputed"),
            func.sum(_flag(delivered)).label("delivered"),
            func.sum(_flag(and_(delivered, LotRow.delivered_at < LotRow.delivery_deadline))).label("on_time"),
            func.sum(_flag(verdict)).label("verdicts"),
            func.sum(_flag(accepted)).label("accepted"),
        )
        .select_from(EscrowRow)
        .join(LotRow, LotRow.escrow_id == EscrowRow.id)
        .where(
            EscrowRow.seller_id == bindparam("seller_id"),
            EscrowRow.created_at >= bindparam("start"),
            EscrowRow.created_at < bindparam("end"),
            EscrowRow.funded_at.is_not(None),
        )
        .group_by(EscrowRow.id, EscrowRow.currency, EscrowRow.status)
        .cte("per_escrow")
    )
    c = per_escrow.c
    return (
        select(
            c.currency,
            func.count().label("escrows"),
            func.sum(_flag(c.status == _constant(EscrowStatus.COMPLETED.value))).label("completed_escrows"),
            func.sum(c.disputed).label("disputed_escrows"),
            func.sum(c.gross_minor).label("gross_minor"),
            func.sum(c.fees_minor).label("fees_minor"),
            func.sum(c.refunds).label("refunds"),
            func.sum(c.refunded_minor).label("refunded_minor"),
            func.sum(c.delivered).label("lots_delivered"),
            func.sum(c.on_time).label("lots_delivered_on_time"),
            func.sum(c.verdicts).label("lots_with_verdict"),
            func.sum(c.accepted).label("lots_accepted"),
        )
        .group_by(c.currency)
        .order_by(c.currency)
    )


TRADE_SUMMARY = _trade_summary_statement()
"""The summary's statement, built once; execute it with ``seller_id``, ``start`` and ``end``
(the bound parameters take the columns' types, so the window converts as a literal would)."""


def trade_summary_query(seller_id: str, *, start: datetime, end: datetime) -> Select[tuple[Any, ...]]:
    """``TRADE_SUMMARY`` with its parameters bound (to print it, or to explain its plan)."""
    return TRADE_SUMMARY.params(seller_id=seller_id, start=start, end=end)


def trade_summary(
    session: Session, seller_id: str, *, start: datetime, end: datetime
) -> list[CurrencyAggregate]:
    """Per currency (in code order), the figures of the seller's funded escrows in the window."""
    rows = session.connection().execute(TRADE_SUMMARY, {"seller_id": seller_id, "start": start, "end": end})
    # Columns in the statement's order; a sum over no rows is NULL, and PostgreSQL's sums are
    # numeric (Decimal), hence int(... or 0).
    return [
        CurrencyAggregate(
            currency=str(currency),
            escrows=int(escrows),
            completed_escrows=int(completed or 0),
            disputed_escrows=int(disputed or 0),
            gross_minor=int(gross or 0),
            fees_minor=int(fees or 0),
            refunds=int(refunds or 0),
            refunded_minor=int(refunded or 0),
            lots_delivered=int(delivered or 0),
            lots_delivered_on_time=int(on_time or 0),
            lots_with_verdict=int(verdicts or 0),
            lots_accepted=int(accepted or 0),
        )
        for (
            currency,
            escrows,
            completed,
            disputed,
            gross,
            fees,
            refunds,
            refunded,
            delivered,
            on_time,
            verdicts,
            accepted,
        ) in rows
    ]

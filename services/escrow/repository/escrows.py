"""SQL of escrows, their lots and timelines (lock order: see ``repository.ledger``).

An escrow is locked with its lots in one statement (``lock_escrow``, ``lock_escrow_of_payment``;
on SQLite an action's lock also reads the escrow's history: ``history.lock_escrow_with_history``)
and what was locked is remembered for the rest of the transaction (``_held``): rows this
transaction holds cannot change under it, so a second use case in the same transaction (the
sandbox's confirmation route, then the provider callback it delivers) reads none of them again.
Escrow takes these locks outside any SAVEPOINT (a rolled-back savepoint would release them).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVarTuple, cast

from sqlalchemy import Select, Table, bindparam, exists, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from services.escrow.models import Base, EscrowRow, LotRow, PaymentRow, TimelineRow
from shared.crypto import canonical_json
from shared.db import bound_rows, insert_if_absent

ESCROWS = cast(Table, EscrowRow.__table__)
LOTS = cast(Table, LotRow.__table__)
TIMELINE = cast(Table, TimelineRow.__table__)


class DuplicateOrderRef(Exception):
    """An escrow for this marketplace and order reference exists already."""


def _values(row: Base, table: Table) -> dict[str, Any]:
    values = {column.key: getattr(row, column.key) for column in table.columns}
    if values.get("id") is None:
        values.pop("id", None)  # assigned by the database
    return values


_ADD_LOTS = insert(LOTS)
"""Built once, per dialect; their columns come from each execution's parameters."""
_LOT_COLUMNS = [c for c in LOTS.columns if c.key != "id"]
_ITEM_COLUMNS = [c for c in TIMELINE.columns if c.key != "id"]


@functools.cache
def _add_escrow_with_lots(lots: int) -> Select[tuple[str]]:
    """PostgreSQL's one statement for a new escrow of ``lots`` lots and its first timeline item,
    built once per lot count: the escrow's ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` a
    CTE, the lots' and the item's inserts CTEs that insert only if it did.

    Parameters: the escrow's columns as ``e_<column>``, each lot's as ``l<i>_<column>``, the
    item's as ``t_<column>``."""
    new_escrow = (
        postgresql.insert(ESCROWS)
        .values({c.key: bindparam(f"e_{c.key}", type_=c.type) for c in ESCROWS.columns})
        .on_conflict_do_nothing(index_elements=["owner", "order_ref"])
        .returning(ESCROWS.c.id)
        .cte("new_escrow")
    )
    inserted = exists(select(new_escrow.c.id))
    lot_columns = {c.key: c.type for c in _LOT_COLUMNS}
    rows = bound_rows("new_lot_rows", lot_columns, lots, lambda i, key: f"l{i}_{key}")
    new_lots = insert(LOTS).from_select(
        [c.key for c in _LOT_COLUMNS], select(*(rows.c[c.key] for c in _LOT_COLUMNS)).where(inserted)
    )
    new_item = insert(TIMELINE).from_select(
        [c.key for c in _ITEM_COLUMNS],
        select(*(bindparam(f"t_{c.key}", type_=c.type) for c in _ITEM_COLUMNS)).where(inserted),
    )
    return select(new_escrow.c.id).add_cte(new_lots.cte("new_lots"), new_item.cte("new_item"))


def add_escrow(
    session: Session,
    escrow: EscrowRow,
    lots: list[LotRow],
    *,
    event: str,
    actor: str,
    data: dict[str, Any],
) -> TimelineEntry:
    """Insert an escrow, its lots and its first timeline item (at its ``created_at``); return the
    item. ``DuplicateOrderRef`` when the order has an escrow already.

    One ``INSERT ... ON CONFLICT (owner, order_ref) DO NOTHING RETURNING id``: a concurrent
    request creating the same order waits for the first and then inserts nothing. PostgreSQL:
    the lots and the item in the same statement (``_add_escrow_with_lots``); SQLite: after it."""
    connection = session.connection()
    now = escrow.created_at
    if connection.dialect.name == "postgresql":
        stored = canonical_json(data)
        item = {"escrow_id": escrow.id, "lot_ref": None, "event": event, "actor": actor}
        params = {f"e_{key}": value for key, value in _values(escrow, ESCROWS).items()}
        params |= {f"t_{key}": value for key, value in item.items()}
        params |= {"t_data": stored, "t_created_at": now}
        for i, lot in enumerate(lots):
            params |= {f"l{i}_{key}": value for key, value in _values(lot, LOTS).items()}
        if connection.execute(_add_escrow_with_lots(len(lots)), params).first() is None:
            raise DuplicateOrderRef(escrow.order_ref)
        return TimelineEntry(now, event, None, actor, json.loads(stored))
    add = insert_if_absent(ESCROWS, connection.dialect.name, ("owner", "order_ref"), ("id",))
    inserted = connection.execute(add, _values(escrow, ESCROWS)).first()
    if inserted is None:
        raise DuplicateOrderRef(escrow.order_ref)
    connection.execute(_ADD_LOTS, [_values(lot, LOTS) for lot in lots])
    return add_timeline(session, escrow_id=escrow.id, event=event, actor=actor, now=now, data=data)


@dataclass(slots=True)
class LockedEscrow:
    """An escrow row and its lots (and payments read with them), locked by this transaction."""

    row: EscrowRow
    lots: list[LotRow]
    payments: list[PaymentRow] = field(default_factory=list)


_LOCKED = "agrifin.escrow.locked"
_Ts = TypeVarTuple("_Ts")


def _held(session: Session) -> dict[str, LockedEscrow]:
    """The escrows this transaction has locked: their rows cannot change under it, so none is read twice."""
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED] = (transaction, {})
    escrows: dict[str, LockedEscrow] = held[1]
    return escrows


def locking(query: Select[*_Ts]) -> Select[*_Ts]:
    """``query`` as a locking read that refreshes rows the session holds already."""
    return query.with_for_update().execution_options(populate_existing=True)


# The locking reads, built once (a request neither rebuilds them nor regenerates their cache keys).
_LOCK_ESCROW = locking(
    select(EscrowRow, LotRow)
    .join(LotRow, LotRow.escrow_id == EscrowRow.id)
    .where(EscrowRow.id == bindparam("escrow_id"))
    .order_by(LotRow.position)
)
_PAYMENT_WITH_ESCROW = (
    select(EscrowRow, LotRow, PaymentRow)
    .join(LotRow, LotRow.escrow_id == EscrowRow.id)
    .join(PaymentRow, PaymentRow.escrow_id == EscrowRow.id)
    .order_by(LotRow.position)
)
_LOCK_PAYMENT_BY_ID = locking(_PAYMENT_WITH_ESCROW.where(PaymentRow.id == bindparam("payment_id")))
_LOCK_PAYMENT_BY_REF = locking(
    _PAYMENT_WITH_ESCROW.where(
        PaymentRow.provider == bindparam("provider"), PaymentRow.provider_ref == bindparam("provider_ref")
    )
)


def _lock(
    session: Session,
    query: Select[EscrowRow, LotRow] | Select[EscrowRow, LotRow, PaymentRow],
    params: dict[str, Any],
) -> LockedEscrow | None:
    """Run a locking read of one escrow joined with its lots (and maybe a payment); remember it."""
    rows = session.execute(query, params).all()
    if not rows:
        return None
    locked = hold(session, rows[0][0], [r[1] for r in rows])
    payments = {p.id: p for p in locked.payments}
    payments.update({r[2].id: r[2] for r in rows if len(r) > 2})
    locked.payments = list(payments.values())
    return locked


def hold(session: Session, row: EscrowRow, lots: list[LotRow]) -> LockedEscrow:
    """Remember an escrow and its lots as locked by this transaction (read with its lock)."""
    held = _held(session)
    locked = held.get(row.id)
    if locked is None:
        locked = held[row.id] = LockedEscrow(row, lots)
    return locked


def held_escrow(session: Session, escrow_id: str) -> LockedEscrow | None:
    """The escrow if this transaction has locked it already."""
    return _held(session).get(escrow_id)


def lock_escrow(session: Session, escrow_id: str) -> LockedEscrow | None:
    """The escrow row with its lots in order, locked for this transaction (``SELECT ... FOR UPDATE``).

    One statement locks the escrow row and its lots' rows (in that order, the escrow's rows
    first: see ``repository.ledger``), so that a transaction that waited for the lock reads
    the lots as the one before it left them. Lots are written only with their escrow."""
    held = _held(session).get(escrow_id)
    if held is not None:
        return held
    return _lock(session, _LOCK_ESCROW, {"escrow_id": escrow_id})


def lock_escrow_of_payment(
    session: Session,
    *,
    payment_id: str | None = None,
    provider: str | None = None,
    provider_ref: str | None = None,
) -> tuple[LockedEscrow, PaymentRow] | None:
    """A payment (by id, or by the provider's reference) locked with its escrow and lots, in one statement."""

    def wanted(payment: PaymentRow) -> bool:
        if payment_id is not None:
            return payment.id == payment_id
        return (payment.provider, payment.provider_ref) == (provider, provider_ref)

    for held in _held(session).values():
        for payment in held.payments:
            if wanted(payment):
                return held, payment
    if payment_id is not None:
        locked = _lock(session, _LOCK_PAYMENT_BY_ID, {"payment_id": payment_id})
    else:
        locked = _lock(session, _LOCK_PAYMENT_BY_REF, {"provider": provider, "provider_ref": provider_ref})
    if locked is None:
        return None
    return locked, next(p for p in locked.payments if wanted(p))


def get_escrow(session: Session, escrow_id: str) -> EscrowRow | None:
    """The escrow row, unlocked."""
    return session.get(EscrowRow, escrow_id)


def lots_of(session: Session, escrow_id: str) -> list[LotRow]:
    """The escrow's lots in their order (guarded by the escrow row's lock)."""
    return list(
        session.execute(
            select(LotRow).where(LotRow.escrow_id == escrow_id).order_by(LotRow.position)
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class EscrowFilter:
    """What a listing of escrows keeps (``owner`` None: every marketplace's)."""

    owner: str | None = None
    order_ref: str | None = None
    status: str | None = None
    seller_id: str | None = None
    created_from: datetime | None = None
    """Inclusive."""
    created_to: datetime | None = None
    """Exclusive."""


def escrow_listing(where: EscrowFilter, *, limit: int, offset: int = 0) -> Select[EscrowRow]:
    """The listing's query: newest first, one index scan (owner, created_at, id) or (created_at, id)."""
    query = (
        select(EscrowRow)
        .order_by(EscrowRow.created_at.desc(), EscrowRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if where.owner is not None:
        query = query.where(EscrowRow.owner == where.owner)
    if where.order_ref is not None:
        query = query.where(EscrowRow.order_ref == where.order_ref)
    if where.status is not None:
        query = query.where(EscrowRow.status == where.status)
    if where.seller_id is not None:
        query = query.where(EscrowRow.seller_id == where.seller_id)
    if where.created_from is not None:
        query = query.where(EscrowRow.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(EscrowRow.created_at < where.created_to)
    return query


def list_escrows(session: Session, *, where: EscrowFilter, limit: int, offset: int = 0) -> list[EscrowRow]:
    """Escrows, newest first, filtered."""
    return list(session.execute(escrow_listing(where, limit=limit, offset=offset)).scalars())


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One item of an escrow's timeline, its data decoded."""

    created_at: datetime
    event: str
    lot_ref: str | None
    actor: str
    data: dict[str, Any]


_ADD_TIMELINE = insert(TIMELINE)
"""Built once; its columns come from each execution's parameters."""


def add_timeline(
    session: Session,
    *,
    escrow_id: str,
    event: str,
    actor: str,
    now: datetime,
    lot_ref: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append one item to an escrow's timeline; return it as a read of the timeline would."""
    stored = canonical_json(data or {})
    session.connection().execute(
        _ADD_TIMELINE,
        {
            "escrow_id": escrow_id,
            "lot_ref": lot_ref,
            "event": event,
            "actor": actor,
            "data": stored,
            "created_at": now,
        },
    )
    return TimelineEntry(now, event, lot_ref, actor, json.loads(stored))


def claim_expirable(session: Session, *, now: datetime) -> str | None:
    """One unfunded escrow past its funding deadline, locked; rows others hold are skipped."""
    return session.execute(
        select(EscrowRow.id)
        .where(EscrowRow.status == "created", EscrowRow.funding_deadline <= now)
        .order_by(EscrowRow.funding_deadline)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()


def claim_inspection_over(session: Session, *, now: datetime) -> str | None:
    """One escrow with a delivered lot whose inspection is over, locked (skip locked)."""
    return session.execute(
        select(EscrowRow.id)
        .join(LotRow, LotRow.escrow_id == EscrowRow.id)
        .where(LotRow.status == "delivered", LotRow.inspection_ends_at <= now)
        .order_by(LotRow.inspection_ends_at)
        .limit(1)
        .with_for_update(of=EscrowRow, skip_locked=True)
    ).scalar_one_or_none()


def claim_escrow_with_payment(session: Session, *, provider: str, before: datetime) -> str | None:
    """One escrow with a payment pending at ``provider`` since ``before``, locked (skip locked)."""
    return session.execute(
        select(EscrowRow.id)
        .join(PaymentRow, PaymentRow.escrow_id == EscrowRow.id)
        .where(
            PaymentRow.status == "pending", PaymentRow.provider == provider, PaymentRow.created_at <= before
        )
        .order_by(PaymentRow.created_at)
        .limit(1)
        .with_for_update(of=EscrowRow, skip_locked=True)
    ).scalar_one_or_none()

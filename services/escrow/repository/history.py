"""An escrow's history — timeline, payments, ledger entries — read in one statement.

The full view of an escrow (``GET /v1/escrows/{id}`` and every action's answer) shows its
timeline, its payments and the money its ledger entries moved. They are three tables; one
``UNION ALL`` reads all three, each branch's values in a common set of typed columns (``_COLUMNS``),
ordered as each list is shown. A use case reads it once, after locking the escrow, and adds
what its own transaction writes (``EscrowHistory.add_*``) instead of reading it back.

With ``seller_id`` and ``currency`` it also says whether the seller has an active assignment
of proceeds: a release locks the seller's assignment rows only when there are some.

An action reads it without a statement of its own: on SQLite with the escrow's lock
(``lock_escrow_with_history``: writers are serialised by ``BEGIN IMMEDIATE``, so nothing can
change between the lock and the read), on PostgreSQL in the statement that appends the
action's timeline item (``add_timeline_and_load_history``), which runs after the lock. Not
with the lock there: under READ COMMITTED a ``SELECT ... FOR UPDATE`` that waited for another
writer returns that writer's changes only in the rows it locked, and the timeline, payments
and entries it added are other rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from services.escrow.domain.ledger import (
    Account,
    AccountKind,
    AccountRef,
    EntryKind,
    JournalEntry,
    Posting,
    Side,
)
from services.escrow.models import (
    AccountRow,
    AssignmentRow,
    EntryRow,
    EscrowRow,
    LotRow,
    PaymentRow,
    PostingRow,
    Stamp,
    TimelineRow,
)
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository.escrows import TimelineEntry, locking
from services.escrow.repository.ledger import StoredAccount
from shared.crypto import canonical_json
from shared.money import Money

_TIMELINE = cast(Table, TimelineRow.__table__)
_PAYMENTS = cast(Table, PaymentRow.__table__)
_ENTRIES = cast(Table, EntryRow.__table__)
_POSTINGS = cast(Table, PostingRow.__table__)
_ACCOUNTS = cast(Table, AccountRow.__table__)
_ASSIGNMENTS = cast(Table, AssignmentRow.__table__)

_COLUMNS: dict[str, Any] = {
    "n1": BigInteger(),
    "n2": BigInteger(),
    "n3": BigInteger(),
    "s1": String(),
    "s2": String(),
    "s3": String(),
    "s4": String(),
    "s5": String(),
    "s6": String(),
    "s7": String(),
    "d1": Stamp,
    "d2": Stamp,
    "o1": Stamp,
    "o2": String(),
    "o3": BigInteger(),
    "o4": BigInteger(),
}
"""The common columns: numbers, strings, times, then the sort keys (o1..o4) of each list."""


def _branch(source: str, values: dict[str, ColumnElement[Any]]) -> list[ColumnElement[Any]]:
    columns: list[ColumnElement[Any]] = [literal(source, String()).label("src")]
    for name, type_ in _COLUMNS.items():
        value = values.get(name)
        columns.append((null().cast(type_) if value is None else value).label(name))
    return columns


def _branches(*, assignments: bool, holding: bool) -> list[Select[Any]]:
    """The union's branches for ``:escrow_id`` (with ``assignments``: whether ``:seller_id`` has an
    active assignment in ``:currency``; with ``holding``: the escrow's holding account row)."""
    t, p, e, po, a = _TIMELINE.c, _PAYMENTS.c, _ENTRIES.c, _POSTINGS.c, _ACCOUNTS.c
    escrow_id = bindparam("escrow_id", type_=String())
    timeline = select(
        *_branch(
            "t",
            {"s1": t.event, "s2": t.lot_ref, "s3": t.actor, "s4": t.data, "d1": t.created_at, "o3": t.id},
        )
    ).where(t.escrow_id == escrow_id)
    payments = select(
        *_branch(
            "p",
            {
                "n2": p.amount_minor,
                "n3": p.received_minor,
                "s1": p.id,
                "s2": p.provider,
                "s3": p.provider_ref,
                "s4": p.currency,
                "s5": p.status,
                "s6": p.detail,
                "d1": p.created_at,
                "d2": p.updated_at,
                "o1": p.created_at,
                "o2": p.id,
            },
        )
    ).where(p.escrow_id == escrow_id)
    entries = (
        select(
            *_branch(
                "e",
                {
                    "n1": e.id,
                    "n2": po.amount_minor,
                    "s1": e.ref,
                    "s2": e.kind,
                    "s3": e.memo,
                    "s4": po.side,
                    "s5": a.kind,
                    "s6": a.owner,
                    "s7": a.currency,
                    "o3": e.id,
                    "o4": po.id,
                },
            )
        )
        .select_from(_ENTRIES)
        .join(_POSTINGS, po.entry_id == e.id)
        .join(_ACCOUNTS, a.id == po.account_id)
        .where(e.escrow_id == escrow_id)
    )
    branches = [timeline, payments, entries]
    if assignments:
        s = _ASSIGNMENTS.c
        branches.append(
            select(*_branch("s", {"s1": s.id})).where(
                s.seller_id == bindparam("seller_id"),
                s.currency == bindparam("currency"),
                s.status == "active",
            )
        )
    if holding:
        branches.append(
            select(
                *_branch(
                    "a",
                    {
                        "n1": a.id,
                        "n2": a.balance_minor,
                        "n3": case((a.may_go_negative, 1), else_=0),
                        "s1": a.normal_side,
                        "s5": a.kind,
                        "s6": a.owner,
                        "s7": a.currency,
                    },
                )
            ).where(a.kind == AccountKind.ESCROW_HOLDING.value, a.owner == escrow_id)
        )
    return branches


def _query(*, assignments: bool) -> Select[Any]:
    """The history's statement for ``:escrow_id`` (with ``assignments``: and whether ``:seller_id``
    has an active assignment in ``:currency``)."""
    united = union_all(*_branches(assignments=assignments, holding=False)).subquery()
    c = united.c
    return select(united).order_by(c.src, c.o1, c.o2, c.o3, c.o4)


def _with_new_item(query: Select[Any]) -> Select[Any]:
    """``query`` with the insert of one timeline item as a data-modifying CTE (PostgreSQL).

    Every part of one statement reads one snapshot, taken as it starts: the history read is
    the escrow's as it was before the item (added by the caller, as it adds what it writes)."""
    item = insert(_TIMELINE).values(
        {name: bindparam(f"item_{name}", type_=_TIMELINE.c[name].type) for name in _ITEM_COLUMNS}
    )
    return query.add_cte(item.cte("new_item"))


_ITEM_COLUMNS = ("escrow_id", "lot_ref", "event", "actor", "data", "created_at")
_HISTORY = _query(assignments=False)
_HISTORY_AND_ASSIGNMENTS = _query(assignments=True)
_NEW_ITEM_AND_HISTORY = _with_new_item(_HISTORY_AND_ASSIGNMENTS)
"""Built once (a request neither rebuilds them nor regenerates their cache keys), run with parameters."""


def _lock_with_history() -> Select[Any]:
    """SQLite's locking read of an escrow and its lots with its history, in one statement.

    The history rows ride on the escrow's first lot (one row per lot, plus one per history row
    beyond the first); whether the seller has an active assignment, and the escrow's holding
    account row, come with them. Only for SQLite, whose writers are serialised (``BEGIN
    IMMEDIATE``): what it reads with the lock is what a read after the lock would. PostgreSQL
    reads the history after the lock (``add_timeline_and_load_history``): a locking read that
    waited for another writer sees that writer's rows only in the rows it locks."""
    united = union_all(*_branches(assignments=False, holding=True)).subquery()
    s = _ASSIGNMENTS.c
    active = (
        exists()
        .where(s.seller_id == EscrowRow.seller_id, s.currency == EscrowRow.currency, s.status == "active")
        .label("seller_has_assignments")
    )
    first_lot = (
        select(func.min(LotRow.position)).where(LotRow.escrow_id == bindparam("escrow_id")).scalar_subquery()
    )
    c = united.c
    return locking(
        select(EscrowRow, LotRow, active, united)
        .join(LotRow, LotRow.escrow_id == EscrowRow.id)
        .outerjoin(united, LotRow.position == first_lot)
        .where(EscrowRow.id == bindparam("escrow_id"))
        .order_by(LotRow.position, c.src, c.o1, c.o2, c.o3, c.o4)
    )


_LOCK_WITH_HISTORY = _lock_with_history()


@dataclass
class EscrowHistory:
    """What an escrow's full view shows besides its row and lots."""

    timeline: list[TimelineEntry] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)
    entries: list[JournalEntry] = field(default_factory=list)
    seller_has_assignments: bool | None = None
    """Whether the seller had an active assignment when read (None: not asked)."""
    holding: StoredAccount | None = None
    """The escrow's holding account as read with the lock (SQLite only; None: not read)."""

    def add_timeline(self, item: TimelineEntry) -> None:
        """An item this transaction appended."""
        self.timeline.append(item)

    def add_entries(self, entries: list[JournalEntry]) -> None:
        """Entries this transaction posted for the escrow."""
        self.entries.extend(entries)


def load_history(
    session: Session, escrow_id: str, *, seller_id: str | None = None, currency: str | None = None
) -> EscrowHistory:
    """The escrow's timeline (oldest first), payments (oldest first) and ledger entries, in one read."""
    if seller_id is not None and currency is not None:
        query = _HISTORY_AND_ASSIGNMENTS
        params = {"escrow_id": escrow_id, "seller_id": seller_id, "currency": currency}
    else:
        query, params = _HISTORY, {"escrow_id": escrow_id}
    history = EscrowHistory(seller_has_assignments=False if seller_id is not None else None)
    _collect(history, escrow_id, session.connection().execute(query, params))
    return history


def add_timeline_and_load_history(
    session: Session,
    *,
    escrow_id: str,
    seller_id: str,
    currency: str,
    event: str,
    actor: str,
    now: datetime,
    lot_ref: str | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[TimelineEntry, EscrowHistory]:
    """Append one timeline item and read the escrow's history as it was before it (with whether
    the seller has an active assignment); the item is added to the history.

    PostgreSQL: one statement (the item's insert a CTE of the history's read), run after the
    escrow's lock, so the read sees every change committed under that lock. SQLite (no
    data-modifying CTEs): the read, then the insert."""
    stored = canonical_json(data or {})
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        history = load_history(session, escrow_id, seller_id=seller_id, currency=currency)
        item = escrow_repo.add_timeline(
            session, escrow_id=escrow_id, event=event, actor=actor, now=now, lot_ref=lot_ref, data=data
        )
    else:
        values = {"escrow_id": escrow_id, "lot_ref": lot_ref, "event": event, "actor": actor}
        params: dict[str, Any] = {f"item_{name}": value for name, value in values.items()}
        params |= {"item_data": stored, "item_created_at": now}
        params |= {"escrow_id": escrow_id, "seller_id": seller_id, "currency": currency}
        history = EscrowHistory(seller_has_assignments=False)
        _collect(history, escrow_id, connection.execute(_NEW_ITEM_AND_HISTORY, params))
        item = TimelineEntry(now, event, lot_ref, actor, json.loads(stored))
    history.add_timeline(item)
    return item, history


def lock_escrow_with_history(
    session: Session, escrow_id: str
) -> tuple[escrow_repo.LockedEscrow, EscrowHistory | None] | None:
    """The escrow locked with its lots (``escrows.lock_escrow``) and, on SQLite, its history read
    in the same statement (None: read it after the lock, ``add_timeline_and_load_history``).

    An escrow this transaction holds already is not read again, nor is its history (what the
    transaction wrote since would be missing from the one read then)."""
    held = escrow_repo.held_escrow(session, escrow_id)
    if held is not None:
        return held, None
    if session.get_bind().dialect.name == "postgresql":
        locked = escrow_repo.lock_escrow(session, escrow_id)
        return None if locked is None else (locked, None)
    rows = session.execute(_LOCK_WITH_HISTORY, {"escrow_id": escrow_id}).all()
    if not rows:
        return None
    lots = list({id(r[1]): r[1] for r in rows}.values())
    locked = escrow_repo.hold(session, rows[0][0], lots)
    history = EscrowHistory(seller_has_assignments=bool(rows[0].seller_has_assignments))
    _collect(history, escrow_id, (r for r in rows if r.src is not None))
    return locked, history


def _collect(history: EscrowHistory, escrow_id: str, rows: Iterable[Any]) -> None:
    """Add the union's rows (in its order) to ``history``."""
    legs: dict[int, list[Posting]] = defaultdict(list)
    heads: dict[int, Any] = {}
    for r in rows:
        if r.src == "t":
            history.timeline.append(TimelineEntry(r.d1, r.s1, r.s2, r.s3, json.loads(r.s4)))
        elif r.src == "p":
            history.payments.append(_payment(escrow_id, r))
        elif r.src == "e":
            heads.setdefault(r.n1, r)
            ref = AccountRef(AccountKind(r.s5), r.s6, r.s7)
            legs[r.n1].append(Posting(ref, Side(r.s4), Money(int(r.n2), r.s7)))
        elif r.src == "a":
            ref = AccountRef(AccountKind(r.s5), r.s6, r.s7)
            account = Account(ref, Side(r.s1), bool(r.n3))
            history.holding = StoredAccount(int(r.n1), account, Money(int(r.n2), r.s7))
        else:
            history.seller_has_assignments = True
    history.entries = [
        JournalEntry(kind=EntryKind(heads[i].s2), postings=tuple(p), memo=heads[i].s3, ref=heads[i].s1)
        for i, p in legs.items()
    ]


def _payment(escrow_id: str, r: Any) -> PaymentRow:
    """A payment as read (not attached to the session: the view only shows it)."""
    created_at: datetime = r.d1
    return PaymentRow(
        id=r.s1,
        escrow_id=escrow_id,
        provider=r.s2,
        provider_ref=r.s3,
        currency=r.s4,
        amount_minor=r.n2,
        received_minor=r.n3,
        status=r.s5,
        detail=r.s6,
        created_at=created_at,
        updated_at=r.d2,
    )

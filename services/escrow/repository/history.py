"""An escrow's history — timeline, payments, ledger entries — read in one statement.

The full view of an escrow (``GET /v1/escrows/{id}`` and every action's answer) shows its
timeline, its payments and the money its ledger entries moved. They are three tables; one
``UNION ALL`` reads all three, each branch's values in a common set of typed columns (``_COLUMNS``),
ordered as each list is shown. A use case reads it once, after locking the escrow, and adds
what its own transaction writes (``EscrowHistory.add_*``) instead of reading it back.

With ``seller_id`` and ``currency`` it also says whether the seller has an active assignment
of proceeds: a release locks the seller's assignment rows only when there are some.
"""

from __future__ import annotations

import json
from collections import defaultdict
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
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from services.escrow.domain.ledger import AccountKind, AccountRef, EntryKind, JournalEntry, Posting, Side
from services.escrow.models import (
    AccountRow,
    AssignmentRow,
    EntryRow,
    PaymentRow,
    PostingRow,
    Stamp,
    TimelineRow,
)
from services.escrow.repository.escrows import TimelineEntry
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


def _query(*, assignments: bool) -> Select[Any]:
    """The history's statement for ``:escrow_id`` (with ``assignments``: and whether ``:seller_id``
    has an active assignment in ``:currency``)."""
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
    united = union_all(*branches).subquery()
    c = united.c
    return select(united).order_by(c.src, c.o1, c.o2, c.o3, c.o4)


_HISTORY = _query(assignments=False)
_HISTORY_AND_ASSIGNMENTS = _query(assignments=True)
"""Built once (a request neither rebuilds them nor regenerates their cache keys), run with parameters."""


@dataclass
class EscrowHistory:
    """What an escrow's full view shows besides its row and lots."""

    timeline: list[TimelineEntry] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)
    entries: list[JournalEntry] = field(default_factory=list)
    seller_has_assignments: bool | None = None
    """Whether the seller had an active assignment when read (None: not asked)."""

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
    history = EscrowHistory(seller_has_assignments=False if seller_id is not None else None)
    legs: dict[int, list[Posting]] = defaultdict(list)
    heads: dict[int, Any] = {}
    if seller_id is not None and currency is not None:
        query = _HISTORY_AND_ASSIGNMENTS
        params = {"escrow_id": escrow_id, "seller_id": seller_id, "currency": currency}
    else:
        query, params = _HISTORY, {"escrow_id": escrow_id}
    for r in session.connection().execute(query, params):
        if r.src == "t":
            history.timeline.append(TimelineEntry(r.d1, r.s1, r.s2, r.s3, json.loads(r.s4)))
        elif r.src == "p":
            history.payments.append(_payment(escrow_id, r))
        elif r.src == "e":
            heads.setdefault(r.n1, r)
            ref = AccountRef(AccountKind(r.s5), r.s6, r.s7)
            legs[r.n1].append(Posting(ref, Side(r.s4), Money(int(r.n2), r.s7)))
        else:
            history.seller_has_assignments = True
    history.entries = [
        JournalEntry(kind=EntryKind(heads[i].s2), postings=tuple(p), memo=heads[i].s3, ref=heads[i].s1)
        for i, p in legs.items()
    ]
    return history


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

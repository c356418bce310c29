"""The trade summary's prepared statement agrees with the summary's definition, window by window.

``TRADE_SUMMARY`` is built once with bound parameters and executed with each request's seller
and window; a statement built around one request's values would show here as a window or a
seller answered with another's figures. The reference reads the rows and applies the
definitions of ``services.escrow.service.parties`` in Python; both are compared for every
seller and for every window whose ends fall on, just before and just after an escrow's
creation (the window is ``[start, end)``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.escrow.domain.ledger import AccountKind, EntryKind
from services.escrow.models import AccountRow, EntryRow, EscrowRow, LotRow, PostingRow
from services.escrow.repository.parties import (
    ACCEPTED_LOT_STATUSES,
    REJECTED_LOT_STATUSES,
    CurrencyAggregate,
    trade_summary,
)
from shared.clock import ManualClock, as_utc
from shared.platform import ServiceContext
from tests.escrow.api.test_escrow_trade_summary_api import SELLER, _funded, _trade
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import at

ACCEPTED = {s.value for s in ACCEPTED_LOT_STATUSES}
REJECTED = {s.value for s in REJECTED_LOT_STATUSES}


def _reference(session: Session, seller: str, start: datetime, end: datetime) -> list[CurrencyAggregate]:
    """The summary's figures computed in Python from the rows, per currency in code order."""
    fees: dict[str, int] = defaultdict(int)
    for escrow_id, amount in session.execute(
        select(EntryRow.escrow_id, PostingRow.amount_minor)
        .join(PostingRow, PostingRow.entry_id == EntryRow.id)
        .join(AccountRow, AccountRow.id == PostingRow.account_id)
        .where(
            EntryRow.kind == EntryKind.RELEASE.value,
            AccountRow.kind == AccountKind.PLATFORM_FEE_REVENUE.value,
            PostingRow.side == "credit",
        )
    ):
        fees[str(escrow_id)] += amount
    lots: dict[str, list[LotRow]] = defaultdict(list)
    for lot in session.scalars(select(LotRow)):
        lots[lot.escrow_id].append(lot)
    figures: dict[str, list[int]] = {}
    for e in session.scalars(select(EscrowRow).where(EscrowRow.seller_id == seller)):
        if e.funded_at is None or not start <= as_utc(e.created_at) < end or not lots[e.id]:
            continue
        mine = lots[e.id]
        delivered = [lot for lot in mine if lot.delivered_at is not None]
        row = figures.setdefault(e.currency, [0] * 11)
        for i, value in enumerate(
            (
                1,
                e.status == "completed",
                any(lot.dispute_reason is not None for lot in mine),
                sum(lot.released_minor for lot in mine),
                fees[e.id],
                sum(lot.refunded_minor > 0 for lot in mine),
                sum(lot.refunded_minor for lot in mine),
                len(delivered),
                sum(as_utc(lot.delivered_at) < as_utc(lot.delivery_deadline) for lot in delivered),  # type: ignore[arg-type]
                sum(
                    lot.status in ACCEPTED
                    or lot.status in REJECTED
                    or (lot.delivered_at is not None and lot.dispute_reason is not None)
                    for lot in mine
                ),
                sum(lot.status in ACCEPTED for lot in mine),
            )
        ):
            row[i] += int(value)
    return [CurrencyAggregate(currency, *figures[currency]) for currency in sorted(figures)]


def test_the_prepared_statement_answers_every_window_as_the_definition_does(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    _trade(api, clock)
    offset = 11  # days after T0, where _trade leaves the clock
    for days in (3, 40, 41):  # escrows created at other moments: more window ends to fall between
        clock.advance(timedelta(days=days))
        offset += days
        eid = _funded(api, funding_deadline=at(days=offset + 2), delivery_deadline=at(days=offset + 10))
        api.ship_and_deliver(eid, "A")
        api.lot(eid, "A", "accept" if days % 2 else "reject", {} if days % 2 else {"reason": "wet"})
    with ctx.db.unit_of_work(read_only=True) as session:
        created = sorted({as_utc(c) for c in session.scalars(select(EscrowRow.created_at))})
        tick = timedelta(microseconds=1)
        ends = sorted({t + d for t in created for d in (-tick, timedelta(0), tick)})
        ends = [ends[0] - timedelta(days=400), *ends, ends[-1] + timedelta(days=400)]
        for seller in (SELLER, "farmer-2", "nobody"):
            for start, end in itertools.combinations(ends, 2):
                assert trade_summary(session, seller, start=start, end=end) == _reference(
                    session, seller, start, end
                ), (seller, start, end)
        figures = trade_summary(session, SELLER, start=ends[0], end=ends[-1])
    assert len(created) >= 4  # T0, and each later moment: windows that hold some escrows and not others
    assert sum(f.escrows for f in figures) == 8  # the seller's funded escrows, every window included

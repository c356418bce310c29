"""An action that waited for an escrow's lock answers with the history the holder committed.

Under READ COMMITTED a locking read that waited sees the holder's changes only in the rows it
locked; the timeline, payments and entries the holder added are other rows. So on PostgreSQL
an action reads the escrow's history after the lock, in the statement that appends its own
timeline item (``repository.history.add_timeline_and_load_history``), and funding looks for
a pending payment after the lock too: neither may answer from the snapshot taken before the wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from services.escrow.models import PaymentRow
from services.escrow.repository import escrows as escrow_repo
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi
from tests.escrow.service.test_escrow_lock_with_lots_pg import _wait_until_someone_waits_for_a_lock
from tests.factories.escrow import LotPayloadFactory

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _while_held(ctx: ServiceContext, eid: str, hold: Callable[[Any], None], act: Callable[[], Any]) -> Any:
    """Lock ``eid`` in a transaction, change it with ``hold``, run ``act`` in a thread (it waits
    for the lock), commit, and return what ``act`` returned."""
    holder = ctx.db.sessionmaker()
    locked = escrow_repo.lock_escrow(holder, eid)
    assert locked is not None
    hold(holder)
    holder.flush()
    seen: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: seen.update(result=act()))
    thread.start()
    try:
        _wait_until_someone_waits_for_a_lock(ctx)
        holder.commit()
    finally:
        holder.close()
        thread.join()
    return seen["result"]


def test_an_action_that_waited_answers_with_the_timeline_the_holder_committed(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    eid = api.create(lots=[LotPayloadFactory(lot_ref="A")])["id"]
    payment = api.post(f"/v1/escrows/{eid}/fund", expect=202)
    api.post(f"/v1/sandbox/payments/{payment['id']}/confirm", key="admin")
    now = ctx.clock.now()

    def note(session: Any) -> None:
        escrow_repo.add_timeline(session, escrow_id=eid, event="note", actor="holder", now=now)

    shipped = _while_held(
        ctx, eid, note, lambda: api.lot(eid, "A", "ship", {"carrier": "G4S", "tracking": "1"})
    )
    events = [item["event"] for item in shipped["timeline"]]
    assert events[-2:] == ["note", "ship"], events
    assert shipped == api.get(f"/v1/escrows/{eid}")


def test_funding_that_waited_finds_the_payment_the_holder_started(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    eid = api.create()["id"]
    now = ctx.clock.now()

    def start(session: Any) -> None:
        session.add(
            PaymentRow(
                id="held-payment",
                escrow_id=eid,
                provider="sandbox",
                provider_ref="sbx-held",
                currency="KES",
                amount_minor=1,
                received_minor=None,
                status="pending",
                detail=None,
                created_at=now,
                updated_at=now,
            )
        )

    answer = _while_held(ctx, eid, start, lambda: api.post(f"/v1/escrows/{eid}/fund", expect=202))
    assert answer["id"] == "held-payment"

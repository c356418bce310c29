"""An escrow is locked with its lots in one statement; a waiter reads the lots as the holder left them.

Under READ COMMITTED a ``SELECT ... FOR UPDATE`` that waited returns the newest version of the
rows it locked, but the other rows of its join as its snapshot (taken before the wait) had
them. ``lock_escrow`` locks the lots' rows too, so the lots it returns after a wait are the
ones the previous holder committed, never a stale copy the next transition would act on.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from services.escrow.repository import escrows as escrow_repo
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _wait_until_someone_waits_for_a_lock(ctx: ServiceContext) -> None:
    """Poll until a backend of this database waits on a lock (bounded: a wait, not a timing)."""
    for _ in range(3000):
        with ctx.db.engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the second transaction never waited for the escrow's lock")


@pytest.mark.parametrize("by_payment", [False, True])
def test_a_transaction_that_waited_for_the_lock_reads_the_lots_the_holder_committed(
    api: EscrowApi, ctx: ServiceContext, by_payment: bool
) -> None:
    eid = api.create()["id"]
    payment_id = api.post(f"/v1/escrows/{eid}/fund", expect=202)["id"]
    holder = ctx.db.sessionmaker()
    locked = escrow_repo.lock_escrow(holder, eid)
    assert locked is not None
    locked.lots[0].carrier = "changed while held"
    holder.flush()
    seen: dict[str, Any] = {}

    def waiter() -> None:
        with ctx.db.unit_of_work() as session:
            if by_payment:
                found = escrow_repo.lock_escrow_of_payment(session, payment_id=payment_id)
                assert found is not None
                seen["carrier"] = found[0].lots[0].carrier
            else:
                again = escrow_repo.lock_escrow(session, eid)
                assert again is not None
                seen["carrier"] = again.lots[0].carrier

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        _wait_until_someone_waits_for_a_lock(ctx)
        holder.commit()
    finally:
        holder.close()
        thread.join()
    assert seen == {"carrier": "changed while held"}

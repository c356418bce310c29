"""The read side: load what a view of an escrow needs and present it (``presenters``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.escrow.domain.postings import escrow_totals
from services.escrow.models import EscrowRow, LotRow
from services.escrow.presenters import entry_out
from services.escrow.presenters import escrow_out as present_escrow
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository import ledger as ledger_repo
from services.escrow.repository.history import EscrowHistory, load_history
from services.escrow.schemas import EntryOut, EscrowOut
from services.escrow.service.mapping import to_domain


def entries_out(session: Session, escrow_id: str) -> list[EntryOut]:
    """An escrow's journal entries with their legs, oldest first."""
    return [entry_out(stored) for stored in ledger_repo.entries_of_escrow(session, escrow_id)]


def escrow_out(
    session: Session,
    row: EscrowRow,
    *,
    now: datetime,
    lots: list[LotRow] | None = None,
    history: EscrowHistory | None = None,
) -> EscrowOut:
    """The full view of an escrow at ``now``: state, money from the ledger, actions, timeline.

    ``lots`` and ``history`` are what the caller's transaction holds already (read with the
    lock and added to as it wrote); whatever is not given is read."""
    lots = escrow_repo.lots_of(session, row.id) if lots is None else lots
    history = load_history(session, row.id) if history is None else history
    return present_escrow(
        row,
        lots,
        escrow=to_domain(row, lots),
        totals=escrow_totals(escrow_id=row.id, currency=row.currency, entries=history.entries),
        payments=history.payments,
        timeline=history.timeline,
        now=now,
    )

"""Shared helpers for the escrow domain tests: a clock origin, an in-memory book, a dispatcher."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.escrow.domain.fees import FeeSchedule
from services.escrow.domain.ledger import (
    Account,
    AccountRef,
    JournalEntry,
    apply_entry,
    open_account,
)
from services.escrow.domain.lifecycle import (
    accept_lot,
    auto_release_lot,
    cancel_escrow,
    deliver_lot,
    dispute_lot,
    expire_escrow,
    fund_escrow,
    open_escrow,
    receive_return,
    refund_undelivered_lot,
    reject_lot,
    resolve_dispute,
    ship_lot,
)
from services.escrow.domain.model import Action, Escrow, LotTerms, Transition
from shared.money import Money

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
"""The tests' clock origin; every ``now`` is T0 plus something."""

PROVIDER = "sandbox"
FEES = FeeSchedule(bps=250, min_minor=100)
INSPECTION = timedelta(days=3)


def kes(minor: int) -> Money:
    """``minor`` cents of Kenyan shillings."""
    return Money(minor, "KES")


def two_lot_escrow(*, fees: FeeSchedule = FEES) -> Escrow:
    """The worked example's order: lot A 60,000 and lot B 40,000 KES minor units."""
    return open_escrow(
        escrow_id="E1",
        buyer_id="B1",
        seller_id="S1",
        lots=[
            LotTerms("A", kes(60_000), T0 + timedelta(days=10)),
            LotTerms("B", kes(40_000), T0 + timedelta(days=14)),
        ],
        fee_schedule=fees,
        inspection_period=INSPECTION,
        funding_deadline=T0 + timedelta(days=2),
        now=T0,
    )


def legs(entry: JournalEntry) -> list[tuple[str, str, int]]:
    """An entry's legs as (account, side, minor) rows, easy to read in an assertion."""
    return [(str(leg.account), leg.side.value, leg.amount.minor) for leg in entry.postings]


@dataclass
class Book:
    """A tiny in-memory ledger: opens accounts on first use and posts with ``apply_entry``."""

    accounts: dict[AccountRef, Account] = field(default_factory=dict)
    balances: dict[AccountRef, Money] = field(default_factory=dict)
    entries: list[JournalEntry] = field(default_factory=list)

    def post(self, entries: Iterable[JournalEntry]) -> None:
        """Post entries in order (each all-or-nothing)."""
        for entry in entries:
            for leg in entry.postings:
                ref = leg.account
                self.accounts.setdefault(
                    ref, open_account(kind=ref.kind, owner=ref.owner, currency=ref.currency)
                )
            self.balances = apply_entry(balances=self.balances, entry=entry, accounts=self.accounts)
            self.entries.append(entry)

    def balance(self, ref: AccountRef) -> int:
        """Signed balance (debit +, credit -) in minor units."""
        return self.balances.get(ref, Money.zero(ref.currency)).minor

    def normal_balance(self, ref: AccountRef) -> int:
        """Balance on the account's normal side."""
        return self.accounts[ref].normal_balance(self.balances[ref]).minor


def perform(
    escrow: Escrow,
    action: Action,
    now: datetime,
    lot_id: str | None = None,
    *,
    amount_minor: int | None = None,
) -> Transition:
    """Run ``action`` with plain default arguments (whole amounts, a fixed carrier...)."""
    if action is Action.FUND:
        return fund_escrow(escrow=escrow, amount=escrow.total, now=now)
    if action is Action.CANCEL:
        return cancel_escrow(escrow=escrow, now=now)
    if action is Action.EXPIRE:
        return expire_escrow(escrow=escrow, now=now)
    assert lot_id is not None, f"{action} needs a lot"
    if action is Action.SHIP:
        return ship_lot(escrow=escrow, lot_id=lot_id, carrier="G4S", tracking="T-1", now=now)
    if action is Action.DELIVER:
        return deliver_lot(escrow=escrow, lot_id=lot_id, now=now)
    if action is Action.ACCEPT:
        return accept_lot(escrow=escrow, lot_id=lot_id, now=now, amount_minor=amount_minor)
    if action is Action.REJECT:
        return reject_lot(escrow=escrow, lot_id=lot_id, now=now, reason="mouldy")
    if action is Action.RETURN_RECEIVED:
        return receive_return(escrow=escrow, lot_id=lot_id, now=now)
    if action is Action.DISPUTE:
        return dispute_lot(escrow=escrow, lot_id=lot_id, reason="short weight", now=now)
    if action is Action.RESOLVE:
        seller = escrow.lot(lot_id).amount.minor if amount_minor is None else amount_minor
        return resolve_dispute(escrow=escrow, lot_id=lot_id, seller_minor=seller, now=now)
    if action is Action.AUTO_RELEASE:
        return auto_release_lot(escrow=escrow, lot_id=lot_id, now=now)
    assert action is Action.REFUND_UNDELIVERED
    return refund_undelivered_lot(escrow=escrow, lot_id=lot_id, now=now)

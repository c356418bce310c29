"""Marketplace orders through escrow: open, fund (the sandbox confirms), ship, deliver, accept.

An order is found by its ``order_ref`` before it is opened, and each step is taken only when
the lot allows it now, so an order a run left half-way is finished by the next run instead of
opened twice. The buyer's acceptance releases the money to the seller less the fee — and,
when the seller's loan assigned its proceeds, escrow sweeps the lender's share of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from services.demo.cast import CURRENCY, ORDER_FEE_BPS, Member
from services.demo.clients import System
from services.demo.progress import DemoStopped, Progress, money, percent
from shared.clients.escrow import Escrow, EscrowFilters, NewLot, TradeSummary
from shared.http_client import UpstreamProblem

LOT = "A"
CARRIER = "Kilimo Bora trucks"


def _in_days(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def _opened(system: System, *, order_ref: str, seller: Member, buyer: Member, amount_minor: int) -> Escrow:
    market = system.marketplace.escrow
    found = market.list_escrows(EscrowFilters(order_ref=order_ref), limit=1)
    if found:
        return market.get_escrow(found[0].id)
    return market.create_escrow(
        order_ref=order_ref,
        buyer_id=buyer.party_id,
        seller_id=seller.party_id,
        currency=CURRENCY,
        lots=[NewLot(lot_ref=LOT, description=f"produce from {seller.name}", amount_minor=amount_minor)],
        fee_bps=ORDER_FEE_BPS,
        inspection_period_hours=48,
        funding_deadline=_in_days(7),
        delivery_deadline=_in_days(30),
        idempotency_key=f"demo:{order_ref}:open",
    )


def _funded(system: System, progress: Progress, escrow: Escrow, *, wait: float) -> Escrow:
    if escrow.status != "created":
        return escrow
    market, order_ref = system.marketplace.escrow, escrow.order_ref
    pending = next((p for p in escrow.payments if p.status == "pending"), None)
    payment = pending or market.fund_escrow(escrow.id, idempotency_key=f"demo:{order_ref}:fund")
    try:
        system.admin.escrow.confirm_sandbox_payment(payment.id, idempotency_key=f"demo:{order_ref}:confirm")
    except UpstreamProblem as exc:
        if exc.status != 409:  # 409: the worker's sandbox job confirmed it first
            raise

    def funded() -> Escrow | None:
        now = market.get_escrow(escrow.id)
        return now if now.status != "created" else None

    return progress.wait_for(f"the buyer's payment for {order_ref}", funded, timeout=wait)


def sell(
    system: System,
    progress: Progress,
    *,
    order_ref: str,
    seller: Member,
    buyer: Member,
    amount_minor: int,
    wait: float,
) -> Escrow:
    """Take one order from checkout to the buyer's acceptance; the completed escrow."""
    escrow = _funded(
        system,
        progress,
        _opened(system, order_ref=order_ref, seller=seller, buyer=buyer, amount_minor=amount_minor),
        wait=wait,
    )
    market = system.marketplace.escrow
    steps: dict[str, Callable[[str], Escrow]] = {
        "ship": lambda key: market.ship_lot(
            escrow.id, LOT, carrier=CARRIER, tracking=f"KB-{order_ref}", idempotency_key=key
        ),
        "deliver": lambda key: market.deliver_lot(escrow.id, LOT, idempotency_key=key),
        "accept": lambda key: market.accept_lot(escrow.id, LOT, idempotency_key=key),
    }
    for action, take in steps.items():
        lot = next(lot for lot in escrow.lots if lot.lot_ref == LOT)
        if action in lot.allowed_actions:
            escrow = take(f"demo:{order_ref}:{action}")
    if escrow.status != "completed":
        raise DemoStopped(f"order {order_ref} is {escrow.status}, not completed; the story needs it sold")
    return escrow


def describe_trade(summary: TradeSummary) -> str:
    """A party's trade summary in one line."""
    if summary.escrows == 0:
        return "no marketplace orders in the last 12 months"
    volume = summary.volume(CURRENCY)
    net = money(volume.net_minor, CURRENCY) if volume else money(0, CURRENCY)
    return (
        f"{summary.completed_escrows} completed orders in 12 months, {net} net of fees, "
        f"on time {percent(summary.on_time_delivery_rate.value)}, "
        f"disputed {percent(summary.dispute_rate.value)}"
    )

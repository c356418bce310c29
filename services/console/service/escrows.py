"""Escrow pages' data: the list a marketplace operator, auditor or admin may see, and one
escrow's lots, money view and timeline, read through escrow's typed client.

Escrow scopes everything: the console's client names the person (and a marketplace
operator's own marketplace, ``Agrifin-Acting-Owner``), so a list holds only that
marketplace's escrows and another marketplace's escrow is escrow's 404. Nothing here
changes an escrow: marketplace operations is read-only in the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from services.console.domain.catalogue import ROLE_LABELS
from services.console.domain.paging import PAGE_SIZE
from services.console.pages import N_
from shared.clients.escrow import Escrow, EscrowClient, EscrowFilters, EscrowMoney, EscrowSummary, Lot

MAX_PAGE = 1_000_000 // PAGE_SIZE
"""Escrow lists at most a million rows deep (its ``offset`` bound)."""

ESCROW_STATUSES: dict[str, str] = {
    "created": N_("Waiting for payment"),
    "funded": N_("Funded"),
    "in_progress": N_("In progress"),
    "disputed": N_("Disputed"),
    "completed": N_("Completed"),
    "refunded": N_("Refunded"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
}
"""Escrow's statuses (``services.escrow.domain.model.EscrowStatus``) and their labels."""

STATUS_PATTERN = "^(" + "|".join(ESCROW_STATUSES) + ")?$"
"""What the list's status filter accepts (empty: any status)."""

LOT_STATUSES: dict[str, str] = {
    "pending": N_("Pending"),
    "shipped": N_("Shipped"),
    "delivered": N_("Delivered"),
    "rejected": N_("Rejected"),
    "disputed": N_("Disputed"),
    "accepted": N_("Accepted"),
    "partially_accepted": N_("Partially accepted"),
    "auto_released": N_("Released automatically"),
    "returned": N_("Returned"),
    "resolved": N_("Resolved"),
    "refunded": N_("Refunded"),
    "cancelled": N_("Cancelled"),
}

EVENTS: dict[str, str] = {
    "created": N_("Escrow opened"),
    "fund": N_("Funded"),
    "cancel": N_("Cancelled"),
    "expire": N_("Expired unfunded"),
    "ship": N_("Lot shipped"),
    "deliver": N_("Lot delivered"),
    "accept": N_("Lot accepted"),
    "reject": N_("Lot rejected"),
    "return_received": N_("Returned lot received"),
    "dispute": N_("Lot disputed"),
    "resolve": N_("Dispute resolved"),
    "auto_release": N_("Released after the inspection period"),
    "refund_undelivered": N_("Undelivered lot refunded"),
    "payment.started": N_("Payment started"),
    "payment.failed": N_("Payment failed"),
    "payment.refunded": N_("Payment arrived too late; owed back to the buyer"),
    "payment.mismatched": N_("Payment did not match the amount due"),
}
"""Timeline events (escrow's actions, ``payment.<status>``) and their labels."""

_MONEY_DATA: dict[str, str] = {
    "total_minor": N_("Total"),
    "received_minor": N_("Received"),
    "funded_minor": N_("Funded"),
    "amount_minor": N_("Amount"),
    "released_minor": N_("Released (gross)"),
    "fee_minor": N_("Fee"),
    "net_minor": N_("Net to the seller's side"),
    "refunded_minor": N_("Refunded"),
}
_TEXT_DATA: dict[str, str] = {
    "carrier": N_("Carrier"),
    "tracking": N_("Tracking"),
    "reason": N_("Reason"),
    "detail": N_("Detail"),
}


@dataclass(frozen=True)
class EscrowRow:
    """An escrow in the list, its status labelled."""

    escrow: EscrowSummary
    status_label: str | None
    """From the catalogue; None for a status this console does not know (shown as escrow sent it)."""


@dataclass(frozen=True)
class EscrowListPage:
    """One page of the escrow list and the filters that made it."""

    rows: list[EscrowRow]
    page: int
    has_next: bool
    status: str
    order_ref: str

    @property
    def query(self) -> str:
        """The filters as a query string (without ``page=``), for the pager."""
        return urlencode({k: v for k, v in (("status", self.status), ("order_ref", self.order_ref)) if v})


@dataclass(frozen=True)
class Who:
    """Who did something: a person (via the console), a payment provider, escrow's worker, a key."""

    kind: str
    """``person``, ``provider``, ``worker`` or ``key``."""
    name: str
    role: str | None = None
    """A role the catalogue labels, or None."""


@dataclass(frozen=True)
class Detail:
    """One fact of a timeline item: money (minor units, shown with the currency) or text."""

    label: str
    minor: int | None = None
    text: str | None = None


@dataclass(frozen=True)
class TimelineRow:
    """When, what and who."""

    at: datetime
    what: str
    known: bool
    """``what`` is a label from the catalogue (else escrow's own event name, shown as is)."""
    lot_ref: str | None
    who: Who
    details: list[Detail] = field(default_factory=list)


@dataclass(frozen=True)
class LotRow:
    """A lot and its state's label."""

    lot: Lot
    status_label: str | None


@dataclass(frozen=True)
class EscrowDetail:
    """One escrow as its page shows it."""

    escrow: Escrow
    status_label: str | None
    lots: list[LotRow]
    money: EscrowMoney
    money_rows: list[tuple[str, int]]
    timeline: list[TimelineRow]


def escrow_list(
    client: EscrowClient, *, status: str = "", order_ref: str = "", page: int = 1
) -> EscrowListPage:
    """A page of the escrows the person may see, newest first (``limit`` one more than shown)."""
    filters = EscrowFilters(status=status or None, order_ref=order_ref or None)
    found = client.list_escrows(filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    rows = [EscrowRow(e, ESCROW_STATUSES.get(e.status)) for e in found[:PAGE_SIZE]]
    return EscrowListPage(
        rows=rows, page=page, has_next=len(found) > PAGE_SIZE, status=status, order_ref=order_ref
    )


def escrow_detail(client: EscrowClient, escrow_id: str) -> EscrowDetail:
    """An escrow's lots, money view and timeline (escrow's 404 when the person may not see it)."""
    escrow = client.get_escrow(escrow_id)
    money = escrow.money
    return EscrowDetail(
        escrow=escrow,
        status_label=ESCROW_STATUSES.get(escrow.status),
        lots=[LotRow(lot, LOT_STATUSES.get(lot.status)) for lot in escrow.lots],
        money=money,
        money_rows=[
            (N_("Funded"), money.funded_minor),
            (N_("Released to the seller's side"), money.released_minor),
            (N_("Refunded to the buyer"), money.refunded_minor),
            (N_("Fees"), money.fees_minor),
            (N_("Held"), money.held_minor),
        ],
        timeline=[
            TimelineRow(
                at=item.at,
                what=EVENTS.get(item.event, item.event),
                known=item.event in EVENTS,
                lot_ref=item.lot_ref,
                who=who_did(item.actor),
                details=_details(item.data),
            )
            for item in escrow.timeline
        ],
    )


def who_did(actor: str) -> Who:
    """An audit actor as a page names it.

    ``person:<username>:<role>:via:<key id>`` (a person acting through the console),
    ``provider:<name>``, ``worker:<service>``, else an API key (``<role>:<key id>[:<owner>]``).
    """
    kind, _, rest = actor.partition(":")
    if kind == "person":
        username, _, tail = rest.partition(":")
        return Who("person", username, _known_role(tail.partition(":")[0]))
    if kind in ("provider", "worker") and rest:
        return Who(kind, rest)
    parts = actor.split(":")
    role = _known_role(parts[0])
    if role is not None and len(parts) >= 2:
        return Who("key", parts[2] if len(parts) > 2 else parts[1], role)
    return Who("key", actor)


def _known_role(role: str) -> str | None:
    """A role the catalogue labels (anything else is shown as escrow sent it, never translated)."""
    return role if role in ROLE_LABELS else None


def _details(data: dict[str, Any]) -> list[Detail]:
    out = [
        Detail(label, minor=data[key])
        for key, label in _MONEY_DATA.items()
        if isinstance(data.get(key), int) and not isinstance(data.get(key), bool)
    ]
    out.extend(
        Detail(label, text=str(data[key]))
        for key, label in _TEXT_DATA.items()
        if data.get(key) not in (None, "")
    )
    return out

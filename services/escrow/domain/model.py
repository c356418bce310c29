"""The escrow's state: statuses, actions, the immutable ``Escrow`` and ``Lot``, money movements.

The rules that move an escrow from one state to the next live in ``lifecycle``; this module
only holds the values they read and return.

Errors (``status_code`` is what the API answers)::

    EscrowError
    ├── InvalidTransitionError   409  the action is not allowed in the current state (names
    │                                 the state and the actions that are allowed)
    ├── UnknownLotError          404  no lot with that id in the escrow
    └── AmountError              422  wrong funding amount, or an amount outside the lot
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from services.escrow.domain.fees import FeeSchedule
from shared.money import Money


class EscrowStatus(StrEnum):
    """Status of a whole escrow; derived from its lots once it is funded."""

    CREATED = "created"
    FUNDED = "funded"
    IN_PROGRESS = "in_progress"
    DISPUTED = "disputed"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TERMINAL_ESCROW_STATUSES = frozenset(
    {EscrowStatus.COMPLETED, EscrowStatus.REFUNDED, EscrowStatus.CANCELLED, EscrowStatus.EXPIRED}
)


class LotStatus(StrEnum):
    """Status of one lot (a shipment with its own amount) of an escrow."""

    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    DISPUTED = "disputed"
    ACCEPTED = "accepted"
    PARTIALLY_ACCEPTED = "partially_accepted"
    AUTO_RELEASED = "auto_released"
    RETURNED = "returned"
    RESOLVED = "resolved"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


FINAL_LOT_STATUSES = frozenset(
    {
        LotStatus.ACCEPTED,
        LotStatus.PARTIALLY_ACCEPTED,
        LotStatus.AUTO_RELEASED,
        LotStatus.RETURNED,
        LotStatus.RESOLVED,
        LotStatus.REFUNDED,
        LotStatus.CANCELLED,
    }
)


class Action(StrEnum):
    """What a caller can ask an escrow (or one of its lots) to do."""

    FUND = "fund"
    CANCEL = "cancel"
    EXPIRE = "expire"
    SHIP = "ship"
    DELIVER = "deliver"
    ACCEPT = "accept"
    REJECT = "reject"
    RETURN_RECEIVED = "return_received"
    DISPUTE = "dispute"
    RESOLVE = "resolve"
    AUTO_RELEASE = "auto_release"
    REFUND_UNDELIVERED = "refund_undelivered"


ESCROW_ACTIONS = frozenset({Action.FUND, Action.CANCEL, Action.EXPIRE})
"""Actions on the whole escrow; every other action names a lot."""


# --- errors ---------------------------------------------------------------------------------


class EscrowError(Exception):
    """Base of the escrow lifecycle's errors."""

    status_code: ClassVar[int] = 422


class InvalidTransitionError(EscrowError):
    """The action is not allowed in the current state; carries the actions that are."""

    status_code = 409

    def __init__(
        self,
        current_state: str,
        action: Action,
        allowed_actions: Iterable[Action],
        subject: str = "escrow",
    ) -> None:
        self.current_state = current_state
        self.action = action
        self.allowed_actions = tuple(sorted(allowed_actions))
        self.subject = subject
        allowed = ", ".join(self.allowed_actions) or "none"
        super().__init__(
            f"cannot {action.value} {subject} in state {current_state!r}; allowed actions: {allowed}"
        )


class UnknownLotError(EscrowError):
    """The escrow has no lot with the given id."""

    status_code = 404


class AmountError(EscrowError):
    """A funding amount that is not exactly the escrow total, or an amount outside a lot."""


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LotTerms:
    """What a lot is when the escrow is opened: its id, amount and delivery deadline."""

    lot_id: str
    amount: Money
    delivery_deadline: datetime


@dataclass(frozen=True, slots=True)
class Lot:
    """One lot: its terms, status, shipping facts and the gross money released / refunded."""

    lot_id: str
    amount: Money
    delivery_deadline: datetime
    status: LotStatus
    released: Money
    refunded: Money
    carrier: str | None = None
    tracking: str | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    closed_at: datetime | None = None
    rejection_reason: str | None = None
    dispute_reason: str | None = None

    @property
    def is_final(self) -> bool:
        """True when the lot's money has all been released or refunded."""
        return self.status in FINAL_LOT_STATUSES


@dataclass(frozen=True, slots=True)
class Escrow:
    """An escrow for one order: parties, lots, fee terms, deadlines, status and money held."""

    escrow_id: str
    buyer_id: str
    seller_id: str
    currency: str
    lots: tuple[Lot, ...]
    fee_schedule: FeeSchedule
    inspection_period: timedelta
    funding_deadline: datetime
    created_at: datetime
    updated_at: datetime
    status: EscrowStatus
    funded: Money
    funded_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def total(self) -> Money:
        """The order amount: the sum of the lots."""
        return Money(sum(lot.amount.minor for lot in self.lots), self.currency)

    @property
    def held(self) -> Money:
        """Money still held: funded less everything released (gross) or refunded."""
        out = sum(lot.released.minor + lot.refunded.minor for lot in self.lots)
        return Money(self.funded.minor - out, self.currency)

    @property
    def is_funded(self) -> bool:
        """True once funding has been confirmed."""
        return self.funded_at is not None

    def lot(self, lot_id: str) -> Lot:
        """The lot with ``lot_id``; ``UnknownLotError`` if there is none."""
        for lot in self.lots:
            if lot.lot_id == lot_id:
                return lot
        raise UnknownLotError(f"escrow {self.escrow_id} has no lot {lot_id!r}")

    def inspection_ends_at(self, lot: Lot) -> datetime | None:
        """When the buyer's inspection period of a delivered lot ends (None if not delivered)."""
        return None if lot.delivered_at is None else lot.delivered_at + self.inspection_period


# --- money movements ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Funding:
    """The buyer's payment for the whole escrow was confirmed."""

    amount: Money


@dataclass(frozen=True, slots=True)
class Release:
    """``gross`` of a lot leaves the holding: ``fee`` to the platform, ``net`` to the seller."""

    lot_id: str
    gross: Money
    fee: Money
    net: Money


@dataclass(frozen=True, slots=True)
class Refund:
    """``amount`` goes back to the buyer, for one lot or (``lot_id`` None) the whole escrow."""

    lot_id: str | None
    amount: Money


Movement = Funding | Release | Refund


@dataclass(frozen=True, slots=True)
class Transition:
    """The escrow after an action and the money movements the action requires to be posted."""

    escrow: Escrow
    action: Action
    lot_id: str | None
    movements: tuple[Movement, ...]

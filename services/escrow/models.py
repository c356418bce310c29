"""The escrow service's tables: its domain tables and its own copy of the platform tables.

Money is ``BigInteger`` minor units beside a ``String(3)`` ISO 4217 code. The ledger tables
carry their own guards (see ``ledger`` in ``services.escrow.domain`` for the accounting):

* ``ledger_postings``: amount > 0, side in ('debit', 'credit'), and the posting's currency
  must be its account's (a composite foreign key to ``ledger_accounts (id, currency)``);
* ``ledger_accounts``: an account that may not go negative never does on its normal side;
* migration 0002 adds triggers refusing any UPDATE or DELETE of entries and postings and,
  on PostgreSQL, a deferred constraint trigger checking at commit that every entry sums to
  zero per currency (after django-hordak).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigIntPK, new_metadata
from shared.platform_tables import define_platform_tables


class Base(DeclarativeBase):
    """Declarative base of the escrow service, on its own MetaData."""

    metadata = new_metadata()


metadata = Base.metadata
PLATFORM = define_platform_tables(metadata)

Stamp = DateTime(timezone=True)
ID_LEN = 36
PARTY_LEN = 128


class EscrowRow(Base):
    """One escrow: an order's money held for a marketplace until its lots are settled."""

    __tablename__ = "escrows"
    __table_args__ = (
        UniqueConstraint("owner", "order_ref", name="uq_escrows_owner_order_ref"),
        CheckConstraint("total_minor > 0", name="total_positive"),
        CheckConstraint("funded_minor >= 0", name="funded_not_negative"),
        Index("ix_escrows_status_funding_deadline", "status", "funding_deadline"),
        # GET /v1/escrows lists newest first, a marketplace's own or everyone's (auditors).
        Index("ix_escrows_owner_created_at", "owner", "created_at", "id"),
        Index("ix_escrows_created_at", "created_at", "id"),
        # ... and filtered by status (the console's operations list), everyone's or one
        # marketplace's: a rare status is an index range, not a walk of every escrow.
        Index("ix_escrows_status_created_at", "status", "created_at", "id"),
        Index("ix_escrows_owner_status_created_at", "owner", "status", "created_at", "id"),
        # GET /v1/parties/{party_id}/trade-summary: one seller's escrows within a time window
        # (it also serves the listing's seller filter, as the single-column index did).
        Index("ix_escrows_seller_id_created_at", "seller_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    owner: Mapped[str] = mapped_column(String(PARTY_LEN))
    order_ref: Mapped[str] = mapped_column(String(PARTY_LEN))
    buyer_id: Mapped[str] = mapped_column(String(PARTY_LEN))
    seller_id: Mapped[str] = mapped_column(String(PARTY_LEN))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column(Integer)
    fee_min_minor: Mapped[int] = mapped_column(BigInteger)
    inspection_seconds: Mapped[int] = mapped_column(Integer)
    funding_deadline: Mapped[datetime] = mapped_column(Stamp)
    delivery_deadline: Mapped[datetime] = mapped_column(Stamp)
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    funded_minor: Mapped[int] = mapped_column(BigInteger)
    funded_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class LotRow(Base):
    """One lot (a shipment with its own amount) of an escrow."""

    __tablename__ = "escrow_lots"
    __table_args__ = (
        UniqueConstraint("escrow_id", "lot_ref", name="uq_escrow_lots_escrow_id_lot_ref"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("released_minor >= 0 AND refunded_minor >= 0", name="settled_not_negative"),
        CheckConstraint("released_minor + refunded_minor <= amount_minor", name="settled_within_amount"),
        Index("ix_escrow_lots_status_inspection_ends_at", "status", "inspection_ends_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    escrow_id: Mapped[str] = mapped_column(ForeignKey("escrows.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    lot_ref: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    delivery_deadline: Mapped[datetime] = mapped_column(Stamp)
    status: Mapped[str] = mapped_column(String(24))
    released_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger)
    carrier: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tracking: Mapped[str | None] = mapped_column(String(100), nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    inspection_ends_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(Stamp, nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    dispute_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class TimelineRow(Base):
    """One thing that happened to an escrow, in order (its timeline)."""

    __tablename__ = "escrow_timeline"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    escrow_id: Mapped[str] = mapped_column(ForeignKey("escrows.id"), index=True)
    lot_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class AccountRow(Base):
    """A ledger account: kind, owner, one currency, its rules and its stored signed balance."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner", "currency", name="uq_ledger_accounts_kind_owner_currency"),
        UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        CheckConstraint("normal_side IN ('debit', 'credit')", name="normal_side"),
        CheckConstraint(
            "may_go_negative OR (normal_side = 'debit' AND balance_minor >= 0) "
            "OR (normal_side = 'credit' AND balance_minor <= 0)",
            name="not_overdrawn",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(PARTY_LEN))
    currency: Mapped[str] = mapped_column(String(3))
    normal_side: Mapped[str] = mapped_column(String(6))
    may_go_negative: Mapped[bool] = mapped_column(Boolean)
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    """Signed: debits add, credits subtract; always the sum of the account's postings."""
    created_at: Mapped[datetime] = mapped_column(Stamp)


class EntryRow(Base):
    """An immutable journal entry; its postings sum to zero per currency."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    memo: Mapped[str] = mapped_column(String(500))
    escrow_id: Mapped[str | None] = mapped_column(ForeignKey("escrows.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class PostingRow(Base):
    """One leg of an entry: a positive amount debited or credited to one account."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "currency"],
            ["ledger_accounts.id", "ledger_accounts.currency"],
            name="fk_ledger_postings_account_currency",
        ),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("side IN ('debit', 'credit')", name="side"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigIntPK, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    side: Mapped[str] = mapped_column(String(6))
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class PaymentRow(Base):
    """A buyer's payment started at a provider to fund an escrow, and what became of it."""

    __tablename__ = "provider_payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref", name="uq_provider_payments_provider_ref"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_provider_payments_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    escrow_id: Mapped[str] = mapped_column(ForeignKey("escrows.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    received_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class PayoutRow(Base):
    """Money leaving the platform to a payee (seller, buyer or lender) through a provider."""

    __tablename__ = "provider_payouts"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref", name="uq_provider_payouts_provider_ref"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_provider_payouts_status_created_at", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(100))
    payee_kind: Mapped[str] = mapped_column(String(32))
    payee_id: Mapped[str] = mapped_column(String(PARTY_LEN))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class AssignmentRow(Base):
    """A seller's assignment of a share of every release to a lender, up to a cap."""

    __tablename__ = "proceeds_assignments"
    __table_args__ = (
        CheckConstraint("share_bps > 0 AND share_bps <= 10000", name="share_bps"),
        CheckConstraint("cap_minor > 0", name="cap_positive"),
        CheckConstraint("swept_minor >= 0 AND swept_minor <= cap_minor", name="swept_within_cap"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= swept_minor", name="refunded_within_swept"
        ),
        Index("ix_proceeds_assignments_seller_currency", "seller_id", "currency"),
    )

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(PARTY_LEN))
    lender_id: Mapped[str] = mapped_column(String(PARTY_LEN))
    currency: Mapped[str] = mapped_column(String(3))
    share_bps: Mapped[int] = mapped_column(Integer)
    cap_minor: Mapped[int] = mapped_column(BigInteger)
    swept_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    """Of ``swept_minor``, what has been refunded to the seller (``AssignmentRefundRow``)."""
    loan_ref: Mapped[str] = mapped_column(String(PARTY_LEN), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class SweepRow(Base):
    """An amount of one release swept to an assignment's lender."""

    __tablename__ = "assignment_sweeps"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("proceeds_assignments.id"), index=True)
    escrow_id: Mapped[str] = mapped_column(ForeignKey("escrows.id"), index=True)
    lot_ref: Mapped[str] = mapped_column(String(64))
    entry_ref: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True, index=True)
    """The ``assignment.swept`` outbox event this sweep produced (None for sweeps before 0008)."""
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class AssignmentRefundRow(Base):
    """Swept money refunded to the seller (a sweep that over-paid its loan); one per reference."""

    __tablename__ = "assignment_refunds"
    __table_args__ = (
        UniqueConstraint("assignment_id", "reference", name="uq_assignment_refunds_assignment_id_reference"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("proceeds_assignments.id"))
    reference: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(500))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    entry_ref: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Stamp)

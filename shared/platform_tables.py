"""The cross-cutting tables every service owns a copy of, in its own database.

API keys, idempotency records, the audit chain, the outbox, webhook subscriptions and
deliveries, the receiver-side inbox, and the queue of long jobs (``shared.jobs``). Each
service calls ``define_platform_tables`` on its own MetaData, so the tables live beside its
domain tables and its own migrations create them; no service reads another's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.db import BigIntPK

AUDIT_SEQ_SEQUENCE = "audit_log_seq_seq"
"""The PostgreSQL sequence numbering ``audit_log.seq`` (owned by the column, like a serial's)."""


@dataclass(frozen=True)
class PlatformTables:
    """Handles to one service's platform tables."""

    api_keys: Table
    idempotency: Table
    audit_log: Table
    outbox: Table
    webhook_subscriptions: Table
    webhook_deliveries: Table
    webhook_inbox: Table
    jobs: Table


def define_platform_tables(metadata: MetaData) -> PlatformTables:
    """Declare the platform tables on ``metadata`` (once per service)."""
    api_keys = Table(
        "api_keys",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("key_hash", String(64), nullable=False, unique=True),
        Column("prefix", String(16), nullable=False),
        Column("role", String(32), nullable=False),
        Column("owner", String(128), nullable=True),
        Column("label", String(200), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True), nullable=True),
    )
    idempotency = Table(
        "idempotency_keys",
        metadata,
        Column("id", BigIntPK, primary_key=True, autoincrement=True),
        Column("scope", String(64), nullable=False),
        Column("key", String(255), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("response_status", Integer, nullable=True),
        Column("response_body", Text, nullable=True),
        Column("response_content_type", String(100), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, index=True),
        Column("locked_until", DateTime(timezone=True), nullable=False),
        # Who holds an in_progress claim (shared.idempotency): on SQLite <host>/<pid>/<start>,
        # so a retry can tell that the claiming process died.
        Column("holder", String(128), nullable=True),
        UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
    )
    # The audit trail (shared.audit): ``seq`` orders the whole service (a sequence on
    # PostgreSQL, SQLite's rowid), ``chain``/``chain_seq`` place an entry in its hash chain.
    audit_log = Table(
        "audit_log",
        metadata,
        Column("seq", BigIntPK, primary_key=True, autoincrement=True),
        Column("chain", SmallInteger, nullable=False),
        Column("chain_seq", BigInteger, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("actor", String(128), nullable=False),
        Column("action", String(64), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("payload_hash", String(64), nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("entry_hash", String(64), nullable=False),
        Column("key_id", String(64), nullable=False),
        Column("signature", String(128), nullable=False),
        UniqueConstraint("chain", "chain_seq", name="uq_audit_log_chain_chain_seq"),
    )
    outbox = Table(
        "outbox_events",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("topic", String(64), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("owner", String(128), nullable=True),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("dispatched_at", DateTime(timezone=True), nullable=True, index=True),
    )
    subscriptions = Table(
        "webhook_subscriptions",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("url", Text, nullable=False),
        Column("topics", Text, nullable=False),
        Column("owner", String(128), nullable=True),
        Column("secret_enc", Text, nullable=False),
        Column("active", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    deliveries = Table(
        "webhook_deliveries",
        metadata,
        Column("id", BigIntPK, primary_key=True, autoincrement=True),
        Column("event_id", String(36), ForeignKey("outbox_events.id"), nullable=False),
        Column("subscription_id", String(36), ForeignKey("webhook_subscriptions.id"), nullable=False),
        Column("state", String(16), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
        Column("last_status_code", Integer, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("delivered_at", DateTime(timezone=True), nullable=True),
        # The lease of the worker sending it (shared.webhook_delivery.deliver_due): while
        # ``leased_until`` is in the future only the holder of ``lease_token`` may send it.
        Column("lease_token", String(36), nullable=True),
        Column("leased_until", DateTime(timezone=True), nullable=True),
        UniqueConstraint("event_id", "subscription_id", name="uq_webhook_deliveries_event_sub"),
    )
    inbox = Table(
        "webhook_inbox",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("source", String(64), nullable=False),
        Column("topic", String(64), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )
    jobs = Table(
        "jobs",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("kind", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("payload", Text, nullable=False),
        Column("progress", Text, nullable=True),
        Column("result", Text, nullable=True),
        Column("error", Text, nullable=True),
        Column("created_by", String(128), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=True),
        Column("finished_at", DateTime(timezone=True), nullable=True),
        # The lease of the worker running it (shared.jobs.claim_job): a job still ``running``
        # after ``lease_until`` lost its worker and is claimed again, ``attempt`` counting up.
        Column("lease_token", String(36), nullable=True),
        Column("lease_until", DateTime(timezone=True), nullable=True),
        Column("attempt", Integer, nullable=False),
        Index("ix_jobs_state_created_at", "state", "created_at"),
    )
    return PlatformTables(
        api_keys=api_keys,
        idempotency=idempotency,
        audit_log=audit_log,
        outbox=outbox,
        webhook_subscriptions=subscriptions,
        webhook_deliveries=deliveries,
        webhook_inbox=inbox,
        jobs=jobs,
    )

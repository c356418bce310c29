"""Append-only, hash-chained, signed audit trail (one chain per service).

Entry ``n`` stores the hash of its canonical payload, the hash of entry ``n-1``
(``GENESIS`` for the first), its own hash over
``{seq, created_at, actor, action, subject, payload_hash, prev_hash}`` and an Ed25519
signature of that hash. ``verify_chain`` walks the chain in ``seq`` order and names the
first entry that was edited (hash or signature mismatch), deleted (a gap in ``seq`` or a
broken link) or reordered (a link that points at the wrong predecessor).

Appends serialise on the chain head: a transaction-scoped advisory lock on PostgreSQL,
SQLite's single writer otherwise. The lock is held only until the appending transaction
commits, so the entry commits (or not) with the change it records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.clock import utc_iso
from shared.crypto import Keyring, canonical_json, sha256_hex
from shared.platform_tables import PlatformTables

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x61_75_64_69_74  # "audit"


@dataclass(frozen=True)
class ChainReport:
    """Result of verifying a chain."""

    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form; record ``head`` to detect a later truncation of the chain."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
            "head": f"{self.head_seq}:{self.head_hash}",
        }


def _entry_material(
    *,
    seq: int,
    created_at: datetime,
    actor: str,
    action: str,
    subject: str,
    payload_hash: str,
    prev_hash: str,
) -> str:
    return canonical_json(
        {
            "seq": seq,
            "created_at": utc_iso(created_at),
            "actor": actor,
            "action": action,
            "subject": subject,
            "payload_hash": payload_hash,
            "prev_hash": prev_hash,
        }
    )


def append_audit(
    session: Session,
    tables: PlatformTables,
    keyring: Keyring,
    *,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """Append one entry in the caller's transaction; return its sequence number."""
    t = tables.audit_log
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    head = session.execute(select(t.c.seq, t.c.entry_hash).order_by(t.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (1, GENESIS) if head is None else (int(head.seq) + 1, head.entry_hash)
    payload_json = canonical_json(payload)
    payload_hash = sha256_hex(payload_json)
    material = _entry_material(
        seq=seq,
        created_at=now,
        actor=actor,
        action=action,
        subject=subject,
        payload_hash=payload_hash,
        prev_hash=prev_hash,
    )
    entry_hash = sha256_hex(material)
    key_id, signature = keyring.sign(entry_hash)
    session.execute(
        t.insert().values(
            seq=seq,
            created_at=now,
            actor=actor,
            action=action,
            subject=subject,
            payload=payload_json,
            payload_hash=payload_hash,
            prev_hash=prev_hash,
            entry_hash=entry_hash,
            key_id=key_id,
            signature=signature,
        )
    )
    return seq


def verify_chain(
    session: Session, tables: PlatformTables, keyring: Keyring, *, expect_head: str | None = None
) -> ChainReport:
    """Walk the whole chain; report the first broken entry, if any.

    A chain whose newest entries were deleted is still internally consistent; only an anchor
    kept elsewhere shows it. ``expect_head`` (``"<seq>:<entry_hash>"`` from an earlier report)
    must still be in the chain, with the same hash.
    """
    t = tables.audit_log
    expected_seq, expected_prev, count = 1, GENESIS, 0
    anchor_seq, _, anchor_hash = (expect_head or "0:").partition(":")
    for row in session.execute(select(t).order_by(t.c.seq)).mappings():
        count += 1
        seq = int(row["seq"])
        if seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing")
        if sha256_hex(row["payload"]) != row["payload_hash"]:
            return ChainReport(False, count, seq, "payload does not match its hash (edited)")
        material = _entry_material(
            seq=seq,
            created_at=row["created_at"],
            actor=row["actor"],
            action=row["action"],
            subject=row["subject"],
            payload_hash=row["payload_hash"],
            prev_hash=row["prev_hash"],
        )
        if sha256_hex(material) != row["entry_hash"]:
            return ChainReport(False, count, seq, "entry does not match its hash (edited)")
        if row["prev_hash"] != expected_prev:
            return ChainReport(
                False, count, seq, "entry does not link to its predecessor (deleted or reordered)"
            )
        if not keyring.verify(row["key_id"], row["entry_hash"], row["signature"]):
            return ChainReport(False, count, seq, "signature does not verify")
        if str(seq) == anchor_seq and row["entry_hash"] != anchor_hash:
            return ChainReport(False, count, seq, "entry differs from the recorded head")
        expected_seq, expected_prev = seq + 1, row["entry_hash"]
    if anchor_seq.isdigit() and int(anchor_seq) >= expected_seq:
        reason = f"chain ends at {expected_seq - 1}; the recorded head {anchor_seq} is gone (truncated)"
        return ChainReport(False, count, expected_seq, reason)
    return ChainReport(True, count, head_seq=expected_seq - 1, head_hash=expected_prev)


def audit_entries(
    session: Session,
    tables: PlatformTables,
    *,
    subject: str | None = None,
    limit: int = 100,
    after_seq: int = 0,
) -> list[dict[str, Any]]:
    """Entries in order, optionally for one subject, for auditors."""
    t = tables.audit_log
    query = select(t).where(t.c.seq > after_seq).order_by(t.c.seq).limit(limit)
    if subject is not None:
        query = query.where(t.c.subject == subject)
    out = []
    for row in session.execute(query).mappings():
        item = dict(row)
        item["payload"] = json.loads(item["payload"])
        item["created_at"] = utc_iso(item["created_at"])
        out.append(item)
    return out

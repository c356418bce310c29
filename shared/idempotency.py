"""Idempotency keys for state-changing POSTs.

Protocol, per (API key, Idempotency-Key):

1. *claim* — in its own short transaction, insert a record holding the hash of method,
   path and body, state ``in_progress`` and a lease. A second request finding the record:
   a different hash → 422; still in progress → 409; completed → replay the stored response
   with ``Idempotent-Replayed: true``; lease expired without a response (the first attempt
   died before committing) → take the claim over.
2. *complete* — the stored response is written in the **same transaction** as the
   request's own changes, so a response is stored if and only if its effects committed.
3. *release* — when the request fails, the claim is deleted: nothing changed, the client
   may retry with the same key.

Stored responses are encrypted with the keyring's field keys (AES-GCM, the associated data
``idempotency:<scope>:<key>`` binds each to its own record), so the personal data a response
carries (a borrower's name, national id, phone) is never at rest in plain text; a replay
decrypts it for the key that made the first request.

Records are kept ``idempotency_ttl_hours`` (48 by default, at least 24) and then purged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.clock import as_utc
from shared.crypto import Keyring
from shared.db import Database
from shared.platform_tables import PlatformTables

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Claimed:
    """This request owns the key and must complete or release it."""

    record_id: int
    scope: str
    key: str


@dataclass(frozen=True)
class Replay:
    """A completed earlier request; answer with its stored response."""

    status: int
    body: str
    content_type: str


@dataclass(frozen=True)
class Mismatch:
    """The key was used before with a different request."""


@dataclass(frozen=True)
class InProgress:
    """The first request with this key is still running."""


ClaimOutcome = Claimed | Replay | Mismatch | InProgress


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 over method, path, query string and body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _sealing_context(scope: str, key: str) -> str:
    return f"idempotency:{scope}:{key}"


def open_response(keyring: Keyring, *, scope: str, key: str, stored: str) -> str:
    """The plain response body of a stored record (bodies stored before encryption pass as is)."""
    if not stored.startswith("v1."):
        return stored  # JSON never starts with "v"; records written before bodies were sealed
    return keyring.decrypt(stored, context=_sealing_context(scope, key))


def claim_key(
    db: Database,
    tables: PlatformTables,
    *,
    keyring: Keyring,
    scope: str,
    key: str,
    request_hash: str,
    now: datetime,
    lease: timedelta,
) -> ClaimOutcome:
    """Step 1: claim ``key`` for this request, or say why not."""
    t = tables.idempotency
    # Look first without the write lock: on SQLite a duplicate must not queue behind the
    # first request's transaction, it must see the committed claim and answer 409 at once.
    with db.unit_of_work(read_only=True) as session:
        seen = session.execute(select(t).where(t.c.scope == scope, t.c.key == key)).first()
    if seen is not None:
        if seen.request_hash != request_hash:
            return Mismatch()
        if seen.state == "in_progress" and as_utc(seen.locked_until) > now:
            return InProgress()
    for _ in range(2):
        with db.unit_of_work(gated=True) as session:
            row = session.execute(select(t).where(t.c.scope == scope, t.c.key == key)).first()
            if row is None:
                try:
                    with session.begin_nested():
                        result = session.execute(
                            t.insert().values(
                                scope=scope,
                                key=key,
                                request_hash=request_hash,
                                state="in_progress",
                                created_at=now,
                                locked_until=now + lease,
                            )
                        )
                except IntegrityError:
                    continue  # someone claimed it between our read and insert: look again
                pk = result.inserted_primary_key  # type: ignore[attr-defined]
                assert pk is not None
                return Claimed(record_id=int(pk[0]), scope=scope, key=key)
            if row.request_hash != request_hash:
                return Mismatch()
            if row.state == "completed":
                return Replay(
                    status=int(row.response_status),
                    body=open_response(keyring, scope=scope, key=key, stored=row.response_body or ""),
                    content_type=row.response_content_type or "application/json",
                )
            if as_utc(row.locked_until) > now:
                return InProgress()
            taken = session.execute(
                update(t)
                .where(t.c.id == row.id, t.c.state == "in_progress", t.c.locked_until == row.locked_until)
                .values(locked_until=now + lease)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return Claimed(record_id=int(row.id), scope=scope, key=key)
            return InProgress()
    return InProgress()


def complete_key(
    session: Session,
    tables: PlatformTables,
    *,
    keyring: Keyring,
    claim: Claimed,
    status: int,
    body: str,
    content_type: str,
) -> None:
    """Step 2: store the response (encrypted) inside the request's own transaction."""
    t = tables.idempotency
    sealed = keyring.encrypt(body, context=_sealing_context(claim.scope, claim.key))
    session.execute(
        update(t)
        .where(t.c.id == claim.record_id)
        .values(
            state="completed",
            response_status=status,
            response_body=sealed,
            response_content_type=content_type,
        )
    )


def release_key(db: Database, tables: PlatformTables, *, record_id: int) -> None:
    """Step 3 on failure: drop the claim so the client can retry."""
    t = tables.idempotency
    with db.unit_of_work(gated=True) as session:
        session.execute(delete(t).where(t.c.id == record_id, t.c.state == "in_progress"))


def purge_expired(session: Session, tables: PlatformTables, *, now: datetime, ttl: timedelta) -> int:
    """Delete records older than ``ttl``; return how many."""
    t = tables.idempotency
    result = session.execute(delete(t).where(t.c.created_at < now - ttl))
    return int(getattr(result, "rowcount", 0) or 0)

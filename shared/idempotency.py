"""Idempotency keys for state-changing POSTs.

Protocol, per (API key, Idempotency-Key):

1. *claim* — in its own short transaction, insert a record holding the hash of method,
   path and body, state ``in_progress`` and a lease. A second request finding the record:
   a different hash → 422; still in progress → 409; completed → replay the stored response
   with ``Idempotent-Replayed: true``; the holder of the claim died (see below) or its lease
   expired without a response → take the claim over.
2. *complete* — the stored response is written in the **same transaction** as the
   request's own changes, so a response is stored if and only if its effects committed.
3. *release* — when the request fails, the claim is deleted: nothing changed, the client
   may retry with the same key.

A claim whose holder died is taken over at once, not at the end of its lease:

- PostgreSQL: the claiming request holds a session-level advisory lock on the key (the
  claim's ``lock``, a connection of its own) from the claim until its response is stored or
  the claim released. A crashed process's connections close and the server drops their
  locks, so a retry that can take the lock knows any ``in_progress`` record is orphaned;
  one that cannot, knows its holder is alive and answers 409 (lease or no lease).
- SQLite (one host): the record names its holder, ``<host>/<pid>/<process start time>``;
  a record whose process is gone (no such pid, a zombie, or a pid reused by a process
  started later) is orphaned. Records of another host fall back to the lease.

Stored responses are encrypted with the keyring's field keys (AES-GCM, the associated data
``idempotency:<scope>:<key>`` binds each to its own record), so the personal data a response
carries (a borrower's name, national id, phone) is never at rest in plain text; a replay
decrypts it for the key that made the first request.

Records are kept ``idempotency_ttl_hours`` (48 by default, at least 24) and then purged.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
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
    lock: Connection | None = None
    """PostgreSQL: the connection holding the claim's advisory lock (see the module docstring)."""
    lock_id: int = 0


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


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc, or None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (fields[0], fields[19]) if len(fields) > 19 else None


@functools.cache
def _holder_of(pid: int) -> str:
    stat = _proc_stat(pid)
    return f"{socket.gethostname()}/{pid}/{stat[1] if stat else ''}"


def _this_process() -> str:
    """How a SQLite claim names its holder (computed per pid: a forked worker is its own)."""
    return _holder_of(os.getpid())


def holder_gone(holder: str | None) -> bool:
    """True when ``holder`` names a process of this host that no longer runs."""
    host, _, rest = (holder or "").partition("/")
    pid_text, _, started = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    stat = _proc_stat(pid)
    return stat is not None and (stat[0] == "Z" or (bool(started) and stat[1] != started))


def _advisory_id(scope: str, key: str) -> int:
    digest = hashlib.sha256(f"idempotency_keys:{scope}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _let_go(conn: Connection, lock_id: int) -> None:
    try:
        conn.execute(select(func.pg_advisory_unlock(lock_id)))
        conn.commit()
    except BaseException:
        conn.invalidate()  # closing the connection for good drops its locks
        raise
    finally:
        conn.close()


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
    args: dict[str, Any] = {
        "keyring": keyring,
        "scope": scope,
        "key": key,
        "request_hash": request_hash,
        "now": now,
        "lease": lease,
    }
    if db.is_sqlite:
        return _claim(
            db, tables, holder=_this_process(), orphaned=lambda row: holder_gone(row.holder), **args
        )
    lock_id = _advisory_id(scope, key)
    conn = db.engine.connect()
    try:
        locked = bool(conn.execute(select(func.pg_try_advisory_lock(lock_id))).scalar_one())
        conn.commit()
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    if not locked:
        conn.close()  # a live request holds the claim: never take it over, lease or no lease
        return _claim(db, tables, holder="postgresql", orphaned=lambda row: False, live_holder=True, **args)
    try:
        # Holding the lock, any in_progress record is an orphan: its holder's lock is gone.
        outcome = _claim(db, tables, holder="postgresql", orphaned=lambda row: True, **args)
    except BaseException:
        _let_go(conn, lock_id)
        raise
    if isinstance(outcome, Claimed):
        return replace(outcome, lock=conn, lock_id=lock_id)
    _let_go(conn, lock_id)
    return outcome


def _claim(
    db: Database,
    tables: PlatformTables,
    *,
    keyring: Keyring,
    scope: str,
    key: str,
    request_hash: str,
    now: datetime,
    lease: timedelta,
    holder: str,
    orphaned: Callable[[Any], bool],
    live_holder: bool = False,
) -> ClaimOutcome:
    t = tables.idempotency

    def running(row: Any) -> bool:
        return live_holder or (as_utc(row.locked_until) > now and not orphaned(row))

    def replay(row: Any) -> Replay:
        return Replay(
            status=int(row.response_status),
            body=open_response(keyring, scope=scope, key=key, stored=row.response_body or ""),
            content_type=row.response_content_type or "application/json",
        )

    # Look first without the write lock: on SQLite a duplicate must not queue behind the
    # first request's transaction, it must see the committed claim and answer 409 at once.
    with db.unit_of_work(read_only=True) as session:
        seen = session.execute(select(t).where(t.c.scope == scope, t.c.key == key)).first()
    if seen is not None:
        if seen.request_hash != request_hash:
            return Mismatch()
        if seen.state == "completed":
            return replay(seen)  # a completed record never changes: no write lock to read it
        if running(seen):
            return InProgress()
    elif live_holder:
        return InProgress()
    for _ in range(2):
        with db.unit_of_work(gated=True) as session:
            row = session.execute(select(t).where(t.c.scope == scope, t.c.key == key)).first()
            if row is None:
                if live_holder:
                    return InProgress()
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
                                holder=holder,
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
                return replay(row)
            if running(row):
                return InProgress()
            taken = session.execute(
                update(t)
                .where(t.c.id == row.id, t.c.state == "in_progress", t.c.locked_until == row.locked_until)
                .values(locked_until=now + lease, holder=holder)
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


def release_key(db: Database, tables: PlatformTables, *, claim: Claimed) -> None:
    """Step 3 on failure: drop the claim so the client can retry."""
    t = tables.idempotency
    try:
        with db.unit_of_work(gated=True) as session:
            session.execute(delete(t).where(t.c.id == claim.record_id, t.c.state == "in_progress"))
    finally:
        let_go(claim)


def let_go(claim: Claimed) -> None:
    """After the response is stored (or the claim dropped): give up the claim's advisory lock."""
    if claim.lock is not None and not claim.lock.closed:
        _let_go(claim.lock, claim.lock_id)


def purge_expired(session: Session, tables: PlatformTables, *, now: datetime, ttl: timedelta) -> int:
    """Delete records older than ``ttl``; return how many."""
    t = tables.idempotency
    result = session.execute(delete(t).where(t.c.created_at < now - ttl))
    return int(getattr(result, "rowcount", 0) or 0)

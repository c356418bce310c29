"""Idempotency keys for state-changing POSTs.

Protocol, per (API key, Idempotency-Key), all of it inside the request's own write
transaction (``shared.api`` drives it; there is no other transaction and no lock of its own):

1. *claim* — the first statement of the write transaction is
   ``INSERT INTO idempotency_keys (...) VALUES (..., 'in_progress', ...)
   ON CONFLICT (scope, key) DO NOTHING RETURNING id`` (``claim_key``). A returned id is the
   claim: the endpoint runs.
2. *complete* — just before the commit the record is updated to ``completed`` with the
   sealed response (``complete_key``), in the same transaction, so a response is stored if
   and only if the request's effects commit. A failed request rolls back and its claim
   vanishes with it: the client may retry with the same key at once.
3. *refusal* — no id returned: the key exists. On PostgreSQL the INSERT first waits until
   the transaction holding an uncommitted record for the key ends (that is what
   ``ON CONFLICT`` does with a conflicting row in flight), so a concurrent duplicate waits
   for the first request; on SQLite writers are serialised (write gate, ``BEGIN IMMEDIATE``)
   and the record it meets is always committed. The committed record is read in the same
   transaction: another request hash → ``Mismatch`` (422); the same one, completed →
   ``Replay`` (the stored response, ``Idempotent-Replayed: true``). The caller rolls its
   transaction back (a refused request's effects never commit) and answers with
   ``refusal_response``.

The scope of a key (``key_request``) is the caller's API key, and the person the console acts
for: a replay goes to the key that made the first request only.

A committed record is therefore always ``completed`` — except records written before this
protocol, which claimed in a transaction of their own with a lease (``locked_until``) and a
``holder``. For those only: an ``in_progress`` record whose lease has expired is taken over
(updated to this request's claim within its transaction), an unexpired one is ``InProgress``
(409). This rule exists only for those old records and disappears with them once they are
purged (``idempotency_ttl_hours``); new records fill ``locked_until`` with the claim's time
(the column is NOT NULL) and leave ``holder`` empty.

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
from functools import cache
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection, Insert, Select, Table, Update, bindparam, delete, select, update
from sqlalchemy.orm import Session

from shared.auth import bearer_token, hash_api_key
from shared.clock import as_utc
from shared.crypto import Keyring
from shared.db import insert_if_absent
from shared.errors import Conflict, ValidationProblem
from shared.platform_tables import PlatformTables

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class KeyRequest:
    """What a keyed request claims: its key, in its scope, for its request hash."""

    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class Claimed:
    """This request's transaction holds the key's record and must complete it before commit."""

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
    """A record of the old protocol (see the module docstring) whose lease still runs."""


ClaimOutcome = Claimed | Replay | Mismatch | InProgress


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 over method, path, query string and body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def key_request(request: Request, body: bytes) -> KeyRequest | None:
    """The request's Idempotency-Key (POST only), checked and scoped; None without one.

    Called once the route's dependencies have authenticated the caller: a revoked key gets
    its 401 before any stored response is looked at, and a replay goes to the key that made
    the first request only (the scope is that key's hash, and the person the console acts for).
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or request.method != "POST":
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValidationProblem([(f"header.{IDEMPOTENCY_HEADER}", f"must be 1-{MAX_KEY_LENGTH} characters")])
    token = bearer_token(request)
    scope = hash_api_key(token) if token else "anonymous"
    person = getattr(getattr(request.state, "principal", None), "person", None)
    if person is not None:  # the console's key acts for many people: each has its own keys
        scope = hash_api_key(f"{scope}:person:{person}")
    fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, body)
    return KeyRequest(scope=scope, key=key, request_hash=fingerprint)


def refusal_response(refusal: Replay | Mismatch | InProgress) -> Response:
    """The answer to a request whose key was used before (its transaction rolled back)."""
    if isinstance(refusal, Replay):
        return Response(
            refusal.body,
            status_code=refusal.status,
            media_type=refusal.content_type,
            headers={REPLAYED_HEADER: "true"},
        )
    if isinstance(refusal, Mismatch):
        raise ValidationProblem(
            [(f"header.{IDEMPOTENCY_HEADER}", "was already used with a different request")],
            detail="this Idempotency-Key was already used with a different request body",
        )
    raise Conflict(
        "a request with this Idempotency-Key is still being processed; retry later",
        current_state="in_progress",
    )


def _sealing_context(scope: str, key: str) -> str:
    return f"idempotency:{scope}:{key}"


def open_response(keyring: Keyring, *, scope: str, key: str, stored: str) -> str:
    """The plain response body of a stored record (bodies stored before encryption pass as is)."""
    if not stored.startswith("v1."):
        return stored  # JSON never starts with "v"; records written before bodies were sealed
    return keyring.decrypt(stored, context=_sealing_context(scope, key))


# Each statement is built once per table (and backend) and executed with parameters: building
# one per request would cost several times what executing it does.


@cache
def _claim_statement(t: Table, dialect_name: str) -> Insert:
    claim: Insert = insert_if_absent(t, dialect_name, ("scope", "key"), ("id",)).values(
        scope=bindparam("c_scope"),
        key=bindparam("c_key"),
        request_hash=bindparam("c_request_hash"),
        state="in_progress",
        created_at=bindparam("c_now"),
        locked_until=bindparam("c_now"),  # NOT NULL; a claim of this protocol has no lease
    )
    return claim


@cache
def _record_statement(t: Table) -> Select[Any]:
    return select(t).where(t.c.scope == bindparam("r_scope"), t.c.key == bindparam("r_key"))


@cache
def _complete_statement(t: Table) -> Update:
    return (
        update(t)
        .where(t.c.id == bindparam("r_id"))
        .values(
            state="completed",
            response_status=bindparam("r_status"),
            response_body=bindparam("r_body"),
            response_content_type=bindparam("r_content_type"),
        )
    )


def _insert_claim(conn: Connection, tables: PlatformTables, wanted: KeyRequest, now: datetime) -> int | None:
    statement = _claim_statement(tables.idempotency, conn.dialect.name)
    params = {
        "c_scope": wanted.scope,
        "c_key": wanted.key,
        "c_request_hash": wanted.request_hash,
        "c_now": now,
    }
    found = conn.execute(statement, params).scalar_one_or_none()
    return None if found is None else int(found)


def _record(conn: Connection | Session, t: Table, wanted: KeyRequest) -> Any:
    return conn.execute(_record_statement(t), {"r_scope": wanted.scope, "r_key": wanted.key}).first()


def claim_key(
    conn: Connection,
    tables: PlatformTables,
    *,
    keyring: Keyring,
    wanted: KeyRequest,
    now: datetime,
) -> ClaimOutcome:
    """Step 1, as the first statement of the request's write transaction on ``conn``."""
    t = tables.idempotency
    for _ in range(3):
        record_id = _insert_claim(conn, tables, wanted, now)
        if record_id is not None:
            return Claimed(record_id=record_id, scope=wanted.scope, key=wanted.key)
        # The key's record exists and is committed (read committed: this statement sees it).
        row = _record(conn, t, wanted)
        if row is None:
            continue  # purged between the two statements: claim again
        if (settled := _settled(keyring, wanted, row)) is not None:
            return settled
        if as_utc(row.locked_until) > now:
            return InProgress()  # an old-protocol claim whose lease still runs
        taken = conn.execute(
            update(t)
            .where(t.c.id == row.id, t.c.state == "in_progress", t.c.locked_until == row.locked_until)
            .values(locked_until=now, holder=None)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return Claimed(record_id=int(row.id), scope=wanted.scope, key=wanted.key)
        # Another request took that old record over first: look again at what it left.
    return InProgress()


def completed_answer(
    session: Session, tables: PlatformTables, *, keyring: Keyring, wanted: KeyRequest
) -> Replay | Mismatch | None:
    """The answer a completed record already gives ``wanted``, read without claiming anything.

    For endpoints that call another service before their first statement (``shared.api``'s
    ``calls_out_first``): a retry of a completed request is answered before it calls out
    again. Anything else (no record, one still in flight) is left to the claim.
    """
    row = _record(session, tables.idempotency, wanted)
    return None if row is None else _settled(keyring, wanted, row)


def _settled(keyring: Keyring, wanted: KeyRequest, row: Any) -> Replay | Mismatch | None:
    """What a committed record already answers: another request's hash, or its stored response;
    None for a record still in progress (written by the old protocol)."""
    if row.request_hash != wanted.request_hash:
        return Mismatch()
    if row.state == "completed":
        return _replay(keyring, wanted, row)
    return None


def _replay(keyring: Keyring, wanted: KeyRequest, row: Any) -> Replay:
    return Replay(
        status=int(row.response_status),
        body=open_response(keyring, scope=wanted.scope, key=wanted.key, stored=row.response_body or ""),
        content_type=row.response_content_type or "application/json",
    )


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
    sealed = keyring.encrypt(body, context=_sealing_context(claim.scope, claim.key))
    session.execute(
        _complete_statement(tables.idempotency),
        {"r_id": claim.record_id, "r_status": status, "r_body": sealed, "r_content_type": content_type},
    )


def purge_expired(session: Session, tables: PlatformTables, *, now: datetime, ttl: timedelta) -> int:
    """Delete records older than ``ttl``; return how many."""
    t = tables.idempotency
    result = session.execute(delete(t).where(t.c.created_at < now - ttl))
    return int(getattr(result, "rowcount", 0) or 0)

"""API-key authentication and role-based access, denied by default.

Keys travel as ``Authorization: Bearer <key>``; only their SHA-256 is stored (keys are 256
random bits, so a plain hash is not guessable). Each key has one role and, for some roles, an
owner. Every route declares who may call it with ``require_roles(...)`` or
``public_access()``; ``create_service_app`` refuses to start if any route declares neither.

Owners, and the credentials of services:

- a ``marketplace`` key always has an owner, its marketplace, and sees only that
  marketplace's records (``Principal.can_see``);
- a ``service`` key is one calling service's credential: its owner is the name of the
  service that holds it (``service:loans`` = role ``service``, owner ``loans``). Each calling
  service has its own, and a route admits a service only by name
  (``require_roles(Role.ADMIN, service_caller("loans"))``); a bare ``Role.SERVICE`` in
  ``require_roles`` is refused when the route is declared;
- a key of either role without an owner cannot be created (``create_api_key`` raises) and,
  if one was stored before this rule, is refused (403) on every route;
- the other roles (loan_officer, credit_manager, auditor, admin) carry no owner.

Revoking by prefix needs the prefix to name exactly one active key (12 characters of a key
hold only three random ones, so prefixes collide).

Each process caches key hash → Principal (``ctx.invalidation.cache(API_KEYS_TOPIC)``), so a
request with a key seen before runs no key look-up. Only active keys are cached; an unknown or
revoked key is looked up every time. Every revocation goes through ``revoke_api_key_hash``,
which bumps the topic: once it commits, every process and replica forgets its cached keys
(``shared.invalidation``: at once on SQLite and in the revoking process, on the next
notification on PostgreSQL). A key changed in the table by hand is not seen until the next
bump or restart. Keys carry no last-used time, so a cache hit has nothing to record.

People act through the console. The console signs people in (its own users, argon2
passwords) and calls the services with its credential, ``service:console``, plus three
headers naming the person it acts for: ``Agrifin-Acting-Person`` (username),
``Agrifin-Acting-Role`` (that person's role) and, for a marketplace operator,
``Agrifin-Acting-Owner``. Only that credential may send them: from any other caller the
headers are refused (403), never trusted. A request so made is authorised by the person's
role, attributed to the person in audit entries (``Principal.actor``), and compared by person
in maker-checker (``Principal.identity``); the console credential alone admits nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shared.db import new_id
from shared.errors import Conflict, Forbidden, NotFound, Unauthorized
from shared.invalidation import VersionedCache, bump
from shared.platform_tables import PlatformTables

ACCESS_MARKER = "__agrifin_access__"
API_KEYS_TOPIC = "auth.api_keys"
"""The invalidation topic of the per-process key → principal cache, bumped by every revocation."""


class Role(StrEnum):
    """The roles an API key can carry."""

    LOAN_OFFICER = "loan_officer"
    CREDIT_MANAGER = "credit_manager"
    MARKETPLACE = "marketplace"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SERVICE = "service"


OWNED_ROLES = frozenset({Role.MARKETPLACE, Role.SERVICE})
"""Roles whose keys must be bound to an owner (a marketplace; the calling service's name)."""

PERSON_ROLES = frozenset({Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN, Role.MARKETPLACE})
"""The roles a person (a console user) can hold."""

CONSOLE_CALLER = "console"
"""The one calling service that may act on behalf of a person (``service:console``)."""
ACTING_PERSON_HEADER = "Agrifin-Acting-Person"
ACTING_ROLE_HEADER = "Agrifin-Acting-Role"
ACTING_OWNER_HEADER = "Agrifin-Acting-Owner"
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""A person's username: lower-case letters, digits, ``.``, ``_``, ``-``; at most 64 characters."""


@dataclass(frozen=True)
class Caller:
    """Who a route admits: a role, optionally pinned to one owner (``service:loans``)."""

    role: Role
    owner: str | None = None

    def admits(self, principal: Principal) -> bool:
        """Whether ``principal`` is this caller."""
        return principal.role is self.role and (self.owner is None or principal.owner == self.owner)

    def __str__(self) -> str:
        return f"{self.role.value}:{self.owner}" if self.owner else self.role.value


def service_caller(name: str) -> Caller:
    """The credential of the calling service ``name`` (a ``service`` key owned by ``name``)."""
    return Caller(Role.SERVICE, name)


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid API key."""

    key_id: str
    role: Role
    owner: str | None
    person: str | None = None
    """The username of the person the console acts for; None for a plain API key."""

    @property
    def credential(self) -> str:
        """The caller as routes name it: the role, or ``service:<name>`` for a service."""
        return f"{self.role.value}:{self.owner}" if self.role is Role.SERVICE else self.role.value

    @property
    def actor(self) -> str:
        """How the caller is named in audit entries (``person:<username>:<role>:via:<key id>``)."""
        if self.person is not None:
            return f"person:{self.person}:{self.role.value}:via:{self.key_id}"
        suffix = f":{self.owner}" if self.owner else ""
        return f"{self.role.value}:{self.key_id}{suffix}"

    @property
    def identity(self) -> str:
        """Who this is for maker-checker: the person when there is one, else the key."""
        return f"person:{self.person}" if self.person is not None else f"key:{self.key_id}"

    def can_see(self, owner: str | None) -> bool:
        """Owner scoping: a key bound to an owner sees only that owner's records."""
        return self.owner is None or self.owner == owner


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def bearer_token(request: Request) -> str | None:
    """The bearer token of a request, if it carries one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def create_api_key(
    session: Session,
    tables: PlatformTables,
    *,
    role: Role,
    owner: str | None,
    label: str | None,
    now: datetime,
    key: str | None = None,
) -> tuple[str, str]:
    """Store a new key (or a given one) for ``role``; return (key_id, plaintext key).

    Raises ValueError for a marketplace or service key without an owner."""
    if owner is not None and (not owner.strip() or owner != owner.strip()):
        raise ValueError(f"an owner is a name without surrounding spaces, not {owner!r}")
    if role in OWNED_ROLES and not owner:
        raise ValueError(f"a {role.value} key needs an owner (the marketplace, or the calling service)")
    plaintext = key or f"agf_{role.value[:4]}_{secrets.token_urlsafe(32)}"
    key_id = new_id()
    session.execute(
        tables.api_keys.insert().values(
            id=key_id,
            key_hash=hash_api_key(plaintext),
            prefix=plaintext[:12],
            role=role.value,
            owner=owner,
            label=label,
            created_at=now,
            revoked_at=None,
        )
    )
    return key_id, plaintext


def list_api_keys(session: Session, tables: PlatformTables) -> list[dict[str, Any]]:
    """Every key's metadata (never the key itself)."""
    t = tables.api_keys
    rows = session.execute(select(t).order_by(t.c.created_at)).mappings()
    return [{k: v for k, v in row.items() if k != "key_hash"} for row in rows]


def active_key_hashes(session: Session, tables: PlatformTables, ref: str) -> dict[str, str]:
    """The active keys whose id or prefix is ``ref``: {key_hash: key_id}."""
    t = tables.api_keys
    rows = session.execute(
        select(t.c.id, t.c.key_hash).where((t.c.id == ref) | (t.c.prefix == ref), t.c.revoked_at.is_(None))
    )
    return {row.key_hash: row.id for row in rows}


def revoke_api_key(session: Session, tables: PlatformTables, *, key_id: str, now: datetime) -> str:
    """Revoke the one active key whose id or prefix is ``key_id``; return its hash.

    NotFound when none matches; Conflict when a prefix matches several (give the id)."""
    matches = active_key_hashes(session, tables, key_id)
    if not matches:
        raise NotFound(f"no active API key {key_id!r}")
    if len(matches) > 1:
        raise Conflict(
            f"{key_id!r} matches {len(matches)} active API keys; revoke one by its id",
            key_ids=sorted(matches.values()),
        )
    (key_hash,) = matches
    revoke_api_key_hash(session, tables, key_hash=key_hash, now=now)
    return key_hash


def revoke_api_key_hash(session: Session, tables: PlatformTables, *, key_hash: str, now: datetime) -> bool:
    """Revoke the key stored as ``key_hash`` (the same key in another service); False if none."""
    t = tables.api_keys
    result = session.execute(
        update(t).where(t.c.key_hash == key_hash, t.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    revoked = bool(getattr(result, "rowcount", 0))
    if revoked:  # every process forgets the key when this commits (shared.invalidation)
        bump(session, API_KEYS_TOPIC)
    return revoked


def key_principal(session: Session, tables: PlatformTables, key_hash: str) -> Principal:
    """The Principal of the active key stored as ``key_hash``; Unauthorized for an unknown or
    revoked key (never cached: ``authenticate`` caches only what this returns)."""
    t = tables.api_keys
    row = session.execute(
        select(t.c.id, t.c.role, t.c.owner, t.c.revoked_at).where(t.c.key_hash == key_hash)
    ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return Principal(key_id=row.id, role=Role(row.role), owner=row.owner)


def _key_hash(request: Request) -> str:
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer API key (Authorization: Bearer <key>)")
    return hash_api_key(token)


def _api_keys(request: Request) -> VersionedCache[str, Principal]:
    keys: VersionedCache[str, Principal] = request.app.state.ctx.invalidation.cache(API_KEYS_TOPIC)
    return keys


def authenticate(request: Request) -> Principal:
    """Resolve the request's bearer key to a Principal or raise 401."""
    key_hash = _key_hash(request)
    ctx = request.app.state.ctx
    session: Session = request.state.session
    principal = _api_keys(request).get(key_hash, lambda: key_principal(session, ctx.tables, key_hash))
    return _admitted_key(request, principal)


async def authenticate_async(request: Request) -> Principal:
    """``authenticate`` on the event loop when the key's principal is cached (no database
    read, so no hand-off to a worker thread); in a worker thread when it must be looked up."""
    principal = _api_keys(request).cached(_key_hash(request))
    if principal is None:
        return await run_in_threadpool(authenticate, request)
    return _admitted_key(request, principal)


def _admitted_key(request: Request, principal: Principal) -> Principal:
    """The checks after a key's look-up: an owner where the role needs one, the acting person."""
    if principal.role in OWNED_ROLES and not principal.owner:
        # Stored before owners were required: such a key would act for every owner.
        raise Forbidden(f"this {principal.role.value} key is bound to no owner; issue one with an owner")
    principal = acting_person(request, principal)
    request.state.principal = principal
    return principal


def acting_person(request: Request, principal: Principal) -> Principal:
    """The person the console acts for, when the request names one; else ``principal``.

    Only the console's credential may name a person: from any other caller the headers are
    refused, so no caller can borrow a person's name or role by sending them."""
    person = request.headers.get(ACTING_PERSON_HEADER)
    role = request.headers.get(ACTING_ROLE_HEADER)
    owner = request.headers.get(ACTING_OWNER_HEADER)
    if person is None and role is None and owner is None:
        return principal
    if not (principal.role is Role.SERVICE and principal.owner == CONSOLE_CALLER):
        raise Forbidden(
            f"only the console's credential may act on behalf of a person; {principal.credential!r} may not"
        )
    if person is None or not USERNAME_PATTERN.fullmatch(person):
        raise Forbidden(f"{ACTING_PERSON_HEADER} must name a console user (lower-case username)")
    try:
        acting_role = Role(role or "")
    except ValueError:
        acting_role = None
    if acting_role is None or acting_role not in PERSON_ROLES:
        raise Forbidden(f"{ACTING_ROLE_HEADER} must be a person's role: {', '.join(sorted(PERSON_ROLES))}")
    if (acting_role is Role.MARKETPLACE) != bool(owner):
        raise Forbidden(f"{ACTING_OWNER_HEADER} names a marketplace operator's marketplace, and only then")
    return Principal(key_id=principal.key_id, role=acting_role, owner=owner or None, person=person)


Access = Callable[[Request], Coroutine[Any, Any, Principal]]
"""A route's access dependency (``require_roles``): the admitted caller's Principal, or 401/403."""


def require_roles(*callers: Role | Caller) -> Access:
    """A dependency admitting only ``callers``; use as ``Depends(require_roles(...))``.

    A service is admitted by name only (``service_caller("loans")``), never as a bare role."""
    specs = tuple(c if isinstance(c, Caller) else Caller(c) for c in callers)
    if any(spec.role is Role.SERVICE and spec.owner is None for spec in specs):
        raise ValueError("admit a calling service by name (service_caller('loans')), not every service")
    names = tuple(sorted({str(spec) for spec in specs}))

    async def dependency(request: Request) -> Principal:
        principal = await authenticate_async(request)
        if not any(spec.admits(principal) for spec in specs):
            raise Forbidden(
                f"{principal.credential!r} may not call this endpoint",
                allowed_roles=list(names),
            )
        return principal

    setattr(dependency, ACCESS_MARKER, names)
    return dependency


def public_access() -> Callable[[], None]:
    """A dependency that marks a route as deliberately open to everyone."""

    def dependency() -> None:
        return None

    setattr(dependency, ACCESS_MARKER, ("public",))
    return dependency


def declared_access(dependencies: Sequence[Any]) -> tuple[str, ...] | None:
    """The access a FastAPI dependant tree declares, or None when it declares nothing."""
    for dep in dependencies:
        marker = getattr(dep.call, ACCESS_MARKER, None)
        if marker is not None:
            return tuple(marker)
        nested = declared_access(dep.dependencies)
        if nested is not None:
            return nested
    return None

"""API-key authentication and role-based access, denied by default.

Keys travel as ``Authorization: Bearer <key>``; only their SHA-256 is stored (keys are 256
random bits, so a plain hash is not guessable). Each key has one role and optionally an
owner (a marketplace key sees only its own records). Every route declares who may call
it with ``require_roles(...)`` or ``public_access()``; ``create_service_app`` refuses to
start if any route declares neither.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db import new_id
from shared.errors import Forbidden, NotFound, Unauthorized
from shared.platform_tables import PlatformTables

ACCESS_MARKER = "__agrifin_access__"


class Role(StrEnum):
    """The roles an API key can carry."""

    LOAN_OFFICER = "loan_officer"
    CREDIT_MANAGER = "credit_manager"
    MARKETPLACE = "marketplace"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid API key."""

    key_id: str
    role: Role
    owner: str | None

    @property
    def actor(self) -> str:
        """How the caller is named in audit entries."""
        suffix = f":{self.owner}" if self.owner else ""
        return f"{self.role.value}:{self.key_id}{suffix}"

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
    """Store a new key (or a given one) for ``role``; return (key_id, plaintext key)."""
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


def revoke_api_key(session: Session, tables: PlatformTables, *, key_id: str, now: datetime) -> None:
    """Revoke a key by id or prefix; NotFound when no active key matches."""
    t = tables.api_keys
    result = session.execute(
        update(t)
        .where((t.c.id == key_id) | (t.c.prefix == key_id), t.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if getattr(result, "rowcount", 0) == 0:
        raise NotFound(f"no active API key {key_id!r}")


def authenticate(request: Request) -> Principal:
    """Resolve the request's bearer key to a Principal or raise 401."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer API key (Authorization: Bearer <key>)")
    ctx = request.app.state.ctx
    session: Session = request.state.session
    t = ctx.tables.api_keys
    row = session.execute(
        select(t.c.id, t.c.role, t.c.owner, t.c.revoked_at).where(t.c.key_hash == hash_api_key(token))
    ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    principal = Principal(key_id=row.id, role=Role(row.role), owner=row.owner)
    request.state.principal = principal
    return principal


def require_roles(*roles: Role) -> Callable[[Request], Principal]:
    """A dependency admitting only ``roles``; use as ``Depends(require_roles(...))``."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if principal.role not in allowed:
            raise Forbidden(
                f"role {principal.role.value!r} may not call this endpoint",
                allowed_roles=sorted(r.value for r in allowed),
            )
        return principal

    setattr(dependency, ACCESS_MARKER, tuple(sorted(r.value for r in allowed)))
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

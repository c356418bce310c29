"""The apps and the callers the security tests try: every role, each service credential,
no key, an unknown key, a revoked key, and a stored key of an owned role without an owner."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

import shared.auth as shared_auth
from services.escrow.app import create_app as escrow_app
from services.loans.app import create_app as loans_app
from services.scoring.app import create_app as scoring_app
from shared.auth import Role, create_api_key, declared_access, hash_api_key
from shared.platform import ServiceContext
from tests.loans.kit import FakeScoring
from tests.support import issue_key

SERVICES = ("scoring", "escrow", "loans")
APPS: dict[str, Callable[[ServiceContext], FastAPI]] = {
    "scoring": scoring_app,
    "escrow": escrow_app,
    "loans": lambda ctx: loans_app(ctx, scoring_client=FakeScoring().client()),
}
OWNER = "mkt-a"
OTHER_OWNER = "mkt-b"


INBOUND_SECRETS = {"loans": "escrow_webhook_secret", "scoring": "loans_webhook_secret"}
"""The secret each receiving service verifies another service's events with."""


def configured(service: str, ctx: ServiceContext) -> ServiceContext:
    """Settings a deployed service would have (loans verifies escrow's events with a secret, scoring
    loans' events)."""
    if service in INBOUND_SECRETS:
        ctx.settings = ctx.settings.model_copy(update={INBOUND_SECRETS[service]: "whsec_configured"})
    return ctx


def owned_roles() -> frozenset[Role]:
    """Roles whose keys are bound to an owner, as ``shared.auth`` declares them."""
    return frozenset(shared_auth.OWNED_ROLES)


@dataclass(frozen=True)
class Caller:
    """One caller the matrix tries: a label, and the role/owner of its key (None: no key)."""

    label: str
    role: Role | None
    owner: str | None = None
    authenticates: bool = True  # False: no, unknown, revoked or ownerless key: never admitted


def callers() -> list[Caller]:
    """Every role (a marketplace with its owner, a service key per service), then the refused."""
    found: list[Caller] = []
    owned = owned_roles()
    for role in Role:
        if role is Role.SERVICE and role in owned:
            # each service's credential, and the console's: alone (no acting person) it admits nothing
            found += [Caller(f"service:{name}", role, name) for name in (*SERVICES, "console")]
        elif role in owned:
            found.append(Caller(f"{role.value}:{OWNER}", role, OWNER))
        else:
            found.append(Caller(role.value, role))
    found += [
        Caller("no key", None, authenticates=False),
        Caller("unknown key", None, authenticates=False),
        Caller("revoked admin key", Role.ADMIN, authenticates=False),
    ]
    found += [Caller(f"{r.value} without owner", r, authenticates=False) for r in sorted(owned)]
    return found


def headers_for(ctx: ServiceContext, all_callers: list[Caller]) -> dict[str, dict[str, str]]:
    """Authorization headers for each caller, keys stored in ``ctx``'s database."""
    headers: dict[str, dict[str, str]] = {}
    for caller in all_callers:
        if caller.label == "no key":
            headers[caller.label] = {}
            continue
        if caller.label == "unknown key":
            key = "agf_admi_" + "x" * 43
        elif caller.label == "revoked admin key":
            key = issue_key(ctx, Role.ADMIN)
            with ctx.db.unit_of_work() as session:
                session.execute(
                    ctx.tables.api_keys.update()
                    .where(ctx.tables.api_keys.c.key_hash == hash_api_key(key))
                    .values(revoked_at=ctx.clock.now())
                )
        elif caller.label.endswith("without owner"):
            key = _stored_without_owner(ctx, caller.role)
        else:
            assert caller.role is not None
            key = issue_key(ctx, caller.role, caller.owner)
        headers[caller.label] = {"Authorization": f"Bearer {key}"}
    return headers


def _stored_without_owner(ctx: ServiceContext, role: Role | None) -> str:
    """A key of an owned role stored with no owner (as before owners were required)."""
    assert role is not None
    with ctx.db.unit_of_work() as session:
        try:
            _, key = create_api_key(
                session, ctx.tables, role=role, owner=None, label="legacy", now=ctx.clock.now()
            )
        except ValueError:
            _, key = create_api_key(
                session, ctx.tables, role=role, owner="x", label="legacy", now=ctx.clock.now()
            )
            t = ctx.tables.api_keys
            session.execute(t.update().where(t.c.key_hash == hash_api_key(key)).values(owner=None))
    return key


def declared(route: APIRoute) -> tuple[str, ...]:
    """The access a route declares (``public``, role names, ``service:<name>``)."""
    access = declared_access(route.dependant.dependencies)
    assert access is not None, route.path
    return access


def admits(access: tuple[str, ...], caller: Caller) -> bool:
    """Whether a route declaring ``access`` lets ``caller`` past authentication."""
    if "public" in access:
        return True
    if not caller.authenticates or caller.role is None:
        return False
    if caller.role is Role.SERVICE:
        return caller.label in access or "service" in access
    return caller.role.value in access


def concrete(path: str) -> str:
    """A path with every parameter replaced by an id that names nothing."""
    return re.sub(r"\{[^}]+\}", "does-not-exist", path)


def problem_json(response: Any) -> bool:
    """An ``application/problem+json`` answer with a status and a detail."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return False
    body = response.json()
    return bool(body.get("status") == response.status_code and body.get("detail"))

"""Bad input never gets a 500 and never a non-problem answer, on any route of any service.

Every state-changing route of every service is sent a battery of malformed bodies by a key
whose role the route admits, with made-up path parameters. Whatever the route, the answer is a
4xx ``application/problem+json`` with a ``detail``, and the refused request wrote nothing
(outbox, audit chain and idempotency records unchanged). The only 2xx allowed is a JSON
object (or null) sent to a route whose body is entirely optional: a valid request.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from services.escrow.app import create_app as escrow_app
from services.loans.app import create_app as loans_app
from services.scoring.app import create_app as scoring_app
from shared.app import api_routes
from shared.auth import Role, declared_access
from shared.platform import ServiceContext
from tests.loans.kit import FakeScoring
from tests.security.kit import configured
from tests.support import auth, count_rows, issue_key

BODIES: list[tuple[str, bytes]] = [
    ("empty object", b"{}"),
    ("array", b"[]"),
    ("string", b'"hello"'),
    ("null", b"null"),
    ("truncated", b'{"a": '),
    (
        "wrong types",
        b'{"amount_minor": "lots", "date": 12, "segment": 7, "features": [1], '
        b'"lots": "none", "currency": 978, "principal_minor": -1, "seller_minor": 1.5}',
    ),
    ("huge number", b'{"amount_minor": 1' + b"0" * 400 + b', "principal_minor": 1e999}'),
    ("unknown fields", b'{"\\u0000": "\\ud800", "zzz": {"deep": [[[[[]]]]]}}'),
]

OBJECT_BODIES = {"empty object", "unknown fields", "null"}  # valid where the body is optional

APPS: dict[str, Callable[[ServiceContext], FastAPI]] = {
    "scoring": scoring_app,
    "escrow": escrow_app,
    "loans": lambda ctx: loans_app(ctx, scoring_client=FakeScoring().client()),
}


def _admitted(route: APIRoute) -> str:
    """A caller the route admits (a role, or ``service:<name>``), so the request reaches body validation."""
    access = declared_access(route.dependant.dependencies) or ()
    callers = [name for name in access if name != "public"]
    return callers[0] if callers else Role.ADMIN.value


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "does-not-exist", path)


@pytest.mark.parametrize("service", sorted(APPS))
def test_malformed_bodies_get_problems_and_change_nothing(
    service: str, make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = configured(service, make_ctx(service))
    client = client_for(APPS[service](ctx), raise_server_exceptions=False)
    keys = {
        role.value: issue_key(ctx, role, "shop-1" if role is Role.MARKETPLACE else None)
        for role in Role
        if role is not Role.SERVICE
    }
    keys |= {f"service:{name}": issue_key(ctx, Role.SERVICE, name) for name in sorted(APPS)}
    posts = [r for r in api_routes(client.app.routes) if "POST" in (r.methods or set())]  # type: ignore[arg-type]
    assert posts, f"{service} has no POST routes?"
    tables = (ctx.tables.outbox, ctx.tables.audit_log, ctx.tables.idempotency)
    for route in posts:
        for n, (label, body) in enumerate(BODIES):
            before = [count_rows(ctx, t) for t in tables]
            response = client.post(
                _concrete(route.path),
                content=body,
                headers=auth(
                    keys[_admitted(route)],
                    **{"Content-Type": "application/json", "Idempotency-Key": f"k-{n}"},
                ),
            )
            where = f"{service} POST {route.path} with {label}: {response.status_code} {response.text[:300]}"
            if response.status_code < 300 and label in OBJECT_BODIES and "{" not in route.path:
                continue  # every field of this body is optional: a valid request
            assert 400 <= response.status_code < 500, where
            assert response.headers["content-type"] == "application/problem+json", where
            problem = response.json()
            assert problem["status"] == response.status_code and problem["detail"], where
            assert [count_rows(ctx, t) for t in tables] == before, f"refused but wrote: {where}"

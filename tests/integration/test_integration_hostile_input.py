"""Hostile input gets a 4xx problem on every route of every service, never a 5xx.

A NUL in a path, a query value or a JSON string, an integer no BIGINT holds (in an integer
query parameter or anywhere in a body), a number overflowing to infinity and NaN/Infinity
are 422 problems naming where; a header that is not UTF-8 is a 400 problem on any route,
``/healthz`` included. A refused request writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from services.escrow.app import create_app as escrow_app
from services.loans.app import create_app as loans_app
from services.scoring.app import create_app as scoring_app
from shared.api import ServiceRoute
from shared.app import api_routes
from shared.auth import Role, declared_access
from shared.platform import ServiceContext
from tests.loans.kit import FakeScoring
from tests.support import assert_problem, auth, count_rows, issue_key

APPS: dict[str, Callable[[ServiceContext], FastAPI]] = {
    "scoring": scoring_app,
    "escrow": escrow_app,
    "loans": lambda ctx: loans_app(ctx, scoring_client=FakeScoring().client()),
}

BODIES: list[tuple[str, bytes, str]] = [
    ("NUL in a string", b'{"name": "Wanjiru\\u0000", "id": "x"}', "name"),
    ("NUL in a nested string", b'{"features": {"main_crop": ["maize", "\\u0000"]}}', "features.main_crop.1"),
    ("2^63", b'{"amount_minor": 9223372036854775808}', "amount_minor"),
    ("-2^63", b'{"principal_minor": -9223372036854775808}', "principal_minor"),
    ("a 400-digit integer", b'{"x": {"y": 1' + b"0" * 400 + b"}}", "x.y"),
    ("1e400", b'{"features": {"land_area_ha": 1e400}}', "features.land_area_ha"),
    ("NaN", b'{"rate": NaN}', "rate"),
    ("-Infinity", b"[-Infinity]", "0"),
]


def _keys(ctx: ServiceContext) -> dict[Role, str]:
    """A key per role (marketplace and service keys carry an owner)."""
    owned = {Role.MARKETPLACE: "market-1", Role.SERVICE: "loans"}
    return {role: issue_key(ctx, role, owner=owned.get(role)) for role in Role}


def _admitted(route: APIRoute) -> Role:
    access = declared_access(route.dependant.dependencies) or ()
    roles = [Role(name) for name in access if name in set(Role)]
    return Role.ADMIN if not roles or Role.ADMIN in roles else roles[0]


def _routes(app: FastAPI, method: str) -> list[APIRoute]:
    return [
        r
        for r in api_routes(app.routes)  # type: ignore[arg-type]
        if method in (r.methods or set()) and isinstance(r, ServiceRoute)
    ]


def _concrete(path: str, value: str = "does-not-exist") -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def _fields(response: object) -> set[str]:
    problem = assert_problem(response, 422)
    return {e["field"] for e in problem["errors"]}


@pytest.fixture(params=sorted(APPS))
def service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_hostile_bodies_are_422_naming_the_field_and_write_nothing(
    service: str, make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx(service)
    client = client_for(APPS[service](ctx), raise_server_exceptions=False)
    keys = _keys(ctx)
    tables = (ctx.tables.outbox, ctx.tables.audit_log, ctx.tables.idempotency)
    before = [count_rows(ctx, t) for t in tables]
    posts = _routes(client.app, "POST")  # type: ignore[arg-type]
    assert posts
    for route in posts:
        for n, (label, body, field) in enumerate(BODIES):
            response = client.post(
                _concrete(route.path),
                content=body,
                headers=auth(
                    keys[_admitted(route)],
                    **{"Content-Type": "application/json", "Idempotency-Key": f"h-{n}"},
                ),
            )
            assert field in _fields(response), f"{service} POST {route.path} with {label}: {response.text}"
    assert [count_rows(ctx, t) for t in tables] == before


def test_nul_and_huge_integers_in_paths_and_queries_are_422(
    service: str, make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx(service)
    client = client_for(APPS[service](ctx), raise_server_exceptions=False)
    keys = _keys(ctx)
    gets = _routes(client.app, "GET")  # type: ignore[arg-type]
    checked_ints = 0
    for route in gets:
        headers = auth(keys[_admitted(route)])
        if "{" in route.path:
            response = client.get(_concrete(route.path, "abc%00def"), headers=headers)
            assert "path" in _fields(response), f"{service} GET {route.path}: {response.text}"
        response = client.get(_concrete(route.path), params={"q": "a\x00b"}, headers=headers)
        assert "query.q" in _fields(response), f"{service} GET {route.path}: {response.text}"
        for name in sorted(route.int_params):  # type: ignore[attr-defined]
            for value in (str(2**63), str(-(2**63)), "1" + "0" * 5000):
                response = client.get(_concrete(route.path), params={name: value}, headers=headers)
                assert f"query.{name}" in _fields(response), f"{service} GET {route.path}?{name}={value[:30]}"
                checked_ints += 1
    assert checked_ints > 0, f"{service} has no integer query parameters?"


def _raw(app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, Any]:
    """Call the ASGI app with header bytes exactly as given (TestClient re-encodes them)."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert (b"content-type", b"application/problem+json") in start["headers"], start
    return int(start["status"]), json.loads(body)


def test_a_header_that_is_not_utf8_is_400_on_any_route(
    service: str, make_ctx: Callable[[str], ServiceContext]
) -> None:
    ctx = make_ctx(service)
    app = APPS[service](ctx)
    key = issue_key(ctx, Role.ADMIN)
    tables = (ctx.tables.outbox, ctx.tables.audit_log, ctx.tables.idempotency)
    before = [count_rows(ctx, t) for t in tables]
    bad = (b"x-trace", b"\xff\xfe caf\xe9")
    for method, path in [("GET", "/healthz"), ("GET", "/readyz")]:
        status, problem = _raw(app, method, path, [bad])
        assert (status, problem["status"]) == (400, 400) and "x-trace" in problem["detail"]
    post = _routes(app, "POST")[0]
    status, problem = _raw(
        app,
        "POST",
        _concrete(post.path),
        [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json"), bad],
    )
    assert (status, problem["status"]) == (400, 400), problem
    assert [count_rows(ctx, t) for t in tables] == before

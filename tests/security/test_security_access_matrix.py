"""The role × endpoint matrix: exactly the declared callers get past authentication.

For every route of every service (read from the app, as its OpenAPI document is), every
caller of ``kit.callers()`` is tried: each role, each service credential (``service:<name>``),
no key, an unknown key, a revoked key and a stored key of an owned role without an owner.
A caller the route declares must not get 401/403; every other caller must get 401 (no
usable key) or 403 (a key of another role), as problem+json; a public route (some check a
signature instead) answers every caller alike. Another owner's key is tried on
real records: a second marketplace can neither read nor act on the first one's escrows.

What each route admits is also snapshotted in ``access_matrix.json``, reviewed by a human
when it changes: a route whose access changes silently fails here. Regenerate with
``AGRIFIN_UPDATE_ACCESS_MATRIX=1``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared.app import api_routes
from shared.auth import Role
from shared.platform import ServiceContext
from tests.factories.escrow import EscrowPayloadFactory
from tests.security.kit import (
    APPS,
    OTHER_OWNER,
    OWNER,
    SERVICES,
    admits,
    callers,
    concrete,
    configured,
    declared,
    headers_for,
    problem_json,
)
from tests.support import auth, issue_key

# Valid bodies, so that only ownership can refuse the other marketplace's request.
VALID_BODIES = {
    "ship": {"carrier": "G4S", "tracking": "T-1"},
    "dispute": {"reason": "short weight"},
    "resolve": {"seller_minor": 1},
}
SNAPSHOT = Path(__file__).with_name("access_matrix.json")
UPDATE = os.environ.get("AGRIFIN_UPDATE_ACCESS_MATRIX") == "1"


def expected_matrix(service: str, ctx: ServiceContext) -> dict[str, list[str]]:
    """``METHOD path`` → the callers it admits (labels), derived from the declared access."""
    app = APPS[service](configured(service, ctx))
    matrix: dict[str, list[str]] = {}
    for route in api_routes(app.routes):
        access = declared(route)
        for method in sorted(route.methods or ()):
            admitted = ["public"] if "public" in access else [c.label for c in callers() if admits(access, c)]
            matrix[f"{method} {route.path}"] = admitted
    return matrix


@pytest.mark.parametrize("service", SERVICES)
def test_access_is_what_the_reviewed_matrix_says(
    service: str, make_ctx: Callable[[str], ServiceContext]
) -> None:
    matrix = expected_matrix(service, make_ctx(service))
    snapshot = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    if UPDATE:
        snapshot[service] = matrix
        SNAPSHOT.write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
    assert service in snapshot, f"no reviewed matrix for {service}: AGRIFIN_UPDATE_ACCESS_MATRIX=1"
    changed = {
        route: (snapshot[service].get(route), now)
        for route, now in matrix.items()
        if snapshot[service].get(route) != now
    }
    gone = sorted(set(snapshot[service]) - set(matrix))
    assert not changed and not gone, f"access changed (reviewed, now): {changed}; routes gone: {gone}"


@pytest.mark.parametrize("service", SERVICES)
def test_exactly_the_declared_callers_get_past_auth(
    service: str, make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = configured(service, make_ctx(service))
    client = client_for(APPS[service](ctx), raise_server_exceptions=False)
    everyone = callers()
    headers = headers_for(ctx, everyone)
    wrong: list[str] = []
    tried = 0
    for route in api_routes(client.app.routes):  # type: ignore[attr-defined]
        access = declared(route)
        for method in sorted(route.methods or ()):
            public: set[int] = set()
            for caller in everyone:
                tried += 1
                response = client.request(
                    method,
                    concrete(route.path),
                    json={} if method == "POST" else None,
                    headers={**headers[caller.label], "Idempotency-Key": f"matrix-{tried}"},
                )
                status = response.status_code
                where = f"{method} {route.path} as {caller.label}: {status} {response.text[:160]}"
                if "public" in access:
                    public.add(status)  # no API key needed: the key neither helps nor hurts
                elif admits(access, caller):
                    if status in (401, 403):
                        wrong.append(f"refused a declared caller: {where}")
                elif status not in (401, 403) or not problem_json(response):
                    wrong.append(f"let an undeclared caller through: {where}")
                elif status == 403 and not caller.authenticates and caller.role is None:
                    wrong.append(f"no usable key must be 401: {where}")
            if len(public) > 1:
                wrong.append(f"public {method} {route.path} answers by key: {sorted(public)}")
    print(f"\n{service}: {tried} route × caller pairs tried")
    assert not wrong, "\n".join(wrong)


def test_another_marketplace_sees_and_moves_nothing_of_the_first(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("escrow")
    client = client_for(APPS["escrow"](ctx), raise_server_exceptions=False)
    mine = auth(issue_key(ctx, Role.MARKETPLACE, OWNER))
    theirs = auth(issue_key(ctx, Role.MARKETPLACE, OTHER_OWNER))
    created = client.post(
        "/v1/escrows", json=EscrowPayloadFactory(), headers={**mine, "Idempotency-Key": "e1"}
    )
    assert created.status_code == 201, created.text
    escrow = created.json()
    lot = escrow["lots"][0]
    lot_ref = lot["lot_ref"]
    listed = client.get("/v1/escrows", headers=theirs)
    assert listed.status_code == 200 and escrow["id"] not in listed.text
    app = client.app  # type: ignore[attr-defined]
    leaks = []
    for route in api_routes(app.routes):
        if "{escrow_id}" not in route.path:
            continue
        path = route.path.replace("{escrow_id}", escrow["id"]).replace("{lot_ref}", str(lot_ref))
        for method in sorted(route.methods or ()):
            body = VALID_BODIES.get(path.rsplit("/", 1)[-1], {}) if method == "POST" else None
            response = client.request(method, path, json=body, headers={**theirs, "Idempotency-Key": path})
            if response.status_code not in (403, 404):
                leaks.append(f"{method} {path}: {response.status_code} {response.text[:160]}")
    assert not leaks, "\n".join(leaks)
    again = client.get(f"/v1/escrows/{escrow['id']}", headers=mine)
    assert again.status_code == 200 and again.json()["status"] == escrow["status"]

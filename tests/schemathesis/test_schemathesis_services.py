"""Schemathesis against each service's own OpenAPI document, in-process, a valid key per route.

Every operation of every service gets generated requests (valid and invalid by the schema)
sent by a key of a role the operation admits (they take turns). Checks, per response: no 5xx;
the response conforms to the documented schema (status, content type, body). Answers slower
than a second are counted and printed, not failed on: timings belong to ``bench/`` (a loaded
CI machine once made one first call slow, and hypothesis failed the run as flaky). A bounded
run in ``make test`` (``CASES`` per service); ``AGRIFIN_SOAK=1`` (``make soak``) generates
>= 1,000 per service. Failures are collected per operation and reported together (with the
smallest failing request hypothesis found).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.app import api_routes
from shared.auth import Role
from shared.platform import ServiceContext
from tests.security.kit import APPS, SERVICES, configured, declared
from tests.support import issue_key

SOAK = os.environ.get("AGRIFIN_SOAK") == "1"
CASES = 2_000 if SOAK else 150
SLOW_SECONDS = 1.0
SKIPPED = {"/readyz"}
CHECKS = [not_a_server_error, response_schema_conformance]
# The documents declare neither the 4xx answers nor their problem+json type (FastAPI lists
# 200 and 422 only): counted and printed per operation, not failed on, until they do.
DOC_CHECKS = [status_code_conformance, content_type_conformance]


def role_keys(ctx: ServiceContext) -> dict[str, str]:
    """A key per caller name routes declare (``admin``, ``service:loans``...)."""
    keys = {}
    for role in Role:
        if role is Role.SERVICE:
            keys |= {f"service:{name}": issue_key(ctx, role, name) for name in SERVICES}
        elif role is Role.MARKETPLACE:
            keys[role.value] = issue_key(ctx, role, "mkt-a")
        else:
            keys[role.value] = issue_key(ctx, role)
    return keys


def exercise(
    operation: Any, callers: list[str], examples: int, stats: dict[str, int], undocumented: set[str]
) -> None:
    """Generated requests to one operation, the callers' keys taking turns; raises on a failure."""
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        stats["cases"] += 1
        key = callers[stats["cases"] % len(callers)]
        started = time.perf_counter()
        response = case.call(headers={"Authorization": f"Bearer {key}"})
        elapsed = time.perf_counter() - started
        if response.status_code >= 500:
            stats["5xx"] += 1
        try:
            case.validate_response(response, checks=DOC_CHECKS)
        except (BaseExceptionGroup, AssertionError):
            undocumented.add(f"{label} {response.status_code}")
        case.validate_response(response, checks=CHECKS)
        if elapsed > SLOW_SECONDS:
            stats["slow"] += 1

    run()


@pytest.mark.parametrize("service", SERVICES)
def test_generated_requests_get_documented_answers(
    service: str, make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = configured(service, make_ctx(service))
    app = APPS[service](ctx)
    keys = role_keys(ctx)
    access = {
        (method, route.path): [name for name in declared(route) if name in keys]
        for route in api_routes(app.routes)
        for method in route.methods or ()
    }
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # /readyz answers 503 by contract when not ready (scoring without a champion model here).
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path not in SKIPPED]
    per_operation = max(2, CASES // len(operations))
    failures: list[str] = []
    undocumented: set[str] = set()
    stats = {"cases": 0, "slow": 0, "5xx": 0}
    for operation in operations:
        callers = [keys[name] for name in access.get((operation.method.upper(), operation.path)) or ["admin"]]
        try:
            exercise(operation, callers, per_operation, stats, undocumented)
        except (Exception, BaseExceptionGroup) as exc:  # one per operation, reported together below
            first = str(exc).strip().splitlines()
            failures.append(f"{operation.method.upper()} {operation.path}: {' | '.join(first[:6])[:600]}")
    print(
        f"\n{service}: {stats['cases']} cases over {len(operations)} operations, {len(failures)} failing, "
        f"{stats['5xx']} 5xx, {stats['slow']} slower than {SLOW_SECONDS} s; "
        f"undocumented answers: {sorted(undocumented)}"
    )
    assert not failures, f"{service}: {len(failures)} operations fail\n" + "\n".join(failures)
    assert not undocumented, f"{service}: answers its OpenAPI does not document: {sorted(undocumented)}"
    assert stats["cases"] >= (1_000 if SOAK else 100)

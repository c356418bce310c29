"""Several workers send loans' instructions to escrow at once (PostgreSQL): each instruction
is claimed by one of them (``FOR UPDATE SKIP LOCKED`` and a lease), so escrow is asked once
per instruction and every loan gets one assignment."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.loans.proceeds_kit import build_world
from tests.support import race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def test_racing_workers_send_each_instruction_once(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> None:
    world = build_world(make_ctx, client_for, clock)
    world.loans.set_date("2026-03-02")
    product = world.linked_product(share_bps=1_000)
    loans = [world.disbursed_loan(product["id"], party=f"party-{i}") for i in range(6)]
    posts: list[str] = []
    gate = threading.Lock()

    def counted(request: httpx.Request) -> httpx.Response:
        with gate:  # one in-process escrow call at a time; the workers still race on loans' rows
            if request.method == "POST":
                posts.append(request.url.path)
            answer = world.escrow_http.request(
                request.method,
                request.url.path,
                params=request.url.params,
                content=request.content,
                headers={k: v for k, v in request.headers.items() if k != "host"},
            )
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    reports = race(4, lambda _: world.send_instructions(world.client_over(httpx.MockTransport(counted))))
    assert sum(r.sent for r in reports) == 6 and sum(r.failed + r.retrying for r in reports) == 0
    assert posts == ["/v1/assignments"] * 6
    for loan in loans:
        assert len(world.escrow_client.list_assignments(loan_ref=loan["id"])) == 1
        (register,) = world.instructions(loan["id"])
        assert register.status == "done" and register.attempts == 1

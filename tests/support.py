"""Helpers the tests share: API keys, auth headers, problem and row-count assertions, ports."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, func, select

from shared.auth import Role, create_api_key
from shared.platform import ServiceContext


def issue_key(
    ctx: ServiceContext, role: Role | str, owner: str | None = None, *, key: str | None = None
) -> str:
    """Create an API key directly in a service's database (``key``: the same key another service
    holds, as ``agrifin keys create`` stores one key in every service); return the plaintext."""
    with ctx.db.unit_of_work() as session:
        _, plaintext = create_api_key(
            session, ctx.tables, role=Role(role), owner=owner, label="test", now=ctx.clock.now(), key=key
        )
    return plaintext


def auth(key: str, **extra: str) -> dict[str, str]:
    """Headers carrying a bearer key (and any extra headers)."""
    return {"Authorization": f"Bearer {key}", **extra}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Assert ``response`` is an ``application/problem+json`` of ``status`` with a detail; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"], body
    return body


def count_rows(ctx: ServiceContext, table: Table) -> int:
    """Rows in one of a service's tables."""
    with ctx.db.unit_of_work(read_only=True) as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for ``i`` in ``range(count)`` on as many threads, started together."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # surfaced by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(isinstance(r, BaseException) for r in results), results
    return results

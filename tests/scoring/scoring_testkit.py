"""Helpers the scoring API tests share."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shared.platform import ServiceContext


def count(ctx: ServiceContext, table: Any, *where: Any) -> int:
    """Rows of a table or ORM class (optionally filtered)."""
    with ctx.db.unit_of_work(read_only=True) as session:
        query = select(func.count()).select_from(table)
        for clause in where:
            query = query.where(clause)
        return int(session.execute(query).scalar_one())




def post_score(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], **params: str
) -> dict[str, Any]:
    """POST /v1/scores and expect 201."""
    response = client.post("/v1/scores", json=body, headers=headers, params=params)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out

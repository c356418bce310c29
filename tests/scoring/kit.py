"""Helpers the scoring API tests share (generic ones come from ``tests.support``)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def post_score(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], **params: str
) -> dict[str, Any]:
    """POST /v1/scores and expect 201."""
    response = client.post("/v1/scores", json=body, headers=headers, params=params)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out

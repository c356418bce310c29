"""An exhausted connection pool is overload: a 503 problem with Retry-After, never a 500."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.errors import install_error_handlers
from tests.support import assert_problem


def test_a_pool_timeout_is_a_503_problem() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/busy")
    def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached, connection timed out")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/busy")
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert "QueuePool" not in body["detail"]  # no internals

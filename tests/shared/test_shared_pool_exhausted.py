"""An exhausted connection pool is overload, and a database that cannot be reached is
unavailable: a 503 problem with Retry-After, never a 500. A failed statement stays a 500."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
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


def _app(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/db")
    def db() -> None:
        raise error

    return app


def test_a_database_that_refuses_connections_is_a_503_problem() -> None:
    # As SQLAlchemy raises a failure to connect: no statement ran.
    refused = OperationalError(None, None, Exception("FATAL:  sorry, too many clients already"))
    with TestClient(_app(refused), raise_server_exceptions=False) as client:
        response = client.get("/db")
    body = assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"
    assert "too many clients" not in body["detail"]  # no internals


def test_a_connection_lost_mid_request_is_a_503_problem() -> None:
    closed = Exception("server closed the connection")
    lost = OperationalError("SELECT 1", {}, closed, connection_invalidated=True)
    with TestClient(_app(lost), raise_server_exceptions=False) as client:
        assert_problem(client.get("/db"), 503)


def test_a_failed_statement_stays_a_500() -> None:
    failed = OperationalError("SELECT nothing FROM nowhere", {}, Exception("no such table: nowhere"))
    with TestClient(_app(failed), raise_server_exceptions=False) as client:
        response = client.get("/db")
    assert response.status_code == 500

"""The service HTTP client: retries only when safe, problems become typed exceptions."""

from __future__ import annotations

import httpx
import pytest

from shared.http_client import ServiceClient, ServiceUnreachable, UpstreamProblem
from shared.observability import set_request_id


def _client(statuses: list[int], seen: list[httpx.Request]) -> ServiceClient:
    answers = iter(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = next(answers)
        if status == 0:
            raise httpx.ConnectError("refused", request=request)
        if status >= 400:
            return httpx.Response(
                status,
                json={"title": "x", "status": status, "detail": f"err {status}"},
                headers={"content-type": "application/problem+json"},
            )
        return httpx.Response(status, json={"ok": True})

    http = httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(handler))
    return ServiceClient(http, api_key="agf_serv_x", attempts=3, max_backoff=0.01)


def test_get_is_retried_on_503_and_connect_errors() -> None:
    seen: list[httpx.Request] = []
    response = _client([503, 0, 200], seen).request("GET", "/v1/keys")
    assert response.json() == {"ok": True} and len(seen) == 3


def test_post_without_idempotency_key_is_never_retried() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ServiceUnreachable):
        _client([0, 200], seen).request("POST", "/v1/scores", json={})
    assert len(seen) == 1


def test_post_with_idempotency_key_is_retried_with_the_same_key() -> None:
    seen: list[httpx.Request] = []
    _client([502, 201], seen).request("POST", "/v1/scores", json={}, idempotency_key="app-1")
    assert [r.headers["idempotency-key"] for r in seen] == ["app-1", "app-1"]


def test_exhausted_retries_raise_unreachable() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ServiceUnreachable):
        _client([503, 503, 503], seen).request("GET", "/v1/keys")
    assert len(seen) == 3


def test_problem_answers_raise_typed_errors_without_retry() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(UpstreamProblem) as info:
        _client([422], seen).request("POST", "/v1/scores", json={}, idempotency_key="k")
    assert info.value.status == 422 and info.value.problem["detail"] == "err 422"
    assert len(seen) == 1


def test_credentials_and_request_id_ride_along() -> None:
    seen: list[httpx.Request] = []
    set_request_id("req-7")
    try:
        _client([200], seen).request("GET", "/v1/keys")
    finally:
        set_request_id(None)
    assert seen[0].headers["authorization"] == "Bearer agf_serv_x"
    assert seen[0].headers["x-request-id"] == "req-7"

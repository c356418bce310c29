"""The wire of service-to-service calls (``shared.http_client.Wire``) against a real HTTP server:
it sends what an ``httpx.Client`` sends, keeps connections alive and survives their close, and
its failures are the ones ``ServiceClient`` retries and reports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.http_client import ServiceClient, ServiceUnreachable, UpstreamProblem, Wire, sender
from tests.support import free_port


@dataclass
class Seen:
    """What the server received, and how it is to answer."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    connections: set[int] = field(default_factory=set)
    statuses: list[int] = field(default_factory=list)
    """Answers to give, in order (then 200s)."""
    delay: float = 0.0
    close_after_answer: bool = False


def _server(seen: Seen) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            seen.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "body": self.rfile.read(length) if length else b"",
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            )
            seen.connections.add(id(self.connection))
            time.sleep(seen.delay)
            status = seen.statuses.pop(0) if seen.statuses else 200
            problem = b'{"title":"no","status":%d,"detail":"refused"}' % status
            body = b'{"ok":true}' if status < 400 else problem
            self.send_response(status)
            kind = "application/json" if status < 400 else "application/problem+json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if seen.close_after_answer:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            return  # a client that timed out has gone: writing to it fails, as it should

    return Server(("127.0.0.1", 0), Handler)


@pytest.fixture
def served() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    server = _server(seen)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


_WIRES: list[Wire] = []


@pytest.fixture(autouse=True)
def _close_wires() -> Iterator[None]:
    yield
    while _WIRES:
        _WIRES.pop().close()


def _client(base_url: str, *, timeout: float = 5.0) -> ServiceClient:
    wire = Wire(base_url, timeout=timeout, connect=1.0)
    _WIRES.append(wire)
    return ServiceClient(wire, api_key="agf_serv_x", max_backoff=0.01)


def test_a_wire_sends_what_an_httpx_client_sends(served: tuple[str, Seen]) -> None:
    base, seen = served
    body = {"name": "Wanjirũ", "amount_minor": 125_000, "rate": "18.5", "tags": [1, None]}
    params = {"as_of": "2026-12-01T00:00:00+00:00", "limit": 5, "open": True, "none": None}
    with httpx.Client(base_url=base) as http:
        for client in (_client(base), ServiceClient(http, api_key="agf_serv_x")):
            client.request("POST", "/v1/scores", json=body, idempotency_key="app-1")
            client.request("GET", "/v1/parties/seller%2F1/trade-summary", params=params)
    wire_post, wire_get, httpx_post, httpx_get = seen.requests
    assert wire_post["body"] == httpx_post["body"]  # the same bytes: idempotency fingerprints agree
    assert wire_get["path"] == httpx_get["path"]
    for ours, theirs in ((wire_post, httpx_post), (wire_get, httpx_get)):
        for header in ("authorization", "idempotency-key", "content-type", "content-length"):
            assert ours["headers"].get(header) == theirs["headers"].get(header), header


def test_a_wire_keeps_its_connection_alive(served: tuple[str, Seen]) -> None:
    base, seen = served
    client = _client(base)
    for _ in range(5):
        assert client.request("GET", "/v1/keys").json() == {"ok": True}
    assert len(seen.connections) == 1


def test_a_connection_the_server_closed_is_not_reused(served: tuple[str, Seen]) -> None:
    base, seen = served
    seen.close_after_answer = True
    client = _client(base)
    for _ in range(3):  # a POST without a key is never retried: each must go out on a live connection
        assert client.request("POST", "/v1/things", json={"n": 1}).status_code == 200
    assert len(seen.requests) == 3


def test_a_refused_connection_is_unreachable_and_retried_when_safe() -> None:
    client = _client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnreachable):
        client.request("GET", "/v1/keys")


def test_a_slow_answer_times_out_and_an_idempotent_call_is_retried(served: tuple[str, Seen]) -> None:
    base, seen = served
    seen.delay = 0.5
    with pytest.raises(ServiceUnreachable):
        _client(base, timeout=0.1).request("GET", "/v1/keys")
    assert len(seen.requests) == 3  # ServiceClient's three attempts


def test_a_retryable_status_is_retried_and_a_problem_is_typed(served: tuple[str, Seen]) -> None:
    base, seen = served
    seen.statuses = [503, 200]
    assert _client(base).request("GET", "/v1/keys").json() == {"ok": True}
    seen.statuses = [409]
    with pytest.raises(UpstreamProblem) as info:
        _client(base).request("POST", "/v1/things", json={}, idempotency_key="k")
    assert info.value.status == 409 and info.value.problem["detail"] == "refused"


def test_a_transport_makes_an_httpx_client_for_tests() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"mock": True}))
    client = ServiceClient(sender("http://scoring.test", timeout=1.0, connect=1.0, transport=transport))
    assert client.request("GET", "/v1/keys").json() == {"mock": True}
    wire = sender("http://scoring.test", timeout=1.0, connect=1.0)
    assert isinstance(wire, Wire)
    wire.close()


def test_a_wire_keeps_a_base_path(served: tuple[str, Seen]) -> None:
    base, seen = served
    _client(f"{base}/prefix/").request("GET", "/v1/keys")
    assert seen.requests[0]["path"] == "/prefix/v1/keys"


def test_free_port_is_closed() -> None:  # the refused-connection test relies on it
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", free_port()), timeout=1).close()

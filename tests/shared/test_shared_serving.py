"""How a service is served (``shared/serving.py``): the number of worker processes from
``AGRIFIN_<SERVICE>_WORKERS``, and a listening socket whose accepted connections get TCP_NODELAY
in a worker process that received it the way uvicorn's workers do (spawned, the socket pickled
across; a socket made the way uvicorn's multi-worker mode makes it is the counter-example); and
the supervisor's health checks, which leave a worker that is still starting alone."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Iterator
from multiprocessing.connection import Connection

import pytest
from uvicorn.config import STARTUP_FAILURE

from shared.serving import (
    MAX_WORKERS,
    ServiceConfig,
    Supervisor,
    WorkerCountError,
    bind_tcp_socket,
    default_workers,
    worker_count,
    workers_env,
)


def test_the_default_is_one_process_per_core_this_process_may_use() -> None:
    assert default_workers() == len(os.sched_getaffinity(0))
    assert worker_count("escrow", {}) == default_workers()
    assert worker_count("escrow", {"AGRIFIN_ESCROW_WORKERS": "  "}) == default_workers()


@pytest.mark.parametrize("service", ["scoring", "escrow", "loans", "console"])
def test_the_setting_is_named_after_the_service(service: str) -> None:
    name = workers_env(service)
    assert name == f"AGRIFIN_{service.upper()}_WORKERS"
    assert worker_count(service, {name: "3"}) == 3
    assert worker_count(service, {name: " 1 "}) == 1
    assert worker_count("scoring" if service != "scoring" else "loans", {name: "3"}) == default_workers()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "between 1 and"),
        ("-2", "between 1 and"),
        (str(MAX_WORKERS + 1), "between 1 and"),
        ("two", "whole number"),
        ("1.5", "whole number"),
        ("2x", "whole number"),
    ],
)
def test_a_bad_count_is_refused_naming_the_setting(raw: str, message: str) -> None:
    with pytest.raises(WorkerCountError) as caught:
        worker_count("escrow", {"AGRIFIN_ESCROW_WORKERS": raw})
    assert "AGRIFIN_ESCROW_WORKERS" in str(caught.value) and message in str(caught.value)
    assert repr(raw) in str(caught.value) or raw in str(caught.value)


def test_the_socket_is_tcp_with_nodelay_and_inheritable() -> None:
    with bind_tcp_socket("127.0.0.1", 0) as sock:
        assert (sock.family, sock.type, sock.proto) == (
            socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
        )
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.get_inheritable()
        assert sock.getsockname()[0] == "127.0.0.1" and sock.getsockname()[1] > 0


def test_a_port_in_use_is_an_error() -> None:
    with bind_tcp_socket("127.0.0.1", 0) as first:
        first.listen()
        with pytest.raises(OSError):
            bind_tcp_socket("127.0.0.1", first.getsockname()[1])


def _serve_one(sock: socket.socket, report: Connection) -> None:
    """In a spawned process: accept one connection with asyncio, as uvicorn does; report its
    TCP_NODELAY."""

    async def main() -> None:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connection(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn: socket.socket = writer.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connection, sock=sock)
        report.send("listening")
        report.send(await asyncio.wait_for(accepted, 60))
        server.close()

    asyncio.run(main())


def _accepted_nodelay(sock: socket.socket) -> int:
    """TCP_NODELAY of a connection accepted from ``sock`` by a spawned asyncio worker."""
    ours, theirs = multiprocessing.Pipe()
    worker = multiprocessing.get_context("spawn").Process(target=_serve_one, args=(sock, theirs))
    worker.start()
    try:
        assert ours.poll(60) and ours.recv() == "listening"
        with socket.create_connection(sock.getsockname()[:2], timeout=30):
            assert ours.poll(60)
            nodelay: int = ours.recv()
    finally:
        worker.join(30)
        if worker.is_alive():
            worker.kill()
    assert worker.exitcode == 0
    return nodelay


def test_a_worker_process_accepts_connections_with_nodelay() -> None:
    with bind_tcp_socket("127.0.0.1", 0) as sock:
        assert _accepted_nodelay(sock) != 0


def test_a_socket_made_as_uvicorns_multi_worker_mode_makes_it_accepts_without_nodelay() -> None:
    """The bug the module fixes, so that the test above can tell the difference."""
    with socket.socket(family=socket.AF_INET) as sock:  # uvicorn.Config.bind_socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.set_inheritable(True)
        assert _accepted_nodelay(sock) == 0


class _OsProcess:
    def __init__(self) -> None:
        self.running = True

    def is_alive(self) -> bool:
        return self.running


class _FakeWorker:
    """A worker as the supervisor sees it: running or not, answering health checks or not."""

    def __init__(self, pid: int, *, answers: bool, exitcode: int = 1) -> None:
        self.pid, self.answers, self.exitcode = pid, answers, exitcode
        self.process = _OsProcess()
        self.killed = False

    def ping(self, timeout: float = 5) -> bool:
        return self.process.running and self.answers

    def is_alive(self, timeout: float = 5) -> bool:
        return self.ping(timeout)

    def kill(self) -> None:
        self.killed, self.process.running = True, False

    def join(self) -> None:
        pass


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    started: list[int] = []

    class Replacement(_FakeWorker):
        def __init__(self, *_: object) -> None:
            super().__init__(1000 + len(started), answers=False)

        def start(self) -> None:
            started.append(self.pid)

    monkeypatch.setattr("shared.serving.Process", Replacement)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = ServiceConfig("services.escrow.app:create_app", service="escrow", log_level="WARNING", workers=2)
    try:
        with bind_tcp_socket("127.0.0.1", 0) as sock:
            yield Supervisor(config, sockets=[sock])
    finally:  # the config sets agrifin's logging up, the supervisor its signal handlers
        root.handlers[:], root.level = handlers, level
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_a_worker_still_starting_is_not_killed_for_not_answering(supervisor: Supervisor) -> None:
    starting = _FakeWorker(1, answers=False)
    supervisor.processes = [starting]  # type: ignore[list-item]
    for _ in range(3):
        supervisor.keep_subprocess_alive()
    assert not starting.killed and supervisor.processes == [starting]
    starting.answers = True
    supervisor.keep_subprocess_alive()
    assert supervisor.answered == {1}


def test_a_worker_that_answered_then_hung_or_exited_is_replaced(supervisor: Supervisor) -> None:
    hung, exited = _FakeWorker(1, answers=True), _FakeWorker(2, answers=True)
    supervisor.processes = [hung, exited]  # type: ignore[list-item]
    supervisor.keep_subprocess_alive()
    assert supervisor.answered == {1, 2}
    hung.answers = False
    exited.process.running = False
    supervisor.keep_subprocess_alive()
    assert hung.killed and [p.pid for p in supervisor.processes] == [1000, 1001]
    assert not supervisor.should_exit.is_set()


def test_a_worker_that_failed_to_start_stops_the_supervisor(supervisor: Supervisor) -> None:
    failed = _FakeWorker(1, answers=False, exitcode=STARTUP_FAILURE)
    failed.process.running = False
    supervisor.processes = [failed]  # type: ignore[list-item]
    supervisor.keep_subprocess_alive()
    assert supervisor.should_exit.is_set() and supervisor.processes == [failed]


def tiny_app() -> object:
    """An ASGI app factory for the loading test (``factory=True``, as services are served)."""

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    return app


def _load_and_report(answer: Connection) -> None:
    config = ServiceConfig(
        "tests.shared.test_shared_serving:tiny_app", service="scoring", log_level="warning", factory=True
    )
    config.load()
    loop_factory = config.get_loop_factory()
    answer.send(
        {
            "http": config.http_protocol_class.__module__,
            "loop": getattr(loop_factory, "__module__", ""),
            "frozen": gc.get_freeze_count(),
        }
    )


def test_a_worker_serves_on_httptools_and_uvloop_and_freezes_what_loading_left() -> None:
    ours, theirs = multiprocessing.Pipe()
    worker = multiprocessing.get_context("spawn").Process(target=_load_and_report, args=(theirs,))
    worker.start()
    try:
        assert ours.poll(60), "the worker did not report"
        report = ours.recv()
    finally:
        worker.join(30)
    assert report["http"] == "uvicorn.protocols.http.httptools_impl"
    assert report["loop"].startswith("uvloop")
    assert report["frozen"] > 0  # gc.freeze() ran after the app was built

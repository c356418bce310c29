"""``agrifin serve`` with several worker processes (``services/cli.py``, ``shared/serving.py``).

The real command on a migrated SQLite escrow database: ``AGRIFIN_ESCROW_WORKERS=2`` gives two
worker processes under one supervisor; the connections they accept have TCP_NODELAY, read on
the server's own sockets (each is copied out of the worker with ``pidfd_getfd``); SIGTERM lets a
request in flight finish (its body still arriving when the stop begins) and the command exits
0; a bad worker count is refused before anything starts, by ``serve`` and by ``run``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from services import cli
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
GRACE = 20
_SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


@dataclass
class Served:
    """A running ``agrifin serve escrow`` and the log lines it wrote."""

    process: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def wait_for_line(self, text: str, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n" + "".join(self.lines[-30:])
            time.sleep(0.05)

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]


def _environment(tmp_path: Path, keys_dir: Path, database: Path, port: int, workers: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update(
        {
            "AGRIFIN_VAR_DIR": str(tmp_path),
            "AGRIFIN_KEYS_DIR": str(keys_dir),
            "AGRIFIN_ESCROW_DATABASE_URL": f"sqlite:///{database}",
            "AGRIFIN_ESCROW_PORT": str(port),
            "AGRIFIN_ESCROW_WORKERS": workers,
            "AGRIFIN_STOP_GRACE_SECONDS": str(GRACE),
            "AGRIFIN_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO),
        }
    )
    return env


@pytest.fixture
def serve_escrow(
    tmp_path: Path, keys_dir: Path, sqlite_templates: Callable[[str], Path]
) -> Iterator[Callable[[str], Served]]:
    started: list[Served] = []

    def start(workers: str) -> Served:
        database = tmp_path / "escrow.db"
        shutil.copyfile(sqlite_templates("escrow"), database)
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "escrow"],
            env=_environment(tmp_path, keys_dir, database, port, workers),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        served = Served(process, port)
        assert process.stderr is not None
        stderr = process.stderr
        served.reader = threading.Thread(target=lambda: served.lines.extend(iter(stderr.readline, "")))
        served.reader.start()
        started.append(served)
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "".join(served.lines)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return served
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "escrow never became ready"
            time.sleep(0.2)

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
        served.process.wait()
        if served.reader is not None:
            served.reader.join(30)  # the log ends when the last process holding it exits
        assert served.process.stderr is not None
        served.process.stderr.close()


def _server_socket(pids: list[int], client: socket.socket) -> socket.socket | None:
    """The server's end of ``client``'s connection, copied out of whichever of ``pids`` holds it."""
    libc = ctypes.CDLL(None, use_errno=True)
    want = client.getsockname()
    for pid in pids:
        pidfd = os.pidfd_open(pid)
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                        continue
                except FileNotFoundError:
                    continue
                copy = libc.syscall(_SYS_PIDFD_GETFD, pidfd, int(fd), 0)
                if copy < 0:
                    errno = ctypes.get_errno()
                    pytest.skip(
                        f"pidfd_getfd is not allowed here (errno {errno}): cannot read the server's socket"
                    )
                sock = socket.socket(fileno=copy)
                try:
                    if sock.type == socket.SOCK_STREAM and sock.getpeername() == want:
                        return sock
                except OSError:
                    pass
                sock.close()
        finally:
            os.close(pidfd)
    return None


def _get(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's sockets through /proc")
def test_two_workers_accept_connections_with_tcp_nodelay(serve_escrow: Callable[[str], Served]) -> None:
    served = serve_escrow("2")
    workers = served.workers()
    assert len(workers) == 2, served.lines
    seen: dict[int, int] = {}
    clients = [socket.create_connection(("127.0.0.1", served.port), timeout=30) for _ in range(8)]
    try:
        for client in clients:
            assert _get(client, "/healthz").startswith(b"HTTP/1.1 200")
            server_end = _server_socket(workers, client)
            assert server_end is not None, "no worker holds the connection"
            with server_end:
                seen[client.getsockname()[1]] = server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for client in clients:
            client.close()
    assert len(seen) == 8 and all(seen.values()), seen


def _unread_bytes(server_port: int, client_port: int) -> int | None:
    """The receive queue of the server's end of the connection from ``client_port`` (/proc/net/tcp)."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[1], 16)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="watches the connection through /proc")
def test_sigterm_lets_a_request_in_flight_finish_then_every_process_exits(
    serve_escrow: Callable[[str], Served],
) -> None:
    served = serve_escrow("2")
    workers = served.workers()
    body = b'{"order_ref": "drain-1", "currency": "KES"}'
    half = len(body) // 2
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as client:
        client.sendall(
            b"POST /v1/escrows HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer agf_not_a_key\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body[:half])
        )
        client_port = client.getsockname()[1]
        deadline = time.monotonic() + 30
        while _unread_bytes(served.port, client_port) != 0:  # a worker has read the headers
            assert time.monotonic() < deadline, "no worker read the request"
            time.sleep(0.02)
        served.process.send_signal(signal.SIGTERM)
        served.wait_for_line("Waiting for connections to close")  # the worker holding it drains
        client.setblocking(False)
        with pytest.raises(BlockingIOError):
            client.recv(1)  # no answer yet: the request is still in flight
        client.setblocking(True)
        client.sendall(body[half:])
        head = _read_response(client)
    assert head.split(b"\r\n")[0] in (b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 422 Unprocessable Entity"), (
        head
    )
    assert served.process.wait(timeout=GRACE + 10) == 0, "".join(served.lines)
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.parametrize("raw", ["0", "-1", "many"])
def test_serve_and_run_refuse_a_bad_worker_count_before_starting(raw: str, tmp_path: Path) -> None:
    env = {"AGRIFIN_VAR_DIR": str(tmp_path), "AGRIFIN_CONSOLE_WORKERS": raw}
    for args in (["serve", "console"], ["run"]):
        result = CliRunner().invoke(cli.app, args, env=env)
        assert result.exit_code == 2, result.output
        assert "AGRIFIN_CONSOLE_WORKERS" in result.output, result.output
        assert "http://" not in result.output  # run printed no address: it started nothing

"""Serving a service over HTTP: N uvicorn worker processes sharing one listening TCP socket.

``worker_count`` reads ``AGRIFIN_<SERVICE>_WORKERS`` (default: the cores this process may run
on); ``serve_app`` binds the socket itself and runs one uvicorn server on it, or uvicorn's
multi-process supervisor with that many spawned workers.

The socket is made here, not by uvicorn, for TCP_NODELAY. asyncio turns Nagle's algorithm off
only on sockets whose ``proto`` is ``IPPROTO_TCP`` (``asyncio.selector_events._set_nodelay``);
an accepted socket inherits ``proto`` from the listening one, and uvicorn's multi-worker mode
creates that with ``socket.socket(family)`` (proto 0), so every response waited on delayed
ACKs (~40 ms a request at one client). ``bind_tcp_socket`` creates it with ``IPPROTO_TCP``
and also sets TCP_NODELAY on it (Linux copies it to the sockets it accepts).

On SIGTERM (or SIGINT) the supervisor passes SIGTERM to every worker; each stops accepting,
finishes its in-flight requests within ``timeout_graceful_shutdown`` and exits. A worker
whose supervisor is killed dies with it (``PR_SET_PDEATHSIG``), so none is left holding the
port.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from shared.observability import configure_logging

logger = logging.getLogger(__name__)

MAX_WORKERS = 64
HEALTHCHECK_SECONDS = 30
"""How long the supervisor waits for a running worker to answer its health check before it
kills and replaces it (uvicorn's default is 5 s)."""
_PR_SET_PDEATHSIG = 1


class WorkerCountError(ValueError):
    """``AGRIFIN_<SERVICE>_WORKERS`` is not a whole number from 1 to ``MAX_WORKERS``."""


def workers_env(service: str) -> str:
    """The name of the setting that gives ``service``'s number of processes."""
    return f"AGRIFIN_{service.upper()}_WORKERS"


def default_workers() -> int:
    """The number of cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity on this platform
        return max(1, os.cpu_count() or 1)


def worker_count(service: str, environ: Mapping[str, str] | None = None) -> int:
    """``service``'s number of worker processes: ``AGRIFIN_<SERVICE>_WORKERS`` or the cores."""
    name = workers_env(service)
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default_workers()
    try:
        count = int(raw)
    except ValueError:
        raise WorkerCountError(f"{name} must be a whole number of processes, not {raw!r}") from None
    if not 1 <= count <= MAX_WORKERS:
        raise WorkerCountError(f"{name} must be between 1 and {MAX_WORKERS} processes, not {count}")
    return count


def bind_tcp_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` whose accepted connections get TCP_NODELAY.

    ``proto=IPPROTO_TCP`` makes asyncio set TCP_NODELAY on every socket accepted from it; the
    option is set on the listening socket too. Inheritable, so spawned workers can use it.
    """
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _die_with(parent: int) -> None:
    """Have the kernel SIGKILL this process when ``parent`` (its supervisor) dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the prctl
        os._exit(1)


class ServiceConfig(uvicorn.Config):
    """uvicorn's configuration plus what each worker process sets up: agrifin's JSON logs, and
    dying with its supervisor. uvicorn pickles it into every spawned worker and calls
    ``configure_logging`` there first."""

    def __init__(self, app: str, *, service: str, log_level: str, **kwargs: object) -> None:
        self.agrifin_service = service
        self.agrifin_log_level = log_level
        self.supervisor_pid: int | None = None
        super().__init__(app, log_config=None, **kwargs)  # type: ignore[arg-type]

    def configure_logging(self) -> None:
        """uvicorn's logging set-up, then agrifin's; in a worker, also tie it to its supervisor."""
        super().configure_logging()
        configure_logging(self.agrifin_log_level, service=self.agrifin_service)
        if self.supervisor_pid is not None and os.getpid() != self.supervisor_pid:
            _die_with(self.supervisor_pid)

    def load(self) -> None:
        """uvicorn's load (the app built), then the app's objects moved out of the collector's
        reach (``gc.freeze``): what is alive once the app is built (modules, models, routes,
        compiled statements) lives as long as the process, and a full collection walking it
        all would pause whichever requests are in flight."""
        super().load()
        gc.collect()
        gc.freeze()


class Supervisor(Multiprocess):
    """uvicorn's multi-process supervisor, except that a worker still starting is only watched
    for its exit.

    uvicorn health-checks every worker from its first moment and kills one that has not answered
    within the timeout; on a busy machine a worker takes longer than that to start (importing
    the service: 46 s measured under a load of 15 on 2 cores), so each was killed while starting,
    again and again. Here a worker is health-checked once it has answered once.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.answered: set[int | None] = set()

    def keep_subprocess_alive(self) -> None:
        """Replace each worker that exited, or that answered once and then stopped answering."""
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.pid not in self.answered and process.process.is_alive():
                if process.ping(timeout=0.05):
                    self.answered.add(process.pid)
                continue  # still starting
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: it would fail again
                logger.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("worker [%s] died; starting another", process.pid)
            self.answered.discard(process.pid)
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement


def serve_app(
    app: str,
    *,
    service: str,
    host: str,
    port: int,
    workers: int,
    grace_seconds: int,
    log_level: str,
) -> None:
    """Serve the ASGI app factory ``app`` (``module:function``) with ``workers`` processes."""
    config = ServiceConfig(
        app,
        service=service,
        log_level=log_level,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        timeout_graceful_shutdown=grace_seconds,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
    )
    try:
        sock = bind_tcp_socket(host, port)
    except OSError as exc:
        logger.error("%s cannot listen on %s:%d: %s", service, host, port, exc)
        sys.exit(STARTUP_FAILURE)
    try:
        if workers == 1:
            server = uvicorn.Server(config)
            server.run(sockets=[sock])  # re-raises the SIGTERM it drained for, once stopped
            started = server.started
        else:
            config.supervisor_pid = os.getpid()
            supervisor = Supervisor(config, sockets=[sock])
            supervisor.run()
            started = not any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    finally:
        sock.close()
    if not started:
        sys.exit(STARTUP_FAILURE)

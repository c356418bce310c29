"""The floors: what an HTTP request costs with nothing of agrifin in it; prints JSON.

    .venv/bin/python bench/floor.py [--clients 1 8 32] [--processes 1 2] [--duration 2] [--long]

One FastAPI app with two endpoints, served the way agrifin serves a service
(``shared.serving``: uvicorn on a TCP socket it binds itself, TCP_NODELAY, one or N worker
processes; sync endpoints, so each request crosses to the thread pool as agrifin's do):

- ``GET /json`` answers a small JSON document (the framework floor);
- ``POST /insert`` runs one ``INSERT ... RETURNING`` and ``COMMIT`` on PostgreSQL through psycopg,
  one connection per server thread, in a temporary database created beside
  ``AGRIFIN_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and
  dropped at the end (the framework-plus-database floor).

Each runs at 1, 8 and 32 clients (threads, each with its own keep-alive ``LoadClient``: the
standard library's ``http.client``, whose CPU per request is about a quarter of an
``httpx.Client``'s, so that the two cores the client shares with the servers go to them) on 1
and N processes (N: the cores), for ``--duration`` seconds each (``--long`` or
``AGRIFIN_BENCH_LONG=1``: 15 s): ops/s, p50, p99 and the server's CPU per request (user + system
of the server's processes, read from /proc around the measured window; PostgreSQL's own
backends are not counted, for the floor as for the services).

The other HTTP benches import the client loop, the measurement and the floor server from here
(``LoadClient``, ``run_clients``, ``measure``, ``floor_server``, ``measure_floor``), so their
floors are measured in the same run, with the same client and server settings. Every level
also reports the client's own CPU per request (``client_cpu_ms_per_request``: this process's
``time.process_time()`` over the window), which shares the machine with the servers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.local_system import stop, tree_cpu_seconds, tree_pids  # noqa: E402
from tests.support import free_port  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_ENV = "AGRIFIN_BENCH_FLOOR_DATABASE_URL"
"""Where the floor server's ``POST /insert`` writes (set by ``floor_server`` for its process)."""
SHORT_SECONDS, LONG_SECONDS = 2.0, 15.0
POOL_SIZE = 16


def long_run() -> bool:
    """True when the long version was asked for (``AGRIFIN_BENCH_LONG=1``)."""
    return os.environ.get("AGRIFIN_BENCH_LONG", "").strip() not in ("", "0")


def default_processes() -> list[int]:
    """1 and the number of cores (just 1 on a one-core machine)."""
    cores = max(1, len(os.sched_getaffinity(0)))
    return [1] if cores == 1 else [1, cores]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (seconds) in milliseconds, nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return round(ordered[index] * 1000, 2)


def psycopg_url(url: str) -> str:
    """``url`` for psycopg itself (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def admin_url() -> str:
    """The PostgreSQL server the benches create their databases on."""
    return os.environ.get("AGRIFIN_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)


@contextmanager
def temporary_database(admin: str, label: str) -> Iterator[str]:
    """Create a fresh database beside ``admin`` (an SQLAlchemy URL to it); drop it afterwards."""
    plain = psycopg_url(admin)
    name = f"agrifin_bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            make_url(admin)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the client and the measurement ------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A response as the benches read it."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class LoadClient:
    """One load-generating client: a keep-alive ``http.client`` connection to ``base``
    (``http://host:port``), headers sent with every request, JSON bodies."""

    def __init__(self, base: str, *, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.connection = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
        self.headers = dict(headers or {})

    def request(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        sent = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        self.connection.request(method, path, body=body, headers=sent)
        response = self.connection.getresponse()
        return Answer(response.status, response.read())

    def post(self, path: str, json_body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        return self.request("POST", path, json_body=json_body, headers=headers)


@dataclass
class Run:
    """One measured window: its length, every unit of work's timings, the server's CPU and
    this process's (the clients')."""

    seconds: float
    samples: list[dict[str, float]]
    server_cpu_seconds: float | None
    client_cpu_seconds: float


def run_clients(
    clients: int,
    seconds: float,
    make_worker: Callable[[int], Callable[[], dict[str, float]]],
    server_pid: int | None = None,
) -> Run:
    """Run ``clients`` workers for ``seconds`` after one warm-up unit each; sample the CPU of
    ``server_pid``'s process tree around the measured window."""
    stop_event = threading.Event()
    barrier = threading.Barrier(clients + 1)
    samples: list[list[dict[str, float]]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []

    def loop(i: int) -> None:
        try:
            work = make_worker(i)
            work()  # warm-up: connection and first-request costs stay out of the figures
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()
            return
        try:
            barrier.wait()
            while not stop_event.is_set():
                samples[i].append(work())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a client failed to start: {failures[0]!r}") from None
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else None
    started, client_cpu_before = time.perf_counter(), time.process_time()
    time.sleep(seconds)
    stop_event.set()
    for thread in threads:
        thread.join(timeout=120)
    elapsed, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu_before
    cpu_after = tree_cpu_seconds(server_pid) if server_pid else None
    if failures:
        raise RuntimeError(f"{len(failures)} client(s) failed: {failures[0]!r}")
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Run(elapsed, [s for per_client in samples for s in per_client], cpu, client_cpu)


def request_figures(run: Run, latencies: list[float], requests: int | None = None) -> dict[str, Any]:
    """ops/s, p50, p99 and server CPU ms per request of ``run`` (``requests``: how many it made)."""
    count = len(latencies) if requests is None else requests
    cpu_ms = None
    if run.server_cpu_seconds is not None and count:
        cpu_ms = round(run.server_cpu_seconds * 1000 / count, 3)
    return {
        "requests": count,
        "seconds": round(run.seconds, 2),
        "ops_per_second": round(count / run.seconds, 1),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "server_cpu_ms_per_request": cpu_ms,
        "client_cpu_ms_per_request": round(run.client_cpu_seconds * 1000 / count, 3) if count else None,
    }


def worker_processes(pid: int) -> int:
    """How many processes serve requests under ``pid``: its spawned workers, or itself alone."""
    spawned = 0
    for child in tree_pids(pid):
        with suppress(FileNotFoundError):
            spawned += "spawn_main" in Path(f"/proc/{child}/cmdline").read_text()
    return spawned or 1


def wait_ready(base: str, process: Any, timeout: float = 120) -> None:
    """Poll ``base``/readyz until it answers 200; fail if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server at {base} exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} was not ready in {timeout:g} s")


# -- the floor server --------------------------------------------------------------------------


def create_app() -> Any:
    """The floor app (uvicorn's factory): ``GET /json``, ``POST /insert``, ``GET /readyz``."""
    from fastapi import FastAPI

    app = FastAPI()
    url = os.environ.get(DATABASE_ENV)
    pool: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
    made = [0]
    lock = threading.Lock()

    def connection() -> psycopg.Connection[Any]:
        try:
            return pool.get_nowait()
        except queue.Empty:
            with lock:
                grow = made[0] < POOL_SIZE
                made[0] += grow
            if not grow:
                return pool.get()
            assert url is not None, f"{DATABASE_ENV} is not set"
            return psycopg.connect(psycopg_url(url))

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/json")
    def bare_json() -> dict[str, Any]:
        return {"ok": True, "service": "floor", "n": 1}

    @app.post("/insert", status_code=201)
    def insert() -> dict[str, Any]:
        conn = connection()
        try:
            row = conn.execute(
                "INSERT INTO bench_floor (payload, created_at) VALUES (%s, now()) RETURNING id",
                ("floor",),
            ).fetchone()
            conn.commit()
        except BaseException:
            conn.close()
            with lock:
                made[0] -= 1
            raise
        pool.put(conn)
        assert row is not None
        return {"id": row[0]}

    return app


def _serve(port: int, workers: int) -> None:
    """The floor server process: served as agrifin serves (``shared.serving``) when this tree
    has it, else by ``uvicorn.run`` (a tree from before it, for before/after figures)."""
    try:
        from shared.serving import serve_app
    except ImportError:
        import uvicorn

        uvicorn.run(
            "bench.floor:create_app",
            factory=True,
            host="127.0.0.1",
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
        return
    serve_app(
        "bench.floor:create_app",
        service="floor",
        host="127.0.0.1",
        port=port,
        workers=workers,
        grace_seconds=5,
        log_level="WARNING",
    )


def prepare_floor(database_url: str) -> None:
    """The table ``POST /insert`` writes."""
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor "
            "(id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL)"
        )


@contextmanager
def floor_server(database_url: str, workers: int) -> Iterator[tuple[str, int]]:
    """The floor app on ``workers`` processes writing to ``database_url``; yields (base URL, pid)."""
    import subprocess

    prepare_floor(database_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update({DATABASE_ENV: database_url, "PYTHONPATH": str(ROOT), "AGRIFIN_LOG_LEVEL": "WARNING"})
    command = [sys.executable, str(Path(__file__).resolve()), "serve", str(port), str(workers)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base, process.pid
    finally:
        stop(process)


def floor_worker(base: str, endpoint: str) -> Callable[[int], Callable[[], dict[str, float]]]:
    """Client ``i``'s loop on one floor endpoint (``json`` or ``insert``) over its own connection."""

    def make(_i: int) -> Callable[[], dict[str, float]]:
        client = LoadClient(base)
        method, path, expect = ("GET", "/json", 200) if endpoint == "json" else ("POST", "/insert", 201)

        def once() -> dict[str, float]:
            t = time.perf_counter()
            response = client.request(method, path)
            took = time.perf_counter() - t
            if response.status_code != expect:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return {"request": took}

        return once

    return make


def measure_floor(base: str, pid: int, endpoint: str, clients: int, seconds: float) -> dict[str, Any]:
    """One floor endpoint at ``clients`` clients: the figures of ``request_figures``."""
    run = run_clients(clients, seconds, floor_worker(base, endpoint), server_pid=pid)
    return {"clients": clients, **request_figures(run, [s["request"] for s in run.samples])}


def measure_floors(
    database_url: str,
    processes: list[int],
    clients: list[int],
    seconds: float,
    endpoints: tuple[str, ...] = ("json", "insert"),
) -> list[dict[str, Any]]:
    """Every endpoint at every client count, on each process count (one server per count)."""
    results = []
    for workers in processes:
        with floor_server(database_url, workers) as (base, pid):
            observed = worker_processes(pid)
            for endpoint in endpoints:
                for count in clients:
                    figures = measure_floor(base, pid, endpoint, count, seconds)
                    results.append({"endpoint": endpoint, "processes": observed, **figures})
    return results


def find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    """The first row of ``rows`` with every ``match`` item."""
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    """``numerator / denominator`` rounded, or None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, digits)


def main(argv: list[str] | None = None) -> None:
    """Run the floors and print one JSON document (or, as ``serve PORT WORKERS``, be the server)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        _serve(int(argv[1]), int(argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--admin-url", default=admin_url(), help="PostgreSQL server (a temporary database)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--processes", type=int, nargs="+", default=default_processes())
    parser.add_argument("--duration", type=float, default=None, help=f"seconds per level ({SHORT_SECONDS:g})")
    parser.add_argument("--long", action="store_true", help=f"{LONG_SECONDS:g} s per level")
    args = parser.parse_args(argv)
    seconds = args.duration or (LONG_SECONDS if args.long or long_run() else SHORT_SECONDS)
    with temporary_database(args.admin_url, "floor") as url:
        floors = measure_floors(url, args.processes, args.clients, seconds)
    report = {
        "benchmark": "floor",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "duration_seconds_per_level": seconds,
        "server": "as agrifin serves (shared.serving); sync endpoints",
        "floors": floors,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

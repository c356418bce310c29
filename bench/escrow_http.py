"""Benchmark the escrow service over HTTP on PostgreSQL, beside a raw-SQL two-phase transfer.

    .venv/bin/python bench/escrow_http.py [--database-url URL] [--clients 1 8 32] [--duration 10]

The bench creates a temporary PostgreSQL database (admin URL from ``--database-url``,
``AGRIFIN_BENCH_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates
it, starts a real uvicorn server of the escrow app on it (a subprocess) and drives, from 1, 8
and 32 client threads (each with its own keep-alive connection), full escrow cycles:

    create -> fund -> sandbox confirm (signed callback, in-process) -> ship -> deliver -> accept

Six HTTP requests per cycle, each its own transaction with locks, ledger postings, outbox
events and (for money movements) an audit entry. Then, with the server stopped, the same
client counts run the raw-SQL rate of an equivalent two-phase transfer with psycopg: lock two
account rows in id order, insert an entry and two postings, update the balances, commit
(pending); lock again, mark the entry posted, move pending to posted, commit. The database
is dropped at the end. JSON on stdout; not part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.escrow.definition import SERVICE  # noqa: E402
from shared.auth import Role, create_api_key  # noqa: E402
from shared.crypto import Keyring  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.migrate import upgrade  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CYCLE = ("create", "fund", "confirm", "ship", "deliver", "accept")
RAW_ACCOUNTS = 1024


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` in milliseconds, nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return round(ordered[index] * 1000, 2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def temporary_database(admin_url: str) -> Iterator[str]:
    """Create a fresh database next to ``admin_url``; drop it afterwards."""
    admin = _psycopg_url(admin_url)
    name = f"agrifin_bench_escrow_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def escrow_server(database_url: str, keys_dir: Path, var_dir: Path, workers: int) -> Iterator[str]:
    """A uvicorn server of the escrow app on ``database_url``; yields its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update(
        {
            "AGRIFIN_ESCROW_DATABASE_URL": database_url,
            "AGRIFIN_KEYS_DIR": str(keys_dir),
            "AGRIFIN_VAR_DIR": str(var_dir),
            "AGRIFIN_ENV": "development",
            "PYTHONPATH": str(ROOT),
            "AGRIFIN_LOG_LEVEL": "WARNING",
        }
    )
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "services.escrow.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                detail = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"escrow server exited: {detail}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("escrow server did not become ready in 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def issue_keys(database_url: str) -> dict[str, str]:
    """An admin and a marketplace API key, stored straight into the escrow database."""
    db = Database(database_url)
    keys = {}
    with db.unit_of_work() as session:
        for name, role, owner in (("admin", Role.ADMIN, None), ("market", Role.MARKETPLACE, "bench-market")):
            _, keys[name] = create_api_key(
                session, SERVICE.tables, role=role, owner=owner, label="bench", now=datetime.now(UTC)
            )
    db.dispose()
    return keys


def run_clients(
    clients: int, seconds: float, make_worker: Callable[[int], Callable[[], dict[str, float]]]
) -> tuple[float, list[dict[str, float]]]:
    """Run ``clients`` workers for ``seconds``; return (elapsed, every unit of work's timings)."""
    stop = threading.Event()
    barrier = threading.Barrier(clients + 1)
    samples: list[list[dict[str, float]]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []

    def loop(i: int) -> None:
        work = make_worker(i)
        work()  # warm-up: connection and first-request costs stay out of the figures
        barrier.wait()
        try:
            while not stop.is_set():
                samples[i].append(work())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} client(s) failed: {failures[0]!r}")
    return elapsed, [s for per_client in samples for s in per_client]


def http_worker(base: str, keys: dict[str, str], client_no: int) -> Callable[[], dict[str, float]]:
    """One client's escrow cycle over its own keep-alive connection; returns per-step seconds."""
    client = httpx.Client(base_url=base, timeout=httpx.Timeout(60.0))
    market = {"Authorization": f"Bearer {keys['market']}"}
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    seq = 0

    def call(path: str, headers: dict[str, str], body: Any = None, expect: int = 200) -> dict[str, Any]:
        response = client.post(path, json=body, headers=headers)
        if response.status_code != expect:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")
        result: dict[str, Any] = response.json()
        return result

    def cycle() -> dict[str, float]:
        nonlocal seq
        seq += 1
        now = datetime.now(UTC)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        escrow = call(
            "/v1/escrows",
            market,
            {
                "order_ref": f"bench-{client_no}-{seq}-{uuid.uuid4().hex[:8]}",
                "buyer_id": f"buyer-{client_no}",
                "seller_id": f"seller-{client_no % 8}",
                "currency": "KES",
                "lots": [{"lot_ref": "A", "amount_minor": 125_000}],
                "fee": {"bps": 250, "min_minor": 100},
                "inspection_period_hours": 72,
                "funding_deadline": (now + timedelta(days=2)).isoformat(),
                "delivery_deadline": (now + timedelta(days=10)).isoformat(),
            },
            expect=201,
        )
        eid = escrow["id"]
        steps: list[tuple[str, str, dict[str, str], Any, int]] = [
            ("fund", f"/v1/escrows/{eid}/fund", market, None, 202),
            ("confirm", "", admin, None, 200),
            ("ship", f"/v1/escrows/{eid}/lots/A/ship", market, {"carrier": "G4S", "tracking": "KE-1"}, 200),
            ("deliver", f"/v1/escrows/{eid}/lots/A/deliver", market, None, 200),
            ("accept", f"/v1/escrows/{eid}/lots/A/accept", market, None, 200),
        ]
        timings["create"] = time.perf_counter() - t
        payment_id = ""
        for name, path, headers, body, expect in steps:
            t = time.perf_counter()
            if name == "confirm":
                path = f"/v1/sandbox/payments/{payment_id}/confirm"
            result = call(path, headers, body, expect)
            if name == "fund":
                payment_id = result["id"]
            timings[name] = time.perf_counter() - t
        return timings

    return cycle


RAW_SCHEMA = """
CREATE TABLE bench_accounts (id integer PRIMARY KEY, pending bigint NOT NULL, posted bigint NOT NULL);
CREATE TABLE bench_entries (id bigserial PRIMARY KEY, status text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE bench_postings (id bigserial PRIMARY KEY, entry_id bigint NOT NULL REFERENCES bench_entries,
    account_id integer NOT NULL REFERENCES bench_accounts, side text NOT NULL,
    amount bigint NOT NULL CHECK (amount > 0));
CREATE INDEX ON bench_postings (entry_id);
"""


def prepare_raw(database_url: str) -> None:
    """The raw transfer's tables, with ``RAW_ACCOUNTS`` accounts."""
    with psycopg.connect(_psycopg_url(database_url), autocommit=True) as conn:
        conn.execute(RAW_SCHEMA)
        conn.execute(
            "INSERT INTO bench_accounts SELECT g, 0, 0 FROM generate_series(1, %s) g", (RAW_ACCOUNTS,)
        )


def raw_worker(database_url: str, client_no: int) -> Callable[[], dict[str, float]]:
    """One client's two-phase transfer loop over its own connection; returns per-phase seconds."""
    conn = psycopg.connect(_psycopg_url(database_url))
    rng = random.Random(client_no)

    def transfer() -> dict[str, float]:
        debit_id, credit_id = rng.sample(range(1, RAW_ACCOUNTS + 1), 2)
        amount = rng.randint(1, 10_000)
        first, second = sorted((debit_id, credit_id))
        t = time.perf_counter()
        with conn.transaction():
            conn.execute(
                "SELECT id FROM bench_accounts WHERE id IN (%s, %s) ORDER BY id FOR UPDATE", (first, second)
            )
            row = conn.execute(
                "INSERT INTO bench_entries (status, created_at) VALUES ('pending', now()) RETURNING id"
            ).fetchone()
            assert row is not None
            entry_id = row[0]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO bench_postings (entry_id, account_id, side, amount) VALUES (%s, %s, %s, %s)",
                    [(entry_id, debit_id, "debit", amount), (entry_id, credit_id, "credit", amount)],
                )
            move = "UPDATE bench_accounts SET pending = pending + %s WHERE id = %s"
            conn.execute(move, (amount, debit_id))
            conn.execute(move, (-amount, credit_id))
        pending = time.perf_counter() - t
        t = time.perf_counter()
        with conn.transaction():
            conn.execute(
                "SELECT id FROM bench_accounts WHERE id IN (%s, %s) ORDER BY id FOR UPDATE", (first, second)
            )
            conn.execute("UPDATE bench_entries SET status = 'posted' WHERE id = %s", (entry_id,))
            post = "UPDATE bench_accounts SET pending = pending - %s, posted = posted + %s WHERE id = %s"
            conn.execute(post, (amount, amount, debit_id))
            conn.execute(post, (-amount, -amount, credit_id))
        return {"pending": pending, "posted": time.perf_counter() - t}

    return transfer


def summarize_http(elapsed: float, samples: list[dict[str, float]], clients: int) -> dict[str, Any]:
    """Requests and cycles per second with p50/p99 latencies."""
    requests = [s[step] for s in samples for step in CYCLE]
    cycles = [sum(s.values()) for s in samples]
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "cycles": len(samples),
        "requests": len(requests),
        "ops_per_second": round(len(requests) / elapsed, 1),
        "cycles_per_second": round(len(samples) / elapsed, 2),
        "request_p50_ms": percentile(requests, 0.50),
        "request_p99_ms": percentile(requests, 0.99),
        "cycle_p50_ms": percentile(cycles, 0.50),
        "cycle_p99_ms": percentile(cycles, 0.99),
        "by_step_p50_ms": {step: percentile([s[step] for s in samples], 0.50) for step in CYCLE},
        "by_step_p99_ms": {step: percentile([s[step] for s in samples], 0.99) for step in CYCLE},
    }


def summarize_raw(elapsed: float, samples: list[dict[str, float]], clients: int) -> dict[str, Any]:
    """Two-phase transfers per second with p50/p99 latencies."""
    transfers = [s["pending"] + s["posted"] for s in samples]
    transactions = [s[phase] for s in samples for phase in ("pending", "posted")]
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "transfers": len(samples),
        "transfers_per_second": round(len(samples) / elapsed, 1),
        "transactions_per_second": round(len(transactions) / elapsed, 1),
        "transfer_p50_ms": percentile(transfers, 0.50),
        "transfer_p99_ms": percentile(transfers, 0.99),
        "transaction_p50_ms": percentile(transactions, 0.50),
        "transaction_p99_ms": percentile(transactions, 0.99),
    }


def check_ledger(database_url: str) -> dict[str, Any]:
    """Recompute the escrow ledger after the run (it must still balance)."""
    from services.escrow.service.ledger import verify_ledger

    db = Database(database_url)
    try:
        with db.unit_of_work(read_only=True) as session:
            report = verify_ledger(session)
    finally:
        db.dispose()
    return {
        "ok": report.ok,
        "entries": report.entries,
        "postings": report.postings,
        "problems": report.problems[:5],
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default_url = os.environ.get("AGRIFIN_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    parser.add_argument(
        "--database-url",
        default=default_url,
        help="admin URL of a PostgreSQL server (a temporary database is created beside it)",
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="client counts to run")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per client count and mode")
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)

    http: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    with temporary_database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        keys_dir, var_dir = Path(tmp) / "keys", Path(tmp) / "var"
        Keyring.generate(keys_dir, development=True)
        upgrade(SERVICE, url)
        keys = issue_keys(url)
        with escrow_server(url, keys_dir, var_dir, args.server_workers) as base:
            for clients in args.clients:
                elapsed, samples = run_clients(clients, args.duration, lambda i: http_worker(base, keys, i))
                http.append(summarize_http(elapsed, samples, clients))
        ledger = check_ledger(url)
        prepare_raw(url)
        for clients in args.clients:
            elapsed, samples = run_clients(clients, args.duration, lambda i: raw_worker(url, i))
            raw.append(summarize_raw(elapsed, samples, clients))

    ratios = [
        {
            "clients": h["clients"],
            "sql_transfers_per_http_op": round(r["transfers_per_second"] / h["ops_per_second"], 2),
            "sql_transfers_per_http_cycle": round(r["transfers_per_second"] / h["cycles_per_second"], 1),
            "http_op_p50_over_sql_transfer_p50": round(
                h["request_p50_ms"] / max(r["transfer_p50_ms"], 0.01), 2
            ),
        }
        for h, r in zip(http, raw, strict=True)
    ]
    report = {
        "benchmark": "escrow_http",
        "python": platform.python_version(),
        "server": {"uvicorn_workers": args.server_workers, "cycle": list(CYCLE)},
        "duration_seconds_per_level": args.duration,
        "http": http,
        "raw_sql_two_phase_transfer": raw,
        "ratio": ratios,
        "ledger_after_run": ledger,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark the escrow service over HTTP on PostgreSQL, beside its floors and a raw-SQL transfer.

    .venv/bin/python bench/escrow_http.py [--clients 1 8 32] [--processes 1 2] [--duration 3] [--long]

The bench creates a temporary PostgreSQL database beside ``AGRIFIN_BENCH_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``; ``--admin-url``), migrates it and,
for each process count (1 and N, N the cores), starts ``agrifin serve escrow`` with
``AGRIFIN_ESCROW_WORKERS`` set (``bench/local_system.py``) and drives full escrow cycles from 1,
8 and 32 client threads (each with its own keep-alive connection), without and with an
``Idempotency-Key`` on every POST:

    create -> fund -> sandbox confirm (signed callback, in-process) -> ship -> deliver -> accept

Six HTTP requests per cycle, each its own transaction with locks, ledger postings, outbox
events and (for money movements) an audit entry. In the same run, on the same database and
process count, the INSERT + COMMIT floor of ``bench/floor.py`` (same server settings, same
client); then, with no server, the raw-SQL rate of an equivalent two-phase transfer with
psycopg: lock two account rows in id order, insert an entry and two postings, update the
balances, commit (pending); lock again, mark the entry posted, move pending to posted, commit.

Figures per level: ops/s, p50, p99, server CPU ms per request (the server's processes, /proc);
ratios: escrow requests/s to raw transfers/s, escrow CPU per request to the floor's, escrow
requests/s to the floor's. ``--duration`` seconds per level (default 3; ``--long`` or
``AGRIFIN_BENCH_LONG=1``: 15). The database is dropped at the end. JSON on stdout; not part of
the test pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.floor import (  # noqa: E402
    LONG_SECONDS,
    LoadClient,
    Run,
    admin_url,
    default_processes,
    find,
    floor_server,
    long_run,
    measure_floor,
    percentile,
    psycopg_url,
    ratio,
    request_figures,
    run_clients,
    temporary_database,
    wait_ready,
    worker_processes,
)
from bench.local_system import serve, stop, system_env  # noqa: E402
from services.escrow.definition import SERVICE  # noqa: E402
from shared.auth import Role, create_api_key  # noqa: E402
from shared.crypto import Keyring  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from tests.support import free_port  # noqa: E402

CYCLE = ("create", "fund", "confirm", "ship", "deliver", "accept")
RAW_ACCOUNTS = 1024
SHORT_SECONDS = 3.0


@contextmanager
def escrow_server(
    database_url: str, keys_dir: Path, var_dir: Path, workers: int
) -> Iterator[tuple[str, int]]:
    """``agrifin serve escrow`` on ``database_url`` with ``workers`` processes; yields (base URL, pid)."""
    port = free_port()
    env = system_env(var_dir, {"escrow": port})
    env.update(
        {
            "AGRIFIN_ESCROW_DATABASE_URL": database_url,
            "AGRIFIN_KEYS_DIR": str(keys_dir),
            "AGRIFIN_ENV": "development",
        }
    )
    process = serve(env, "escrow", workers=workers)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base, process.pid
    finally:
        stop(process)


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


class StepRefused(Exception):
    """A step of the cycle did not answer what it should (the cycle is abandoned, and counted)."""


def http_worker(
    base: str, keys: dict[str, str], client_no: int, with_keys: bool, failures: list[str]
) -> Callable[[], dict[str, float]]:
    """One client's escrow cycle over its own keep-alive connection (each POST with a fresh
    ``Idempotency-Key`` when ``with_keys``); returns per-step seconds, and ``failed`` (the
    refused step's seconds) for a cycle abandoned at a refusal (the first few kept in
    ``failures``)."""
    client = LoadClient(base)
    market = {"Authorization": f"Bearer {keys['market']}"}
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    seq = 0

    def call(path: str, headers: dict[str, str], body: Any = None, expect: int = 200) -> dict[str, Any]:
        if with_keys:
            headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        response = client.post(path, body, headers)
        if response.status_code != expect:
            raise StepRefused(f"POST {path}: {response.status_code} {response.text[:300]}")
        result: dict[str, Any] = response.json()
        return result

    def cycle() -> dict[str, float]:
        timings: dict[str, float] = {}
        began = time.perf_counter()
        try:
            steps(timings)
        except StepRefused as exc:
            timings["failed"] = time.perf_counter() - began - sum(timings.values())
            if len(failures) < 3:
                failures.append(str(exc))
        return timings

    def steps(timings: dict[str, float]) -> None:
        nonlocal seq
        seq += 1
        now = datetime.now(UTC)
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
    with psycopg.connect(psycopg_url(database_url), autocommit=True) as conn:
        conn.execute(RAW_SCHEMA)
        conn.execute(
            "INSERT INTO bench_accounts SELECT g, 0, 0 FROM generate_series(1, %s) g", (RAW_ACCOUNTS,)
        )


def raw_worker(database_url: str, client_no: int) -> Callable[[], dict[str, float]]:
    """One client's two-phase transfer loop over its own connection; returns per-phase seconds."""
    conn = psycopg.connect(psycopg_url(database_url))
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


def summarize_http(
    run: Run, clients: int, processes: int, with_keys: bool, failures: list[str]
) -> dict[str, Any]:
    """Requests (ops: answered as they should) and complete cycles per second, p50/p99 per
    request, per cycle and per step, server CPU per request, and the refused requests."""
    requests = [s[step] for s in run.samples for step in CYCLE if step in s]
    complete = [s for s in run.samples if "failed" not in s]
    cycles = [sum(s.values()) for s in complete]
    refused = len(run.samples) - len(complete)
    figures = request_figures(run, requests, requests=len(requests) + refused)
    figures["ops_per_second"] = round(len(requests) / run.seconds, 1)
    return {
        "processes": processes,
        "idempotency_keys": with_keys,
        "clients": clients,
        **figures,
        "refused_requests": refused,
        "first_refusals": failures,
        "cycles": len(complete),
        "cycles_per_second": round(len(complete) / run.seconds, 2),
        "cycle_p50_ms": percentile(cycles, 0.50),
        "cycle_p99_ms": percentile(cycles, 0.99),
        "by_step_p50_ms": {
            step: percentile([s[step] for s in run.samples if step in s], 0.50) for step in CYCLE
        },
        "by_step_p99_ms": {
            step: percentile([s[step] for s in run.samples if step in s], 0.99) for step in CYCLE
        },
    }


def summarize_raw(run: Run, clients: int) -> dict[str, Any]:
    """Two-phase transfers per second with p50/p99 latencies."""
    transfers = [s["pending"] + s["posted"] for s in run.samples]
    transactions = [s[phase] for s in run.samples for phase in ("pending", "posted")]
    return {
        "clients": clients,
        "seconds": round(run.seconds, 2),
        "transfers": len(run.samples),
        "transfers_per_second": round(len(run.samples) / run.seconds, 1),
        "transactions_per_second": round(len(transactions) / run.seconds, 1),
        "transfer_p50_ms": percentile(transfers, 0.50),
        "transfer_p99_ms": percentile(transfers, 0.99),
        "transaction_p50_ms": percentile(transactions, 0.50),
        "transaction_p99_ms": percentile(transactions, 0.99),
    }


def ratios(
    http: list[dict[str, Any]], raw: list[dict[str, Any]], floors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each HTTP level against the raw transfer (same clients) and the INSERT floor (same
    clients and processes), all measured in this run."""
    rows = []
    for h in http:
        r = find(raw, clients=h["clients"]) or {}
        f = find(floors, clients=h["clients"], processes=h["processes"]) or {}
        rows.append(
            {
                "processes": h["processes"],
                "idempotency_keys": h["idempotency_keys"],
                "clients": h["clients"],
                "escrow_ops_to_raw_transfers": ratio(h["ops_per_second"], r.get("transfers_per_second")),
                "escrow_ops_to_insert_floor_ops": ratio(h["ops_per_second"], f.get("ops_per_second"), 3),
                "escrow_cpu_to_insert_floor_cpu": ratio(
                    h["server_cpu_ms_per_request"], f.get("server_cpu_ms_per_request")
                ),
            }
        )
    return rows


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
    parser.add_argument("--admin-url", "--database-url", default=admin_url(), help="PostgreSQL server")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="client counts to run")
    parser.add_argument("--processes", type=int, nargs="+", default=default_processes())
    parser.add_argument("--duration", type=float, default=None, help=f"seconds per level ({SHORT_SECONDS:g})")
    parser.add_argument("--long", action="store_true", help=f"{LONG_SECONDS:g} s per level")
    args = parser.parse_args(argv)
    seconds = args.duration or (LONG_SECONDS if args.long or long_run() else SHORT_SECONDS)

    http: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    with temporary_database(args.admin_url, "escrow") as url, tempfile.TemporaryDirectory() as tmp:
        keys_dir, var_dir = Path(tmp) / "keys", Path(tmp) / "var"
        Keyring.generate(keys_dir, development=True)
        upgrade(SERVICE, url)
        keys = issue_keys(url)
        for workers in args.processes:
            with floor_server(url, workers) as (base, pid):
                observed = worker_processes(pid)
                for clients in args.clients:
                    figures = measure_floor(base, pid, "insert", clients, seconds)
                    floors.append({"endpoint": "insert", "processes": observed, **figures})
            with escrow_server(url, keys_dir, var_dir, workers) as (base, pid):
                observed = worker_processes(pid)
                for with_keys in (False, True):
                    for clients in args.clients:
                        failures: list[str] = []
                        run = run_clients(
                            clients,
                            seconds,
                            partial(http_worker, base, keys, with_keys=with_keys, failures=failures),
                            server_pid=pid,
                        )
                        http.append(summarize_http(run, clients, observed, with_keys, failures))
        ledger = check_ledger(url)
        prepare_raw(url)
        for clients in args.clients:
            raw.append(summarize_raw(run_clients(clients, seconds, lambda i: raw_worker(url, i)), clients))

    report = {
        "benchmark": "escrow_http",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "server": {"command": "agrifin serve escrow", "processes": args.processes, "cycle": list(CYCLE)},
        "duration_seconds_per_level": seconds,
        "http": http,
        "insert_commit_floor": floors,
        "raw_sql_two_phase_transfer": raw,
        "ratio": ratios(http, raw, floors),
        "ledger_after_run": ledger,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

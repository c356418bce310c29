"""Benchmark the escrow trade summary (issue 11) over 100,000 escrows on PostgreSQL.

    .venv/bin/python bench/escrow_trade_summary.py [--database-url URL] [--escrows 100000]
        [--sellers 5000] [--samples 2000]

The bench creates a temporary PostgreSQL database (admin URL from ``--database-url``,
``AGRIFIN_BENCH_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates
it and bulk-loads (``COPY``) escrow's own tables: escrows of 5,000 sellers (a few sellers
trade much more than most), created over the last 18 months, in KES or UGX, of one to three
lots each, in a realistic mix of states (completed, partially accepted, disputed and resolved,
refunded undelivered, rejected and returned, in progress, unfunded, cancelled) with lots
delivered on time or late, and a balanced release entry in the ledger for every released lot
(holding -> fee revenue + seller payable), so the summary's fee lookup reads real postings.
After ``ANALYZE`` it times the service function ``services.escrow.service.parties.trade_summary``
(in-process, one read-only unit of work per call: the SQL round trip plus building the answer;
no HTTP) for random sellers, and prints one JSON document with p50/p95/p99 in milliseconds.
The database is dropped at the end. Not part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.floor import DEFAULT_ADMIN_URL, percentile, temporary_database  # noqa: E402
from bench.floor import psycopg_url as _psycopg_url  # noqa: E402
from services.escrow.definition import SERVICE  # noqa: E402
from services.escrow.service.parties import trade_summary  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.migrate import upgrade  # noqa: E402

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FEE_BPS = 250
FEE_MIN = 100
ESCROW_COLUMNS = [
    "id",
    "owner",
    "order_ref",
    "buyer_id",
    "seller_id",
    "currency",
    "total_minor",
    "fee_bps",
    "fee_min_minor",
    "inspection_seconds",
    "funding_deadline",
    "delivery_deadline",
    "provider",
    "status",
    "funded_minor",
    "funded_at",
    "closed_at",
    "created_at",
    "updated_at",
]
LOT_COLUMNS = [
    "escrow_id",
    "position",
    "lot_ref",
    "description",
    "amount_minor",
    "delivery_deadline",
    "status",
    "released_minor",
    "refunded_minor",
    "shipped_at",
    "delivered_at",
    "closed_at",
    "rejection_reason",
    "dispute_reason",
]


CANCELLED_LOT: dict[str, Any] = {
    "status": "cancelled",
    "released": 0,
    "refunded": 0,
    "delivered_at": None,
    "dispute": None,
}


def fee(released: int) -> int:
    """The platform fee on a release (bps half-even, at least the minimum, at most all of it)."""
    return min(released, max(round(released * FEE_BPS / 10_000), FEE_MIN))


def lot_outcome(rng: random.Random, amount: int, deadline: datetime) -> dict[str, Any]:
    """One settled or open lot: its status, money and delivery facts."""
    on_time = rng.random() < 0.85
    delivered_at = deadline - timedelta(days=rng.uniform(0.5, 5)) if on_time else deadline + timedelta(days=2)
    roll = rng.random()
    base: dict[str, Any] = {"released": 0, "refunded": 0, "delivered_at": delivered_at, "dispute": None}
    if roll < 0.55:
        return base | {"status": "accepted", "released": amount}
    if roll < 0.65:
        return base | {"status": "auto_released", "released": amount}
    if roll < 0.72:
        part = amount * rng.randint(5, 9) // 10
        return base | {"status": "partially_accepted", "released": part, "refunded": amount - part}
    if roll < 0.77:
        part = amount // 2
        return base | {
            "status": "resolved",
            "released": part,
            "refunded": amount - part,
            "dispute": "quality",
        }
    if roll < 0.82:
        return base | {"status": "returned", "refunded": amount}
    if roll < 0.87:
        return base | {"status": "refunded", "refunded": amount, "delivered_at": None}
    if roll < 0.95:
        return base | {"status": "delivered"}
    return base | {"status": "shipped", "delivered_at": None}


def seed(url: str, *, escrows: int, sellers: int, rng: random.Random) -> dict[str, int]:
    """Bulk-load escrows, lots and their release entries; return row counts."""
    weights = [1.0 / (1 + i) ** 0.5 for i in range(sellers)]  # a few sellers trade a lot
    seller_ids = [f"seller-{i:05d}" for i in range(sellers)]
    chosen = rng.choices(seller_ids, weights=weights, k=escrows)
    counts = {"escrows": 0, "lots": 0, "entries": 0, "postings": 0}
    with psycopg.connect(_psycopg_url(url)) as conn:
        accounts: dict[tuple[str, str], int] = {}
        for currency in ("KES", "UGX"):
            for kind, owner, side in (
                ("escrow_holding", "bench", "credit"),
                ("platform_fee_revenue", "platform", "credit"),
                ("seller_payable", "bench-sellers", "credit"),
            ):
                row = conn.execute(
                    "INSERT INTO ledger_accounts (kind, owner, currency, normal_side, may_go_negative, "
                    "balance_minor, created_at) VALUES (%s, %s, %s, %s, true, 0, %s) RETURNING id",
                    (kind, owner, currency, side, NOW),
                ).fetchone()
                assert row is not None
                accounts[(kind, currency)] = int(row[0])
        escrow_rows, lot_rows, entry_rows, posting_rows = [], [], [], []
        entry_id = posting_id = 0
        for n, seller in enumerate(chosen):
            eid = f"e{n:07d}"
            currency = "KES" if rng.random() < 0.7 else "UGX"
            created = NOW - timedelta(days=rng.uniform(0, 548))
            deadline = created + timedelta(days=10)
            lots = [rng.randint(5, 200) * 1_000 for _ in range(rng.choice((1, 1, 2, 2, 3)))]
            roll = rng.random()
            funded = roll >= 0.08
            outcomes: list[dict[str, Any]] = (
                [lot_outcome(rng, a, deadline) for a in lots] if funded and roll >= 0.12 else []
            )
            if not funded:
                status = "created" if roll < 0.04 else "cancelled"
            elif not outcomes:  # funded, nothing shipped yet
                status = "funded"
                outcomes = [
                    {"status": "pending", "released": 0, "refunded": 0, "delivered_at": None, "dispute": None}
                    for _ in lots
                ]
            elif all(o["status"] not in ("delivered", "shipped") for o in outcomes):
                status = "completed" if any(o["released"] for o in outcomes) else "refunded"
            else:
                status = "in_progress"
            total = sum(lots)
            escrow_rows.append(
                (eid, "bench-market", f"ORD-{n}", f"buyer-{rng.randint(0, 50_000)}", seller, currency, total,
                 FEE_BPS, FEE_MIN, 259_200, created + timedelta(days=2), deadline, "sandbox", status,
                 total if funded else 0, created + timedelta(hours=1) if funded else None,
                 created + timedelta(days=14) if status in ("completed", "refunded", "cancelled") else None,
                 created, created)
            )  # fmt: skip
            for position, amount in enumerate(lots):
                o: dict[str, Any] = outcomes[position] if outcomes else CANCELLED_LOT
                lot_rows.append(
                    (eid, position, f"L{position}", "maize, 50 kg bags", amount, deadline, o["status"],
                     o["released"], o["refunded"], created + timedelta(days=1) if o["delivered_at"] else None,
                     o["delivered_at"], None, None, o["dispute"])
                )  # fmt: skip
                if o["released"]:
                    entry_id += 1
                    f = fee(o["released"])
                    entry_rows.append(
                        (entry_id, f"release:{eid}:L{position}", "release", "bench", eid, created)
                    )
                    legs = [("escrow_holding", "debit", o["released"]), ("platform_fee_revenue", "credit", f)]
                    if o["released"] - f:
                        legs.append(("seller_payable", "credit", o["released"] - f))
                    for kind, side, minor in legs:
                        posting_id += 1
                        posting_rows.append(
                            (posting_id, entry_id, accounts[(kind, currency)], currency, side, minor)
                        )
        with conn.cursor() as cur:
            for table, columns, rows in (
                ("escrows", ESCROW_COLUMNS, escrow_rows),
                ("escrow_lots", LOT_COLUMNS, lot_rows),
                ("ledger_entries", ["id", "ref", "kind", "memo", "escrow_id", "created_at"], entry_rows),
                ("ledger_postings", ["id", "entry_id", "account_id", "currency", "side", "amount_minor"],
                 posting_rows),
            ):  # fmt: skip
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        counts.update(
            escrows=len(escrow_rows), lots=len(lot_rows), entries=len(entry_rows), postings=len(posting_rows)
        )
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        conn.execute("ANALYZE")
    return counts


def time_summaries(url: str, sellers: list[str], samples: int, rng: random.Random) -> Iterator[float]:
    """Seconds per call of the service function, for ``samples`` random sellers (after a warm-up)."""
    db = Database(url)
    try:
        for i in range(samples + 50):
            seller = rng.choice(sellers)
            started = time.perf_counter()
            with db.unit_of_work(read_only=True) as session:
                trade_summary(session, party_id=seller, as_of=NOW)
            if i >= 50:
                yield time.perf_counter() - started
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    """Seed, time and print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url", default=os.environ.get("AGRIFIN_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument("--escrows", type=int, default=100_000)
    parser.add_argument("--sellers", type=int, default=5_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with temporary_database(args.database_url, "trade_summary") as url:
        upgrade(SERVICE, url)
        started = time.perf_counter()
        counts = seed(url, escrows=args.escrows, sellers=args.sellers, rng=rng)
        seeded = time.perf_counter() - started
        sellers = [f"seller-{i:05d}" for i in range(args.sellers)]
        timings = list(time_summaries(url, sellers, args.samples, rng))
        with Database(url).unit_of_work(read_only=True) as session:
            busiest = trade_summary(session, party_id="seller-00000", as_of=NOW)
    report = {
        "benchmark": "escrow_trade_summary",
        "measured": "services.escrow.service.parties.trade_summary in-process (one read-only unit of work)",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "rows": counts,
        "sellers": args.sellers,
        "seed_seconds": round(seeded, 1),
        "samples": len(timings),
        "p50_ms": percentile(timings, 0.50),
        "p95_ms": percentile(timings, 0.95),
        "p99_ms": percentile(timings, 0.99),
        "max_ms": percentile(timings, 1.0),
        "target_p99_ms": 20,
        "busiest_seller_escrows_in_window": busiest.escrows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

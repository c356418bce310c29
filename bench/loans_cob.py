"""Benchmark loans close of business (COB) on PostgreSQL over a seeded book; JSON on stdout.

    .venv/bin/python bench/loans_cob.py [--loans 100000] [--database-url URL] [--chunk-size 2000]

Creates a temporary database ``agrifin_bench_loans`` next to the one in ``--database-url``
(or ``AGRIFIN_BENCH_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432/postgres),
migrates it, seeds the book in bulk (PostgreSQL COPY, not HTTP): monthly 12-installment
loans disbursed over six months, 80% paying on time, 15% that stopped paying, 5% paying
part of each installment. Then it runs COB for the day after the seed (catching up overdue
penalties for the late loans), re-runs it (idempotent: nothing to do), runs the next day,
and drops the database. Not part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.local_system import cpu_seconds
from services.loans.definition import SERVICE
from services.loans.domain import (
    ChargeCalculation,
    LoanAccount,
    LoanTerms,
    OverduePenalty,
    PenaltyFrequency,
    Repayment,
    build_schedule,
)
from services.loans.domain.projection import project
from services.loans.repository.accounts import allocation_columns, installment_columns, loan_columns
from services.loans.schemas.terms import dump_terms
from services.loans.service.cob import run_close_of_business
from services.loans.settings import LoansContext, LoansSettings
from shared.clock import ManualClock
from shared.crypto import Keyring
from shared.db import normalize_url
from shared.migrate import upgrade
from shared.platform import ServiceContext

BENCH_DB = "agrifin_bench_loans"
SEED_DATE = date(2025, 6, 30)
PRODUCTS: dict[str, LoanTerms] = {
    "maize-monthly": LoanTerms(
        currency="KES",
        overdue_penalty=OverduePenalty(calculation=ChargeCalculation.FLAT, amount_minor=5_000),
    ),
    "dairy-monthly": LoanTerms(
        currency="KES",
        overdue_penalty=OverduePenalty(
            calculation=ChargeCalculation.PERCENT, frequency=PenaltyFrequency.PER_PERIOD, percent=Decimal(2)
        ),
    ),
}


@dataclass
class Template:
    """A loan shape that many seeded loans share (only the ids differ)."""

    product: str
    principal: int
    disbursed: date
    installments: list[dict[str, Any]]
    repayments: list[tuple[int, date, int]]
    allocations: dict[int, dict[str, Any]]
    loan_columns: dict[str, Any]
    maturity: date
    status: str


def make_template(product: str, principal: int, disbursed: date, behaviour: str) -> Template:
    """Build the schedule, the repayments of a behaviour and the projection as of the seed date."""
    terms = PRODUCTS[product]
    schedule = build_schedule(
        terms=terms,
        principal_minor=principal,
        annual_interest_rate=Decimal("18"),
        number_of_repayments=12,
        disbursement_date=disbursed,
    )
    repayments: list[Repayment] = []
    for row in schedule.rows:
        if row.due_date > SEED_DATE:
            break
        if behaviour == "late" and row.number > 1:
            break
        amount = row.total_minor if behaviour != "partial" else row.total_minor * 3 // 4
        repayments.append(Repayment(sequence=len(repayments) + 1, on=row.due_date, amount_minor=amount))
    account = LoanAccount(schedule=schedule, transactions=tuple(repayments))
    projection = project(account, as_of=SEED_DATE)
    items = {item.number: item for item in projection.installments}
    installments = [
        {
            "number": r.number,
            "from_date": r.from_date,
            "due_date": r.due_date,
            "principal_minor": r.principal_minor,
            "interest_minor": r.interest_minor,
            "fee_minor": r.fee_minor,
            "total_minor": r.total_minor,
            "balance_minor": r.balance_minor,
            **installment_columns(items[r.number]),
        }
        for r in schedule.rows
    ]
    return Template(
        product=product,
        principal=principal,
        disbursed=disbursed,
        installments=installments,
        repayments=[(t.sequence, t.on, t.amount_minor) for t in repayments],
        allocations={seq: allocation_columns(a) for seq, a in projection.allocations.items()},
        loan_columns=loan_columns(projection),
        maturity=schedule.maturity_date,
        status=projection.status.value,
    )


def templates() -> list[Template]:
    """20 shapes per 20 loans: 16 on time, 3 late, 1 partial (80/15/5), over two products."""
    out = []
    behaviours = ["on_time"] * 16 + ["late"] * 3 + ["partial"]
    for month in range(6):
        disbursed = date(2025, 1 + month, 5 + month)
        for i, behaviour in enumerate(behaviours):
            product = "maize-monthly" if i % 2 == 0 else "dairy-monthly"
            principal = 500_000 + 25_000 * ((i * 7 + month) % 40)
            out.append(make_template(product, principal, disbursed, behaviour))
    return out


def copy_rows(conn: psycopg.Connection[Any], table: str, columns: list[str], rows: Any) -> int:
    """COPY rows into a table; return how many."""
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(url: str, n_loans: int) -> dict[str, Any]:
    """Insert products, borrowers, applications, loans, schedules, repayments and allocations."""
    now = datetime(2025, 6, 30, 18, 0, tzinfo=UTC)
    shapes = templates()
    product_ids = {name: str(uuid.uuid4()) for name in PRODUCTS}
    loan_ids = [str(uuid.uuid4()) for _ in range(n_loans)]
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn:
        counts["products"] = copy_rows(
            conn,
            "loan_products",
            [
                "id",
                "name",
                "currency",
                "min_principal_minor",
                "max_principal_minor",
                "min_repayments",
                "max_repayments",
                "terms",
                "maker_checker",
                "allow_sale_proceeds",
                "created_at",
                "created_by",
            ],
            (
                (
                    product_ids[name],
                    name,
                    "KES",
                    100_000,
                    10_000_000,
                    1,
                    24,
                    dump_terms(terms),
                    True,
                    False,
                    now,
                    "bench",
                )
                for name, terms in PRODUCTS.items()
            ),
        )
        counts["borrowers"] = copy_rows(
            conn,
            "borrowers",
            [
                "id",
                "type",
                "name_enc",
                "national_id_enc",
                "national_id_hash",
                "created_at",
                "created_by",
            ],
            (
                (loan_id, "farmer", "bench", "bench", f"{i:064x}", now, "bench")
                for i, loan_id in enumerate(loan_ids)
            ),
        )
        counts["applications"] = copy_rows(
            conn,
            "loan_applications",
            [
                "id",
                "product_id",
                "borrower_id",
                "status",
                "currency",
                "principal_minor",
                "annual_interest_rate",
                "number_of_repayments",
                "disbursement_date",
                "features",
                "submitted_by",
                "submitted_key_id",
                "submitted_identity",
                "submitted_at",
                "score_attempts",
                "loan_id",
                "updated_at",
            ],
            (
                (
                    loan_id,
                    product_ids[t.product],
                    loan_id,
                    "approved",
                    "KES",
                    t.principal,
                    "18",
                    12,
                    t.disbursed,
                    "{}",
                    "bench",
                    "bench",
                    "key:bench",
                    now,
                    1,
                    loan_id,
                    now,
                )
                for loan_id, t in ((lid, shapes[i % len(shapes)]) for i, lid in enumerate(loan_ids))
            ),
        )
        loan_cols = [
            "id",
            "application_id",
            "product_id",
            "borrower_id",
            "status",
            "currency",
            "principal_minor",
            "annual_interest_rate",
            "number_of_repayments",
            "expected_disbursement_date",
            "terms",
            "approved_by",
            "approved_at",
            "disbursed_on",
            "maturity_date",
            "disbursement_fees_minor",
            "next_sequence",
            "last_transaction_on",
            "cob_dirty",
            "created_at",
            "updated_at",
            *shapes[0].loan_columns,
        ]

        def loans() -> Any:
            for i, loan_id in enumerate(loan_ids):
                t = shapes[i % len(shapes)]
                last = t.repayments[-1][1] if t.repayments else None
                yield (
                    loan_id,
                    loan_id,
                    product_ids[t.product],
                    loan_id,
                    t.status,
                    "KES",
                    t.principal,
                    "18",
                    12,
                    t.disbursed,
                    dump_terms(PRODUCTS[t.product]),
                    "bench",
                    now,
                    t.disbursed,
                    t.maturity,
                    0,
                    len(t.repayments) + 1,
                    last,
                    False,
                    now,
                    now,
                    *t.loan_columns.values(),
                )

        counts["loans"] = copy_rows(conn, "loans", loan_cols, loans())
        inst_cols = ["loan_id", *shapes[0].installments[0]]
        counts["installments"] = copy_rows(
            conn,
            "loan_installments",
            inst_cols,
            (
                (loan_id, *row.values())
                for i, loan_id in enumerate(loan_ids)
                for row in shapes[i % len(shapes)].installments
            ),
        )
        txn_ids = {
            (i, seq): str(uuid.uuid4())
            for i in range(n_loans)
            for seq, _, _ in shapes[i % len(shapes)].repayments
        }
        counts["transactions"] = copy_rows(
            conn,
            "loan_transactions",
            [
                "id",
                "loan_id",
                "sequence",
                "kind",
                "on_date",
                "amount_minor",
                "currency",
                "external_id",
                "request_hash",
                "source",
                "created_at",
                "created_by",
            ],
            (
                (
                    txn_ids[(i, seq)],
                    loan_id,
                    seq,
                    "repayment",
                    on,
                    amount,
                    "KES",
                    f"ext-{seq}",
                    "0" * 64,
                    "borrower",
                    now,
                    "bench",
                )
                for i, loan_id in enumerate(loan_ids)
                for seq, on, amount in shapes[i % len(shapes)].repayments
            ),
        )
        alloc_cols = ["transaction_id", "loan_id", *next(iter(shapes[0].allocations.values()))]
        counts["allocations"] = copy_rows(
            conn,
            "loan_allocations",
            alloc_cols,
            (
                (txn_ids[(i, seq)], loan_id, *columns.values())
                for i, loan_id in enumerate(loan_ids)
                for seq, columns in shapes[i % len(shapes)].allocations.items()
            ),
        )
        conn.execute(
            "INSERT INTO business_dates (id, business_date, updated_at, updated_by) VALUES (1, %s, %s, %s)",
            (SEED_DATE + timedelta(days=1), now, "bench"),
        )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


def context(url: str, keys_dir: Path) -> LoansContext:
    """A loans context on the bench database with throwaway keys."""
    Keyring.generate(keys_dir, development=True)
    settings = LoansSettings().model_copy(update={"database_url": url, "keys_dir": keys_dir, "env": "test"})
    return cast(
        LoansContext,
        ServiceContext.build(SERVICE, settings, clock=ManualClock(datetime(2025, 7, 1, 20, tzinfo=UTC))),
    )


def _backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend on the bench database (a local
    server: read from ``/proc``); empty when the server's processes cannot be seen."""
    out: dict[int, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (BENCH_DB,))
        ]
        me = conn.execute("SELECT pg_backend_pid()").fetchone()
    for pid in pids:
        if me is not None and pid == me[0]:
            continue
        seconds = cpu_seconds(pid)
        if seconds is not None:
            out[pid] = seconds
    return out


def timed_cob(ctx: LoansContext, on: date, chunk_size: int, url: str) -> tuple[float, dict[str, Any]]:
    """Seconds and summary of one COB run, with the CPU seconds it took in this process and in
    PostgreSQL (wall time on a shared machine also counts everyone else's work)."""
    backends = _backend_cpu(url)
    started, cpu = time.perf_counter(), time.process_time()
    summary = run_close_of_business(ctx, as_of=on, actor="bench", chunk_size=chunk_size)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = _backend_cpu(url)
    server = sum(used - backends.get(pid, 0.0) for pid, used in after.items())
    out = summary.as_dict()
    out["cpu"] = {"client_seconds": round(cpu, 2), "postgres_seconds": round(server, 2)}
    return seconds, out


def main(argv: list[str] | None = None) -> None:
    """Seed, run COB (first day, re-run, next day), print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--loans", type=int, default=100_000, help="loans to seed")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AGRIFIN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--chunk-size", type=int, default=2_000, help="loans per COB transaction")
    args = parser.parse_args(argv)
    admin_url = make_url(normalize_url(args.database_url))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))
    url = admin_url.set(database=BENCH_DB).render_as_string(hide_password=False)
    plain_url = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        upgrade(SERVICE, url)
        started = time.perf_counter()
        counts = seed(plain_url, args.loans)
        seed_seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as keys:
            ctx = context(url, Path(keys))
            first_day = SEED_DATE + timedelta(days=1)
            first_s, first = timed_cob(ctx, first_day, args.chunk_size, plain_url)
            rerun_s, rerun = timed_cob(ctx, first_day, args.chunk_size, plain_url)
            with ctx.db.unit_of_work() as session:
                session.execute(
                    text("UPDATE business_dates SET business_date = :d"), {"d": first_day + timedelta(days=1)}
                )
            next_s, nxt = timed_cob(ctx, first_day + timedelta(days=1), args.chunk_size, plain_url)
            ctx.db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        admin.dispose()
    report = {
        "benchmark": "loans_cob",
        "loans": args.loans,
        "chunk_size": args.chunk_size,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "seed": {"seconds": round(seed_seconds, 2), "rows": counts},
        "cob_first_day": {
            "date": first["business_date"],
            "seconds": round(first_s, 2),
            "loans_per_second": round(first["loans_processed"] / first_s, 1),
            "cpu_seconds": first["cpu"],
            "loans_processed": first["loans_processed"],
            "loans_replayed": first["loans_evaluated"],
            "penalties_charged": first["penalties_charged"],
            "buckets_changed": first["buckets_changed"],
            "buckets": first["buckets"],
        },
        "cob_rerun_same_day": {"seconds": round(rerun_s, 3), "already_done": rerun["already_done"]},
        "cob_next_day": {
            "date": nxt["business_date"],
            "seconds": round(next_s, 2),
            "loans_per_second": round(nxt["loans_processed"] / next_s, 1),
            "cpu_seconds": nxt["cpu"],
            "loans_replayed": nxt["loans_evaluated"],
            "penalties_charged": nxt["penalties_charged"],
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

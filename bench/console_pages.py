"""Benchmark the console's two biggest pages on the embedded default (SQLite under a temp var dir).

    .venv/bin/python bench/console_pages.py [--applications 10000] [--scores 100000] [--requests 200]

It bootstraps a fresh system (keys, databases, champions, development users), starts scoring,
escrow, loans and the console as processes (``agrifin serve``), makes one real application
through loans (scored by scoring over HTTP), then copies that application to ``--applications``
rows in loans' database and its decision to ``--scores`` rows in scoring's (distinct ids,
subjects, times, statuses and hints), as a year of a branch's work would leave them. Then a
signed-in loan officer opens the **review queue** (``/applications``, first pages and filtered
pages) and a signed-in auditor the **decision explorer** (``/decisions``, unfiltered and by
segment, hint, model version and date range), ``--requests`` times each, one browser at a time.
Each figure is the whole render: the console's session check, its REST calls to loans / scoring
(listing, borrower names), and the HTML. JSON on stdout (p50/p95/p99/max in ms); not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.local_system import agrifin, serve, system_env, wait_ready  # noqa: E402
from services.loans.models import Application  # noqa: E402
from services.scoring.models import Decision  # noqa: E402
from tests.factories.loans import BorrowerPayloadFactory, ProductPayloadFactory  # noqa: E402
from tests.support import free_port  # noqa: E402

SERVICES = ("scoring", "escrow", "loans", "console")
HINTS = ("approve", "review", "decline")
STATUSES = ("scored", "scored", "scored", "approved", "rejected", "pending_score")


def _api(port: int, key: str, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex}
    answer = httpx.request(method, f"http://127.0.0.1:{port}{path}", json=body, headers=headers, timeout=60)
    answer.raise_for_status()
    return answer.json()


def _one_real_application(ports: dict[str, int], keys: dict[str, str]) -> dict[str, Any]:
    """A product, a borrower and an application scored by scoring over HTTP."""
    example = _api(ports["scoring"], keys["loan_officer"], "GET", "/v1/segments/farmer")["example"]
    product = _api(
        ports["loans"],
        keys["admin"],
        "POST",
        "/v1/products",
        ProductPayloadFactory(),
    )
    borrower = _api(
        ports["loans"],
        keys["loan_officer"],
        "POST",
        "/v1/borrowers",
        BorrowerPayloadFactory(),
    )
    return dict(
        _api(
            ports["loans"],
            keys["loan_officer"],
            "POST",
            "/v1/applications",
            {
                "product_id": product["id"],
                "borrower_id": borrower["id"],
                "principal_minor": 500_000,
                "annual_interest_rate": "18",
                "number_of_repayments": 6,
                "disbursement_date": date.today().isoformat(),
                "features": example,
            },
        )
    )


def _copy_rows(var: Path, applications: int, scores: int) -> dict[str, Any]:
    """Copy the real application and decision to the requested counts (bulk inserts)."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    loans_db = create_engine(f"sqlite:///{var / 'loans.db'}")
    scoring_db = create_engine(f"sqlite:///{var / 'scoring.db'}")
    with loans_db.begin() as conn:
        template = dict(conn.execute(select(Application.__table__)).mappings().one())
        rows = []
        for i in range(applications - 1):
            row = dict(template)
            row["id"] = str(uuid.uuid4())
            row["status"] = rng.choice(STATUSES)
            row["decision_hint"] = rng.choice(HINTS)
            row["grade"] = rng.choice("ABCDE")
            row["principal_minor"] = rng.randrange(10_000_00, 500_000_00, 100)
            row["submitted_at"] = now - timedelta(minutes=i * 5 + 1)
            row["updated_at"] = row["submitted_at"]
            rows.append(row)
        for start in range(0, len(rows), 2000):
            conn.execute(insert(Application.__table__), rows[start : start + 2000])
    with scoring_db.begin() as conn:
        template = dict(conn.execute(select(Decision.__table__)).mappings().first() or {})
        segments = ("farmer", "enterprise")
        rows = []
        for i in range(scores - 1):
            row = dict(template)
            row["id"] = str(uuid.uuid4())
            row["subject_id"] = f"borrower-{i % 20_000}"
            row["decision_hint"] = rng.choice(HINTS)
            row["grade"] = rng.choice("ABCDE")
            row["segment"] = template["segment"] if i % 3 else segments[i % 2]
            row["created_at"] = now - timedelta(seconds=i * 30 + 1)
            rows.append(row)
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Decision.__table__), rows[start : start + 5000])
    loans_db.dispose()
    scoring_db.dispose()
    return {"model_version": template["model_version"], "segment": template["segment"]}


def _signed_in(port: int, person: dict[str, str]) -> httpx.Client:
    browser = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    page = browser.get("/login")
    token = page.text.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
    answer = browser.post("/login", data={**person, "login_csrf": token, "next": "/"})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in failed: {answer.status_code}")
    return browser


def _measure(browser: httpx.Client, paths: list[str], requests: int) -> dict[str, Any]:
    for path in paths:  # warm: first-use caches, connection pools
        answer = browser.get(path)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    timings = []
    for i in range(requests):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        answer = browser.get(path)
        timings.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code}")
    timings.sort()

    def pct(q: float) -> float:
        return round(timings[min(len(timings) - 1, int(q * len(timings)))], 1)

    return {
        "requests": requests,
        "paths": paths,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(timings[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=10_000)
    parser.add_argument("--scores", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agrifin-bench-console-") as tmp:
        var = Path(tmp) / "var"
        ports = {name: free_port() for name in SERVICES}
        env = system_env(var, ports)
        agrifin(env, "bootstrap")
        keys = json.loads((var / "dev-keys.json").read_text())
        people = json.loads((var / "dev-users.json").read_text())
        procs = {name: serve(env, name) for name in ("scoring", "escrow", "loans")}
        try:
            wait_ready({n: ports[n] for n in procs})
            _one_real_application(ports, keys)
            for proc in procs.values():  # copy rows with no server holding the databases
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            seeded = time.perf_counter()
            facts = _copy_rows(var, args.applications, args.scores)
            seed_seconds = round(time.perf_counter() - seeded, 1)
            procs = {name: serve(env, name) for name in SERVICES}
            wait_ready(ports)
            officer = _signed_in(ports["console"], people["loan_officer"])
            auditor = _signed_in(ports["console"], people["auditor"])
            since = (date.today() - timedelta(days=7)).isoformat()
            queue = _measure(
                officer,
                [
                    "/applications",
                    "/applications?page=2",
                    "/applications?status=scored",
                    "/applications?decision_hint=review&page=3",
                ],
                args.requests,
            )
            explorer = _measure(
                auditor,
                [
                    "/decisions",
                    "/decisions?page=2",
                    f"/decisions?segment={facts['segment']}",
                    "/decisions?decision_hint=decline",
                    f"/decisions?model_version={facts['model_version']}",
                    f"/decisions?scored_from={since}",
                ],
                args.requests,
            )
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(
        json.dumps(
            {
                "bench": "console_pages",
                "database": "sqlite (embedded default)",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "applications": args.applications,
                "scores": args.scores,
                "seed_seconds": seed_seconds,
                "review_queue": queue,
                "decision_explorer": explorer,
                "target_p95_ms": 300,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

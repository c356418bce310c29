"""Benchmark a small loan decided without a human, over REST, the three services running.

    .venv/bin/python bench/loans_decision_http.py [--clients 8] [--applications 400] [--sellers 64]

It bootstraps a fresh system on the embedded default (SQLite under a temp var dir), starts
scoring, escrow and loans as processes (``agrifin serve``) and seeds, through escrow's API,
a marketplace trade history for ``--sellers`` farmers (``--orders`` completed escrows each:
create, fund, sandbox confirm, ship, deliver, accept). Loans gets a product with a decision
policy (auto-approve at or above the approve score up to a ceiling, auto-decline below the
decline score) and one borrower per seller, linked to the seller's marketplace party.

Then ``--clients`` applicants at once submit ``--applications`` applications that omit every
marketplace feature, after one warm-up application each, submitted all at once and reported
apart (``warm_up_ms``): a process's first requests open its connections to the other services
and compile its statements (one cold application alone took 50 ms against 25 ms warmed), and
eight of them would be the p99 of 800. Each ``POST /v1/applications`` is the whole chain the
issue names: loans asks escrow for the borrower's trade summary, fills the omitted features from it,
asks scoring for the score, and applies the product's decision policy — approve, decline or
review — before it answers. The figure per request is that whole round trip as the client
sees it. JSON on stdout (p50/p95/p99/max in ms, throughput, the decisions taken and where
the marketplace features came from, each service's CPU per application, and the bench
client's own: ``time.process_time()`` of this process over the applicant phase, which shares
the machine with the services); not a test.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.floor import LoadClient  # noqa: E402
from bench.local_system import agrifin, serve, system_env, tree_cpu_seconds, wait_ready  # noqa: E402
from tests.factories.loans import ProductPayloadFactory  # noqa: E402
from tests.support import free_port  # noqa: E402

SERVICES = ("scoring", "escrow", "loans")
MARKETPLACE_FEATURES = ("marketplace_orders_12m", "marketplace_volume_12m", "marketplace_dispute_rate")


class Api:
    """One service's base URL and a keep-alive client; POSTs carry a fresh Idempotency-Key."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client = LoadClient(f"http://127.0.0.1:{port}")

    def call(self, method: str, path: str, key: str, body: Any = None, expect: int | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"}
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        answer = self.client.request(method, path, json_body=body, headers=headers)
        if answer.status_code >= 400 or (expect is not None and answer.status_code != expect):
            raise SystemExit(f"{method} {path}: {answer.status_code} {answer.text[:400]}")
        return answer.json()


class Applicant:
    """One applicant's keep-alive connection to loans (``bench.floor.LoadClient``: a load
    generator that costs the machine a quarter of what ``httpx`` does, so the cores go to the
    services being measured)."""

    def __init__(self, port: int, key: str) -> None:
        self.client = LoadClient(f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"})

    def submit(self, body: dict[str, Any] | None) -> dict[str, Any]:
        """POST an application (``None``: GET the products, to open the connection)."""
        if body is None:
            answer = self.client.request("GET", "/v1/products")
        else:
            answer = self.client.post("/v1/applications", body, {"Idempotency-Key": uuid.uuid4().hex})
        if answer.status_code != (200 if body is None else 201):
            raise SystemExit(f"/v1/applications: {answer.status_code} {answer.text[:400]}")
        parsed: dict[str, Any] = answer.json() if body is not None else {}
        return parsed


def _seed_trade_history(escrow: Api, keys: dict[str, str], sellers: int, orders: int) -> None:
    """``orders`` completed escrows per seller, through escrow's API."""
    market, admin = keys["marketplace"], keys["admin"]
    now = datetime.now(UTC)
    for s in range(sellers):
        for o in range(orders):
            created = escrow.call(
                "POST",
                "/v1/escrows",
                market,
                {
                    "order_ref": f"bench-{s}-{o}-{uuid.uuid4().hex[:6]}",
                    "buyer_id": f"buyer-{o % 7}",
                    "seller_id": f"seller-{s}",
                    "currency": "KES",
                    "lots": [{"lot_ref": "A", "amount_minor": 400_000 + 25_000 * (o % 5) + 1_000 * s}],
                    "fee": {"bps": 250, "min_minor": 100},
                    "inspection_period_hours": 72,
                    "funding_deadline": (now + timedelta(days=2)).isoformat(),
                    "delivery_deadline": (now + timedelta(days=10)).isoformat(),
                },
            )
            eid = created["id"]
            payment = escrow.call("POST", f"/v1/escrows/{eid}/fund", market)
            escrow.call("POST", f"/v1/sandbox/payments/{payment['id']}/confirm", admin)
            shipment = {"carrier": "G4S", "tracking": f"T{o}"}
            escrow.call("POST", f"/v1/escrows/{eid}/lots/A/ship", market, shipment)
            escrow.call("POST", f"/v1/escrows/{eid}/lots/A/deliver", market)
            escrow.call("POST", f"/v1/escrows/{eid}/lots/A/accept", market)


def _seed_loans(loans: Api, scoring: Api, keys: dict[str, str], sellers: int) -> dict[str, Any]:
    """A product with a decision policy, and one borrower per seller linked to its party."""
    admin, officer = keys["admin"], keys["loan_officer"]
    product = loans.call("POST", "/v1/products", admin, ProductPayloadFactory())
    segment = scoring.call("GET", "/v1/segments/farmer", officer)
    policy = loans.call(
        "POST",
        f"/v1/products/{product['id']}/decision-policy",
        admin,
        {
            "auto_approve_min_score": "560",
            "auto_approve_max_principal_minor": 5_000_000,
            "auto_decline_below_score": "500",
            "max_open_loans": 3,
        },
    )
    borrowers = [
        loans.call(
            "POST",
            "/v1/borrowers",
            officer,
            {
                "type": "farmer",
                "name": f"Bench Farmer {s}",
                "national_id": f"BENCH-{s:05d}-{uuid.uuid4().hex[:6]}",
                "marketplace_party_id": f"seller-{s}",
            },
        )["id"]
        for s in range(sellers)
    ]
    features = {k: v for k, v in segment["example"].items() if k not in MARKETPLACE_FEATURES}
    return {"product": product, "policy": policy, "borrowers": borrowers, "features": features}


def _applicants(
    loans: Api, key: str, seeded: dict[str, Any], clients: int, applications: int
) -> tuple[float, float, list[float], list[float], list[dict[str, Any]]]:
    """``clients`` threads, each first submitting one warm-up application at once (the
    services' first requests: connections opened, statements compiled), then
    ``applications`` in all; (elapsed, this process's CPU seconds over that time, ms per
    warm-up, ms per request, answers)."""
    barrier = threading.Barrier(clients + 1)
    timings: list[float] = []
    warm_up: list[float] = []
    answers: list[dict[str, Any]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    per_client = applications // clients
    borrowers = seeded["borrowers"]

    def body(n: int) -> dict[str, Any]:
        return {
            "product_id": seeded["product"]["id"],
            "borrower_id": borrowers[n % len(borrowers)],
            "principal_minor": 2_000_000 + 10_000 * (n % 50),
            "annual_interest_rate": "18",
            "number_of_repayments": 6,
            "disbursement_date": date.today().isoformat(),
            "features": seeded["features"],
        }

    def run(i: int) -> None:
        applicant = Applicant(loans.port, key)
        applicant.submit(None)  # open the connection
        try:
            started = time.perf_counter()
            applicant.submit(body(clients * per_client + i))  # warm-up: not measured
            with lock:
                warm_up.append((time.perf_counter() - started) * 1000)
        except BaseException as exc:
            failures.append(exc)
        barrier.wait()
        try:
            for j in range(per_client):
                started = time.perf_counter()
                answer = applicant.submit(body(i * per_client + j))
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    timings.append(elapsed)
                    answers.append(answer)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join(timeout=600)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if failures:
        raise SystemExit(f"{len(failures)} applicant(s) failed: {failures[0]!r}")
    return elapsed, cpu, warm_up, timings, answers


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--applications", type=int, default=400)
    parser.add_argument("--sellers", type=int, default=64)
    parser.add_argument("--orders", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1, help="worker processes per service")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agrifin-bench-decision-") as tmp:
        var = Path(tmp) / "var"
        ports = {name: free_port() for name in SERVICES}
        env = system_env(var, ports)
        agrifin(env, "bootstrap")
        keys = json.loads((var / "dev-keys.json").read_text())
        procs = [serve(env, name, workers=args.processes) for name in SERVICES]
        try:
            wait_ready(ports)
            scoring, escrow, loans = (Api(ports[n]) for n in SERVICES)
            seeding = time.perf_counter()
            _seed_trade_history(escrow, keys, args.sellers, args.orders)
            seeded = _seed_loans(loans, scoring, keys, args.sellers)
            seed_seconds = round(time.perf_counter() - seeding, 1)
            cpu_before = {n: tree_cpu_seconds(p.pid) for n, p in zip(SERVICES, procs, strict=True)}
            elapsed, client_cpu, warm_up, timings, answers = _applicants(
                loans, keys["loan_officer"], seeded, args.clients, args.applications
            )
            cpu = {n: tree_cpu_seconds(p.pid) - cpu_before[n] for n, p in zip(SERVICES, procs, strict=True)}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    decided = collections.Counter(
        (a.get("policy_decision") or {}).get("outcome", a["status"]) for a in answers
    )
    sources = collections.Counter(
        source
        for a in answers
        for name, source in (a.get("feature_sources") or {}).items()
        if name in MARKETPLACE_FEATURES
    )
    print(
        json.dumps(
            {
                "bench": "loans_decision_http",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "database": "sqlite (embedded default)",
                "processes_per_service": args.processes,
                "clients": args.clients,
                "applications": len(timings),
                "sellers": args.sellers,
                "orders_per_seller": args.orders,
                "seed_seconds": seed_seconds,
                "p50_ms": _pct(timings, 0.50),
                "p95_ms": _pct(timings, 0.95),
                "p99_ms": _pct(timings, 0.99),
                "max_ms": round(max(timings), 1),
                "warm_up_ms": sorted(round(ms, 1) for ms in warm_up),
                "applications_per_second": round(len(timings) / elapsed, 1),
                "server_cpu_ms_per_application": {
                    n: round(1000 * seconds / len(timings), 1) for n, seconds in cpu.items()
                },
                "client_cpu_ms_per_application": round(1000 * client_cpu / len(timings), 1),
                "decisions": dict(decided),
                "marketplace_feature_sources": dict(sources),
                "statuses": dict(collections.Counter(a["status"] for a in answers)),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""HTTP scoring benchmark on SQLite and PostgreSQL, on 1 and N processes, beside its floor; prints JSON.

    .venv/bin/python bench/scoring_http.py [--concurrency 1,16] [--processes 1 2] [--duration 5] [--long]

For each database (``--databases``: SQLite in a temporary var dir, and a temporary PostgreSQL
database beside ``AGRIFIN_BENCH_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``) it prepares keys, the migrated schema, one
``service`` API key and champions bootstrapped from synthetic data, then, for each process count
(1 and N, N the cores), starts ``agrifin serve scoring`` with ``AGRIFIN_SCORING_WORKERS`` set
(``bench/local_system.py``) and measures ``POST /v1/scores`` (each request scores, explains,
signs, stores, audits and emits a decision) at each concurrency level with the client of
``bench/floor.py`` (one keep-alive ``LoadClient`` per client thread; applicants rotate over
2,000 synthetic farmers): ops/s, p50, p99, mean, server CPU ms per request (the server's
processes, /proc). In the same run, the INSERT + COMMIT floor of ``bench/floor.py`` on the
PostgreSQL database at the same client and process counts, and the ratios to it.
``--duration`` seconds per level (default 5; ``--long`` or ``AGRIFIN_BENCH_LONG=1``: 15).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.floor import (  # noqa: E402
    LONG_SECONDS,
    LoadClient,
    admin_url,
    default_processes,
    find,
    floor_server,
    long_run,
    measure_floor,
    ratio,
    request_figures,
    run_clients,
    temporary_database,
    wait_ready,
    worker_processes,
)
from bench.local_system import serve, stop, system_env  # noqa: E402
from services.scoring.bootstrap import bootstrap  # noqa: E402
from services.scoring.definition import SERVICE  # noqa: E402
from services.scoring.domain.synthetic import generate  # noqa: E402
from shared.auth import Role, create_api_key  # noqa: E402
from shared.crypto import Keyring  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.platform import ServiceContext  # noqa: E402
from tests.support import free_port  # noqa: E402

SHORT_SECONDS = 5.0


def _bodies(n: int) -> list[dict[str, Any]]:
    frame = generate("farmer", n, 2024)
    names = [c for c in frame.columns if c != "default"]
    bodies = []
    for i, record in enumerate(frame[names].astype(object).to_dict(orient="records")):
        features = {
            str(k): (None if isinstance(v, float) and v != v else v.item() if hasattr(v, "item") else v)
            for k, v in record.items()
        }
        bodies.append({"segment": "farmer", "subject_id": f"bench-{i}", "features": features})
    return bodies


def _prepare(var_dir: Path, database_url: str | None, rows: int) -> tuple[str, float]:
    """Keys, schema, a service key and champions; returns (api key, bootstrap seconds)."""
    os.environ["AGRIFIN_VAR_DIR"] = str(var_dir)
    os.environ["AGRIFIN_SCORING_BOOTSTRAP_ROWS"] = str(rows)
    if database_url:
        os.environ["AGRIFIN_SCORING_DATABASE_URL"] = database_url
    else:
        os.environ.pop("AGRIFIN_SCORING_DATABASE_URL", None)
    settings = SERVICE.settings_factory()
    Keyring.generate(settings.resolved_keys_dir)
    upgrade(SERVICE, settings.database_url)
    ctx = ServiceContext.build(SERVICE, settings)
    with ctx.db.unit_of_work() as session:
        _, key = create_api_key(
            session, ctx.tables, role=Role.SERVICE, owner="loans", label="bench", now=ctx.clock.now()
        )
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        bootstrap(ctx)
    seconds = time.perf_counter() - start
    ctx.db.dispose()
    return key, seconds


@contextlib.contextmanager
def scoring_server(var_dir: Path, database_url: str | None, workers: int) -> Iterator[tuple[str, int]]:
    """``agrifin serve scoring`` on ``workers`` processes; yields (base URL, pid)."""
    port = free_port()
    env = system_env(var_dir, {"scoring": port})
    if database_url:
        env["AGRIFIN_SCORING_DATABASE_URL"] = database_url
    process = serve(env, "scoring", workers=workers)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base, process.pid
    finally:
        stop(process)


def _score_worker(
    base: str, key: str, bodies: list[dict[str, Any]], clients: int, failures: list[str]
) -> Callable[[int], Callable[[], dict[str, float]]]:
    """Client ``index``'s loop: ``POST /v1/scores`` over its own connection, one applicant after another."""

    def make(index: int) -> Callable[[], dict[str, float]]:
        client = LoadClient(base, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)
        position = [index]

        def once() -> dict[str, float]:
            body = bodies[position[0] % len(bodies)]
            position[0] += clients
            t0 = time.perf_counter()
            response = client.post("/v1/scores", body)
            elapsed = time.perf_counter() - t0
            if response.status_code == 201:
                return {"request": elapsed}
            if len(failures) < 3:
                failures.append(f"{response.status_code} {response.text[:200]}")
            return {"error": elapsed}

        return once

    return make


def _run_level(
    base: str, pid: int, key: str, bodies: list[dict[str, Any]], clients: int, seconds: float
) -> dict[str, Any]:
    failures: list[str] = []
    run = run_clients(clients, seconds, _score_worker(base, key, bodies, clients, failures), server_pid=pid)
    latencies = [s["request"] for s in run.samples if "request" in s]
    figures = request_figures(run, latencies, requests=len(run.samples))
    figures["ops_per_second"] = round(len(latencies) / run.seconds, 1)  # successful scores only
    return {
        "clients": clients,
        **figures,
        "errors": len(run.samples) - len(latencies),
        "first_errors": failures,
        "mean_ms": round(statistics.fmean(latencies) * 1e3, 2) if latencies else None,
    }


def main() -> None:
    """Parse arguments, run the benchmark, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=None, help=f"seconds per level ({SHORT_SECONDS:g})")
    parser.add_argument("--long", action="store_true", help=f"{LONG_SECONDS:g} s per level")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated client counts")
    parser.add_argument("--processes", type=int, nargs="+", default=default_processes())
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--bootstrap-rows", type=int, default=20_000, help="synthetic rows per champion")
    parser.add_argument("--admin-url", default=admin_url(), help="PostgreSQL server (temporary databases)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    seconds = args.duration or (LONG_SECONDS if args.long or long_run() else SHORT_SECONDS)
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    bodies = _bodies(2000)

    results: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    bootstraps: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        # PostgreSQL for the scoring runs on it, and always for the floor
        pg_url = stack.enter_context(temporary_database(args.admin_url, "scoring"))
        for database in args.databases:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="agrifin-bench-"))
            var_dir = Path(tmp) / "var"
            url = pg_url if database == "postgresql" else None
            key, bootstraps[database] = _prepare(var_dir, url, args.bootstrap_rows)
            for workers in args.processes:
                with scoring_server(var_dir, url, workers) as (base, pid):
                    observed = worker_processes(pid)
                    for clients in levels:
                        level = _run_level(base, pid, key, bodies, clients, seconds)
                        results.append({"database": database, "processes": observed, **level})
        for workers in args.processes:
            with floor_server(pg_url, workers) as (base, pid):
                observed = worker_processes(pid)
                for clients in levels:
                    figures = measure_floor(base, pid, "insert", clients, seconds)
                    floors.append({"endpoint": "insert", "processes": observed, **figures})

    ratios = []
    for r in results:
        f = find(floors, clients=r["clients"], processes=r["processes"]) or {}
        ratios.append(
            {
                "database": r["database"],
                "processes": r["processes"],
                "clients": r["clients"],
                "scoring_ops_to_insert_floor_ops": ratio(r["ops_per_second"], f.get("ops_per_second"), 3),
                "scoring_cpu_to_insert_floor_cpu": ratio(
                    r["server_cpu_ms_per_request"], f.get("server_cpu_ms_per_request")
                ),
            }
        )
    report = {
        "benchmark": "POST /v1/scores over HTTP (agrifin serve scoring)",
        "cpu_count": os.cpu_count(),
        "duration_seconds_per_level": seconds,
        "bootstrap_seconds": {k: round(v, 2) for k, v in bootstraps.items()},
        "bootstrap_rows": args.bootstrap_rows,
        "levels": results,
        "insert_commit_floor": floors,
        "ratio": ratios,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

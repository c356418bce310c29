"""HTTP scoring benchmark; prints JSON.

Prepares a temporary var dir (keys, migrated SQLite database — or ``--database-url`` —, one
``service`` API key, champions bootstrapped from synthetic data), starts the scoring app with
uvicorn in a subprocess (``agrifin serve scoring``) and measures ``POST /v1/scores`` (each
request scores, explains, signs, stores, audits and emits a decision) at each concurrency
level: p50 / p99 / mean latency and requests per second, with one ``httpx.Client`` per
client thread. Applicants rotate over 2,000 synthetic farmers.

Run: ``.venv/bin/python bench/scoring_http.py [--duration 15] [--concurrency 1,16]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.scoring.bootstrap import bootstrap  # noqa: E402
from services.scoring.definition import SERVICE  # noqa: E402
from services.scoring.domain.synthetic import generate  # noqa: E402
from shared.auth import Role, create_api_key  # noqa: E402
from shared.crypto import Keyring  # noqa: E402
from shared.migrate import upgrade  # noqa: E402
from shared.platform import ServiceContext  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def _wait_ready(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("scoring did not become ready")


def _run_level(
    base: str, key: str, bodies: list[dict[str, Any]], clients: int, seconds: float
) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_gate = threading.Barrier(clients + 1)
    deadline = [float("inf")]  # set once every client is connected and warm

    def client_loop(index: int) -> None:
        with httpx.Client(base_url=base, timeout=30.0, headers={"Authorization": f"Bearer {key}"}) as client:
            client.post("/v1/scores", json=bodies[index])  # connection + warm cache
            start_gate.wait()
            i = index
            while time.perf_counter() < deadline[0]:
                body = bodies[i % len(bodies)]
                t0 = time.perf_counter()
                response = client.post("/v1/scores", json=body)
                elapsed = time.perf_counter() - t0
                if response.status_code == 201:
                    latencies[index].append(elapsed)
                else:
                    errors[index] += 1
                i += clients

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    deadline[0] = began + seconds
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    samples = sorted(x for per_client in latencies for x in per_client)
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))] if samples else float("nan")
    return {
        "clients": clients,
        "requests": len(samples),
        "errors": sum(errors),
        "seconds": round(wall, 2),
        "requests_per_second": round(len(samples) / wall, 1),
        "p50_ms": round(statistics.median(samples) * 1e3, 2) if samples else None,
        "p99_ms": round(p99 * 1e3, 2),
        "mean_ms": round(statistics.fmean(samples) * 1e3, 2) if samples else None,
    }


def main() -> None:
    """Parse arguments, run the benchmark, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per concurrency level")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated client counts")
    parser.add_argument("--bootstrap-rows", type=int, default=20_000, help="synthetic rows per champion")
    parser.add_argument(
        "--database-url", default=None, help="an empty PostgreSQL database (default: SQLite in the var dir)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]

    with tempfile.TemporaryDirectory(prefix="agrifin-bench-") as tmp:
        var_dir = Path(tmp) / "var"
        key, bootstrap_seconds = _prepare(var_dir, args.database_url, args.bootstrap_rows)
        port = _free_port()
        env = {
            **os.environ,
            "AGRIFIN_VAR_DIR": str(var_dir),
            "AGRIFIN_SCORING_PORT": str(port),
            "AGRIFIN_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "scoring"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base)
            bodies = _bodies(2000)
            results = [_run_level(base, key, bodies, clients, args.duration) for clients in levels]
        finally:
            server.terminate()
            server.wait(timeout=15)
    report = {
        "benchmark": "POST /v1/scores over HTTP (uvicorn, one process)",
        "cpu_count": os.cpu_count(),
        "database": "postgresql" if args.database_url else "sqlite",
        "bootstrap_seconds": round(bootstrap_seconds, 2),
        "bootstrap_rows": args.bootstrap_rows,
        "levels": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

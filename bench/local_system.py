"""The whole system on the embedded default for a benchmark: a temp var dir, free ports, processes.

``system_env`` gives the environment of a fresh system (its own ``AGRIFIN_VAR_DIR``, a free
port per service, loans and the console pointed at the others); ``agrifin`` runs a CLI
command in it; ``serve`` starts one service as ``agrifin serve <name>``; ``wait_ready``
polls ``/readyz`` until every named service answers 200.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def system_env(var: Path, ports: dict[str, int]) -> dict[str, str]:
    """The environment of a system under ``var`` with ``ports`` (no AGRIFIN_* of the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update({"AGRIFIN_VAR_DIR": str(var), "PYTHONPATH": str(ROOT), "AGRIFIN_LOG_LEVEL": "WARNING"})
    env.update({f"AGRIFIN_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    for name in ("scoring", "escrow", "loans"):
        if name in ports:
            env[f"AGRIFIN_CONSOLE_{name.upper()}_URL"] = f"http://127.0.0.1:{ports[name]}"
    env["AGRIFIN_LOANS_SCORING_URL"] = f"http://127.0.0.1:{ports['scoring']}"
    env["AGRIFIN_LOANS_ESCROW_URL"] = f"http://127.0.0.1:{ports['escrow']}"
    return env


def agrifin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``agrifin <args>`` in the system's environment; raise if it fails."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def serve(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    """Start ``agrifin serve <name>`` (its output discarded)."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", name],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(ports: dict[str, int], timeout: float = 120) -> None:
    """Poll each service's ``/readyz`` until it answers 200; exit naming those that never did."""
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            try:
                if httpx.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=2).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    if pending:
        raise SystemExit(f"not ready: {sorted(pending)}")

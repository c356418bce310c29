"""`agrifin demo`, twice, against the system `agrifin run` started from a fresh ./var; then
`agrifin reconcile proceeds` finds escrow's sweeps and loans' repayments balanced.

Each run is a season on loans' business date: the second reuses the cooperative, the farmers
and the product the first registered, and tells the next season (a new late payer)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
STORY = (
    "[9/9] Model performance against outcomes, and every audit trail verified",
    "approved by the product's decision policy v1 alone, no person involved",
    "submitted by officer (loan_officer)",
    "approved by manager (credit_manager): a second person (maker-checker)",
    "declined by the decision policy v1",
    "from the marketplace (escrow's trade summary): ",
    "escrow swept the lender's share",
    "to close the loan",
    "repaid on ",
    "90 days past due (a default)",
    "balanced, every sweep matches loans' repayments and refunds",
    "scoring: ok (",
    "escrow: ok (",
    "loans: ok (",
    "console: ok (",
    "escrow ledger: balanced",
)


def _agrifin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _wait_ready(ports: dict[str, int]) -> None:
    deadline = time.monotonic() + 120
    ready: set[str] = set()
    while time.monotonic() < deadline and len(ready) < len(ports):
        for name, port in ports.items():
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    ready.add(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    assert ready == set(ports), f"not ready: {set(ports) - ready}"


def _season(output: str) -> str:
    found = re.search(r"the season starting (\d{4}-\d{2}-\d{2})", output)
    assert found, output
    return found.group(1)


def test_demo_runs_twice_then_proceeds_reconcile(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("scoring", "escrow", "loans", "console")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update({"AGRIFIN_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(REPO)})
    env.update({f"AGRIFIN_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env.update(
        {
            "AGRIFIN_LOANS_SCORING_URL": urls["scoring"],
            "AGRIFIN_LOANS_ESCROW_URL": urls["escrow"],
            "AGRIFIN_SCORING_LOANS_URL": urls["loans"],
            "AGRIFIN_LOANS_ESCROW_INSTRUCTIONS_INTERVAL_SECONDS": "0.5",
        }
    )
    env.update({f"AGRIFIN_CONSOLE_{name.upper()}_URL": urls[name] for name in ("scoring", "escrow", "loans")})
    bootstrap = _agrifin("bootstrap", env=env)
    assert bootstrap.returncode == 0, bootstrap.stderr

    system = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(ports)
        first = _agrifin("demo", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        second = _agrifin("demo", env=env)
        assert second.returncode == 0, second.stdout + second.stderr
        reconcile = _agrifin("reconcile", "proceeds", env=env)
    finally:
        system.send_signal(signal.SIGTERM)
        system.wait(timeout=60)

    for run in (first, second):
        missing = [line for line in STORY if line not in run.stdout]
        assert not missing, f"missing {missing} in:\n{run.stdout}"
        assert "Traceback" not in run.stdout + run.stderr
        assert "demo stopped" not in run.stdout + run.stderr
    assert "Kilimo Bora Cooperative (enterprise): registered" in first.stdout
    assert "Kilimo Bora Cooperative (enterprise): found by national id" in second.stdout
    assert "Wanjiru Kamau (farmer): found by national id" in second.stdout
    assert "Kiprop Chebet" in first.stdout and "Kiprop Chebet" not in second.stdout  # a new late payer
    assert _season(second.stdout) > _season(first.stdout)
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert "balanced" in reconcile.stdout

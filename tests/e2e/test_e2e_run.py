"""`make run`'s two steps from a fresh ./var: bootstrap, then every process up and ready,
then SIGTERM stops them all cleanly. A second bootstrap reuses what the first prepared."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROLES = {"loan_officer", "credit_manager", "marketplace", "auditor", "admin", "service"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _agrifin(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, cwd=cwd, capture_output=True,
        text=True, timeout=300, check=False,
    )


def test_bootstrap_then_run_brings_every_service_to_ready(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    ports = {name: _free_port() for name in ("scoring", "escrow", "loans")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update({"AGRIFIN_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(repo)})
    env.update({f"AGRIFIN_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["AGRIFIN_LOANS_SCORING_URL"] = f"http://127.0.0.1:{ports['scoring']}"
    dev_keys = tmp_path / "var" / "dev-keys.json"

    first = _agrifin("bootstrap", "--dev-keys", str(dev_keys), env=env, cwd=repo)
    assert first.returncode == 0, first.stderr
    assert str(dev_keys) in first.stdout
    keys = json.loads(dev_keys.read_text())
    assert set(keys) == ROLES
    assert stat.S_IMODE(dev_keys.stat().st_mode) == 0o600
    assert (tmp_path / "var" / "keys").is_dir()

    second = _agrifin("bootstrap", "--dev-keys", str(dev_keys), env=env, cwd=repo)
    assert second.returncode == 0, second.stderr
    assert json.loads(dev_keys.read_text()) == keys

    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"], env=env, cwd=repo,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        ready: dict[str, int] = {}
        while time.monotonic() < deadline and len(ready) < 3:
            for name, port in ports.items():
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    if response.status_code == 200:
                        ready[name] = port
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        assert set(ready) == set(ports), f"not ready: {set(ports) - set(ready)}"
        for port in ports.values():
            anonymous = httpx.post(f"http://127.0.0.1:{port}/v1/webhooks", json={}, timeout=5)
            assert anonymous.status_code == 401
            assert anonymous.headers["content-type"] == "application/problem+json"
            authorised = httpx.get(f"http://127.0.0.1:{port}/v1/audit/verify", timeout=5,
                                   headers={"Authorization": f"Bearer {keys['auditor']}"})
            assert authorised.status_code == 200 and authorised.json()["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0

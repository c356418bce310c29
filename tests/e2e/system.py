"""The whole system as ``make run`` starts it from a fresh ./var, for the e2e tests:
``agrifin bootstrap`` twice (the second must reuse what the first prepared), then ``agrifin
run`` (every service and the worker as processes) on free ports, each service pointed at the
others and waited for on ``/readyz``. ``conftest.running_system`` starts it once for the
modules of the ``GROUP`` xdist group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("scoring", "escrow", "loans", "console")
GROUP = "e2e-system"
"""The xdist group of the modules that share the system."""
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 30.0


def agrifin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``agrifin ARGS`` in ``env`` from the repository, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Bootstrapped:
    """What ``agrifin bootstrap`` printed and what dev-keys.json and dev-users.json held after it."""

    run: subprocess.CompletedProcess[str]
    keys: dict[str, str]
    people: dict[str, Any]


@dataclass
class RunningSystem:
    """``agrifin run`` serving from ``var``: its environment, ports and the two bootstraps."""

    var: Path
    env: dict[str, str]
    ports: dict[str, int]
    first: Bootstrapped
    second: Bootstrapped
    process: subprocess.Popen[bytes]

    @property
    def dev_keys(self) -> Path:
        """The dev keys file (bootstrap was told this path; it is also the default)."""
        return self.var / "dev-keys.json"

    @property
    def dev_users(self) -> Path:
        """The dev users file bootstrap writes."""
        return self.var / "dev-users.json"

    def agrifin(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another ``agrifin`` command against this system."""
        return agrifin(*args, env=self.env)

    def stop(self) -> int:
        """SIGTERM ``agrifin run``; its exit code (killed, and a failure, after the timeout)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"agrifin run did not stop within {STOP_TIMEOUT_SECONDS:g} s") from None


def environment(var: Path, ports: dict[str, int]) -> dict[str, str]:
    """The system's settings: no AGRIFIN_* of the caller's, ``var``, the ports, who calls whom."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update({"AGRIFIN_VAR_DIR": str(var), "PYTHONPATH": str(REPO)})
    env.update({f"AGRIFIN_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env.update(
        {
            "AGRIFIN_LOANS_SCORING_URL": urls["scoring"],
            "AGRIFIN_LOANS_ESCROW_URL": urls["escrow"],
            "AGRIFIN_SCORING_LOANS_URL": urls["loans"],
            # the demo waits on loans' instructions to escrow (register, close): send them promptly
            "AGRIFIN_LOANS_ESCROW_INSTRUCTIONS_INTERVAL_SECONDS": "0.5",
        }
    )
    env.update({f"AGRIFIN_CONSOLE_{name.upper()}_URL": urls[name] for name in ("scoring", "escrow", "loans")})
    return env


def bootstrap(var: Path, env: dict[str, str]) -> Bootstrapped:
    """``agrifin bootstrap --dev-keys <var>/dev-keys.json`` (it must succeed) and what it wrote."""
    done = agrifin("bootstrap", "--dev-keys", str(var / "dev-keys.json"), env=env)
    if done.returncode != 0:
        raise AssertionError(f"agrifin bootstrap exited {done.returncode}:\n{done.stdout}{done.stderr}")
    keys = json.loads((var / "dev-keys.json").read_text())
    people = json.loads((var / "dev-users.json").read_text())
    return Bootstrapped(run=done, keys=keys, people=people)


def wait_ready(process: subprocess.Popen[bytes], ports: dict[str, int]) -> None:
    """Every service answers 200 on ``/readyz`` (or fail naming those that do not)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    waiting = set(ports)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"agrifin run exited {process.returncode} while starting")
        for name in sorted(waiting):
            try:
                if httpx.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=2).status_code == 200:
                    waiting.discard(name)
            except httpx.HTTPError:
                pass
        if waiting:
            time.sleep(0.25)
    assert not waiting, f"not ready after {READY_TIMEOUT_SECONDS:g} s: {sorted(waiting)}"


def start_system(var: Path) -> RunningSystem:
    """Bootstrap ``var`` twice and start ``agrifin run`` on free ports, every service ready (the
    caller stops it)."""
    ports = {name: free_port() for name in SERVICES}
    env = environment(var, ports)
    first = bootstrap(var, env)
    second = bootstrap(var, env)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    system = RunningSystem(var=var, env=env, ports=ports, first=first, second=second, process=process)
    try:
        wait_ready(process, ports)
    except BaseException:
        with contextlib.suppress(AssertionError):  # the start's failure is the one to report
            system.stop()
        raise
    return system

"""The whole system as ``make run`` starts it, for the browser tests: ``agrifin bootstrap`` in a
fresh directory, then ``agrifin serve`` for scoring, escrow, loans and the console, each on its
own free port and pointed at the others, each waited for on ``/readyz``.

Set-up data goes in through the services' APIs: with the admin key from ``dev-keys.json``, or
as a named console person through the console's own credential (``service:console`` with the
acting headers), so that maker-checker sees the person who submitted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER
from tests.support import free_port

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("scoring", "escrow", "loans", "console")
BOOTSTRAP_ROWS = 5_000
"""Synthetic rows each bootstrap champion trains on (the default 50,000 takes seconds longer)."""
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0
PASSWORD_LINE = re.compile(r"^password \(shown once\): (\S+)$", re.MULTILINE)


class StartFailed(AssertionError):
    """The system did not start; the message carries the command's output or the log's tail."""


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class System:
    """Four running services in ``root``: their ports, the dev keys and the console's people."""

    root: Path
    env: dict[str, str]
    ports: dict[str, int]
    keys: dict[str, str] = field(default_factory=dict)
    people: dict[str, dict[str, str]] = field(default_factory=dict)
    """username -> {"username", "password", "role"} for everyone the tests sign in as."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, IO[bytes]] = field(default_factory=dict)

    @property
    def console_url(self) -> str:
        """The console's base URL."""
        return f"http://127.0.0.1:{self.ports['console']}"

    def url(self, path: str) -> str:
        """A console page's URL."""
        return self.console_url + path

    def username(self, role: str) -> str:
        """The bootstrap (dev) user of ``role``."""
        for person in self.people.values():
            if person["role"] == role and person.get("dev") == "yes":
                return person["username"]
        raise KeyError(role)

    # -- the CLI -------------------------------------------------------------------------------

    def agrifin(self, *args: str) -> str:
        """Run ``agrifin ARGS`` in the system's environment; its stdout (fails loudly)."""
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise StartFailed(
                f"agrifin {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def bootstrap(self) -> None:
        """``agrifin bootstrap``: keys, databases, dev keys, champions, dev users."""
        self.agrifin("bootstrap")
        var = Path(self.env["AGRIFIN_VAR_DIR"])
        self.keys = json.loads((var / "dev-keys.json").read_text())
        for role, entry in json.loads((var / "dev-users.json").read_text()).items():
            self.people[entry["username"]] = {**entry, "role": role, "dev": "yes"}

    def create_people(self, people: tuple[tuple[str, str, str], ...]) -> None:
        """``agrifin users create --generate`` for each (username, role, full name), side by side;
        each printed password is kept for signing in."""
        runs = {
            username: (
                role,
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "services.cli", "users", "create"),
                        *("--username", username, "--role", role, "--name", name, "--generate"),
                    ],
                    env=self.env,
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
            )
            for username, role, name in people
        }
        for username, (role, run) in runs.items():
            out, _ = run.communicate(timeout=300)
            found = PASSWORD_LINE.search(out)
            if run.returncode != 0 or found is None:
                raise StartFailed(f"agrifin users create {username} exited {run.returncode}:\n{out}")
            self.people[username] = {
                "username": username,
                "password": found.group(1),
                "role": role,
                "dev": "no",
            }

    # -- processes -----------------------------------------------------------------------------

    def start(self, name: str, *args: str) -> None:
        """Start ``agrifin ARGS`` in the background, its output in ``<root>/logs/<name>.log``."""
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        log = (logs / f"{name}.log").open("wb")
        self.logs[name] = log
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        """Every service answers 200 on ``/readyz`` (or the test fails naming which did not)."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        waiting = set(self.ports)
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                process = self.processes.get(name)
                if process is not None and process.poll() is not None:
                    raise StartFailed(
                        f"{name} exited with {process.returncode} while starting:\n{self.log_tail(name)}"
                    )
                try:
                    if httpx.get(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=2).status_code == 200:
                        waiting.discard(name)
                except httpx.HTTPError:
                    pass
            if waiting:
                time.sleep(0.25)
        if waiting:
            tails = "\n".join(f"--- {name}\n{self.log_tail(name)}" for name in sorted(waiting))
            raise StartFailed(f"not ready after {READY_TIMEOUT_SECONDS:g} s: {sorted(waiting)}\n{tails}")

    def log_tail(self, name: str) -> str:
        """The last lines a process wrote."""
        return _tail(self.root / "logs" / f"{name}.log")

    def stop(self) -> None:
        """SIGTERM every process, then kill whichever is still running after the grace."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs.values():
            log.close()

    # -- the APIs ------------------------------------------------------------------------------

    def api(
        self,
        service: str,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str = "admin",
        person: str | None = None,
    ) -> Any:
        """Call a service's API with a dev key (``key``: its dev-keys.json name), or as the console
        person ``person`` through the console's credential; the JSON answer (fails on >= 300)."""
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        if person is not None:
            headers = {
                "Authorization": f"Bearer {self.keys['service:console']}",
                ACTING_PERSON_HEADER: person,
                ACTING_ROLE_HEADER: self.people[person]["role"],
            }
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        response = httpx.request(
            method, f"http://127.0.0.1:{self.ports[service]}{path}", json=body, headers=headers, timeout=30
        )
        assert response.status_code < 300, f"{method} {service}{path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


def start_system(root: Path, people: tuple[tuple[str, str, str], ...] = ()) -> System:
    """Bootstrap the system under ``root``, add ``people`` (username, role, full name) with
    ``agrifin users create``, and start every service (the caller stops them)."""
    ports = {name: free_port() for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "AGRIFIN_ENV": "development",
            "AGRIFIN_VAR_DIR": str(root / "var"),
            "AGRIFIN_LOG_LEVEL": "WARNING",
            "AGRIFIN_STOP_GRACE_SECONDS": "3",
            "AGRIFIN_SCORING_BOOTSTRAP_ROWS": str(BOOTSTRAP_ROWS),
        }
    )
    env.update({f"AGRIFIN_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env["AGRIFIN_LOANS_SCORING_URL"] = base["scoring"]
    env["AGRIFIN_LOANS_ESCROW_URL"] = base["escrow"]
    env["AGRIFIN_CONSOLE_SCORING_URL"] = base["scoring"]
    env["AGRIFIN_CONSOLE_ESCROW_URL"] = base["escrow"]
    env["AGRIFIN_CONSOLE_LOANS_URL"] = base["loans"]
    system = System(root=root, env=env, ports=ports)
    system.bootstrap()
    try:
        for name in SERVICES:
            system.start(name, "serve", name)
        system.create_people(people)  # while the services start
        system.wait_ready()
    except BaseException:
        system.stop()
        raise
    return system

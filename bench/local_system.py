"""The whole system on the embedded default for a benchmark: a temp var dir, free ports, processes.

``system_env`` gives the environment of a fresh system (its own ``AGRIFIN_VAR_DIR``, a free
port per service, loans and the console pointed at the others); ``agrifin`` runs a CLI
command in it; ``serve`` starts one service as ``agrifin serve <name>`` and ``work`` the
worker as ``agrifin worker`` (their output discarded, or appended to ``log``); ``wait_ready``
polls ``/readyz`` until every named service answers 200; ``stop`` ends a process with SIGTERM
(killing it after a timeout). ``tree_cpu_seconds`` is the CPU time (user + system) a process
and its descendants have used, from ``/proc``: benchmarks sample it around a measured window
for the server's CPU per request.
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
    for name in ("scoring", "escrow"):
        if name in ports:
            env[f"AGRIFIN_LOANS_{name.upper()}_URL"] = f"http://127.0.0.1:{ports[name]}"
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


def serve(
    env: dict[str, str], name: str, *, log: Path | None = None, workers: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``agrifin serve <name>`` (its output discarded, or appended to ``log``), on
    ``workers`` processes (its ``AGRIFIN_<NAME>_WORKERS``) when given."""
    if workers is not None:
        env = {**env, f"AGRIFIN_{name.upper()}_WORKERS": str(workers)}
    return _start(env, ["serve", name], log)


def work(env: dict[str, str], *, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``agrifin worker`` (its output discarded, or appended to ``log``)."""
    return _start(env, ["worker"], log)


def _start(env: dict[str, str], args: list[str], log: Path | None) -> subprocess.Popen[bytes]:
    out = log.open("ab") if log is not None else None
    try:  # the child holds its own copy of the log's descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL if out is None else out,
            stderr=subprocess.DEVNULL if out is None else subprocess.STDOUT,
        )
    finally:
        if out is not None:
            out.close()


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


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM ``process`` (it drains, then exits); kill it if it is still there after ``timeout``."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name; None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """``root`` and every process descending from it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by one process (Linux /proc); None when it is gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds used so far by ``root`` and its live descendants (Linux /proc)."""
    return sum(seconds for pid in tree_pids(root) if (seconds := cpu_seconds(pid)) is not None)

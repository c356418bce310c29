"""SQLite's write gate orders the writers of several processes (``shared.db.WriteGate``).

Each process serving one SQLite database has its own thread lock; the ``flock`` on
``<database>.write-gate`` (mode 0600) is what another process waits on. The processes here are
spawned with ``multiprocessing``, as uvicorn spawns its workers, each with its own
``Database`` of the same file.
"""

from __future__ import annotations

import multiprocessing
import stat
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from sqlalchemy import text

from shared import db as shared_db
from shared.db import Database, WriteGateBusy

SPAWN = multiprocessing.get_context("spawn")


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _gate(db: Database) -> shared_db.WriteGate:
    assert db.write_gate is not None
    return db.write_gate


def _try_gate(url: str, timeout: float, report: Connection) -> None:
    """In another process: whether the gate can be taken within ``timeout``."""
    db = Database(url)
    gate = _gate(db)
    taken = gate.acquire(True, timeout)
    if taken:
        gate.release()
    report.send(taken)
    db.dispose()


def _gated_write_when_busy(url: str, report: Connection) -> None:
    """In another process: a gated unit of work while the gate is taken elsewhere."""
    shared_db.WRITE_GATE_TIMEOUT_S = 0.3
    db = Database(url)
    try:
        with db.unit_of_work(gated=True) as session:
            session.execute(text("UPDATE counter SET n = n + 1"))
        report.send("wrote")
    except WriteGateBusy as exc:
        report.send(f"busy: {exc}")
    db.dispose()


def _increment(url: str, times: int, report: Connection) -> None:
    """In another process: ``times`` read-then-write increments, each a gated transaction."""
    db = Database(url)
    for _ in range(times):
        with db.unit_of_work(gated=True) as session:
            n = session.execute(text("SELECT n FROM counter")).scalar_one()
            session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    report.send("done")
    db.dispose()


def _in_process(target: Callable[..., None], *args: object, timeout: float = 60) -> object:
    """Run ``target(*args, report)`` in a spawned process; what it reported."""
    ours, theirs = multiprocessing.Pipe()
    process = SPAWN.Process(target=target, args=(*args, theirs))
    process.start()
    try:
        assert ours.poll(timeout), "the other process reported nothing"
        return ours.recv()
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "shared.db"
    db = Database(_url(path))
    with db.unit_of_work() as session:
        session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))
    db.dispose()
    return path


def test_a_gate_held_in_one_process_stops_another_until_it_is_given_back(database: Path) -> None:
    db = Database(_url(database))
    gate = _gate(db)
    assert gate.acquire(True, 5)
    try:
        assert _in_process(_try_gate, _url(database), 0.5) is False
        assert _in_process(_gated_write_when_busy, _url(database)) == (
            "busy: the embedded database is busy; retry shortly"
        )
    finally:
        gate.release()
    assert _in_process(_try_gate, _url(database), 30) is True
    lock_file = database.with_name("shared.db.write-gate")
    assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
    db.dispose()


def test_a_wait_given_up_in_another_process_does_not_keep_the_gate(database: Path) -> None:
    """The other process's keeper thread gets the lock after its writer gave up: it gives it back."""
    db = Database(_url(database))
    gate = _gate(db)
    for _ in range(3):
        assert gate.acquire(True, 5)
        assert _in_process(_try_gate, _url(database), 0.2) is False
        gate.release()
        assert gate.acquire(True, 30), "the gate stayed with a writer that had given up"
        gate.release()
    db.dispose()


def test_a_wait_given_up_in_this_process_passes_to_its_next_writer(database: Path) -> None:
    """Two Databases of one file contend like two processes (each has its own lock file handle)."""
    first, second = Database(_url(database)), Database(_url(database))
    held, waiting = _gate(first), _gate(second)
    assert held.acquire(True, 5)
    assert waiting.acquire(True, 0.1) is False
    assert waiting.acquire(False) is False
    held.release()
    assert waiting.acquire(True, 30)
    assert held.acquire(True, 0.1) is False
    waiting.release()
    assert held.acquire(True, 30)
    held.release()
    first.dispose()
    second.dispose()


def test_writers_of_two_processes_lose_no_update(database: Path) -> None:
    times = 150
    reports = []
    processes = []
    for _ in range(2):
        ours, theirs = multiprocessing.Pipe()
        process = SPAWN.Process(target=_increment, args=(_url(database), times, theirs))
        process.start()
        processes.append(process)
        reports.append(ours)
    try:
        for report in reports:
            assert report.poll(120) and report.recv() == "done"
    finally:
        for process in processes:
            process.join(30)
    assert [p.exitcode for p in processes] == [0, 0]
    db = Database(_url(database))
    with db.unit_of_work(read_only=True) as session:
        assert session.execute(text("SELECT n FROM counter")).scalar_one() == 2 * times
    db.dispose()


def test_an_in_memory_database_has_a_thread_lock_only() -> None:
    db = Database("sqlite://")
    gate = _gate(db)
    assert gate.path is None
    assert gate.acquire(True, 1)
    assert gate.acquire(True, 0.05) is False
    gate.release()
    db.dispose()

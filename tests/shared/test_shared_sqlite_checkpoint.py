"""SQLite's write-ahead log is checkpointed by a thread of the process, not by the commit that
fills it (``shared.db``): a commit never copies the log into the database while it holds the
write gate, and the log does not grow without end."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from shared import db as shared_db
from shared.db import Database


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint" and t.is_alive()]


class _Recording(sqlite3.Connection):
    """A connection that notes each checkpoint it runs, with what it reported."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        cursor = super().execute(sql, *args)
        if "wal_checkpoint" in sql:
            rows = cursor.fetchall()
            _CHECKPOINTS.append(tuple(rows[0]))
            cursor = super().execute("SELECT ?, ?, ?", rows[0])
        return cursor


_CHECKPOINTS: list[tuple[int, int, int]] = []


def test_commits_leave_the_checkpoint_to_the_thread_which_stops_with_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = sqlite3.connect
    monkeypatch.setattr(
        shared_db.sqlite3, "connect", lambda *a, **kw: connect(*a, **{"factory": _Recording, **kw})
    )
    _CHECKPOINTS.clear()
    before = len(_checkpointers())
    database = Database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with database.unit_of_work(gated=True) as session:
            session.execute(text("CREATE TABLE t (n INTEGER, pad TEXT)"))
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert len(_checkpointers()) == before + 1
        for n in range(300):  # far past SQLite's automatic checkpoint (1,000 pages)
            with database.unit_of_work(gated=True) as session:
                session.execute(text("INSERT INTO t VALUES (:n, :pad)"), {"n": n, "pad": "x" * 8000})
        assert (tmp_path / "c.db-wal").exists()
        written = len(_CHECKPOINTS)
        deadline = time.monotonic() + 10
        # Within an interval or two the thread copies the whole log (frames = frames copied).
        while not any(log > 0 and done == log for _, log, done in _CHECKPOINTS[written:]):
            assert time.monotonic() < deadline, f"the log was never checkpointed: {_CHECKPOINTS}"
            time.sleep(shared_db.CHECKPOINT_INTERVAL_S / 2)
        with database.unit_of_work(read_only=True) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 300
    finally:
        database.dispose()
    deadline = time.monotonic() + 10
    while len(_checkpointers()) > before:  # it stops with the engine's dispose
        assert time.monotonic() < deadline, "the checkpointer outlived its engine's dispose"
        time.sleep(0.05)


def test_an_in_memory_database_has_no_checkpointer() -> None:
    before = len(_checkpointers())
    database = Database("sqlite://")
    try:
        with database.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert len(_checkpointers()) == before
    finally:
        database.dispose()

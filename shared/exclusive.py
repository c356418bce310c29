"""Work that one process at a time may do, across processes and replicas: ``held_exclusively``.

For long work a worker runs periodically and a queued job may also ask for (loans' close of
business), where two workers doing it at once would each count half of it and both report it
done. The holder keeps a lock for the whole block; whoever cannot take it at once is told so and
does not wait (it tries again on its next run):

- PostgreSQL: a session-level advisory lock on a connection of its own, held for the block. A
  process that dies loses its connection and the server drops the lock, so the work is resumed
  by the next holder, never blocked by a dead one.
- SQLite (one host): an ``flock`` on ``<database>.<name>.lock`` beside the database (mode 0600),
  which the kernel drops with a dead process; an in-memory database uses a lock of this process.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select

from shared.db import Database, beside_database

_IN_MEMORY: dict[tuple[str, str], threading.Lock] = {}
_IN_MEMORY_GUARD = threading.Lock()


def _advisory_id(name: str) -> int:
    digest = hashlib.sha256(f"exclusive:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def held_exclusively(db: Database, name: str) -> Iterator[bool]:
    """Hold ``name`` for the block: yields True, or False at once when another holder has it."""
    if not db.is_sqlite:
        with _advisory(db, name) as held:
            yield held
        return
    path = beside_database(db.url, f".{name}.lock")
    if path is None:
        with _in_memory(db, name) as held:
            yield held
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _advisory(db: Database, name: str) -> Iterator[bool]:
    lock_id = _advisory_id(name)
    conn = db.engine.connect()
    try:
        held = bool(conn.execute(select(func.pg_try_advisory_lock(lock_id))).scalar_one())
        conn.commit()
        if not held:
            yield False
            return
        try:
            yield True
        finally:
            conn.execute(select(func.pg_advisory_unlock(lock_id)))
            conn.commit()
    except BaseException:
        conn.invalidate()  # a connection closed for good drops every lock it held
        raise
    finally:
        conn.close()


@contextmanager
def _in_memory(db: Database, name: str) -> Iterator[bool]:
    with _IN_MEMORY_GUARD:
        lock = _IN_MEMORY.setdefault((db.url, name), threading.Lock())
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()

"""Database plumbing: engines, sessions, the naming convention, the unit of work.

One engine per service. SQLite (the embedded default) runs with WAL, foreign keys on and
a busy timeout; PostgreSQL is reached through psycopg 3. A request is one transaction:
``unit_of_work`` commits when the block ends cleanly and rolls back on any exception;
services and repositories only ``flush``.

SQLite has one writer. Writers queue on ``Database.write_gate`` rather than on SQLite's busy
handler, which sleeps and polls and starves some of many waiters: a ``WriteGate`` is an
in-process lock (the writers of one process) plus an ``flock`` on ``<database>.write-gate``
beside the file (the writers of every process serving that database, each process queueing
one of its writers in the kernel). The gate is held for a write transaction only, from its start to its
end: a gated session (``Database.gated_session``, ``unit_of_work(gated=True)``) takes it
when its root transaction is created, before SQLite's ``BEGIN IMMEDIATE`` — never earlier,
so work done before the write (authentication, validation, a call to another service) never
holds it — and gives it back when that transaction commits, rolls back or is closed. A
request session (``Database.request_session``) starts on the read-only engine and becomes a
gated writer only when ``begin_writing`` is called (``shared.api`` does so when the endpoint
itself starts). PostgreSQL has no gate.

SQLite's write-ahead log is moved into the database file by a checkpointer thread of each
process (a PASSIVE checkpoint every ``CHECKPOINT_INTERVAL_S``: it never blocks a reader or a
writer), not by the commit that happens to fill it (SQLite's automatic checkpoint, turned off):
that commit would copy the log's pages and sync the file while its writer holds the gate, and
a page changed by many commits is copied once per interval instead of once per automatic
checkpoint.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    MetaData,
    Subquery,
    Table,
    bindparam,
    create_engine,
    event,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

log = logging.getLogger("agrifin.db")

SQLITE_BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_INTERVAL_S = 0.5
WRITE_GATE_TIMEOUT_S = 30.0
_GATE = "agrifin_write_gate"
_GATE_HELD = "agrifin_write_gate_held"

# BIGINT on PostgreSQL, INTEGER on SQLite (so that autoincrement primary keys work there).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def new_id() -> str:
    """A fresh record id (a random UUID, as text)."""
    return str(uuid.uuid4())


def new_metadata() -> MetaData:
    """A MetaData carrying the project's constraint naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def bound_rows(
    name: str, columns: Mapping[str, TypeEngine[Any]], count: int, param: Callable[[int, str], str]
) -> Subquery:
    """``count`` rows of bound parameters as the subquery ``name`` with ``columns``; row ``i``'s
    value of column ``c`` is the parameter ``param(i, c)``.

    What ``sqlalchemy.values(...).data(...)`` builds, except that a statement holding a
    ``Values`` has no cache key: SQLAlchemy compiled it anew on every execution (13% of an
    escrow request's CPU). ``SELECT :a_0, :b_0 UNION ALL SELECT :a_1, :b_1 ...`` (typed, so
    PostgreSQL casts each parameter) is cached like any other statement.
    """
    if count < 1:
        raise ValueError("bound_rows needs at least one row")
    rows = [
        select(*(bindparam(param(i, c), type_=type_).label(c) for c, type_ in columns.items()))
        for i in range(count)
    ]
    return (rows[0] if count == 1 else union_all(*rows)).subquery(name)


@functools.cache
def insert_if_absent(
    table: Table, dialect: str, conflict: tuple[str, ...], returning: tuple[str, ...] = ()
) -> Insert:
    """``INSERT INTO table ... ON CONFLICT (conflict) DO NOTHING [RETURNING returning]`` for the
    backend ``dialect`` (``postgresql`` or ``sqlite``), built once and executed with parameters.

    The one way to insert a row unless one with the same ``conflict`` key exists (no SAVEPOINT
    around an insert that may fail): with ``returning``, no row back means it existed. A
    concurrent insert of the same key on PostgreSQL waits for the first transaction, then
    inserts nothing."""
    module = postgresql if dialect == "postgresql" else sqlite
    statement: Insert = module.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement


def is_sqlite(url: str) -> bool:
    """True for SQLite URLs."""
    return make_url(url).get_backend_name() == "sqlite"


def normalize_url(url: str) -> str:
    """Use psycopg 3 for bare ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class _Checkpointer:
    """The checkpointer thread of one SQLite file in this process (see the module docstring):
    started by the engine's first connection, stopped by its ``dispose`` (or once the engine is
    gone), started again by the next connection."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self._engine = weakref.ref(engine)
        self._lock = threading.Lock()
        self._running: threading.Event | None = None
        """Set to stop the running thread (one per start)."""

    def start(self) -> None:
        with self._lock:
            if self._running is not None:
                return
            stop = self._running = threading.Event()
        threading.Thread(target=self._run, args=(stop,), name="sqlite-checkpoint", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            if self._running is not None:
                self._running.set()
                self._running = None

    def _run(self, stop: threading.Event) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not stop.wait(CHECKPOINT_INTERVAL_S) and self._engine() is not None:
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the file gone, or a lock held long: try again later
                    log.warning("SQLite checkpoint of %s failed: %s", self.path, exc)
                    if conn is not None:
                        conn.close()
                        conn = None
        finally:
            if conn is not None:
                conn.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock at BEGIN so two of them queue on the busy timeout instead
    # of failing with "database is locked" when a reader upgrades to a writer. Readers
    # (sessions from ``Database.read_session``) begin deferred and never wait for writers.
    if conn.get_execution_options().get("agrifin_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private_file(path: Path) -> None:
    """Create the database's directory (0700) and file (0600) unless they exist.

    SQLite creates the ``-wal`` and ``-shm`` files with the main file's mode, so the personal
    data they hold is as private as the database itself.
    """
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(parent, 0o700)  # mkdir's mode is filtered by the umask
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_uid == os.getuid():
        os.chmod(path, 0o600)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database; None for PostgreSQL and for an in-memory database."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def beside_database(url: str, suffix: str) -> Path | None:
    """``<database file><suffix>``: a file kept beside a SQLite database (locks, epochs); None
    where there is no database file (PostgreSQL, in-memory SQLite)."""
    database = sqlite_file(url)
    return None if database is None else database.with_name(database.name + suffix)


def build_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine for ``url`` with the project's connection settings."""
    url = normalize_url(url)
    if is_sqlite(url):
        database = sqlite_file(url)
        if database is not None:
            _create_private_file(database)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "isolation_level": None,
            },
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        if database is not None:
            checkpointer = _Checkpointer(database, engine)

            def checkpoint_in_the_background(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")
                checkpointer.start()

            event.listen(engine, "connect", checkpoint_in_the_background)
            event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
        return engine
    # No ping at checkout (a round trip per request): a request that meets a connection lost
    # since its last use runs again on a fresh one (``shared.api``), the pool recycles connections
    # after half an hour, and TCP keepalives find dead peers of idle connections.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_recycle=1800,
        connect_args={
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    )


class WriteGateBusy(Exception):
    """The write gate was not free within ``WRITE_GATE_TIMEOUT_S``."""


class _Wait:
    """One pending blocking ``flock`` of a gate, made by its keeper thread."""

    def __init__(self) -> None:
        self.granted = threading.Event()
        self.wanted = True
        self.error: OSError | None = None


class WriteGate:
    """SQLite's write gate: a thread lock for one process's writers, an ``flock`` for every process's.

    ``acquire`` takes the thread lock, then the file lock: at once when no other process holds
    it, else through a keeper thread blocked in ``flock`` (the kernel wakes it on release; no
    polling), waited for until the timeout. A wait given up at the timeout stays with the next
    writer of this process, which inherits the lock when it comes, or the keeper gives it back
    when nobody of this process wants it any more. ``path`` None (an in-memory database): the
    thread lock alone.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._local = threading.Lock()
        self._mutex = threading.Lock()  # guards _fd and _pending between writers and the keeper
        self._fd: int | None = None
        self._pending: _Wait | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the gate (``threading.Lock.acquire``'s arguments); False when it stayed taken."""
        deadline = None if timeout < 0 else time.monotonic() + timeout
        if not self._local.acquire(blocking, timeout):
            return False
        if self.path is None:
            return True
        try:
            taken = self._acquire_file(blocking, deadline)
        except BaseException:
            self._local.release()
            raise
        if not taken:
            self._local.release()
        return taken

    def _acquire_file(self, blocking: bool, deadline: float | None) -> bool:
        with self._mutex:
            wait = self._pending
            if wait is None:
                fd = self._open()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if not blocking:
                        return False
                wait = self._pending = _Wait()
                threading.Thread(target=self._keep, args=(fd, wait), daemon=True).start()
            wait.wanted = True
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        wait.granted.wait(remaining if blocking else 0)
        with self._mutex:
            if wait.granted.is_set():
                self._pending = None
                if wait.error is not None:
                    raise wait.error
                return True
            wait.wanted = False
            return False

    def _keep(self, fd: int, wait: _Wait) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # handed to the writer waiting (or the next one)
            with self._mutex:
                wait.error = exc
                wait.granted.set()
            return
        with self._mutex:
            if wait.wanted:
                wait.granted.set()
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                self._pending = None

    def release(self) -> None:
        """Give the gate back."""
        if self.path is not None:
            with self._mutex:
                assert self._fd is not None
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()

    def _open(self) -> int:
        if self._fd is None:
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if os.fstat(self._fd).st_uid == os.getuid():
                os.fchmod(self._fd, 0o600)
        return self._fd

    def close(self) -> None:
        """Close the lock file when the gate is free (it reopens on the next write)."""
        if not self._local.acquire(blocking=False):
            return
        try:
            with self._mutex:
                if self._fd is not None and self._pending is None:
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._local.release()


def _take_gate(session: Session, transaction: SessionTransaction) -> None:
    gate = session.info.get(_GATE)
    if gate is None or transaction.parent is not None or session.info.get(_GATE_HELD):
        return
    if not gate.acquire(True, WRITE_GATE_TIMEOUT_S):
        raise WriteGateBusy("the embedded database is busy; retry shortly")
    session.info[_GATE_HELD] = True


def _give_gate_back(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and session.info.pop(_GATE_HELD, False):
        session.info[_GATE].release()


class Database:
    """An engine plus its session factory, owned by one service."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = is_sqlite(self.url)
        """True when this database is SQLite (read per request and per job tick: parsed once)."""
        self.engine = build_engine(self.url, pool_size=pool_size)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self.read_engine = self.engine.execution_options(agrifin_read_only=True)
        self.read_sessionmaker = sessionmaker(self.read_engine, expire_on_commit=False)
        # SQLite has one writer; its busy handler sleeps and polls, which starves some of many
        # queued writers (seconds of p99). Gated writers queue on this gate instead.
        self.write_gate: WriteGate | None = (
            WriteGate(beside_database(self.url, ".write-gate")) if self.is_sqlite else None
        )
        self._gated_sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        event.listen(self._gated_sessionmaker, "after_transaction_create", _take_gate)
        event.listen(self._gated_sessionmaker, "after_transaction_end", _give_gate_back)

    def gated_session(self) -> Session:
        """A write session whose every transaction holds the write gate (SQLite) while it lasts."""
        session = self._gated_sessionmaker()
        session.info[_GATE] = self.write_gate
        return session

    def request_session(self) -> Session:
        """A session that reads (no gate, no write lock) until ``begin_writing`` makes it a writer."""
        return self._gated_sessionmaker(bind=self.read_engine)

    def begin_writing(self, session: Session) -> None:
        """End a request session's reads; its next transaction is a gated write transaction."""
        session.rollback()
        session.bind = self.engine
        session.info[_GATE] = self.write_gate

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False, gated: bool = False) -> Iterator[Session]:
        """One transaction: commit when the block ends cleanly, roll back on any exception.

        ``read_only`` sessions do not take SQLite's write lock up front (no effect on PostgreSQL);
        ``gated`` ones queue on the write gate first (SQLite; see the module docstring).
        """
        if read_only:
            session = self.read_sessionmaker()
        else:
            session = self.gated_session() if gated else self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection (and the write gate's lock file)."""
        self.engine.dispose()
        if self.write_gate is not None:
            self.write_gate.close()

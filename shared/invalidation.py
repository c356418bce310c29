"""Per-process caches of what rarely changes, invalidated across processes and replicas.

A *topic* names something cached (``auth.api_keys``, ``scoring.models``). Each process has a
view of every topic's *version*, ``Invalidation.version(topic)``; a ``VersionedCache`` keeps
each value with the version it read *before* loading it, and loads again once the version has
moved. A write transaction that changes what a topic caches calls ``bump(session, topic)``:
when, and only when, that transaction commits, every process sees a new version. A bump is
one per ``Database`` (``invalidation_for(db)``, ``ServiceContext.invalidation``).

How the version travels:

- PostgreSQL: ``bump`` runs ``SELECT pg_notify('agrifin_invalidation', topic)`` in the
  transaction (PostgreSQL delivers a notification on commit, never on rollback). A daemon
  thread per ``Invalidation`` LISTENs on its own psycopg connection (started by the first
  ``version`` call) and moves the topic's version on each notification. While that
  connection is not up — starting, or lost until it is back — ``version`` returns a new
  value on every call, so caches miss instead of serving what a lost notification would have
  invalidated; when it (re)connects every topic moves. A request thread that finds the
  listener's socket readable (a notification not yet read) also gets a new value.
- SQLite (one host): a file per topic beside the database, ``<database>.<topic>.epoch``,
  holding a random number. ``bump`` replaces it atomically once the transaction has
  committed; ``version`` reads it on every call (one small read: microseconds), so every
  process of the host sees the change at once. A file's mtime would be cheaper but is not
  enough: the kernel stamps it with a coarse clock, so two bumps in one tick look the same.
  An in-memory database (one process) keeps its versions in memory.

In the process that bumps, every ``Invalidation`` of that database moves at commit, without
waiting for its own notification to come back. The listener stops when the database's engine
is disposed (``Database.dispose``) and starts again on the next ``version`` call.

What a loader must do: read data at least as new as the moment ``get`` was called. PostgreSQL
statements (READ COMMITTED) always do; a SQLite read transaction keeps the snapshot of its
first statement, so on SQLite the cached look-up must be the first read of its transaction,
or run in a writing transaction (``BEGIN IMMEDIATE``). The API-key look-up is the first
statement of a request; scoring's champion look-up runs in the request's write transaction.
A loader that raises caches nothing (``get`` re-raises), so errors are never cached.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import select
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import psycopg
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.orm import Session

from shared.db import Database
from shared.epoch_files import create_epoch, epoch_base, epoch_path, read_epoch, write_epoch

log = logging.getLogger("agrifin.invalidation")

CHANNEL = "agrifin_invalidation"
"""The PostgreSQL notification channel every bump is sent on (the payload is the topic)."""
TOPIC = re.compile(r"[a-z][a-z0-9_.]{0,62}")
"""A topic: lower-case letters, digits, ``_`` and ``.`` (it names a file beside a SQLite database)."""

_PENDING = "agrifin_invalidation_pending"
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, Invalidation] = weakref.WeakKeyDictionary()
_BY_DATABASE: weakref.WeakKeyDictionary[Database, Invalidation] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.RLock()

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def check_topic(topic: str) -> str:
    """``topic`` if it is a valid topic name, else ValueError."""
    if not TOPIC.fullmatch(topic):
        raise ValueError(f"a topic matches {TOPIC.pattern}, not {topic!r}")
    return topic


def invalidation_for(db: Database) -> Invalidation:
    """The one ``Invalidation`` of ``db`` in this process (made on first use)."""
    with _REGISTRY_LOCK:
        found = _BY_DATABASE.get(db)
        if found is None:
            found = _BY_DATABASE[db] = Invalidation(db)
        return found


def bump(session: Session, topic: str) -> None:
    """Move ``topic``'s version in every process once ``session``'s transaction commits.

    Nothing moves if the transaction rolls back. On PostgreSQL this runs one statement now
    (``pg_notify``); on SQLite the epoch file is replaced after the commit."""
    check_topic(topic)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic})
    pending: set[tuple[str, str | None]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = set()
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    engine = bind if isinstance(bind, Engine) else bind.engine
    pending.add((topic, epoch_base(engine.url.render_as_string(hide_password=False))))
    local = _BY_ENGINE.get(engine)
    if local is not None:
        session.info.setdefault(_PENDING + "_local", weakref.WeakSet()).add(local)


def _after_commit(session: Session) -> None:
    pending: set[tuple[str, str | None]] = session.info.pop(_PENDING, set())
    locals_: weakref.WeakSet[Invalidation] = session.info.pop(_PENDING + "_local", weakref.WeakSet())
    for topic, base in sorted(pending, key=lambda item: item[0]):
        if base is not None:
            try:
                write_epoch(epoch_path(base, topic))
            except OSError:  # committed already: say so loudly, there is nothing to undo
                log.exception("could not bump %s beside %s: other processes may serve it stale", topic, base)
        for invalidation in locals_:
            invalidation.moved(topic)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_PENDING + "_local", None)


class Invalidation:
    """One database's invalidation channel, as this process sees it (see the module docstring)."""

    def __init__(self, db: Database, *, retry_delay: float = 1.0, ping_interval: float = 10.0) -> None:
        self.url = db.url
        self.is_postgres = not db.is_sqlite
        self.retry_delay = retry_delay
        self.ping_interval = ping_interval
        self._epoch_base = epoch_base(db.url)
        self._epoch_paths: dict[str, str] = {}
        self._seq = itertools.count(1)
        self._versions: dict[str, int] = {}
        self._floor = 0
        self._changed = threading.Condition()
        self._connected = False
        self._listen_fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None
        self._reconnect = False
        self._caches: dict[str, VersionedCache[Any, Any]] = {}
        self._connect_kwargs: dict[str, Any] = {}
        if self.is_postgres:
            _, kwargs = db.engine.dialect.create_connect_args(db.engine.url)
            kwargs.pop("context", None)  # SQLAlchemy's adapters: this connection adapts nothing
            self._connect_kwargs = {
                "connect_timeout": 10,
                "application_name": "agrifin-invalidation",
                **kwargs,
            }
        with _REGISTRY_LOCK:
            _BY_ENGINE[db.engine] = self
            _BY_ENGINE[db.read_engine] = self
        event.listen(db.engine, "engine_disposed", self._engine_disposed)
        weakref.finalize(db, self.close)

    # -- versions ---------------------------------------------------------------------------

    def version(self, topic: str) -> int:
        """This process's view of ``topic``'s epoch (cheap: a dict look-up or a small file read)."""
        if self._epoch_base is not None:
            path = self._epoch_paths.get(topic)
            if path is None:
                path = self._epoch_paths[topic] = epoch_path(self._epoch_base, check_topic(topic))
            try:
                value = read_epoch(path)
                if value is None:  # never bumped, or removed: a new file is a new epoch
                    create_epoch(path)
                    value = read_epoch(path)
                if value is None:  # not a number (written by hand?): replace it
                    write_epoch(path)
                    value = read_epoch(path)
            except OSError as exc:  # unreadable (another user's file?): cache nothing, say why
                log.warning("cannot read the epoch %s (%s): caching nothing for %s", path, exc, topic)
                value = None
            return value if value is not None else next(self._seq)
        if self.is_postgres:
            self._ensure_listening()
            if not self._connected or self._unread_notification():
                return next(self._seq)
        return max(self._versions.get(topic, 0), self._floor)

    def bump(self, session: Session, topic: str) -> None:
        """Inside a write transaction: once it commits, every process (and replica) sees a new version."""
        bump(session, topic)

    def moved(self, topic: str) -> None:
        """Move ``topic``'s version in this process now (a notification, or a commit of ours)."""
        with self._changed:
            self._versions[topic] = next(self._seq)
            self._changed.notify_all()

    def cache(self, topic: str, *, max_entries: int = 10_000) -> VersionedCache[Any, Any]:
        """The shared cache of ``topic`` on this database (made on first use)."""
        with _REGISTRY_LOCK:
            found = self._caches.get(topic)
            if found is None:
                found = self._caches[topic] = VersionedCache(self, topic, max_entries=max_entries)
            return found

    @property
    def connected(self) -> bool:
        """True when versions can be trusted between calls (PostgreSQL: the listener is up)."""
        return not self.is_postgres or self._connected

    def wait_connected(self, timeout: float, *, connected: bool = True) -> bool:
        """Start the listener if need be and wait until it is connected (or, ``connected=False``,
        until it has lost its connection); False on timeout."""
        if not self.is_postgres:
            return connected
        self._ensure_listening()
        with self._changed:
            return self._changed.wait_for(lambda: self._connected is connected, timeout)

    def wait_moved(self, topic: str, since: int, timeout: float) -> bool:
        """Wait until ``topic``'s version is other than ``since`` (a notification came); False on timeout."""
        if self._epoch_base is not None or not self.is_postgres:
            return self.version(topic) != since
        with self._changed:
            return self._changed.wait_for(
                lambda: self._connected and max(self._versions.get(topic, 0), self._floor) != since, timeout
            )

    # -- the PostgreSQL listener -------------------------------------------------------------

    def _unread_notification(self) -> bool:
        """Whether the listener's socket holds data it has not read yet (a notification)."""
        fd = self._listen_fd
        if fd is None:
            return True
        poller = select.poll()
        try:
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def _ensure_listening(self) -> None:
        if self._thread is not None:
            return
        with _REGISTRY_LOCK:
            if self._thread is not None:
                return
            self._stop.clear()
            self._wake = os.pipe()
            self._thread = threading.Thread(
                target=self._listen_forever, args=(self._wake[0],), name="agrifin-invalidation", daemon=True
            )
            self._thread.start()

    def reconnect(self) -> None:
        """Drop the listening connection, or end a pause between attempts, and connect again now."""
        self._reconnect = True
        self._poke()

    def close(self) -> None:
        """Stop the listener and close its connection (it starts again on the next ``version``)."""
        with _REGISTRY_LOCK:
            thread, wake = self._thread, self._wake
            self._thread, self._wake = None, None
        if thread is None or wake is None:
            return
        self._stop.set()
        os.write(wake[1], b"x")
        thread.join(timeout=10)
        if thread.is_alive():
            log.warning("the invalidation listener of %s did not stop", make_url(self.url).database)
        for fd in wake:
            os.close(fd)

    def _after_fork(self) -> None:
        self._thread, self._wake, self._listen_fd = None, None, None
        self._connected = False
        self._changed = threading.Condition()
        self._stop = threading.Event()

    def _engine_disposed(self, _engine: Engine) -> None:
        self.close()

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(OSError):
                os.write(wake[1], b"x")

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(autocommit=True, **self._connect_kwargs)

    def _listen_forever(self, wake_fd: int) -> None:
        while not self._stop.is_set():
            self._reconnect = False
            try:
                with self._connect() as conn:
                    conn.add_notify_handler(lambda notify: self.moved(notify.payload))
                    conn.execute(f"LISTEN {CHANNEL}")
                    with self._changed:
                        # notifications sent while we were not listening are lost: move everything
                        self._floor = next(self._seq)
                        self._listen_fd = conn.fileno()
                        self._connected = True
                        self._changed.notify_all()
                    self._listen(conn, wake_fd)
            except (psycopg.Error, OSError) as exc:
                if not self._stop.is_set():
                    log.warning("invalidation listener on %s: %s", make_url(self.url).database, exc)
            except Exception:  # a bug: keep listening (until connected again, nothing is cached)
                log.exception("invalidation listener on %s failed", make_url(self.url).database)
            finally:
                with self._changed:
                    self._connected = False
                    self._listen_fd = None
                    self._changed.notify_all()
            if not self._stop.is_set() and not self._reconnect:
                self._pause(wake_fd)

    def _listen(self, conn: psycopg.Connection[Any], wake_fd: int) -> None:
        poller = select.poll()  # not select(): a busy process may hold descriptors above 1023
        poller.register(conn.fileno(), select.POLLIN)
        poller.register(wake_fd, select.POLLIN)
        while not self._stop.is_set() and not self._reconnect:
            ready = {fd for fd, _ in poller.poll(self.ping_interval * 1000)}
            if wake_fd in ready:
                os.read(wake_fd, 64)
                continue
            # readable: notifications (handled while this reads them) or a lost connection
            # (raises); nothing for ping_interval: make sure the connection is still there
            conn.execute("SELECT 1")

    def _pause(self, wake_fd: int) -> None:
        poller = select.poll()
        poller.register(wake_fd, select.POLLIN)
        if poller.poll(self.retry_delay * 1000):
            os.read(wake_fd, 64)


def _forget_listeners_after_fork() -> None:
    """In a forked child: no listener thread came along, so none is connected (one starts on use)."""
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.RLock()  # another thread of the parent may have held it
    for invalidation in list(_BY_DATABASE.values()):
        invalidation._after_fork()


os.register_at_fork(after_in_child=_forget_listeners_after_fork)


class VersionedCache(Generic[K, V]):
    """A bounded LRU map whose entries last while their topic's version stays the same."""

    def __init__(self, invalidation: Invalidation, topic: str, *, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("a cache holds at least one entry")
        self.invalidation = invalidation
        self.topic = check_topic(topic)
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._seen: int | None = None
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The cached value of ``key``; ``load()`` on a miss or once the topic's version moved."""
        version = self.invalidation.version(self.topic)  # before loading: a bump meanwhile moves it
        with self._lock:
            if version != self._seen:
                self._entries.clear()
                self._seen = version
            elif key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            self.misses += 1
        value = load()
        with self._lock:
            if self._seen == version:
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def cached(self, key: K) -> V | None:
        """The value of ``key`` if it is held under the topic's current version, else None;
        never loads (cheap enough for the event loop: a dict look-up and the version's)."""
        version = self.invalidation.version(self.topic)
        with self._lock:
            if version != self._seen or key not in self._entries:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return self._entries[key]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

"""A per-process memory of rows that never change, published only by the transaction that read them.

Some rows are written once and never updated where it matters (a loan product; a ledger
account's id and rules): once a transaction that read one commits, every later transaction of
the process may use what it read without reading it again. What a transaction reads (or
inserts) is kept aside on its session and published when it commits; a rollback forgets it, so
a row that never committed is never remembered. There is one memory per connection pool, i.e.
per engine: a test's fresh database is a fresh engine, and nothing leaks between databases.
A memory holds at most ``max_entries`` values and starts over when it would hold more.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CommittedMemory(Generic[K, V]):
    """Values by key, per connection pool, learnt from committed transactions only."""

    def __init__(self, name: str, *, max_entries: int = 65_536) -> None:
        if max_entries < 1:
            raise ValueError("a memory holds at least one value")
        self.max_entries = max_entries
        self._pending = f"agrifin.memory.{name}.pending"
        self._listening = f"agrifin.memory.{name}.listening"
        self._pools: weakref.WeakKeyDictionary[Any, dict[K, V]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _known(self, session: Session) -> dict[K, V]:
        pool = session.get_bind().engine.pool
        known = self._pools.get(pool)
        if known is None:
            with self._lock:
                known = self._pools.setdefault(pool, {})
        return known

    def recall(self, session: Session, keys: Iterable[K]) -> dict[K, V]:
        """The values among ``keys`` known to this process or read by this transaction."""
        known = self._known(session)
        pending: dict[K, V] = session.info.get(self._pending, {})
        found: dict[K, V] = {}
        with self._lock:
            for key in keys:
                value = known.get(key)
                if value is None:
                    value = pending.get(key)
                if value is not None:
                    found[key] = value
        return found

    def recall_one(self, session: Session, key: K) -> V | None:
        """The value of ``key``, if known to this process or read by this transaction."""
        return self.recall(session, (key,)).get(key)

    def remember(self, session: Session, values: Mapping[K, V]) -> None:
        """Remember ``values``, read or inserted by this transaction, once (and if) it commits."""
        if not values:
            return
        session.info.setdefault(self._pending, {}).update(values)
        if not session.info.get(self._listening):
            session.info[self._listening] = True
            event.listen(session, "after_commit", self._publish)
            event.listen(session, "after_soft_rollback", self._forget)

    def _publish(self, session: Session) -> None:
        pending: dict[K, V] = session.info.pop(self._pending, {})
        if pending:
            known = self._known(session)
            with self._lock:
                if len(known) + len(pending) > self.max_entries:
                    known.clear()
                known.update(pending)

    def _forget(self, session: Session, _previous: Any) -> None:
        session.info.pop(self._pending, None)

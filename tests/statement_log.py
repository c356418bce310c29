"""Counting the SQL statements a request runs, per named step (the statement budget tests).

Every statement an engine's cursors execute (``before_cursor_execute``) is recorded under the
log's current ``step`` with its kind, so a budget counts what a service's own code runs and
names the rest apart in the breakdown:

* ``begin`` — SQLite's ``BEGIN`` / ``BEGIN IMMEDIATE`` (``shared.db``'s begin hook); PostgreSQL's
  driver opens its transactions without a statement the hook sees;
* ``api_key`` — the API-key look-up of authentication, which ``shared.auth`` caches per process;
* ``audit`` — the audit chain's append at commit (``shared.audit``: chain lock, head, insert),
  when the log keeps it apart (``audit_apart``); otherwise it is ``counted``;
* ``counted`` — everything else.

A count, not a timing: the same code runs the same statements on every machine.

``uncached`` lists each statement SQLAlchemy compiled without a cache key (a ``values()``
construct, values given inline to ``insert().values([...])``, a lambda it cannot analyse):
such a statement is compiled again on every execution, which costs several times what running
it does. Driver-level SQL (``BEGIN``, savepoints, ``text``) has nothing to compile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event


def is_audit_chain(sql: str) -> bool:
    """A statement of the audit chain's append at commit: its lock, head read, sequence or insert."""
    head = sql.upper()
    return "AUDIT_LOG" in head or "PG_ADVISORY_XACT_LOCK" in head or "NEXTVAL(" in head


@dataclass
class StatementLog:
    """Statements seen on an engine, per named step."""

    audit_apart: bool = True
    step: str = "-"
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    checkouts: Counter[str] = field(default_factory=Counter)
    """Connections taken from the pool per step."""
    uncached: list[str] = field(default_factory=list)
    """Statements compiled without a cache key (compiled anew on every execution)."""

    def kind(self, statement: str) -> str:
        head = " ".join(statement.split()).upper()
        if head.startswith("BEGIN"):
            return "begin"
        if "FROM API_KEYS" in head or head.startswith("UPDATE API_KEYS"):
            return "api_key"
        if self.audit_apart and is_audit_chain(head):
            return "audit"
        return "counted"

    def record(self, statement: str) -> None:
        """Remember ``statement`` under the current step."""
        self.seen.append((self.step, self.kind(statement), " ".join(statement.split())[:160]))

    def clear(self) -> None:
        """Forget what was seen (the setup's statements, before the measured steps)."""
        self.seen.clear()
        self.checkouts.clear()
        self.uncached.clear()

    def count(self, kind: str = "counted", step: str | None = None) -> int:
        """How many statements of ``kind`` ran (in ``step``, or in all)."""
        return sum(1 for s, k, _ in self.seen if k == kind and (step is None or s == step))

    def counted_per_step(self, *, without_audit: bool = False) -> Counter[str]:
        """Counted statements per step (the audit chain's left out if asked: its count may vary)."""
        return Counter(
            s for s, k, sql in self.seen if k == "counted" and not (without_audit and is_audit_chain(sql))
        )

    def breakdown(self) -> str:
        """Per step: the counted statements, the other kinds apart, then each statement."""
        steps = list(dict.fromkeys(s for s, _, _ in self.seen))
        lines = [
            f"{step}: {self.count(step=step)} (+{self.count('audit', step)} audit, "
            f"+{self.count('api_key', step)} api-key, +{self.count('begin', step)} begin; "
            f"{self.checkouts[step]} checkouts)"
            for step in steps
        ]
        lines.append(f"total: {self.count()} counted + {self.count('audit')} audit")
        lines += [f"  [{s}] {k}: {sql}" for s, k, sql in self.seen]
        return "\n".join(lines)


@contextmanager
def logging_statements(engine: Engine, *, audit_apart: bool = True) -> Iterator[StatementLog]:
    """A StatementLog recording ``engine``'s statements and pool checkouts while the block runs."""
    log = StatementLog(audit_apart=audit_apart)

    def before(conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool) -> None:
        log.record(statement)
        compiled = context is not None and context.compiled is not None
        if compiled and context.cache_hit is conn.dialect.NO_CACHE_KEY:
            log.uncached.append(" ".join(statement.split())[:160])

    def checkout(*_args: Any) -> None:
        log.checkouts[log.step] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine.pool, "checkout", checkout)

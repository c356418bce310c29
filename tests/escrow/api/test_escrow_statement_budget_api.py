"""How many SQL statements one escrow cycle runs (issue 13: at most 40; 74 SQLite, 76 PostgreSQL before).

The cycle is the one ``bench/escrow_http.py`` times: create (one lot), fund, the sandbox's
confirmation, ship, deliver, accept — six POSTs through the HTTP app, without
Idempotency-Keys. Every statement the escrow engine's cursors execute is counted per step
(``before_cursor_execute``), with two kinds counted apart and named in the breakdown:

* the API-key look-up of each request (``api_keys``): it belongs to authentication, which
  another change caches per process;
* SQLite's ``BEGIN`` / ``BEGIN IMMEDIATE`` (``shared.db``'s begin hook): PostgreSQL's driver
  opens its transactions without a statement the hook sees, so counting them would make the
  two backends' budgets differ;
* the audit chain's statements (``shared.audit``: chain lock, head, sequence, insert) of the
  two money movements (confirm, accept): they are the audit chain's, not escrow's, and are
  counted apart so that each part's budget is its own. The issue's 40 is for both together.

A count, not a timing: the same code runs the same statements on every machine.

``ESCROW_CEILING`` is what escrow's own code runs now (PostgreSQL posts an entry and its legs
in one statement, SQLite in two), so a change that adds a statement fails here. The issue's
``TARGET`` (escrow's and the audit chain's together) is a strict xfail until it is met; what
is left is listed in the module's report: the audit chain's 3-4 statements per money movement,
a timeline row and an outbox row per step (two tables), the history read of each lot action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import EscrowPayloadFactory, LotPayloadFactory

ESCROW_CEILING = {"sqlite": 41, "postgresql": 39}
"""Escrow's own statements per cycle now (70 on both before this change, same cycle and clock)."""
AUDIT_CEILING = 8
"""The audit chain's statements per cycle: two audited transactions, at most four each."""
TARGET = 40
"""The issue's target: escrow's and the audit chain's statements together."""


def _kind(statement: str) -> str:
    head = " ".join(statement.split()).upper()
    if head.startswith("BEGIN"):
        return "begin"
    if "FROM API_KEYS" in head or head.startswith("UPDATE API_KEYS"):
        return "api_key"
    if "AUDIT_LOG" in head or "PG_ADVISORY_XACT_LOCK" in head or "NEXTVAL(" in head:
        return "audit"
    return "counted"


@dataclass
class StatementLog:
    """Statements seen on an engine, per named step."""

    step: str = "-"
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    checkouts: Counter[str] = field(default_factory=Counter)
    """Connections taken from the pool per step (on PostgreSQL each is a pre-ping round trip)."""

    def record(self, statement: str) -> None:
        """Remember ``statement`` under the current step."""
        self.seen.append((self.step, _kind(statement), " ".join(statement.split())[:160]))

    def count(self, kind: str = "counted", step: str | None = None) -> int:
        """How many statements of ``kind`` ran (in ``step``, or in all)."""
        return sum(1 for s, k, _ in self.seen if k == kind and (step is None or s == step))

    def breakdown(self) -> str:
        """Per step: the counted statements, then the look-ups and BEGINs apart, then each statement."""
        steps = list(dict.fromkeys(s for s, _, _ in self.seen))
        lines = [
            f"{step}: {self.count(step=step)} (+{self.count('audit', step)} audit, "
            f"+{self.count('api_key', step)} api-key, +{self.count('begin', step)} begin; "
            f"{self.checkouts[step]} checkouts)"
            for step in steps
        ]
        lines.append(f"total: {self.count()} escrow + {self.count('audit')} audit")
        lines += [f"  [{s}] {k}: {sql}" for s, k, sql in self.seen]
        return "\n".join(lines)


@pytest.fixture
def statements(ctx: ServiceContext) -> Iterator[StatementLog]:
    log = StatementLog()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.record(statement)

    def checkout(*_args: Any) -> None:
        log.checkouts[log.step] += 1

    event.listen(ctx.db.engine, "before_cursor_execute", before)
    event.listen(ctx.db.engine.pool, "checkout", checkout)
    yield log
    event.remove(ctx.db.engine, "before_cursor_execute", before)
    event.remove(ctx.db.engine.pool, "checkout", checkout)


def _cycle(api: EscrowApi, log: StatementLog, clock: ManualClock) -> dict[str, Any]:
    """The bench's cycle, one step per POST, a second apart as in service; returns the accepted escrow."""

    def step(name: str) -> None:
        log.step = name
        clock.advance(timedelta(seconds=1))  # a step that changes nothing but the time still writes it

    body = EscrowPayloadFactory(lots=[LotPayloadFactory(lot_ref="A", amount_minor=125_000)])
    step("create")
    eid = api.post("/v1/escrows", body, expect=201)["id"]
    step("fund")
    payment = api.post(f"/v1/escrows/{eid}/fund", expect=202)
    step("confirm")
    assert api.post(f"/v1/sandbox/payments/{payment['id']}/confirm", key="admin")["status"] == "processed"
    step("ship")
    api.lot(eid, "A", "ship", {"carrier": "G4S", "tracking": "KE-1"})
    step("deliver")
    api.lot(eid, "A", "deliver")
    step("accept")
    accepted = api.lot(eid, "A", "accept")
    log.step = "-"
    return accepted


def test_an_escrow_cycle_runs_within_the_statement_budget(
    api: EscrowApi, statements: StatementLog, clock: ManualClock, backend: str
) -> None:
    api.create(order_ref="WARM-UP")  # the platform accounts every escrow shares exist, as in service
    statements.seen.clear()
    statements.checkouts.clear()
    accepted = _cycle(api, statements, clock)
    assert accepted["status"] == "completed"
    assert (accepted["released_minor"], accepted["fees_minor"], accepted["held_minor"]) == (121_875, 3_125, 0)
    print(statements.breakdown())
    assert statements.count() <= ESCROW_CEILING[backend], statements.breakdown()
    assert statements.count("audit") <= AUDIT_CEILING, statements.breakdown()
    # Authentication looks the key up at most once per request, whatever caches it.
    assert statements.count("api_key") <= 6, statements.breakdown()


@pytest.mark.xfail(strict=True, reason="issue 13's 40: the audit chain and timeline/outbox rows remain")
def test_an_escrow_cycle_meets_the_issue_target(
    api: EscrowApi, statements: StatementLog, clock: ManualClock
) -> None:
    api.create(order_ref="WARM-UP")
    statements.seen.clear()
    _cycle(api, statements, clock)
    assert statements.count() + statements.count("audit") <= TARGET, statements.breakdown()


def test_the_count_is_the_same_on_a_second_cycle(
    api: EscrowApi, statements: StatementLog, clock: ManualClock
) -> None:
    api.create(order_ref="WARM-UP")
    statements.seen.clear()
    _cycle(api, statements, clock)
    first = Counter(s for s, k, _ in statements.seen if k == "counted")
    statements.seen.clear()
    _cycle(api, statements, clock)
    assert Counter(s for s, k, _ in statements.seen if k == "counted") == first, statements.breakdown()

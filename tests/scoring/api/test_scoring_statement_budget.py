"""POST /v1/scores runs at most five SQL statements of its own (issue #13).

Every statement the app sends while it answers one score (no ``Idempotency-Key``) is
counted by a ``before_cursor_execute`` listener on the service's engine, with and without
challengers scored in shadow. Two look-ups are counted apart, because per-process caches
(invalidated on revoke and promote) take them off the hot path: the API key → principal
look-up and the registry's champion/challenger look-up; each is held to its own small bound.
SQLite's ``BEGIN`` / ``BEGIN IMMEDIATE`` are counted apart too (psycopg begins a PostgreSQL
transaction without a statement). The remaining statements — the decision, its shadow
scores and its outbox event (one statement on PostgreSQL, one per table on SQLite), and the
audit append at commit (``shared.audit``'s) — are held to five. On failure the message
lists every statement, by kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from services.scoring.domain.model import TrainedModel
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import post_score

Headers = Callable[[Role], dict[str, str]]

BUDGET = 5
"""Statements a score may run besides the two cached look-ups."""


@dataclass
class Statements:
    """SQL statements seen on an engine while ``recording``."""

    recording: bool = False
    seen: list[str] = field(default_factory=list)

    def listen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.recording:
            self.seen.append(" ".join(statement.split()))

    def of(self, request: Callable[[], object]) -> list[str]:
        """The statements one call of ``request`` ran."""
        self.seen, self.recording = [], True
        try:
            request()
        finally:
            self.recording = False
        return self.seen


def is_key_lookup(sql: str) -> bool:
    return "FROM api_keys" in sql


def is_registry_lookup(sql: str) -> bool:
    return sql.startswith("SELECT") and "FROM scoring_models" in sql


SCORE_TABLES = ("scoring_decisions", "scoring_shadow_scores", "outbox_events")


def is_score_write(sql: str) -> bool:
    return sql.startswith(("INSERT", "WITH")) and any(f"INSERT INTO {t}" in sql for t in SCORE_TABLES)


def is_audit_append(sql: str) -> bool:
    """``shared.audit``'s append at commit (lock, chain head, sequence, insert)."""
    return "audit_log" in sql or "pg_advisory_xact_lock" in sql


def is_transaction_control(sql: str) -> bool:
    """SQLite's BEGIN / BEGIN IMMEDIATE (PostgreSQL's psycopg begins without a statement)."""
    return sql.startswith("BEGIN")


def listing(statements: list[str]) -> str:
    return "\n".join(f"  {i + 1}. {sql[:300]}" for i, sql in enumerate(statements))


@pytest.fixture
def statements(ctx: ScoringContext) -> Iterator[Statements]:
    recorder = Statements()
    event.listen(ctx.db.engine, "before_cursor_execute", recorder.listen)
    yield recorder
    event.remove(ctx.db.engine, "before_cursor_execute", recorder.listen)


def register_challengers(ctx: ScoringContext, store: ModelStore, model: TrainedModel, count: int) -> None:
    """``count`` more farmer versions (challengers, scored in shadow), same model bytes."""
    with ctx.db.unit_of_work() as session:
        for n in range(count):
            register_model(
                session, ctx, store, model=model, actor="test:setup", data_source=f"challenger-{n}"
            )


@pytest.mark.parametrize("challengers", [0, 2])
def test_a_score_runs_at_most_five_statements_besides_the_cached_lookups(
    client: TestClient,
    headers: Headers,
    ctx: ScoringContext,
    store: ModelStore,
    trained_models: dict[str, TrainedModel],
    statements: Statements,
    challengers: int,
) -> None:
    register_challengers(ctx, store, trained_models["farmer"], challengers)
    officer = headers(Role.LOAN_OFFICER)
    factory.random.reseed_random(f"statement-budget-{challengers}")
    post_score(client, officer, ScoreRequestFactory(segment="farmer"))  # warm the per-process caches
    body = ScoreRequestFactory(segment="farmer")
    seen = statements.of(lambda: post_score(client, officer, body))
    keys = [sql for sql in seen if is_key_lookup(sql)]
    registry = [sql for sql in seen if is_registry_lookup(sql)]
    begins = [sql for sql in seen if is_transaction_control(sql)]
    audit = [sql for sql in seen if is_audit_append(sql)]
    writes = [sql for sql in seen if is_score_write(sql)]
    set_apart = (is_key_lookup, is_registry_lookup, is_transaction_control)
    counted = [sql for sql in seen if not any(kind(sql) for kind in set_apart)]
    report = (
        f"{len(seen)} statements: {len(keys)} API-key and {len(registry)} champion/challenger look-ups, "
        f"{len(begins)} BEGIN, {len(writes)} score writes, {len(audit)} audit append, "
        f"{len(counted) - len(writes) - len(audit)} others:\n{listing(seen)}"
    )
    assert len(keys) <= 1, report
    assert len(registry) <= 2, report
    # the decision, its shadow scores and its event: one statement on PostgreSQL, one per table on SQLite
    tables = 1 if ctx.db.engine.dialect.name == "postgresql" else 2 + (1 if challengers else 0)
    assert len(writes) == tables, report
    assert any("INSERT INTO scoring_decisions" in sql for sql in writes), report
    assert any("INSERT INTO outbox_events" in sql for sql in writes), report
    assert len(counted) <= BUDGET, report

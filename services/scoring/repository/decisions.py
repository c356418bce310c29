"""SQL for stored decisions (``scoring_decisions``) and shadow scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Select, Table, bindparam, insert, select
from sqlalchemy.orm import Session

from services.scoring.models import Decision, ShadowScore


def add_decision(
    session: Session,
    decision: Mapping[str, Any],
    shadows: Sequence[ShadowScore] = (),
    *,
    outbox: Table,
    event: dict[str, Any],
) -> None:
    """Insert a decision (``decision``: the value of every ``scoring_decisions`` column, by
    key), its shadow scores and its outbox ``event`` (an ``outbox_row``).

    SQLAlchemy Core on the session's connection, not the unit of work: the rows are new and
    nothing reads them back in the request (no ORM object is made for the decision).
    PostgreSQL: one statement (the decision and each shadow score as data-modifying CTEs of
    the event's insert; the foreign keys are checked at its end), built once per shadow count
    so its compiled form is cached. SQLite: one insert per table (the shadow scores as one
    executemany), each built once.
    """
    values = {key: decision[key] for key in _DECISION_KEYS}  # KeyError: a column without a value
    shadow_values = [{key: getattr(row, key) for key in _SHADOW_KEYS} for row in shadows]
    connection = session.connection()  # begins the request's write transaction (its listeners run)
    if connection.dialect.name == "postgresql":
        params = {f"d_{key}": value for key, value in values.items()}
        params.update({f"e_{key}": value for key, value in event.items()})
        for n, row in enumerate(shadow_values):
            params.update({f"s{n}_{key}": value for key, value in row.items()})
        connection.execute(_combined_insert(outbox, len(shadow_values)), params)
        return
    connection.execute(_INSERT_DECISION, values)
    if shadow_values:
        connection.execute(_INSERT_SHADOW, shadow_values)
    connection.execute(_insert_into(outbox), event)


_DECISIONS: Table = Decision.__table__  # type: ignore[assignment]
_SHADOWS: Table = ShadowScore.__table__  # type: ignore[assignment]
_DECISION_KEYS = tuple(column.key for column in _DECISIONS.columns)
_SHADOW_KEYS = tuple(column.key for column in _SHADOWS.columns if column.key != "id")
_INSERT_DECISION = insert(_DECISIONS)
_INSERT_SHADOW = insert(_SHADOWS)


@lru_cache(maxsize=4)
def _insert_into(table: Table) -> Insert:
    """``INSERT INTO table`` (built once per table, not per score)."""
    return insert(table)


@lru_cache(maxsize=16)
def _combined_insert(outbox: Table, shadow_count: int) -> Insert:
    """``WITH d AS (INSERT decision), s AS (INSERT shadows) INSERT event`` with named parameters
    (built once per shadow count, so its compiled form is cached)."""

    def params(table: Table, prefix: str, keys: Sequence[str]) -> dict[str, Any]:
        return {key: bindparam(f"{prefix}_{key}", type_=table.c[key].type) for key in keys}

    statement = insert(outbox).values(params(outbox, "e", [c.key for c in outbox.columns]))
    statement = statement.add_cte(
        insert(_DECISIONS).values(params(_DECISIONS, "d", _DECISION_KEYS)).cte("new_decision")
    )
    for n in range(shadow_count):  # one single-row CTE each: a multi-row VALUES has no cache key
        shadow = insert(_SHADOWS).values(params(_SHADOWS, f"s{n}", _SHADOW_KEYS))
        statement = statement.add_cte(shadow.cte(f"new_shadow_score_{n}"))
    return statement


def get_decision(session: Session, decision_id: str) -> Decision | None:
    """A decision by id."""
    return session.get(Decision, decision_id)


@dataclass(frozen=True)
class DecisionFilter:
    """What the decision explorer narrows to (None: any); ``scored_from`` inclusive,
    ``scored_to`` exclusive."""

    subject_id: str | None = None
    segment: str | None = None
    model_version: str | None = None
    decision_hint: str | None = None
    scored_from: datetime | None = None
    scored_to: datetime | None = None


def decisions_query(where: DecisionFilter) -> Select[Decision]:
    """Decisions narrowed by ``where``, newest first (``created_at, id`` descending, the order
    the ``ix_scoring_decisions_*`` indexes serve)."""
    query = select(Decision).order_by(Decision.created_at.desc(), Decision.id.desc())
    for column, value in (
        (Decision.subject_id, where.subject_id),
        (Decision.segment, where.segment),
        (Decision.model_version, where.model_version),
        (Decision.decision_hint, where.decision_hint),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.scored_from is not None:
        query = query.where(Decision.created_at >= where.scored_from)
    if where.scored_to is not None:
        query = query.where(Decision.created_at < where.scored_to)
    return query


def list_decisions(session: Session, where: DecisionFilter, *, limit: int, offset: int) -> Sequence[Decision]:
    """A page of :func:`decisions_query`."""
    return session.scalars(decisions_query(where).limit(limit).offset(offset)).all()


def decisions_since(
    session: Session, *, segment: str, since: datetime, limit: int
) -> Sequence[tuple[str, str, str | None]]:
    """``(features JSON, decision_hint, monitoring_group)`` of recent decisions, newest first."""
    query = (
        select(Decision.features, Decision.decision_hint, Decision.monitoring_group)
        .where(Decision.segment == segment, Decision.created_at >= since)
        .order_by(Decision.created_at.desc())
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query).all()]


def shadow_scores(session: Session, decision_id: str) -> Sequence[ShadowScore]:
    """The shadow scores recorded beside a decision."""
    query = (
        select(ShadowScore)
        .where(ShadowScore.decision_id == decision_id)
        .order_by(ShadowScore.challenger_version)
    )
    return session.scalars(query).all()

"""SQL of close of business: its runs (one per date), and per chunk of loans the set-based
reads and writes.

Reads are one statement per chunk and table: the chunk's loans are read and locked by one
``SELECT ... ORDER BY id LIMIT n FOR UPDATE``, their installments over the chunk's id range.
Writes are one statement per table and chunk on PostgreSQL: ``UPDATE ... FROM unnest(arrays)``
and ``INSERT ... SELECT FROM unnest(arrays)``, the arrays sent in binary (psycopg's ``%b``: no
per-element quoting on the client, no parsing on the server), every ``UPDATE`` confined to
the chunk's id range (so the planner joins the arrays with the chunk's rows, never with a
scan of the whole book); executemany elsewhere (SQLite, through ``bulk``). Loans are locked
in id order, so two chunked jobs never deadlock on each other, and a single-loan request
(which locks one loan) never waits in a cycle with them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, Table, and_, bindparam, case, delete, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from services.loans.models import CobRun
from services.loans.repository.accounts import (
    ALLOCATIONS,
    INSTALLMENTS,
    LOAN_VIEW_COLUMNS,
    LOANS,
    TRANSACTIONS,
    records,
)
from services.loans.repository.bulk import insert_many, update_many


@functools.cache
def _next_chunk(*, first: bool, lock: bool) -> Select[Any]:
    loans = LOANS.c
    query = select(*(loans[name] for name in LOAN_VIEW_COLUMNS)).where(
        loans.status == "active", loans.disbursed_on <= bindparam("as_of", type_=loans.disbursed_on.type)
    )
    if not first:
        query = query.where(loans.id > bindparam("after", type_=loans.id.type))
    query = query.order_by(loans.id).limit(bindparam("limit", type_=Integer))
    return query.with_for_update() if lock else query


def next_chunk(session: Session, *, as_of: date, after: str | None, limit: int, lock: bool) -> list[Any]:
    """The COB view of the next ``limit`` loans (in id order, after ``after``) active and
    disbursed by ``as_of``, locked in id order when ``lock``.

    One statement reads and locks the chunk: a loan changed by another transaction before
    its lock is granted is checked again once it is (PostgreSQL re-evaluates the condition on
    the row it locked), and one that no longer qualifies is skipped, not returned.
    """
    params = {"as_of": as_of, "after": after, "limit": limit}
    result = session.execute(_next_chunk(first=after is None, lock=lock), params)
    return records(result)


@dataclass(frozen=True, slots=True)
class CurrentPeriod:
    """The installment period running on the date (its interest accrues by days)."""

    from_date: date
    due_date: date
    interest_minor: int


@dataclass(frozen=True, slots=True)
class InstallmentSummary:
    """What close of business needs of a loan's schedule, without reading it row by row."""

    overdue: bool
    """An installment is due before the date and not settled."""
    due_interest_minor: int
    """Interest of the installments started and due by the date."""
    current: CurrentPeriod | None
    """The installment started by the date and due after it (the last such, by number)."""


@functools.cache
def _summary_query() -> Select[Any]:
    inst, as_of = INSTALLMENTS.c, bindparam("as_of", type_=INSTALLMENTS.c.due_date.type)
    started = inst.from_date <= as_of
    running = and_(started, inst.due_date > as_of)
    return (
        select(
            inst.loan_id,
            func.max(case((and_(inst.due_date < as_of, inst.settled_on.is_(None)), 1), else_=0)),
            sql_cast(
                func.sum(case((and_(started, inst.due_date <= as_of), inst.interest_minor), else_=0)),
                BigInteger,
            ),
            func.count(case((running, 1))),
            func.max(case((running, inst.from_date))),
            func.max(case((running, inst.due_date))),
            func.max(case((running, inst.interest_minor))),
        )
        .where(inst.loan_id.between(bindparam("first"), bindparam("last")))
        .group_by(inst.loan_id)
    )


def installment_summaries(
    session: Session, ids: Sequence[str], *, as_of: date
) -> dict[str, InstallmentSummary]:
    """Per loan of ``ids`` (sorted, the chunk) its ``InstallmentSummary``: one scan of the
    chunk's installments answers which loans are overdue and the accrual inputs of the rest."""
    wanted = set(ids)
    out: dict[str, InstallmentSummary] = {}
    several: list[str] = []
    params = {"as_of": as_of, "first": ids[0], "last": ids[-1]}
    for loan_id, overdue, due, running, from_date, due_date, interest in session.execute(
        _summary_query(), params
    ).all():
        if loan_id not in wanted:
            continue
        current = CurrentPeriod(from_date, due_date, interest) if running == 1 else None
        out[loan_id] = InstallmentSummary(bool(overdue), int(due or 0), current)
        if running > 1:  # periods that overlap: the last one by number, as the domain's accrual
            several.append(loan_id)
    for loan_id, current in _last_running_periods(session, several, as_of=as_of).items():
        summary = out[loan_id]
        out[loan_id] = InstallmentSummary(summary.overdue, summary.due_interest_minor, current)
    empty = InstallmentSummary(False, 0, None)
    return {loan_id: out.get(loan_id, empty) for loan_id in ids}


def _last_running_periods(session: Session, ids: Sequence[str], *, as_of: date) -> dict[str, CurrentPeriod]:
    if not ids:
        return {}
    inst = INSTALLMENTS.c
    query = (
        select(inst.loan_id, inst.from_date, inst.due_date, inst.interest_minor)
        .where(inst.loan_id.in_(ids), inst.from_date <= as_of, inst.due_date > as_of)
        .order_by(inst.loan_id, inst.number)
    )
    return {row[0]: CurrentPeriod(row[1], row[2], row[3]) for row in session.execute(query).all()}


# --- writes -------------------------------------------------------------------------------

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _execute_binary(session: Session, sql: str, params: Mapping[str, Any]) -> None:
    """Run ``sql`` (``%(name)b`` placeholders: parameters sent in binary) on the psycopg
    connection under the session, in its transaction."""
    driver: Any = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute(sql, params)


def _sql_type(table: Table, column: str) -> str:
    return str(table.c[column].type.compile(dialect=_PG))


@functools.cache
def _update_sql(
    table: Table,
    keys: tuple[tuple[str, str], ...],
    columns: tuple[str, ...],
    same: tuple[str, ...],
    within: str,
) -> str:
    """``UPDATE table SET ... FROM unnest(%b arrays) v WHERE keys match AND within the range``."""
    column_of = dict(keys)
    names = [*column_of, *columns]
    arrays = ", ".join(f"%({n})b::{_sql_type(table, column_of.get(n, n))}[]" for n in names)
    sets = [f"{n} = v.{n}" for n in columns] + [f"{n} = %(same_{n})b::{_sql_type(table, n)}" for n in same]
    matches = [f"{table.name}.{column} = v.{param}" for param, column in keys]
    bound = _sql_type(table, within)
    # names and types from the table's metadata; every value is a parameter
    statement = f"UPDATE {table.name} SET {', '.join(sets)} FROM unnest({arrays}) AS v({', '.join(names)}) "  # noqa: S608
    return (
        statement + f"WHERE {' AND '.join(matches)} "
        f"AND {table.name}.{within} BETWEEN %(first)b::{bound} AND %(last)b::{bound}"
    )


def _update(
    session: Session,
    table: Table,
    keys: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
    *,
    same: Mapping[str, Any] | None = None,
    within: tuple[str, str, str],
) -> None:
    """UPDATE ``table`` row by row from ``rows`` (each with the same keys; ``keys`` maps a row's
    key parameters to the columns they match), ``same`` the columns every row gets one value
    of; ``within`` = (column, first, last): the range every row lies in."""
    if not rows:
        return
    same = dict(same or {})
    if not _on_postgresql(session):
        update_many(session, table, keys, rows, same=same)
        return
    columns = tuple(name for name in rows[0] if name not in keys)
    column, first, last = within
    sql = _update_sql(table, tuple(keys.items()), columns, tuple(same), column)
    params: dict[str, Any] = {name: [row[name] for row in rows] for name in (*keys, *columns)}
    params.update({f"same_{name}": value for name, value in same.items()}, first=first, last=last)
    _execute_binary(session, sql, params)


@functools.cache
def _insert_sql(table: Table, names: tuple[str, ...]) -> str:
    arrays = ", ".join(f"%({n})b::{_sql_type(table, n)}[]" for n in names)
    columns = ", ".join(names)
    # names and types from the table's metadata; every value is a parameter
    return f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM unnest({arrays}) AS v({columns})"  # noqa: S608


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT of many rows, every one with the same keys (one statement on PostgreSQL)."""
    if not rows:
        return
    if not _on_postgresql(session):
        insert_many(session, table, rows)
        return
    names = tuple(rows[0])
    _execute_binary(session, _insert_sql(table, names), {name: [row[name] for row in rows] for name in names})


def update_loans(
    session: Session,
    rows: Sequence[dict[str, Any]],
    *,
    first: str,
    last: str,
    same: dict[str, Any] | None = None,
) -> None:
    """UPDATE of loans with ids between ``first`` and ``last`` (the chunk); every dict has
    ``b_id`` and the same other keys, ``same`` the columns every row gets the same value of."""
    _update(session, LOANS, {"b_id": "id"}, rows, same=same, within=("id", first, last))


def update_quiet_loans(
    session: Session,
    ids: Sequence[str],
    accrued: Sequence[int],
    *,
    first: str,
    last: str,
    same: dict[str, Any],
) -> None:
    """UPDATE of the loans ``ids`` (between ``first`` and ``last``) that were not replayed:
    each its own ``interest_accrued_minor``, and ``same`` for every one."""
    if not ids:
        return
    if not _on_postgresql(session):
        rows = [{"b_id": i, "interest_accrued_minor": a} for i, a in zip(ids, accrued, strict=True)]
        update_many(session, LOANS, {"b_id": "id"}, rows, same=same)
        return
    sql = _update_sql(LOANS, (("b_id", "id"),), ("interest_accrued_minor",), tuple(same), "id")
    params: dict[str, Any] = {"b_id": list(ids), "interest_accrued_minor": list(accrued)}
    params.update({f"same_{name}": value for name, value in same.items()}, first=first, last=last)
    _execute_binary(session, sql, params)


def update_installments(session: Session, rows: Sequence[dict[str, Any]], *, first: str, last: str) -> None:
    """UPDATE of installment projections keyed by ``b_loan_id`` and ``b_number`` (loans between
    ``first`` and ``last``)."""
    keys = {"b_loan_id": "loan_id", "b_number": "number"}
    _update(session, INSTALLMENTS, keys, rows, within=("loan_id", first, last))


def insert_transactions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Multi-row INSERT of new loan transactions (the penalties a chunk charges)."""
    insert_rows(session, TRANSACTIONS, rows)


def replace_allocations(session: Session, loan_ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Drop the allocations of ``loan_ids`` and store ``rows`` instead."""
    if loan_ids:
        session.execute(delete(ALLOCATIONS).where(ALLOCATIONS.c.loan_id.in_(loan_ids)))
    insert_rows(session, ALLOCATIONS, rows)


def cob_run_for(session: Session, business_date: date) -> CobRun | None:
    """The COB run of a date, if any."""
    return session.scalars(select(CobRun).where(CobRun.business_date == business_date)).first()


def latest_cob_date(session: Session) -> date | None:
    """The latest date a COB run exists for."""
    value: date | None = session.scalar(select(func.max(CobRun.business_date)))
    return value


def list_cob_runs(session: Session, *, limit: int) -> Sequence[CobRun]:
    """The latest COB runs, newest first."""
    return session.scalars(select(CobRun).order_by(CobRun.business_date.desc()).limit(limit)).all()

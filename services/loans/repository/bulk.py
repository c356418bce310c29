"""Set-based writes of many rows in one statement: close of business updates every active loan
every day, so its writes are the bulk of its database time.

On PostgreSQL a batch is one statement over arrays, whatever its size:

    UPDATE loans SET a = v.a, ... FROM unnest(CAST(:b_id AS VARCHAR(36)[]), ...) AS v(b_id, a, ...)
    WHERE loans.id = v.b_id
    INSERT INTO loan_allocations (x, y, ...) SELECT v.x, v.y, ... FROM unnest(...) AS v(x, y, ...)

one parse, one plan and one round trip instead of one bound statement per row (executemany),
and no per-row parameter processing on the client. Each array's type is its column's. Elsewhere
(SQLite, the embedded default) the same rows go through executemany.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, cast, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _unnest(table: Table, names: Sequence[str], columns_of: Mapping[str, str]) -> TableValuedAlias:
    """``unnest`` of one array parameter per name, typed as the column it holds, aliased ``v``."""
    arrays = [cast(bindparam(name), ARRAY(table.c[columns_of.get(name, name)].type)) for name in names]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="v")


def _arrays(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


def update_many(
    session: Session,
    table: Table,
    keys: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
    *,
    same: Mapping[str, Any] | None = None,
) -> None:
    """UPDATE ``table`` row by row from ``rows``; ``keys`` maps a row's key parameters to the
    columns they match (``{"b_id": "id"}``); every other key of a row is a column to set, and
    ``same`` the columns set to one value on every row. Every row has the same keys."""
    if not rows:
        return
    same = dict(same or {})
    columns = [name for name in rows[0] if name not in keys]
    if not _on_postgresql(session):
        statement = (
            update(table)
            .where(and_(*(table.c[column] == bindparam(param) for param, column in keys.items())))
            .values({name: bindparam(name) for name in [*columns, *same]})
        )
        session.connection().execute(statement, [{**row, **same} for row in rows])
        return
    names = [*keys, *columns]
    v = _unnest(table, names, keys)
    statement = (
        update(table)
        .where(and_(*(table.c[column] == v.c[param] for param, column in keys.items())))
        .values(
            {
                **{name: v.c[name] for name in columns},
                **{name: literal(value, table.c[name].type) for name, value in same.items()},
            }
        )
    )
    session.connection().execute(statement, _arrays(rows, names))


def insert_many(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (every row with the same keys) into ``table``."""
    if not rows:
        return
    if not _on_postgresql(session):
        session.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    v = _unnest(table, names, {})
    statement = insert(table).from_select(names, select(*(v.c[name] for name in names)))
    session.connection().execute(statement, _arrays(rows, names))

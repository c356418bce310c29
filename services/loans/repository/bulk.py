"""Writes of many rows on SQLite, the embedded default: one executemany per batch.

Close of business updates every active loan every day. On PostgreSQL its batches are one
statement over arrays sent in binary (``repository.cob``); on SQLite the same rows go through
these executemany statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, update
from sqlalchemy.orm import Session


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
    statement = (
        update(table)
        .where(and_(*(table.c[column] == bindparam(param) for param, column in keys.items())))
        .values({name: bindparam(name) for name in [*columns, *same]})
    )
    session.connection().execute(statement, [{**row, **same} for row in rows])


def insert_many(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (every row with the same keys) into ``table``."""
    if rows:
        session.execute(insert(table), list(rows))

"""All SQL of the loans service, one module per thing stored:

* ``products``, ``borrowers``, ``applications``  one row at a time
* ``accounts``       a loan account: the loan row (locked for changes), its schedule,
                     transactions and allocations, the columns a replay writes back, and the
                     same rows for many loans at once
* ``business_date``  the business date row
* ``cob``            close of business: its runs, and the set-based reads and writes of a chunk
* ``portfolio``      the loans a PAR report looks at
* ``escrow_instructions``  loans' instructions to escrow (claimed one at a time) and the rows
                     the proceeds reconciliation reads
"""

from __future__ import annotations

from sqlalchemy.orm import Session


def add(session: Session, row: object) -> None:
    """Stage a new row and flush it (ids are client-generated)."""
    session.add(row)
    session.flush()


def stage(session: Session, row: object) -> None:
    """Stage a new row for the next flush (the commit's, when nothing needs it sooner)."""
    session.add(row)

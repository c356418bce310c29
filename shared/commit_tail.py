"""The tail of a transaction: steps that run as its last statements, just before COMMIT.

Some statements take a lock that many writers share — an audit chain's head (an advisory
lock per chain in ``shared.audit``) and, in escrow, the rows of its hot ledger accounts. Such
a lock is held from the statement that takes it until the commit, so the later it is taken, the more
transactions per second the service sustains. A use case therefore *queues* those statements
here (``at_commit``) and a ``before_commit`` listener on the session runs them:

- in phase order (``Phase.BALANCES`` before ``Phase.AUDIT``), then in the order queued;
  a step queued while the tail runs (a step that records an audit entry) runs in a next
  round of the same tail, still before COMMIT;
- for the outermost commit only (never for a SAVEPOINT release);
- not at all on rollback: the queue is dropped, so a failed request leaves nothing behind.

Whoever commits the session (``ServiceRoute``, ``Database.unit_of_work``) runs the tail;
nothing can forget it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

_QUEUE = "agrifin.commit_tail"
_STATE = "agrifin.commit_tail.state"
T = TypeVar("T")


class Phase(IntEnum):
    """When, within the tail, a step runs (lower first)."""

    BALANCES = 10
    """Hot balance updates (escrow's clearing and fee accounts)."""
    OUTBOX = 15
    """The transaction's outbox events, in one multi-row insert (``shared.webhooks``)."""
    AUDIT = 20
    """Audit chain appends: last, so the chain heads are held only for the commit itself."""


def _queue(session: Session) -> list[tuple[int, int, Callable[[], object]]]:
    queue: list[tuple[int, int, Callable[[], object]]] = session.info.setdefault(_QUEUE, [])
    return queue


def at_commit(session: Session, step: Callable[[], object], *, phase: Phase = Phase.AUDIT) -> None:
    """Run ``step`` as one of the transaction's last statements (see the module docstring)."""
    queue = _queue(session)
    queue.append((int(phase), len(queue), step))


def tail_state(session: Session, key: str, factory: Callable[[], T]) -> tuple[T, bool]:
    """State that lives as long as this transaction's tail: (the state, whether it is new).

    For steps that accumulate (escrow sums balance deltas and applies them in one step): the
    state is dropped with the queue at commit or rollback, never leaking into the next one.
    """
    _queue(session)
    state: dict[str, Any] = session.info.setdefault(_STATE, {})
    if key in state:
        return state[key], False
    value = state[key] = factory()
    return value, True


# Listeners of every session, registered once (one per session costs more to add than a
# request's whole tail): a session with nothing queued passes through them untouched.
@event.listens_for(Session, "before_commit")
def _run(session: Session) -> None:
    if _QUEUE not in session.info:
        return
    if session.in_nested_transaction():
        return  # a SAVEPOINT being released, not the transaction's commit
    while queue := session.info.pop(_QUEUE, None):
        for _, _, step in sorted(queue, key=lambda item: (item[0], item[1])):
            step()
    session.info.pop(_STATE, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_QUEUE, None)
        session.info.pop(_STATE, None)

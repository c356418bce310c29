"""The tail of a transaction: the last statements before COMMIT, where the hot locks are taken.

Two kinds of lock are shared by every money movement: the row of each hot ledger account
(provider clearing, payout clearing, fee revenue) and the audit chain's head (an advisory
lock in ``shared.audit``). Both are held from the statement that takes them to the commit,
so the shorter that stretch, the more transactions per second. Instead of updating hot
balances and appending the audit entry in the middle of a use case (and then holding both
while the response is rendered), a use case *queues* them here; a ``before_commit`` listener
on the session applies them as the last statements of the transaction:

1. every queued hot-account delta, summed per account, in the global lock order
   (``lock_key``), each an atomic ``UPDATE ... SET balance_minor = balance_minor + :delta``;
2. every queued final step (audit appends), in the order queued.

The listener fires for the outermost commit only (not for SAVEPOINT releases) and the queue
is dropped on rollback, so a failed request leaves nothing behind. Whoever commits the
session (``ServiceRoute``, ``Database.unit_of_work``) runs the tail; nothing can forget it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, event, update
from sqlalchemy.orm import Session

_KEY = "agrifin.escrow.commit_tail"
_LISTENING = "agrifin.escrow.commit_tail.listening"


@dataclass
class _Tail:
    deltas: dict[int, int] = field(default_factory=dict)
    order: dict[int, Any] = field(default_factory=dict)
    table: Table | None = None
    steps: list[Callable[[], object]] = field(default_factory=list)


def _tail(session: Session) -> _Tail:
    if not session.info.get(_LISTENING):
        event.listen(session, "before_commit", _run)
        event.listen(session, "after_soft_rollback", _drop)
        session.info[_LISTENING] = True
    tail = session.info.get(_KEY)
    if tail is None:
        tail = session.info[_KEY] = _Tail()
    assert isinstance(tail, _Tail)
    return tail


def add_balance_delta(session: Session, *, table: Table, account_id: int, sort_key: Any, delta: int) -> None:
    """Queue ``delta`` for an account's stored balance, applied at commit in ``sort_key`` order."""
    tail = _tail(session)
    tail.table = table
    tail.deltas[account_id] = tail.deltas.get(account_id, 0) + delta
    tail.order[account_id] = sort_key


def at_commit(session: Session, step: Callable[[], object]) -> None:
    """Run ``step`` at commit, after the queued balance deltas (audit appends go here)."""
    _tail(session).steps.append(step)


def _run(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT being released, not the transaction's commit
    tail = session.info.pop(_KEY, None)
    if not isinstance(tail, _Tail):
        return
    changes = [
        {"account_id_": account_id, "delta_": tail.deltas[account_id]}
        for account_id in sorted(tail.deltas, key=lambda a: tail.order[a]) if tail.deltas[account_id]
    ]
    if changes and tail.table is not None:
        t = tail.table
        session.execute(
            update(t).where(t.c.id == bindparam("account_id_")).values(balance_minor=t.c.balance_minor
                                                                       + bindparam("delta_")),
            changes,
        )
    for step in tail.steps:
        step()


def _drop(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)

"""Hot ledger balances, updated at commit (``shared.commit_tail``, phase ``BALANCES``).

Every money movement touches the stored balance of a few hot accounts (provider clearing,
payout clearing, fee revenue). Their rows are locked by the ``UPDATE`` that changes them, and
held until the commit, so the deltas are queued here, summed per account, and applied as the
transaction's last statements — in the global lock order (``lock_key``), before the audit
append — each an atomic ``UPDATE ... SET balance_minor = balance_minor + :delta``.

The ordinary accounts a posting locked (``SELECT ... FOR UPDATE``) queue their deltas here
too: their rows are already held, so applying them later changes no lock, and all of a
transaction's balances are one statement (one ``executemany``). Until then the stored balance
of such a row lags the transaction by ``pending_delta``, which whoever reads it in the same
transaction adds (``repository.ledger.lock_accounts``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.orm import Session

from shared.commit_tail import Phase, at_commit, tail_state

_KEY = "agrifin.escrow.balance_deltas"


@dataclass
class _Deltas:
    table: Table | None = None
    deltas: dict[int, int] = field(default_factory=dict)
    order: dict[int, Any] = field(default_factory=dict)


def add_balance_delta(session: Session, *, table: Table, account_id: int, sort_key: Any, delta: int) -> None:
    """Queue ``delta`` for an account's stored balance, applied at commit in ``sort_key`` order."""
    pending, _ = tail_state(session, _KEY, _Deltas)
    if pending.table is None:
        pending.table = table
        at_commit(session, lambda: _apply(session, pending), phase=Phase.BALANCES)
    pending.deltas[account_id] = pending.deltas.get(account_id, 0) + delta
    pending.order[account_id] = sort_key


def pending_delta(session: Session, account_id: int) -> int:
    """What this transaction has queued for an account's stored balance and not applied yet."""
    pending, _ = tail_state(session, _KEY, _Deltas)
    return pending.deltas.get(account_id, 0)


@functools.cache
def _add_to_balance(table: Table) -> Update:
    """``UPDATE ... SET balance_minor = balance_minor + :delta_ WHERE id = :account_id_``, built once."""
    return (
        update(table)
        .where(table.c.id == bindparam("account_id_"))
        .values(balance_minor=table.c.balance_minor + bindparam("delta_"))
    )


def _apply(session: Session, pending: _Deltas) -> None:
    changes = [
        {"account_id_": account_id, "delta_": pending.deltas[account_id]}
        for account_id in sorted(pending.deltas, key=lambda a: pending.order[a])
        if pending.deltas[account_id]
    ]
    t = pending.table
    if changes and t is not None:
        session.connection().execute(_add_to_balance(t), changes)

"""Which ledger accounts are open, remembered per process: an account's id and rules never change.

Accounts are never deleted and their ``id``, ``normal_side`` and ``may_go_negative`` are never
updated, so once a transaction that saw an account commits, every later transaction of this
process may use what it saw without reading it again (posting then locks or updates the row
by id, which is what touches the database). The balance is never remembered: it changes.

What a transaction learns is kept aside and published only when it commits: an account it
inserted itself does not exist if it rolls back. One memory per connection pool, i.e. per
engine (a test's fresh database is a fresh engine, so nothing leaks between databases).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from services.escrow.domain.ledger import Account, AccountRef

_PENDING = "agrifin.escrow.accounts_seen"
_LISTENING = "agrifin.escrow.accounts_listening"


@dataclass(frozen=True, slots=True)
class OpenAccount:
    """An open account's row id and its rules (what never changes)."""

    id: int
    account: Account


class _Known:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accounts: dict[AccountRef, OpenAccount] = {}


_KNOWN: weakref.WeakKeyDictionary[Any, _Known] = weakref.WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def _known(session: Session) -> _Known:
    pool = session.get_bind().engine.pool
    with _KNOWN_LOCK:
        known = _KNOWN.get(pool)
        if known is None:
            known = _KNOWN[pool] = _Known()
        return known


def known_accounts(session: Session, refs: Iterable[AccountRef]) -> dict[AccountRef, OpenAccount]:
    """The accounts among ``refs`` this process (or this transaction) has seen open."""
    known = _known(session)
    pending: dict[AccountRef, OpenAccount] = session.info.get(_PENDING, {})
    found = {}
    with known.lock:
        for ref in refs:
            seen = known.accounts.get(ref) or pending.get(ref)
            if seen is not None:
                found[ref] = seen
    return found


def saw_accounts(session: Session, accounts: Mapping[AccountRef, OpenAccount]) -> None:
    """Remember ``accounts``, read or inserted by this transaction, once (and if) it commits."""
    if not accounts:
        return
    session.info.setdefault(_PENDING, {}).update(accounts)
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _publish)
        event.listen(session, "after_soft_rollback", _forget)


def _publish(session: Session) -> None:
    pending: dict[AccountRef, OpenAccount] = session.info.pop(_PENDING, {})
    if pending:
        known = _known(session)
        with known.lock:
            known.accounts.update(pending)


def _forget(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)

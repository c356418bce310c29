"""Which ledger accounts are open, remembered per process: an account's id and rules never change.

Accounts are never deleted and their ``id``, ``normal_side`` and ``may_go_negative`` are never
updated, so once a transaction that saw an account commits, every later transaction of this
process may use what it saw without reading it again (posting then locks or updates the row
by id, which is what touches the database). The balance is never remembered: it changes.

What a transaction learns is kept aside and published only when it commits: an account it
inserted itself does not exist if it rolls back (``shared.committed_memory``, one memory per
connection pool).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.escrow.domain.ledger import Account, AccountRef
from shared.committed_memory import CommittedMemory


@dataclass(frozen=True, slots=True)
class OpenAccount:
    """An open account's row id and its rules (what never changes)."""

    id: int
    account: Account


_ACCOUNTS: CommittedMemory[AccountRef, OpenAccount] = CommittedMemory("escrow.accounts")


def known_accounts(session: Session, refs: Iterable[AccountRef]) -> dict[AccountRef, OpenAccount]:
    """The accounts among ``refs`` this process (or this transaction) has seen open."""
    return _ACCOUNTS.recall(session, refs)


def saw_accounts(session: Session, accounts: Mapping[AccountRef, OpenAccount]) -> None:
    """Remember ``accounts``, read or inserted by this transaction, once (and if) it commits."""
    _ACCOUNTS.remember(session, accounts)

"""All SQL of posting to the ledger: accounts, locks, entries, balances (auditors read ``ledger_reports``).

Posting (``post_entries``) and the lock order
=============================================

Every writer takes its row locks in one global order, so no two transactions can each hold
a lock the other waits for (a deadlock needs a cycle; a single order leaves none):

1. the escrow row, then its lots' rows and the payment a callback is about, in one
   ``SELECT escrows JOIN escrow_lots [JOIN provider_payments] ... FOR UPDATE``
   (``repository.escrows``: PostgreSQL locks each result row's rows in FROM order, the
   escrow's first; a transaction that waited reads the lots and payment as the one before it
   left them, not as its snapshot had them). Payouts have no escrow: their payout row;
2. the seller's assignment rows, by id (only when the change releases money; a refund of
   swept money starts here, with its one assignment row, and has no escrow row);
3. the *ordinary* accounts the entries touch (everything but the hot kinds below) together
   with every account ``guarded_accounts`` names, sorted by ``AccountRef`` (kind, owner,
   currency), in one ``SELECT ... ORDER BY ... FOR UPDATE``; the domain's ``apply_entries``
   then checks the locked balances (overdraft refused with ``InsufficientFundsError``).
   A locked escrow's holding account is posted to only under that escrow's lock, so it is
   row-locked here only when an entry lowers it (its balance is checked); funding credits
   it without a read. Their balance changes are queued to the commit tail with the hot ones';
4. the *hot* accounts every escrow shares (provider clearing, payout clearing, fee
   revenue), never read-locked: their change is one atomic
   ``UPDATE ... SET balance_minor = balance_minor + :delta`` per account, queued and applied
   in sorted order as the transaction's last statements (``commit_tail``), so their row
   locks are held only for the commit. They are never guarded (clearing accounts may go
   negative, fee revenue is credit-only), which is what makes skipping the read lock safe;
5. the audit chain's advisory lock (``append_audit``, queued to the commit tail after the
   hot accounts), always last.

Ordinary accounts are per escrow (holding), per seller, buyer or lender: no order is routed
through an account every escrow shares under a read lock. On SQLite, writers are serialised
by ``BEGIN IMMEDIATE`` and ``FOR UPDATE`` is not rendered: step 3 reads only the guarded
balances the domain checks, and not those the transaction has read already (``post_entries``'
``read``: an action reads its escrow's holding account with the lock).

Creating accounts (``ensure_accounts``) skips the accounts this process knows are open
(``account_ids``: an account's id and rules never change), reads the hot ones it does not
know first, and inserts the rest (``INSERT ... ON CONFLICT DO NOTHING``, sorted), before
step 3: an insert that conflicts with a row another transaction is updating waits for it, and
hot rows are always being updated; an ordinary account is updated only while one escrow,
seller, buyer or lender is being settled, and is known to this process after its first use.

Posting needs no read of the accounts it touches beyond the lock of step 3 once they are
known, and every balance change (ordinary accounts', already locked, and hot ones') is one
statement at commit (``commit_tail``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Insert,
    RowMapping,
    String,
    Table,
    bindparam,
    case,
    insert,
    select,
    true,
    tuple_,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from services.escrow.domain.ledger import (
    Account,
    AccountKind,
    AccountRef,
    EntryKind,
    JournalEntry,
    Posting,
    Side,
    UnknownAccountError,
    apply_entries,
    guarded_accounts,
    open_account,
)
from services.escrow.models import AccountRow, EntryRow, PostingRow
from services.escrow.repository.account_ids import OpenAccount, known_accounts, saw_accounts
from services.escrow.repository.commit_tail import add_balance_delta, pending_delta
from shared.db import bound_rows, insert_if_absent
from shared.money import Money

ACCOUNTS = cast(Table, AccountRow.__table__)
ENTRIES = cast(Table, EntryRow.__table__)
POSTINGS = cast(Table, PostingRow.__table__)

HOT_KINDS = frozenset(
    {AccountKind.PROVIDER_CLEARING, AccountKind.PAYOUT_CLEARING, AccountKind.PLATFORM_FEE_REVENUE}
)
"""Accounts every escrow shares: updated atomically, never read-locked."""


def lock_key(ref: AccountRef) -> tuple[int, AccountRef]:
    """The global lock order: ordinary accounts first, then hot ones; by AccountRef within."""
    return (1 if ref.kind in HOT_KINDS else 0, ref)


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """An account row: its id, its rules and its signed balance when read."""

    id: int
    account: Account
    balance: Money


def _ref_of(row: RowMapping) -> AccountRef:
    return AccountRef(AccountKind(str(row["kind"])), str(row["owner"]), str(row["currency"]))


def ensure_accounts(session: Session, *, refs: Iterable[AccountRef], now: datetime) -> None:
    """Open every account in ``refs`` that is not open yet (in sorted order; no-op if open)."""
    wanted = set(refs)
    wanted -= known_accounts(session, wanted).keys()
    hot = {ref for ref in wanted if ref.kind in HOT_KINDS}
    if hot:
        wanted -= find_accounts(session, hot).keys()
    if not wanted:
        return
    values = []
    rules = {}
    for ref in sorted(wanted):
        account = rules[ref] = open_account(kind=ref.kind, owner=ref.owner, currency=ref.currency)
        values.append(
            {
                "kind": ref.kind.value,
                "owner": ref.owner,
                "currency": ref.currency,
                "normal_side": account.normal_side.value,
                "may_go_negative": account.may_go_negative,
                "balance_minor": 0,
                "created_at": now,
            }
        )
    # one parameter set per account: SQLAlchemy's insertmanyvalues sends one multi-row INSERT
    # (values given inline to .values([...]) would leave the statement without a cache key)
    connection = session.connection()
    key = ("kind", "owner", "currency")
    open_ = insert_if_absent(ACCOUNTS, connection.dialect.name, key, ("id", *key))
    inserted = {_ref_of(row): int(row["id"]) for row in connection.execute(open_, values).mappings()}
    saw_accounts(session, {ref: OpenAccount(account_id, rules[ref]) for ref, account_id in inserted.items()})


def find_accounts(session: Session, refs: Iterable[AccountRef]) -> dict[AccountRef, StoredAccount]:
    """The open accounts among ``refs`` with their stored balances (no lock)."""
    wanted = sorted(set(refs))
    if not wanted:
        return {}
    keys = [(r.kind.value, r.owner, r.currency) for r in wanted]
    rows = session.execute(
        select(ACCOUNTS).where(tuple_(ACCOUNTS.c.kind, ACCOUNTS.c.owner, ACCOUNTS.c.currency).in_(keys))
    ).mappings()
    found = {_ref_of(r): stored_account(r) for r in rows}
    saw_accounts(session, {ref: OpenAccount(s.id, s.account) for ref, s in found.items()})
    return found


def open_accounts(session: Session, refs: Iterable[AccountRef]) -> dict[AccountRef, OpenAccount]:
    """The open accounts among ``refs``: those this process knows, the others read (no lock)."""
    wanted = set(refs)
    found = known_accounts(session, wanted)
    missing = wanted - found.keys()
    if missing:
        found.update(
            {ref: OpenAccount(s.id, s.account) for ref, s in find_accounts(session, missing).items()}
        )
    return found


def stored_account(row: RowMapping) -> StoredAccount:
    """An account row as read."""
    ref = _ref_of(row)
    account = Account(ref, Side(str(row["normal_side"])), bool(row["may_go_negative"]))
    return StoredAccount(int(row["id"]), account, Money(int(row["balance_minor"]), ref.currency))


def lock_accounts(
    session: Session,
    accounts: Mapping[AccountRef, StoredAccount | OpenAccount],
    refs: Iterable[AccountRef],
) -> dict[AccountRef, Money]:
    """Lock ``refs`` (``SELECT ... FOR UPDATE``) in the global order; return their balances.

    A balance includes what this transaction has queued for it and not applied yet."""
    ordered = sorted(set(refs), key=lock_key)
    if not ordered:
        return {}
    ids = [accounts[r].id for r in ordered]
    position = case({account_id: i for i, account_id in enumerate(ids)}, value=ACCOUNTS.c.id)
    rows = session.execute(
        select(
            ACCOUNTS.c.id, ACCOUNTS.c.kind, ACCOUNTS.c.owner, ACCOUNTS.c.currency, ACCOUNTS.c.balance_minor
        )
        .where(ACCOUNTS.c.id.in_(ids))
        .order_by(position)
        .with_for_update()
    ).mappings()
    return {
        _ref_of(r): Money(int(r["balance_minor"]) + pending_delta(session, int(r["id"])), str(r["currency"]))
        for r in rows
    }


def post_entries(
    session: Session,
    *,
    entries: Sequence[JournalEntry],
    escrow_id: str | None,
    now: datetime,
    serialized: Iterable[AccountRef] = (),
    read: Mapping[AccountRef, StoredAccount] | None = None,
) -> list[int]:
    """Post balanced ``entries`` atomically: lock, check, insert, queue the balances; return ids.

    ``serialized``: accounts no other transaction can post to while the caller's locks are
    held (a locked escrow's holding account: it is posted to only under that escrow's lock).
    They are not row-locked unless the entries lower a guarded balance, which must be read.

    ``read``: accounts this transaction read on SQLite after it began writing (``BEGIN
    IMMEDIATE``: no other writer since), not read again there. SQLite renders no row locks,
    so it reads only the guarded balances the domain checks; PostgreSQL locks as above."""
    if not entries:
        return []
    refs = {leg.account for entry in entries for leg in entry.postings}
    opened = open_accounts(session, refs)
    missing = refs - opened.keys()
    if missing:
        raise UnknownAccountError(f"accounts not open: {', '.join(sorted(map(str, missing)))}")
    accounts = {ref: s.account for ref, s in opened.items()}
    guarded = {ref for entry in entries for ref in guarded_accounts(entry=entry, accounts=accounts)}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        held = set(serialized)
        locked = lock_accounts(
            session, opened, {r for r in refs if r.kind not in HOT_KINDS and r not in held} | guarded
        )
    else:
        known = {ref: stored for ref, stored in (read or {}).items() if ref in guarded}
        locked = lock_accounts(session, opened, guarded - known.keys())
        locked |= {
            ref: stored.balance + Money(pending_delta(session, stored.id), ref.currency)
            for ref, stored in known.items()
        }
    # The domain decides: refuses to overdraw any guarded account, entry by entry.
    apply_entries(balances=locked, entries=entries, accounts=accounts)

    entry_ids = []
    deltas: dict[AccountRef, int] = defaultdict(int)
    # Each JournalEntry balances by construction; PostgreSQL checks again at commit (0002).
    for entry in entries:
        head = {
            "ref": entry.ref,
            "kind": entry.kind.value,
            "memo": entry.memo[:500],
            "escrow_id": escrow_id,
            "created_at": now,
        }
        legs = [
            {
                "account_id": opened[leg.account].id,
                "currency": leg.amount.currency,
                "side": leg.side.value,
                "amount_minor": leg.amount.minor,
            }
            for leg in entry.postings
        ]
        entry_ids.append(_insert_entry(session, dialect, head, legs))
        for leg in entry.postings:
            deltas[leg.account] += leg.signed.minor
    # Locked rows are held already and hot ones are locked by their update: all at commit.
    for ref in sorted(deltas, key=lock_key):
        if deltas[ref]:
            add_balance_delta(
                session, table=ACCOUNTS, account_id=opened[ref].id, sort_key=lock_key(ref), delta=deltas[ref]
            )
    return entry_ids


_LEG_COLUMNS: dict[str, TypeEngine[Any]] = {
    "account_id": BigInteger(),
    "currency": String(),
    "side": String(),
    "amount_minor": BigInteger(),
}
_ENTRY_COLUMNS = ("ref", "kind", "memo", "escrow_id", "created_at")
_INSERT_ENTRY = insert(ENTRIES).returning(ENTRIES.c.id)
_INSERT_POSTINGS = insert(POSTINGS)
"""SQLite's two statements, built once; their columns come from each execution's parameters."""


@functools.cache
def _insert_entry_with_legs(legs: int) -> Insert:
    """PostgreSQL's one statement for an entry of ``legs`` legs, built once per leg count.

    Parameters: the entry's columns by name, each leg's as ``<column>_<i>``."""
    new_entry = (
        insert(ENTRIES)
        .values({name: bindparam(name) for name in _ENTRY_COLUMNS})
        .returning(ENTRIES.c.id)
        .cte("new_entry")
    )
    rows = bound_rows("legs", _LEG_COLUMNS, legs, lambda i, name: f"{name}_{i}")
    return (
        insert(POSTINGS)
        .from_select(
            ["entry_id", *_LEG_COLUMNS],
            select(new_entry.c.id, *(rows.c[name] for name in _LEG_COLUMNS))
            .select_from(new_entry)
            .join(rows, true()),
        )
        .returning(POSTINGS.c.entry_id)
    )


def _insert_entry(session: Session, dialect: str, head: dict[str, Any], legs: list[dict[str, Any]]) -> int:
    """Insert one entry and its legs; return its id. PostgreSQL: one statement (the entry's
    insert a CTE the legs' insert selects its id from); SQLite: the entry, then its legs."""
    connection = session.connection()
    if dialect != "postgresql":
        entry_id = int(connection.execute(_INSERT_ENTRY, head).scalar_one())
        connection.execute(_INSERT_POSTINGS, [{"entry_id": entry_id, **leg} for leg in legs])
        return entry_id
    params = head | {f"{name}_{i}": leg[name] for i, leg in enumerate(legs) for name in _LEG_COLUMNS}
    return int(connection.execute(_insert_entry_with_legs(len(legs)), params).scalars().first() or 0)


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A posted entry as read back: its row id, time and the domain entry."""

    id: int
    created_at: datetime
    entry: JournalEntry


def entries_of_escrow(session: Session, escrow_id: str) -> list[StoredEntry]:
    """Every entry recorded for an escrow, oldest first, with its postings."""
    rows = session.execute(
        select(
            ENTRIES.c.id,
            ENTRIES.c.ref,
            ENTRIES.c.kind,
            ENTRIES.c.memo,
            ENTRIES.c.created_at,
            POSTINGS.c.side,
            POSTINGS.c.amount_minor,
            ACCOUNTS.c.kind.label("account_kind"),
            ACCOUNTS.c.owner,
            ACCOUNTS.c.currency,
        )
        .join(POSTINGS, POSTINGS.c.entry_id == ENTRIES.c.id)
        .join(ACCOUNTS, ACCOUNTS.c.id == POSTINGS.c.account_id)
        .where(ENTRIES.c.escrow_id == escrow_id)
        .order_by(ENTRIES.c.id, POSTINGS.c.id)
    ).all()
    grouped: dict[int, list[Posting]] = defaultdict(list)
    heads: dict[int, Any] = {}
    for r in rows:
        heads.setdefault(r.id, r)
        ref = AccountRef(AccountKind(r.account_kind), r.owner, r.currency)
        grouped[r.id].append(Posting(ref, Side(r.side), Money(int(r.amount_minor), r.currency)))
    return [
        StoredEntry(
            entry_id,
            heads[entry_id].created_at,
            JournalEntry(
                kind=EntryKind(heads[entry_id].kind),
                postings=tuple(legs),
                memo=heads[entry_id].memo,
                ref=heads[entry_id].ref,
            ),
        )
        for entry_id, legs in grouped.items()
    ]


def claim_payable_account(session: Session, *, kind: AccountKind) -> AccountRef | None:
    """One account of ``kind`` with money to pay out, locked; others' locked rows skipped."""
    row = (
        session.execute(
            select(ACCOUNTS)
            .where(ACCOUNTS.c.kind == kind.value, ACCOUNTS.c.balance_minor < 0)
            .order_by(ACCOUNTS.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        .mappings()
        .first()
    )
    return None if row is None else _ref_of(row)

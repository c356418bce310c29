"""All SQL of the ledger: opening accounts, posting entries, balances, trial balance.

Posting (``post_entries``) and the lock order
=============================================

Every writer takes its row locks in one global order, so no two transactions can each hold
a lock the other waits for (a deadlock needs a cycle; a single order leaves none):

1. the escrow row (``SELECT ... FOR UPDATE``; payouts have none, callbacks look their
   payment up without a lock first), then its payment or payout row;
2. the seller's assignment rows, by id (only when the change releases money; a refund of
   swept money starts here, with its one assignment row, and has no escrow row);
3. the *ordinary* accounts the entries touch (everything but the hot kinds below) together
   with every account ``guarded_accounts`` names, sorted by ``AccountRef`` (kind, owner,
   currency), in one ``SELECT ... ORDER BY ... FOR UPDATE``; the domain's ``apply_entries``
   then checks the locked balances (overdraft refused with ``InsufficientFundsError``);
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
by ``BEGIN IMMEDIATE`` and ``FOR UPDATE`` is not rendered.

Creating accounts (``ensure_accounts``) reads first and inserts only the missing ones
(``INSERT ... ON CONFLICT DO NOTHING``, sorted), before step 3: an insert that conflicts with
a row another transaction is updating would wait for it, and hot rows are always being updated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import RowMapping, Table, bindparam, case, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

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
from services.escrow.repository.commit_tail import add_balance_delta
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
    missing = wanted - find_accounts(session, wanted).keys()
    values = []
    for ref in sorted(missing):
        account = open_account(kind=ref.kind, owner=ref.owner, currency=ref.currency)
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
    if not values:
        return
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_(ACCOUNTS).values(values)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["kind", "owner", "currency"]))


def find_accounts(session: Session, refs: Iterable[AccountRef]) -> dict[AccountRef, StoredAccount]:
    """The open accounts among ``refs`` (no lock)."""
    wanted = sorted(set(refs))
    if not wanted:
        return {}
    keys = [(r.kind.value, r.owner, r.currency) for r in wanted]
    rows = session.execute(
        select(ACCOUNTS).where(tuple_(ACCOUNTS.c.kind, ACCOUNTS.c.owner, ACCOUNTS.c.currency).in_(keys))
    ).mappings()
    return {_ref_of(r): _stored(r) for r in rows}


def _stored(row: RowMapping) -> StoredAccount:
    ref = _ref_of(row)
    account = Account(ref, Side(str(row["normal_side"])), bool(row["may_go_negative"]))
    return StoredAccount(int(row["id"]), account, Money(int(row["balance_minor"]), ref.currency))


def lock_accounts(
    session: Session, accounts: Mapping[AccountRef, StoredAccount], refs: Iterable[AccountRef]
) -> dict[AccountRef, Money]:
    """Lock ``refs`` (``SELECT ... FOR UPDATE``) in the global order; return their balances."""
    ordered = sorted(set(refs), key=lock_key)
    if not ordered:
        return {}
    ids = [accounts[r].id for r in ordered]
    position = case({account_id: i for i, account_id in enumerate(ids)}, value=ACCOUNTS.c.id)
    rows = session.execute(
        select(ACCOUNTS).where(ACCOUNTS.c.id.in_(ids)).order_by(position).with_for_update()
    ).mappings()
    return {_ref_of(r): _stored(r).balance for r in rows}


def post_entries(
    session: Session, *, entries: Sequence[JournalEntry], escrow_id: str | None, now: datetime
) -> list[int]:
    """Post balanced ``entries`` atomically: lock, check, insert, update balances; return ids."""
    if not entries:
        return []
    refs = {leg.account for entry in entries for leg in entry.postings}
    stored = find_accounts(session, refs)
    missing = refs - stored.keys()
    if missing:
        raise UnknownAccountError(f"accounts not open: {', '.join(sorted(map(str, missing)))}")
    accounts = {ref: s.account for ref, s in stored.items()}
    guarded = {ref for entry in entries for ref in guarded_accounts(entry=entry, accounts=accounts)}
    locked = lock_accounts(session, stored, {r for r in refs if r.kind not in HOT_KINDS} | guarded)
    # The domain decides: refuses to overdraw any guarded account, entry by entry.
    apply_entries(balances=locked, entries=entries, accounts=accounts)

    entry_ids = []
    deltas: dict[AccountRef, int] = defaultdict(int)
    # Each JournalEntry balances by construction; PostgreSQL checks again at commit (0002).
    for entry in entries:
        entry_id = session.execute(
            insert(ENTRIES)
            .values(
                ref=entry.ref,
                kind=entry.kind.value,
                memo=entry.memo[:500],
                escrow_id=escrow_id,
                created_at=now,
            )
            .returning(ENTRIES.c.id)
        ).scalar_one()
        entry_ids.append(int(entry_id))
        session.execute(
            insert(POSTINGS),
            [
                {
                    "entry_id": entry_id,
                    "account_id": stored[leg.account].id,
                    "currency": leg.amount.currency,
                    "side": leg.side.value,
                    "amount_minor": leg.amount.minor,
                }
                for leg in entry.postings
            ],
        )
        for leg in entry.postings:
            deltas[leg.account] += leg.signed.minor
    for ref in sorted(deltas, key=lock_key):
        if ref in locked or not deltas[ref]:
            continue
        add_balance_delta(
            session, table=ACCOUNTS, account_id=stored[ref].id, sort_key=lock_key(ref), delta=deltas[ref]
        )
    changes = [
        {"account_id_": stored[ref].id, "delta_": deltas[ref]}
        for ref in sorted(locked, key=lock_key)
        if deltas.get(ref)
    ]
    if changes:
        session.execute(
            update(ACCOUNTS)
            .where(ACCOUNTS.c.id == bindparam("account_id_"))
            .values(balance_minor=ACCOUNTS.c.balance_minor + bindparam("delta_")),
            changes,
        )
    return entry_ids


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


def all_accounts(session: Session) -> list[StoredAccount]:
    """Every account with its stored balance, in AccountRef order."""
    rows = session.execute(select(ACCOUNTS)).mappings()
    return sorted((_stored(r) for r in rows), key=lambda s: s.account.ref)


def accounts_with_postings(session: Session) -> list[tuple[StoredAccount, int, int]]:
    """Every account, its stored balance and the sums of its debit and credit postings.

    One statement, so one snapshot: under READ COMMITTED an entry committed between two
    statements would make a stored balance and its postings disagree that never did."""
    debit = func.sum(case((POSTINGS.c.side == "debit", POSTINGS.c.amount_minor), else_=0))
    credit = func.sum(case((POSTINGS.c.side == "credit", POSTINGS.c.amount_minor), else_=0))
    sums = (
        select(POSTINGS.c.account_id, debit.label("debit"), credit.label("credit"))
        .group_by(POSTINGS.c.account_id)
        .subquery()
    )
    rows = session.execute(
        select(
            ACCOUNTS,
            func.coalesce(sums.c.debit, 0).label("posted_debit"),
            func.coalesce(sums.c.credit, 0).label("posted_credit"),
        ).outerjoin(sums, sums.c.account_id == ACCOUNTS.c.id)
    ).mappings()
    found = [(_stored(r), int(r["posted_debit"]), int(r["posted_credit"])) for r in rows]
    return sorted(found, key=lambda item: item[0].account.ref)


def orphan_posting_accounts(session: Session) -> list[int]:
    """Account ids that postings name but no account has (the foreign key forbids any)."""
    known = select(ACCOUNTS.c.id).where(ACCOUNTS.c.id == POSTINGS.c.account_id)
    rows = session.execute(
        select(POSTINGS.c.account_id).where(~known.exists()).distinct().order_by(POSTINGS.c.account_id)
    ).all()
    return [int(r[0]) for r in rows]


def unbalanced_entries(session: Session, limit: int = 50) -> list[tuple[str, str, int]]:
    """Entries whose postings do not sum to zero in some currency: (ref, currency, net)."""
    net = func.sum(
        case((POSTINGS.c.side == "debit", POSTINGS.c.amount_minor), else_=-POSTINGS.c.amount_minor)
    )
    rows = session.execute(
        select(ENTRIES.c.ref, POSTINGS.c.currency, net)
        .join(POSTINGS, POSTINGS.c.entry_id == ENTRIES.c.id)
        .group_by(ENTRIES.c.ref, POSTINGS.c.currency)
        .having(net != 0)
        .limit(limit)
    ).all()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def short_entries(session: Session, limit: int = 50) -> list[str]:
    """Entries with fewer than two postings."""
    count = func.count(POSTINGS.c.id)
    rows = session.execute(
        select(ENTRIES.c.ref)
        .outerjoin(POSTINGS, POSTINGS.c.entry_id == ENTRIES.c.id)
        .group_by(ENTRIES.c.ref)
        .having(count < 2)
        .limit(limit)
    ).all()
    return [str(r[0]) for r in rows]


def ledger_counts(session: Session) -> tuple[int, int]:
    """(entries, postings) in the ledger, counted in one statement."""
    entries = select(func.count()).select_from(ENTRIES).scalar_subquery()
    postings = select(func.count()).select_from(POSTINGS).scalar_subquery()
    counted = session.execute(select(entries, postings)).one()
    return int(counted[0]), int(counted[1])


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

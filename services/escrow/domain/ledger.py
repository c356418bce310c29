"""Double-entry ledger of the escrow service: accounts, postings, journal entries, balances.

Design overview (kept true; read this before changing anything below)
=====================================================================

Accounts
    An account is identified by an ``AccountRef``: its ``AccountKind``, its ``owner`` (the
    escrow, seller, buyer or lender id; ``PLATFORM`` for the platform's own accounts) and its
    ISO 4217 ``currency``. An account holds one currency only. Each kind has a category
    (asset, liability, revenue), a normal side and a ``may_go_negative`` flag:

    ======================  =========  ======  ================  ============================
    kind                    category   normal  may go negative   one per
    ======================  =========  ======  ================  ============================
    provider_clearing       asset      debit   yes               provider + currency
    payout_clearing         liability  credit  yes               provider + currency
    escrow_holding          liability  credit  no                escrow
    seller_payable          liability  credit  no                seller + currency
    buyer_refund_payable    liability  credit  no                buyer + currency
    lender_receivable       liability  credit  no                lender + currency
    platform_fee_revenue    revenue    credit  no                currency
    ======================  =========  ======  ================  ============================

    ``provider_clearing`` is the money the payment provider holds for us: buyers' payments
    debit it, settled payouts credit it. ``payout_clearing`` holds payouts we have instructed
    that the provider has not yet confirmed: instructing a payout moves the amount from the
    payee's payable to it (a credit), the provider's confirmation moves it on to
    ``provider_clearing`` (a debit here), a returned payout moves it back to the payable.

    Clearing accounts mirror the provider's books, not ours. The entries that touch them record
    facts the provider has already reported (a payment arrived, a payout left), and callbacks
    arrive in any order, so refusing such a posting would make the ledger lie. They may
    therefore go negative; a negative clearing balance is a reconciliation finding, not a
    reason to reject. Every other account is money the platform owes (or has earned) and must
    never go below zero on its normal side: overdraft protection lives there.

    ``lender_receivable`` is named from the lender's side (what the lender is due to receive);
    in our books it is a liability, credit-normal, like the other payables.

    There is one ``escrow_holding`` account per escrow, never a shared "escrow pool": two
    escrows never contend for the same balance row, and an escrow's holding balance *is* the
    money still held for it.

Postings and journal entries (after django-hordak)
    A ``Posting`` (a leg) names an account, a side (debit or credit) and a strictly positive
    ``Money`` in the account's currency. A ``JournalEntry`` is an immutable tuple of legs plus
    a kind, a memo and a reference. An entry is valid only if, per currency, its debits equal
    its credits; ``build_entry`` (and the dataclass itself) refuses anything else, so an
    unbalanced entry cannot exist in memory. Entries are never edited: a correction is a new
    entry.

Sign convention
    Balances are stored signed, in minor units, as ``Money``: a debit adds, a credit
    subtracts (``balance = debits - credits``). Because every entry balances, the signed
    balances of the whole ledger sum to zero per currency (``trial_balance``). For display and
    for the non-negative rule an account's *normal balance* is the signed balance seen from its
    normal side: ``+balance`` for debit-normal accounts, ``-balance`` for credit-normal ones.
    Example: a funded escrow of 100.00 KES has ``escrow_holding`` at signed -10000 (normal
    balance 10000 on the credit side) and ``provider_clearing`` at signed +10000.

Applying entries
    ``apply_entry`` is pure: it takes balances, an entry and the account definitions and
    returns new balances, or raises ``InsufficientFundsError`` when a non-negative account
    would end below zero on its normal side *because of this entry*. An entry that only moves
    such an account towards its normal side never needs its balance checked; so the
    persistence layer locks (``SELECT ... FOR UPDATE``) only ``guarded_accounts(...)``, and in
    their sorted order, which keeps two transactions from deadlocking on each other.

Errors (``status_code`` is what the API answers)::

    LedgerError
    ├── InvalidPostingError      422  a non-positive leg, or a leg not in its account's currency
    ├── UnbalancedEntryError     422  debits != credits in some currency
    ├── UnknownAccountError      404  a leg names an account that is not open
    └── InsufficientFundsError   409  a non-negative account would go below zero
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from shared.money import Money, check_currency

PLATFORM = "platform"
"""Owner of the platform's own accounts (fee revenue)."""


class Side(StrEnum):
    """Side of a leg, and an account's normal side."""

    DEBIT = "debit"
    CREDIT = "credit"


class AccountCategory(StrEnum):
    """Accounting category of an account kind."""

    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"


class AccountKind(StrEnum):
    """Kinds of accounts the escrow ledger opens."""

    PROVIDER_CLEARING = "provider_clearing"
    PAYOUT_CLEARING = "payout_clearing"
    ESCROW_HOLDING = "escrow_holding"
    SELLER_PAYABLE = "seller_payable"
    BUYER_REFUND_PAYABLE = "buyer_refund_payable"
    LENDER_RECEIVABLE = "lender_receivable"
    PLATFORM_FEE_REVENUE = "platform_fee_revenue"


class EntryKind(StrEnum):
    """What a journal entry records."""

    FUNDING = "funding"
    RELEASE = "release"
    REFUND = "refund"
    PAYOUT = "payout"
    PAYOUT_SETTLED = "payout_settled"
    PAYOUT_RETURNED = "payout_returned"
    SWEEP_REFUND = "sweep_refund"


@dataclass(frozen=True, slots=True)
class KindRules:
    """Category, normal side and overdraft rule shared by every account of one kind."""

    category: AccountCategory
    normal_side: Side
    may_go_negative: bool


ACCOUNT_KIND_RULES: Mapping[AccountKind, KindRules] = {
    AccountKind.PROVIDER_CLEARING: KindRules(AccountCategory.ASSET, Side.DEBIT, True),
    AccountKind.PAYOUT_CLEARING: KindRules(AccountCategory.LIABILITY, Side.CREDIT, True),
    AccountKind.ESCROW_HOLDING: KindRules(AccountCategory.LIABILITY, Side.CREDIT, False),
    AccountKind.SELLER_PAYABLE: KindRules(AccountCategory.LIABILITY, Side.CREDIT, False),
    AccountKind.BUYER_REFUND_PAYABLE: KindRules(AccountCategory.LIABILITY, Side.CREDIT, False),
    AccountKind.LENDER_RECEIVABLE: KindRules(AccountCategory.LIABILITY, Side.CREDIT, False),
    AccountKind.PLATFORM_FEE_REVENUE: KindRules(AccountCategory.REVENUE, Side.CREDIT, False),
}


# --- errors ---------------------------------------------------------------------------------


class LedgerError(Exception):
    """Base of the ledger's errors."""

    status_code: ClassVar[int] = 422


class InvalidPostingError(LedgerError):
    """A leg with a non-positive amount, or in another currency than its account."""


class UnbalancedEntryError(LedgerError):
    """An entry whose debits and credits differ in some currency."""


class UnknownAccountError(LedgerError):
    """A leg names an account that has not been opened."""

    status_code = 404


class InsufficientFundsError(LedgerError):
    """Applying an entry would take a non-negative account below zero on its normal side."""

    status_code = 409

    def __init__(self, account: AccountRef, normal_balance: Money, change: Money) -> None:
        self.account = account
        self.normal_balance = normal_balance
        self.change = change
        super().__init__(
            f"insufficient funds in {account}: normal balance {normal_balance.minor} "
            f"{normal_balance.currency}, entry would change it by {change.minor}"
        )


# --- accounts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class AccountRef:
    """Identity of one account: kind, owner id and currency."""

    kind: AccountKind
    owner: str
    currency: str

    def __post_init__(self) -> None:
        check_currency(self.currency)
        if not self.owner:
            raise ValueError("an account needs an owner id")

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.owner}:{self.currency}"


@dataclass(frozen=True, slots=True)
class Account:
    """An open account: its identity, normal side and whether it may go negative."""

    ref: AccountRef
    normal_side: Side
    may_go_negative: bool

    def normal_balance(self, signed: Money) -> Money:
        """The signed (debit-positive) balance seen from this account's normal side."""
        return signed if self.normal_side is Side.DEBIT else -signed


def open_account(*, kind: AccountKind, owner: str, currency: str) -> Account:
    """An account of ``kind`` with the kind's normal side and overdraft rule."""
    rules = ACCOUNT_KIND_RULES[kind]
    return Account(AccountRef(kind, owner, currency), rules.normal_side, rules.may_go_negative)


def open_accounts(*, refs: Iterable[AccountRef]) -> dict[AccountRef, Account]:
    """Open (with their kinds' rules) every account in ``refs``, keyed by reference."""
    return {ref: open_account(kind=ref.kind, owner=ref.owner, currency=ref.currency) for ref in refs}


# --- postings and entries -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Posting:
    """One leg of a journal entry: a strictly positive amount debited or credited to an account."""

    account: AccountRef
    side: Side
    amount: Money

    def __post_init__(self) -> None:
        if self.amount.minor <= 0:
            raise InvalidPostingError(f"leg on {self.account} must be positive, got {self.amount}")
        if self.amount.currency != self.account.currency:
            raise InvalidPostingError(
                f"leg of {self.amount.currency} on {self.account}, an account in {self.account.currency}"
            )

    @property
    def signed(self) -> Money:
        """The leg's effect on the signed balance: debit +, credit -."""
        return self.amount if self.side is Side.DEBIT else -self.amount


def debit(account: AccountRef, amount: Money) -> Posting:
    """A debit leg."""
    return Posting(account, Side.DEBIT, amount)


def credit(account: AccountRef, amount: Money) -> Posting:
    """A credit leg."""
    return Posting(account, Side.CREDIT, amount)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """An immutable, balanced set of legs recording one money movement."""

    kind: EntryKind
    postings: tuple[Posting, ...]
    memo: str
    ref: str

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedEntryError(f"entry {self.ref!r} needs at least two legs")
        for currency, net in _net_by_currency(self.postings).items():
            if net != 0:
                raise UnbalancedEntryError(
                    f"entry {self.ref!r} does not balance in {currency}: debits - credits = {net}"
                )

    def net_changes(self) -> dict[AccountRef, Money]:
        """Net signed change per account (legs on the same account combined)."""
        changes: dict[AccountRef, Money] = {}
        for leg in self.postings:
            changes[leg.account] = changes.get(leg.account, Money.zero(leg.account.currency)) + leg.signed
        return changes


def _net_by_currency(postings: Iterable[Posting]) -> dict[str, int]:
    nets: dict[str, int] = {}
    for leg in postings:
        nets[leg.amount.currency] = nets.get(leg.amount.currency, 0) + leg.signed.minor
    return nets


def build_entry(*, kind: EntryKind, postings: Sequence[Posting], memo: str, ref: str) -> JournalEntry:
    """A journal entry, refused unless every leg is positive and it balances per currency."""
    if not ref:
        raise InvalidPostingError("an entry needs a reference")
    return JournalEntry(kind=kind, postings=tuple(postings), memo=memo, ref=ref)


# --- balances -------------------------------------------------------------------------------

Balances = Mapping[AccountRef, Money]
"""Signed balance (debit +, credit -) per account; an absent account is at zero."""


def balance_of(*, balances: Balances, account: AccountRef) -> Money:
    """The signed balance of ``account`` (zero when it has none yet)."""
    return balances.get(account, Money.zero(account.currency))


def guarded_accounts(
    *, entry: JournalEntry, accounts: Mapping[AccountRef, Account]
) -> tuple[AccountRef, ...]:
    """Accounts whose balance must be checked (and row-locked) to post ``entry``, in lock order.

    Those are the accounts that may not go negative and whose normal balance the entry
    lowers; the order is ``AccountRef``'s sort order so concurrent posters never deadlock.
    """
    guarded = []
    for ref, change in entry.net_changes().items():
        account = _lookup(accounts, ref)
        if not account.may_go_negative and account.normal_balance(change).minor < 0:
            guarded.append(ref)
    return tuple(sorted(guarded))


def apply_entry(
    *, balances: Balances, entry: JournalEntry, accounts: Mapping[AccountRef, Account]
) -> dict[AccountRef, Money]:
    """New signed balances after ``entry``; refuses to overdraw a non-negative account."""
    changes = entry.net_changes()
    for ref in changes:
        _lookup(accounts, ref)
    result = dict(balances)
    for ref in guarded_accounts(entry=entry, accounts=accounts):
        account = accounts[ref]
        after = account.normal_balance(balance_of(balances=balances, account=ref) + changes[ref])
        if after.minor < 0:
            raise InsufficientFundsError(
                ref,
                account.normal_balance(balance_of(balances=balances, account=ref)),
                account.normal_balance(changes[ref]),
            )
    for ref, change in changes.items():
        result[ref] = balance_of(balances=balances, account=ref) + change
    return result


def apply_entries(
    *,
    balances: Balances,
    entries: Iterable[JournalEntry],
    accounts: Mapping[AccountRef, Account],
) -> dict[AccountRef, Money]:
    """Apply ``entries`` in order with ``apply_entry``."""
    result = dict(balances)
    for entry in entries:
        result = apply_entry(balances=result, entry=entry, accounts=accounts)
    return result


def trial_balance(*, balances: Balances) -> dict[str, Money]:
    """Sum of signed balances per currency; zero in every currency for a sound ledger."""
    sums: dict[str, Money] = {}
    for ref, amount in balances.items():
        sums[ref.currency] = sums.get(ref.currency, Money.zero(ref.currency)) + amount
    return sums


def _lookup(accounts: Mapping[AccountRef, Account], ref: AccountRef) -> Account:
    try:
        return accounts[ref]
    except KeyError:
        raise UnknownAccountError(f"account {ref} is not open") from None

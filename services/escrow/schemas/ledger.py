"""Bodies of the ledger routes: entries, trial balance, verification."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class PostingOut(BaseModel):
    """One leg of an entry."""

    account: str
    kind: str
    owner: str
    currency: str
    side: str
    amount_minor: int


class EntryOut(BaseModel):
    """A journal entry with its legs."""

    id: int
    ref: str
    kind: str
    memo: str
    created_at: datetime
    postings: list[PostingOut]


class EntryList(BaseModel):
    """An escrow's journal entries, oldest first."""

    escrow_id: str
    entries: list[EntryOut]


class CurrencyTotals(BaseModel):
    """One currency of the trial balance: debit balances against credit balances."""

    currency: str
    debits_minor: int
    credits_minor: int


class AccountBalance(BaseModel):
    """One account of the trial balance; its balance sits in one of the two columns."""

    account: str
    kind: str
    owner: str
    currency: str
    debit_minor: int
    credit_minor: int
    may_go_negative: bool


class TrialBalanceOut(BaseModel):
    """Every account's balance; per currency the debit column equals the credit column."""

    currencies: list[CurrencyTotals]
    accounts: list[AccountBalance]
    balanced: bool


class LedgerReport(BaseModel):
    """The result of recomputing every balance from the postings (``ok`` when no problem)."""

    ok: bool
    accounts: int
    entries: int
    postings: int
    first_problem: str | None
    """The first of ``problems`` (balances, then the ledger's sums, then entries), or None."""
    problems: list[str]

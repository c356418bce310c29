"""The ledger as auditors see it: the trial balance and a full verification.

``verify_ledger`` trusts nothing stored: it recomputes every account's balance from its
postings, checks that every entry sums to zero per currency and has at least two legs, that
the whole ledger sums to zero per currency, and that no account that may not go negative is.
Each account's stored balance and its postings are read in one statement (one snapshot), so
a verification running beside live postings never reports a discrepancy that did not exist.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from services.escrow.repository import ledger_reports as ledger_repo
from services.escrow.schemas import AccountBalance, CurrencyTotals, LedgerReport, TrialBalanceOut


def trial_balance(session: Session) -> TrialBalanceOut:
    """Every account's stored balance in its debit or credit column, totalled per currency."""
    accounts = ledger_repo.all_accounts(session)
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    rows = []
    for stored in accounts:
        ref, minor = stored.account.ref, stored.balance.minor
        debit, credit = max(minor, 0), max(-minor, 0)
        debits[ref.currency] += debit
        credits[ref.currency] += credit
        rows.append(
            AccountBalance(
                account=str(ref),
                kind=ref.kind.value,
                owner=ref.owner,
                currency=ref.currency,
                debit_minor=debit,
                credit_minor=credit,
                may_go_negative=stored.account.may_go_negative,
            )
        )
    currencies = [
        CurrencyTotals(currency=c, debits_minor=debits[c], credits_minor=credits[c])
        for c in sorted(debits.keys() | credits.keys())
    ]
    return TrialBalanceOut(
        currencies=currencies,
        accounts=rows,
        balanced=all(c.debits_minor == c.credits_minor for c in currencies),
    )


def verify_ledger(session: Session) -> LedgerReport:
    """Recompute the ledger from its postings and list every discrepancy, the first named apart."""
    problems: list[str] = []
    accounts = ledger_repo.accounts_with_postings(session)
    by_currency: dict[str, int] = defaultdict(int)
    for stored, debit, credit in accounts:
        ref = stored.account.ref
        recomputed = debit - credit
        by_currency[ref.currency] += recomputed
        if recomputed != stored.balance.minor:
            problems.append(f"{ref}: stored balance {stored.balance.minor} but postings sum to {recomputed}")
        if not stored.account.may_go_negative and stored.account.normal_balance(stored.balance).minor < 0:
            problems.append(f"{ref}: may not go negative but its balance is {stored.balance.minor}")
    for currency, total in sorted(by_currency.items()):
        if total != 0:
            problems.append(f"{currency}: the ledger sums to {total}, not zero")
    for entry_ref, currency, net in ledger_repo.unbalanced_entries(session):
        problems.append(f"entry {entry_ref}: debits - credits = {net} {currency}, not zero")
    for entry_ref in ledger_repo.short_entries(session):
        problems.append(f"entry {entry_ref}: fewer than two postings")
    problems.extend(
        f"postings on unknown account id {account_id}"
        for account_id in ledger_repo.orphan_posting_accounts(session)
    )
    entries, postings = ledger_repo.ledger_counts(session)
    return LedgerReport(
        ok=not problems,
        accounts=len(accounts),
        entries=entries,
        postings=postings,
        first_problem=problems[0] if problems else None,
        problems=problems,
    )

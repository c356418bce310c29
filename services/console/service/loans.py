"""Use cases of the loan pages: the list, one loan with its schedule, transactions and arrears,
and the two actions a person takes on it (disburse, post a repayment), through loans' API.

Amounts typed in a form are major units ("1500.50"); they become integer minor units with
``Decimal`` and the currency's exponent (``shared.money``), never a float, and an amount with
more decimals than the currency has is refused rather than rounded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.console.domain.arrears import (
    INSTALLMENT_STATUS_LABELS,
    LOAN_STATUS_LABELS,
    TRANSACTION_KIND_LABELS,
    Arrears,
    arrears_of,
    label,
    person_of_actor,
)
from services.console.domain.catalogue import N_
from services.console.domain.forms import field_errors
from services.console.domain.masking import shown_name
from services.console.domain.paging import PAGE_SIZE
from shared.clients.loans import Allocation, Borrower, Installment, Loan, LoansClient, Product
from shared.money import Money, minor_exponent

_AMOUNT = re.compile(r"^\d+(\.\d+)?$")

Message = tuple[str, Mapping[str, Any]]
"""An untranslated message (marked ``N_``) and its parameters; the page translates it."""


class FormInvalid(Exception):
    """A form's values were refused before anything was sent: messages per field."""

    def __init__(self, errors: Mapping[str, Message]) -> None:
        super().__init__(", ".join(errors))
        self.errors = dict(errors)


@dataclass(frozen=True)
class LoanRow:
    """A loan as a list shows it."""

    id: str
    borrower_id: str
    borrower: str
    product: str
    principal_minor: int
    currency: str
    status: str
    status_label: str
    days_past_due: int
    outstanding_minor: int


@dataclass(frozen=True)
class LoanList:
    """A page of loans and whether another follows."""

    rows: list[LoanRow]
    has_next: bool


@dataclass(frozen=True)
class InstallmentRow:
    """One installment of a loan's schedule with what is paid and still owed."""

    installment: Installment
    status_label: str


@dataclass(frozen=True)
class TransactionRow:
    """One transaction on a loan as its page shows it."""

    sequence: int
    date: dt.date
    kind: str
    kind_label: str
    amount_minor: int
    currency: str
    reference: str | None
    by: str
    allocation: Allocation | None
    reversed: bool
    note: str | None


@dataclass(frozen=True)
class LoanPage:
    """A loan with its borrower, product, schedule, transactions and arrears."""

    loan: Loan
    status_label: str
    borrower: str
    product: str
    approved_by: str
    schedule: list[InstallmentRow]
    transactions: list[TransactionRow]
    arrears: Arrears
    business_date: dt.date
    exponent: int


def product_names(products: Sequence[Product]) -> dict[str, str]:
    """Product id -> name."""
    return {p.id: p.name for p in products}


def loan_rows(
    loans: Sequence[Loan], borrowers: Mapping[str, Borrower], products: Mapping[str, str], role: str
) -> list[LoanRow]:
    """Loans as list rows, the borrower's name masked for ``role`` as it must be."""
    rows = []
    for ln in loans:
        found = borrowers.get(ln.borrower_id)
        rows.append(
            LoanRow(
                id=ln.id,
                borrower_id=ln.borrower_id,
                borrower=shown_name(found.name, role) if found else ln.borrower_id,
                product=products.get(ln.product_id, ln.product_id),
                principal_minor=ln.principal_minor,
                currency=ln.currency,
                status=ln.status,
                status_label=label(LOAN_STATUS_LABELS, ln.status),
                days_past_due=ln.days_past_due,
                outstanding_minor=ln.outstanding.total_minor,
            )
        )
    return rows


def list_loans(
    client: LoansClient, role: str, *, status: str | None, page: int, page_size: int = PAGE_SIZE
) -> LoanList:
    """A page of loans (newest first), with borrowers and products named."""
    found = client.loans(status=status, limit=page_size + 1, offset=(page - 1) * page_size)
    shown = found[:page_size]
    borrowers = {b.id: b for b in client.borrowers(ids=[ln.borrower_id for ln in shown])} if shown else {}
    names = product_names(client.products()) if shown else {}
    return LoanList(rows=loan_rows(shown, borrowers, names, role), has_next=len(found) > page_size)


def loan_page(client: LoansClient, role: str, loan_id: str) -> LoanPage:
    """A loan as of the business date with everything its page shows."""
    loan = client.loan(loan_id)
    schedule = client.loan_schedule(loan_id)
    transactions = client.loan_transactions(loan_id)
    borrower = client.borrower(loan.borrower_id)
    product = client.product(loan.product_id)
    return LoanPage(
        loan=loan,
        status_label=label(LOAN_STATUS_LABELS, loan.status),
        borrower=shown_name(borrower.name, role),
        product=product.name,
        approved_by=person_of_actor(loan.approved_by),
        schedule=[InstallmentRow(row, label(INSTALLMENT_STATUS_LABELS, row.status)) for row in schedule.rows],
        transactions=[
            TransactionRow(
                sequence=t.sequence,
                date=t.date,
                kind=t.kind,
                kind_label=label(TRANSACTION_KIND_LABELS, t.kind),
                amount_minor=t.amount_minor,
                currency=t.currency,
                reference=t.external_id,
                by=person_of_actor(t.created_by),
                allocation=t.allocation,
                reversed=t.reversed_by_id is not None,
                note=t.note,
            )
            for t in transactions
        ],
        arrears=arrears_of(
            days_past_due=loan.days_past_due, bucket=loan.delinquency_bucket, installments=schedule.rows
        ),
        business_date=client.business_date().date,
        exponent=minor_exponent(loan.currency),
    )


def parse_amount(text: str, currency: str) -> int:
    """A major-unit amount typed in a form ("1,500.50") as integer minor units, exactly.

    Raises ``FormInvalid`` (field ``amount``) for anything but a positive plain decimal with at
    most the currency's decimals: no float, no rounding, no exponent, no sign.
    """
    cleaned = text.strip().replace(",", "").replace(" ", "")
    if not cleaned:
        raise FormInvalid({"amount": (N_("Enter the amount received."), {})})
    digits = minor_exponent(currency)
    if not _AMOUNT.match(cleaned):
        example = (
            N_("Enter the amount as a whole number of %(currency)s, such as 1500.")
            if digits == 0
            else N_("Enter the amount as a number in %(currency)s, such as 1500.50.")
        )
        raise FormInvalid({"amount": (example, {"currency": currency})})
    amount = Decimal(cleaned)  # the pattern admits only plain decimals: exact, never a float
    places = -int(amount.as_tuple().exponent)
    if places > digits:
        message = (
            N_("%(currency)s has no decimals; enter a whole amount.")
            if digits == 0
            else N_("%(currency)s has %(digits)s decimals; enter at most that many.")
        )
        raise FormInvalid({"amount": (message, {"currency": currency, "digits": digits})})
    minor = Money.from_major(amount, currency).minor
    if minor <= 0:
        raise FormInvalid({"amount": (N_("The amount must be more than zero."), {})})
    return minor


def parse_date(text: str, field: str) -> dt.date:
    """A date typed in a form (YYYY-MM-DD, what a date input sends)."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise FormInvalid({field: (N_("Enter a date as YYYY-MM-DD."), {})}) from None


REPAYMENT_FIELDS = {"amount_minor": "amount", "date": "date", "external_id": "reference"}
"""Loans' names of a repayment's fields -> the form's."""
DISBURSE_FIELDS = {"date": "disburse_date"}


def form_problem(problem: dict[str, Any], names: Mapping[str, str]) -> dict[str, str]:
    """A loans problem as messages beside the form's fields (loans' names renamed); what names
    no field of the form goes above it (under ``""``)."""
    out: dict[str, str] = {}
    for field, message in field_errors(problem).items():
        name = names.get(field, "")
        out[name] = f"{out[name]}; {message}" if name in out else message
    return out


def post_repayment(
    client: LoansClient, loan_id: str, values: Mapping[str, str], *, idempotency_key: str
) -> str:
    """Post the repayment a form describes (the amount in the loan's currency); the transaction's id.

    Raises ``FormInvalid`` for values refused here, ``UpstreamProblem`` for loans' refusal.
    """
    loan = client.loan(loan_id)
    errors: dict[str, Message] = {}
    amount = on = None
    try:
        amount = parse_amount(values.get("amount", ""), loan.currency)
    except FormInvalid as refused:
        errors.update(refused.errors)
    try:
        on = parse_date(values.get("date", ""), "date")
    except FormInvalid as refused:
        errors.update(refused.errors)
    reference = values.get("reference", "").strip()
    if not reference:
        errors["reference"] = (N_("Enter the payment's reference (its receipt number)."), {})
    if errors or amount is None or on is None:
        raise FormInvalid(errors)
    transaction = client.post_repayment(
        loan.id, amount_minor=amount, on=on, external_id=reference, idempotency_key=idempotency_key
    )
    return transaction.id


def disburse(client: LoansClient, loan_id: str, values: Mapping[str, str], *, idempotency_key: str) -> Loan:
    """Disburse a loan on the form's date; ``FormInvalid`` or loans' ``UpstreamProblem`` when refused."""
    on = parse_date(values.get("disburse_date", ""), "disburse_date")
    return client.disburse_loan(loan_id, on=on, idempotency_key=idempotency_key)

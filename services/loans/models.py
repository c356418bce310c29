"""The loans service's tables: its domain tables and its own copy of the platform tables.

Money is ``BigInteger`` minor units beside a ``String(3)`` currency; rates are decimal
strings (percent). ``loan_installments`` holds the schedule fixed at disbursement (the
``principal/interest/fee/total/balance`` columns never change) plus a projection of the
replayed account (``penalty_charged``, ``paid_*``, ``settled_on``, ``overdue``) that is
rewritten whenever the loan is recomputed. ``loan_transactions`` are immutable facts; the
allocation of each repayment is a projection in ``loan_allocations``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigIntPK, new_metadata
from shared.platform_tables import define_platform_tables


class Base(DeclarativeBase):
    """Declarative base of the loans service, on its own MetaData."""

    metadata = new_metadata()


metadata = Base.metadata
PLATFORM = define_platform_tables(metadata)

_TS = DateTime(timezone=True)


class Product(Base):
    """A loan product: limits, flags and the schedule/arrears terms (canonical JSON)."""

    __tablename__ = "loan_products"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    min_principal_minor: Mapped[int] = mapped_column(BigInteger)
    max_principal_minor: Mapped[int] = mapped_column(BigInteger)
    min_repayments: Mapped[int] = mapped_column(Integer)
    max_repayments: Mapped[int] = mapped_column(Integer)
    min_annual_interest_rate: Mapped[str | None] = mapped_column(String(32))
    max_annual_interest_rate: Mapped[str | None] = mapped_column(String(32))
    terms: Mapped[str] = mapped_column(Text)
    maker_checker: Mapped[bool] = mapped_column(Boolean)
    allow_sale_proceeds: Mapped[bool] = mapped_column(Boolean)
    score_without_marketplace: Mapped[bool] = mapped_column(Boolean)
    """Escrow down while filling the marketplace features: score with them defaulted instead of
    waiting (``pending_score``) for escrow's trade summary."""
    sale_proceeds_share_bps: Mapped[int | None] = mapped_column(Integer)
    """The share of each of the borrower's escrow releases assigned to the lender (1..10000 bps)
    when a loan is disbursed; NULL: loans registers no assignment for the product's loans."""
    created_at: Mapped[datetime] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(128))


class Borrower(Base):
    """A farmer or enterprise; name, national id and phone are encrypted at rest."""

    __tablename__ = "borrowers"
    __table_args__ = (Index("ix_borrowers_marketplace_party_id", "marketplace_party_id", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    name_enc: Mapped[str] = mapped_column(Text)
    national_id_enc: Mapped[str] = mapped_column(Text)
    national_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(String(120))
    marketplace_party_id: Mapped[str | None] = mapped_column(String(128))
    """The borrower's party id in escrow (the marketplace seller it sells as), when linked."""
    created_at: Mapped[datetime] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(128))


class Application(Base):
    """A loan application and the score it was decided on.

    ``submitted_identity`` is who submitted it for maker-checker (``person:<username>`` when
    the console acted for a person, else ``key:<key id>``). The review queue lists by
    status, oldest or newest first: (status, submitted_at, id) serves that page from the
    index whatever the queue's length, and (submitted_at, id) the unfiltered listing.
    """

    __tablename__ = "loan_applications"
    __table_args__ = (
        Index("ix_loan_applications_status_submitted_at", "status", "submitted_at", "id"),
        Index("ix_loan_applications_submitted_at", "submitted_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("loan_products.id"), index=True)
    borrower_id: Mapped[str] = mapped_column(ForeignKey("borrowers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    annual_interest_rate: Mapped[str] = mapped_column(String(32))
    number_of_repayments: Mapped[int] = mapped_column(Integer)
    disbursement_date: Mapped[date] = mapped_column(Date)
    first_repayment_date: Mapped[date | None] = mapped_column(Date)
    features: Mapped[str] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(128))
    submitted_key_id: Mapped[str] = mapped_column(String(36))
    submitted_identity: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[datetime] = mapped_column(_TS)
    score_id: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[str | None] = mapped_column(String(32))
    grade: Mapped[str | None] = mapped_column(String(16))
    pd: Mapped[str | None] = mapped_column(String(32))
    decision_hint: Mapped[str | None] = mapped_column(String(16))
    model_version: Mapped[str | None] = mapped_column(String(64))
    reasons: Mapped[str | None] = mapped_column(Text)
    scored_at: Mapped[datetime | None] = mapped_column(_TS)
    score_attempts: Mapped[int] = mapped_column(Integer)
    next_score_attempt_at: Mapped[datetime | None] = mapped_column(_TS, index=True)
    last_score_error: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(_TS)
    decision_note: Mapped[str | None] = mapped_column(Text)
    adverse_action_reasons: Mapped[str | None] = mapped_column(Text)
    loan_id: Mapped[str | None] = mapped_column(String(36))
    policy_version: Mapped[int | None] = mapped_column(Integer)
    policy_outcome: Mapped[str | None] = mapped_column(String(16))
    policy_rules: Mapped[str | None] = mapped_column(Text)
    feature_sources: Mapped[str | None] = mapped_column(Text)
    """JSON ``{feature: "applicant" | "marketplace" | "default"}``; NULL while the application waits
    for escrow's trade summary (and on applications from before provenance was recorded)."""
    marketplace_as_of: Mapped[datetime | None] = mapped_column(_TS)
    """The ``as_of`` of the trade summary that filled marketplace features (NULL: none did)."""
    challenger_disagreement: Mapped[bool | None] = mapped_column(Boolean)
    """Scoring said a challenger's decision hint differed from the champion's (NULL: not scored)."""
    updated_at: Mapped[datetime] = mapped_column(_TS)


class DecisionPolicy(Base):
    """One version of a product's decision policy (rules as canonical JSON); never changed."""

    __tablename__ = "loan_decision_policies"
    __table_args__ = (UniqueConstraint("product_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("loan_products.id"))
    version: Mapped[int] = mapped_column(Integer)
    rules: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(128))


class Loan(Base):
    """An approved loan, its fixed terms and the stored projection of its account."""

    __tablename__ = "loans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("loan_applications.id"), unique=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("loan_products.id"), index=True)
    borrower_id: Mapped[str] = mapped_column(ForeignKey("borrowers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    annual_interest_rate: Mapped[str] = mapped_column(String(32))
    number_of_repayments: Mapped[int] = mapped_column(Integer)
    expected_disbursement_date: Mapped[date] = mapped_column(Date)
    first_repayment_date: Mapped[date | None] = mapped_column(Date)
    terms: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(128))
    approved_at: Mapped[datetime] = mapped_column(_TS)
    disbursed_on: Mapped[date | None] = mapped_column(Date)
    maturity_date: Mapped[date | None] = mapped_column(Date)
    disbursement_fees_minor: Mapped[int] = mapped_column(BigInteger)
    next_sequence: Mapped[int] = mapped_column(Integer)
    principal_outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    interest_outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    fee_outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    penalty_outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    credit_balance_minor: Mapped[int] = mapped_column(BigInteger)
    interest_accrued_minor: Mapped[int] = mapped_column(BigInteger)
    days_past_due: Mapped[int] = mapped_column(Integer)
    delinquency_bucket: Mapped[str] = mapped_column(String(16))
    state_as_of: Mapped[date | None] = mapped_column(Date)
    last_transaction_on: Mapped[date | None] = mapped_column(Date)
    cob_dirty: Mapped[bool] = mapped_column(Boolean)
    last_cob_date: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    written_off_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(_TS)
    updated_at: Mapped[datetime] = mapped_column(_TS)


class LoanOutcome(Base):
    """An outcome a loan has reported to scoring (``loan.outcome``): one row per loan and outcome,
    so a re-run close of business or a replayed account never reports it twice."""

    __tablename__ = "loan_outcomes"

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    occurred_on: Mapped[date] = mapped_column(Date)
    score_id: Mapped[str | None] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(_TS)


class Installment(Base):
    """One row of a loan's fixed schedule plus its replayed paid/penalty/overdue projection."""

    __tablename__ = "loan_installments"

    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    penalty_charged_minor: Mapped[int] = mapped_column(BigInteger)
    paid_principal_minor: Mapped[int] = mapped_column(BigInteger)
    paid_interest_minor: Mapped[int] = mapped_column(BigInteger)
    paid_fee_minor: Mapped[int] = mapped_column(BigInteger)
    paid_penalty_minor: Mapped[int] = mapped_column(BigInteger)
    settled_on: Mapped[date | None] = mapped_column(Date)
    overdue: Mapped[bool] = mapped_column(Boolean)


class LoanTransaction(Base):
    """An immutable fact on a loan: repayment, penalty, reversal or write-off."""

    __tablename__ = "loan_transactions"
    __table_args__ = (
        UniqueConstraint("loan_id", "sequence", name="uq_loan_transactions_loan_sequence"),
        UniqueConstraint("loan_id", "external_id", name="uq_loan_transactions_loan_external_id"),
        UniqueConstraint("loan_id", "penalty_key", name="uq_loan_transactions_loan_penalty_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    on_date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    external_id: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(16))
    reverses_id: Mapped[str | None] = mapped_column(String(36))
    installment_number: Mapped[int | None] = mapped_column(Integer)
    penalty_key: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(128))


class Allocation(Base):
    """How a repayment is currently allocated (rewritten when a replay changes it)."""

    __tablename__ = "loan_allocations"

    transaction_id: Mapped[str] = mapped_column(ForeignKey("loan_transactions.id"), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    penalty_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    overpayment_minor: Mapped[int] = mapped_column(BigInteger)
    recovery_minor: Mapped[int] = mapped_column(BigInteger)
    by_installment: Mapped[str] = mapped_column(Text)


class BusinessDate(Base):
    """The business date loans run on (one row; absent: the clock's UTC date)."""

    __tablename__ = "business_dates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    business_date: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(_TS)
    updated_by: Mapped[str] = mapped_column(String(128))


class BusinessDateCorrection(Base):
    """A correction of the business date: proposed by one admin, confirmed by another person
    (``*_identity`` as in ``Application.submitted_identity``)."""

    __tablename__ = "business_date_corrections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    from_date: Mapped[date] = mapped_column(Date)
    to_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(128))
    proposed_key_id: Mapped[str] = mapped_column(String(36))
    proposed_identity: Mapped[str] = mapped_column(String(128))
    proposed_at: Mapped[datetime] = mapped_column(_TS)
    confirmed_by: Mapped[str | None] = mapped_column(String(128))
    confirmed_key_id: Mapped[str | None] = mapped_column(String(36))
    confirmed_identity: Mapped[str | None] = mapped_column(String(128))
    confirmed_at: Mapped[datetime | None] = mapped_column(_TS)


class CobRun(Base):
    """One close-of-business run; the unique date makes COB idempotent per date."""

    __tablename__ = "cob_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    business_date: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(_TS)
    finished_at: Mapped[datetime | None] = mapped_column(_TS)
    started_by: Mapped[str] = mapped_column(String(128))
    loans_processed: Mapped[int] = mapped_column(Integer)
    loans_evaluated: Mapped[int] = mapped_column(Integer)
    penalties_charged: Mapped[int] = mapped_column(Integer)
    buckets_changed: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)


class EscrowInstruction(Base):
    """An instruction to escrow about a loan's assignment of proceeds (``register``, ``close``,
    ``refund``), written in the transaction of the change that calls for it and sent by the
    worker (``loans.escrow.instructions``) with its own Idempotency-Key. Per loan, an
    instruction is sent only once every earlier one (lower id) is no longer pending.

    ``next_attempt_at`` is when it is due: a claim moves it one lease ahead, so no other
    worker sends it while one is in flight. ``result`` is escrow's answer (for a register, the
    assignment id).
    """

    __tablename__ = "escrow_instructions"
    __table_args__ = (
        Index("ix_escrow_instructions_status_next_attempt_at", "status", "next_attempt_at", "id"),
        Index("ix_escrow_instructions_loan_id_id", "loan_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(_TS)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS)
    done_at: Mapped[datetime | None] = mapped_column(_TS)

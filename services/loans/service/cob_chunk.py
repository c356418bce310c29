"""One chunk of close of business: lock the chunk's loans, replay those that need it, write
back in bulk (see ``cob`` for the rules)."""

from __future__ import annotations

import functools
import hashlib
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain.arrears import DelinquencyBucket, period_accrual
from services.loans.domain.projection import account_from_rows, project
from services.loans.repository import accounts
from services.loans.repository import cob as repo
from services.loans.repository import outcomes as outcomes_repo
from services.loans.repository.cob import InstallmentSummary
from services.loans.schemas.terms import load_terms
from services.loans.service.loan_outcomes import DPD_THRESHOLDS, arrears_outcomes, report_outcomes
from services.loans.settings import LoansContext
from shared.changes import new_id
from shared.crypto import canonical_json
from shared.webhooks import outbox_row

COB_ACTOR = "system:loans.cob"


@dataclass
class CobSummary:
    """What a COB run did."""

    business_date: date
    status: str
    loans_processed: int = 0
    loans_evaluated: int = 0
    penalties_charged: int = 0
    buckets_changed: int = 0
    penalty_minor_by_currency: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, int] = field(default_factory=dict)
    already_done: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = asdict(self)
        out["business_date"] = self.business_date.isoformat()
        return out


def accrued_interest_minor(summary: InstallmentSummary, *, as_of: date, terms_text: str) -> int:
    """The domain's accrual rule on pre-aggregated rows: interest due plus the running share."""
    current = summary.current
    if current is None:
        return summary.due_interest_minor
    return summary.due_interest_minor + period_accrual(
        interest_minor=current.interest_minor,
        from_date=current.from_date,
        due_date=current.due_date,
        as_of=as_of,
        terms=load_terms(terms_text),
    )


@functools.cache
def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    return operator.attrgetter(*names)


def _unchanged(row: Any, columns: dict[str, Any]) -> bool:
    """Whether a stored row already holds ``columns`` (one C-level getter, not a getattr each)."""
    return bool(_getter(tuple(columns))(row) == tuple(columns.values()))


@dataclass
class ChunkWork:
    """The state a COB run carries from chunk to chunk (bucket counts, digest)."""

    ctx: LoansContext
    as_of: date
    summary: CobSummary
    buckets: Counter[str] = field(default_factory=Counter)
    digest: Any = field(default_factory=hashlib.sha256)

    def close_chunk(self, session: Session, loans: list[Any]) -> None:
        """Close one chunk of loans (read and locked, in id order): read their schedules,
        replay where needed, write back in bulk."""
        as_of, now = self.as_of, self.ctx.clock.now()
        ids = [ln.id for ln in loans]
        schedules = repo.installment_summaries(session, ids, as_of=as_of)
        replay = [
            ln
            for ln in loans
            if ln.cob_dirty
            or schedules[ln.id].overdue
            or (ln.last_transaction_on is not None and ln.last_transaction_on > as_of)
        ]
        replay_ids = {ln.id for ln in replay}
        out = ChunkOutput()
        current = DelinquencyBucket.CURRENT.value
        for ln in loans:
            if ln.id in replay_ids:
                continue
            out.quiet_ids.append(ln.id)
            out.quiet_accrued.append(
                accrued_interest_minor(schedules[ln.id], as_of=as_of, terms_text=ln.terms)
            )
            self._bucket_move(out, ln, current, 0, now)
        installments = accounts.installments_of_many(session, [ln.id for ln in replay])
        transactions = accounts.transactions_of_many(session, [ln.id for ln in replay])
        for ln in replay:
            self._replay(out, ln, installments[ln.id], transactions.get(ln.id, []), now)
        first, last = ids[0], ids[-1]
        repo.insert_transactions(session, out.new_transactions)
        repo.replace_allocations(session, out.reallocated, out.allocations)
        repo.update_installments(session, out.installments, first=first, last=last)
        quiet_columns = {
            "days_past_due": 0,
            "delinquency_bucket": current,
            "state_as_of": as_of,
            "last_cob_date": as_of,
        }
        repo.update_quiet_loans(
            session, out.quiet_ids, out.quiet_accrued, first=first, last=last, same=quiet_columns
        )
        repo.update_loans(session, out.replayed, first=first, last=last)
        # the outbox rows of ``outbox_row``, as ``emit_events`` writes them, in one statement
        repo.insert_rows(session, self.ctx.tables.outbox, out.events)
        self._report_arrears(session, {ln.id: ln for ln in replay}, out.replayed)
        self.summary.loans_processed += len(loans)
        self.summary.loans_evaluated += len(replay)

    def _report_arrears(
        self, session: Session, loans: dict[str, Any], replayed: list[dict[str, Any]]
    ) -> None:
        """Report the 30/60/90 days past due each replayed loan reached for the first time."""
        late = [row for row in replayed if row["days_past_due"] >= DPD_THRESHOLDS[0][0]]
        if not late:
            return
        ids = [row["b_id"] for row in late]
        reported, scores = (
            outcomes_repo.reported_outcomes(session, ids),
            outcomes_repo.score_ids(session, ids),
        )
        for row in late:
            loan_id = row["b_id"]
            report_outcomes(
                session,
                self.ctx,
                loan_id=loan_id,
                disbursed_on=loans[loan_id].disbursed_on,
                outcomes=arrears_outcomes(row["days_past_due"], self.as_of),
                actor=COB_ACTOR,
                reported=reported[loan_id],
                score_id=scores.get(loan_id),
            )

    def _bucket_move(self, out: ChunkOutput, ln: Any, bucket: str, dpd: int, now: datetime) -> None:
        self.buckets[bucket] += 1
        if bucket != ln.delinquency_bucket:
            self.summary.buckets_changed += 1
            out.event(
                topic="loan.delinquency_changed",
                loan_id=ln.id,
                now=now,
                data={
                    "loan_id": ln.id,
                    "from_bucket": ln.delinquency_bucket,
                    "bucket": bucket,
                    "days_past_due": dpd,
                    "business_date": self.as_of.isoformat(),
                },
            )

    def _replay(
        self, out: ChunkOutput, ln: Any, inst_rows: list[Any], txn_rows: list[Any], now: datetime
    ) -> None:
        as_of, terms = self.as_of, load_terms(ln.terms)
        account = account_from_rows(ln, terms=terms, installments=inst_rows, transactions=txn_rows)
        assessments = account.penalties_due(as_of=as_of) if terms.overdue_penalty is not None else ()
        next_sequence = ln.next_sequence
        ids_by_sequence = {t.sequence: t.id for t in txn_rows}
        if assessments:
            charges = [a.to_charge(sequence=next_sequence + i) for i, a in enumerate(assessments)]
            account = account.with_transactions(*charges)
            for charge in charges:
                txn_id = new_id()
                ids_by_sequence[charge.sequence] = txn_id
                out.new_transactions.append(
                    {
                        "id": txn_id,
                        "loan_id": ln.id,
                        "sequence": charge.sequence,
                        "kind": "penalty",
                        "on_date": charge.on,
                        "amount_minor": charge.amount_minor,
                        "currency": ln.currency,
                        "external_id": None,
                        "request_hash": None,
                        "source": None,
                        "reverses_id": None,
                        "installment_number": charge.installment_number,
                        "penalty_key": f"{charge.installment_number}@{charge.on.isoformat()}",
                        "note": None,
                        "created_at": now,
                        "created_by": COB_ACTOR,
                    }
                )
                self.digest.update(
                    canonical_json(
                        [ln.id, charge.installment_number, charge.on.isoformat(), charge.amount_minor]
                    ).encode()
                )
                out.event(
                    topic="loan.penalty_charged",
                    loan_id=ln.id,
                    now=now,
                    data={
                        "loan_id": ln.id,
                        "transaction_id": txn_id,
                        "installment_number": charge.installment_number,
                        "date": charge.on.isoformat(),
                        "amount_minor": charge.amount_minor,
                        "currency": ln.currency,
                    },
                )
            next_sequence += len(charges)
            self.summary.penalties_charged += len(charges)
            by_currency = self.summary.penalty_minor_by_currency
            by_currency[ln.currency] = by_currency.get(ln.currency, 0) + sum(c.amount_minor for c in charges)
        projection = project(account, as_of=as_of)
        stored = {row.number: row for row in inst_rows}
        for item in projection.installments:
            columns = accounts.installment_columns(item)
            if not _unchanged(stored[item.number], columns):
                out.installments.append({"b_loan_id": ln.id, "b_number": item.number, **columns})
        if assessments:
            out.reallocated.append(ln.id)
            for sequence, allocation in projection.allocations.items():
                out.allocations.append(
                    {
                        "transaction_id": ids_by_sequence[sequence],
                        "loan_id": ln.id,
                        **accounts.allocation_columns(allocation),
                    }
                )
        dirty = ln.last_transaction_on is not None and ln.last_transaction_on > as_of
        columns = accounts.loan_columns(projection)
        if dirty:  # balances include later transactions: not a pure as-of snapshot
            columns["state_as_of"] = None
        out.replayed.append(
            {
                "b_id": ln.id,
                **columns,
                "status": projection.status.value,
                "next_sequence": next_sequence,
                "cob_dirty": dirty,
                "last_cob_date": as_of,
                "updated_at": now,
            }
        )
        self._bucket_move(out, ln, projection.bucket.value, projection.days_past_due, now)


@dataclass
class ChunkOutput:
    """What one chunk writes back."""

    quiet_ids: list[str] = field(default_factory=list)
    quiet_accrued: list[int] = field(default_factory=list)
    replayed: list[dict[str, Any]] = field(default_factory=list)
    installments: list[dict[str, Any]] = field(default_factory=list)
    new_transactions: list[dict[str, Any]] = field(default_factory=list)
    reallocated: list[str] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def event(self, *, topic: str, loan_id: str, now: datetime, data: dict[str, Any]) -> None:
        """Collect an outbox event; the chunk writes them with one multi-row insert."""
        self.events.append(outbox_row(topic=topic, subject=f"loan:{loan_id}", data=data, now=now))

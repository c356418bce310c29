"""Rows and domain objects as the API shows them: the escrow service's response models.

Pure functions (no session): the use cases load what a view needs and present it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.escrow.domain.lifecycle import allowed_actions
from services.escrow.domain.model import Escrow
from services.escrow.domain.postings import EscrowTotals
from services.escrow.models import (
    AssignmentRefundRow,
    AssignmentRow,
    EscrowRow,
    LotRow,
    PaymentRow,
    PayoutRow,
    SweepRow,
)
from services.escrow.repository.escrows import TimelineEntry
from services.escrow.repository.ledger import StoredEntry
from services.escrow.schemas import (
    AssignmentOut,
    AssignmentRefundOut,
    AssignmentSweepOut,
    AssignmentSweeps,
    EntryOut,
    EscrowOut,
    EscrowSummary,
    FeeOut,
    LotOut,
    PaymentOut,
    PayoutOut,
    PostingOut,
    TimelineItem,
)
from shared.clock import as_utc


def payment_out(row: PaymentRow) -> PaymentOut:
    """A payment as the API shows it."""
    return PaymentOut(
        id=row.id,
        escrow_id=row.escrow_id,
        provider=row.provider,
        provider_ref=row.provider_ref,
        currency=row.currency,
        amount_minor=row.amount_minor,
        received_minor=row.received_minor,
        status=row.status,
        detail=row.detail,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def payout_out(row: PayoutRow) -> PayoutOut:
    """A payout as the API shows it."""
    return PayoutOut(
        id=row.id,
        provider=row.provider,
        provider_ref=row.provider_ref,
        payee_kind=row.payee_kind,
        payee_id=row.payee_id,
        currency=row.currency,
        amount_minor=row.amount_minor,
        status=row.status,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def assignment_out(row: AssignmentRow) -> AssignmentOut:
    """An assignment as the API shows it."""
    return AssignmentOut(
        id=row.id,
        seller_id=row.seller_id,
        lender_id=row.lender_id,
        currency=row.currency,
        share_bps=row.share_bps,
        cap_minor=row.cap_minor,
        swept_minor=row.swept_minor,
        remaining_minor=row.cap_minor - row.swept_minor,
        refunded_minor=row.refunded_minor,
        loan_ref=row.loan_ref,
        status=row.status,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def refund_out(row: AssignmentRefundRow) -> AssignmentRefundOut:
    """A refund of swept money as the API shows it."""
    return AssignmentRefundOut(
        id=row.id,
        assignment_id=row.assignment_id,
        reference=row.reference,
        reason=row.reason,
        currency=row.currency,
        amount_minor=row.amount_minor,
        entry_ref=row.entry_ref,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
    )


def assignment_sweeps_out(
    row: AssignmentRow, sweeps: Sequence[SweepRow], refunds: Sequence[AssignmentRefundRow]
) -> AssignmentSweeps:
    """An assignment with its sweeps and refunds, oldest first."""
    return AssignmentSweeps(
        assignment=assignment_out(row),
        sweeps=[
            AssignmentSweepOut(
                id=sweep.id,
                escrow_id=sweep.escrow_id,
                lot_ref=sweep.lot_ref,
                entry_ref=sweep.entry_ref,
                event_id=sweep.event_id,
                amount_minor=sweep.amount_minor,
                created_at=as_utc(sweep.created_at),
            )
            for sweep in sweeps
        ],
        refunds=[refund_out(refund) for refund in refunds],
        swept_minor=row.swept_minor,
        refunded_minor=row.refunded_minor,
        net_minor=row.swept_minor - row.refunded_minor,
    )


def escrow_summary(row: EscrowRow) -> EscrowSummary:
    """An escrow in a list."""
    return EscrowSummary(
        id=row.id,
        marketplace=row.owner,
        order_ref=row.order_ref,
        buyer_id=row.buyer_id,
        seller_id=row.seller_id,
        status=row.status,
        currency=row.currency,
        total_minor=row.total_minor,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        closed_at=None if row.closed_at is None else as_utc(row.closed_at),
    )


def entry_out(stored: StoredEntry) -> EntryOut:
    """A journal entry with its legs."""
    return EntryOut(
        id=stored.id,
        ref=stored.entry.ref,
        kind=stored.entry.kind.value,
        memo=stored.entry.memo,
        created_at=as_utc(stored.created_at),
        postings=[
            PostingOut(
                account=str(leg.account),
                kind=leg.account.kind.value,
                owner=leg.account.owner,
                currency=leg.account.currency,
                side=leg.side.value,
                amount_minor=leg.amount.minor,
            )
            for leg in stored.entry.postings
        ],
    )


def escrow_out(
    row: EscrowRow,
    lots: Sequence[LotRow],
    *,
    escrow: Escrow,
    totals: EscrowTotals,
    payments: Sequence[PaymentRow],
    timeline: Sequence[TimelineEntry],
    now: datetime,
) -> EscrowOut:
    """The full view of an escrow at ``now``: state, money from the ledger, actions, timeline."""
    lot_views = []
    for lot_row, lot in zip(lots, escrow.lots, strict=True):
        lot_views.append(
            LotOut(
                lot_ref=lot.lot_id,
                description=lot_row.description,
                amount_minor=lot.amount.minor,
                status=lot.status.value,
                released_minor=lot.released.minor,
                refunded_minor=lot.refunded.minor,
                delivery_deadline=lot.delivery_deadline,
                carrier=lot.carrier,
                tracking=lot.tracking,
                shipped_at=lot.shipped_at,
                delivered_at=lot.delivered_at,
                inspection_ends_at=escrow.inspection_ends_at(lot),
                closed_at=lot.closed_at,
                rejection_reason=lot.rejection_reason,
                dispute_reason=lot.dispute_reason,
                allowed_actions=[a.value for a in allowed_actions(escrow=escrow, now=now, lot_id=lot.lot_id)],
            )
        )
    return EscrowOut(
        id=row.id,
        marketplace=row.owner,
        order_ref=row.order_ref,
        buyer_id=row.buyer_id,
        seller_id=row.seller_id,
        currency=row.currency,
        total_minor=row.total_minor,
        fee=FeeOut(bps=row.fee_bps, min_minor=row.fee_min_minor),
        inspection_period_hours=row.inspection_seconds // 3600,
        funding_deadline=escrow.funding_deadline,
        delivery_deadline=as_utc(row.delivery_deadline),
        provider=row.provider,
        status=row.status,
        funded_minor=totals.funded.minor,
        released_minor=totals.released.minor,
        refunded_minor=totals.refunded.minor,
        fees_minor=totals.fees.minor,
        held_minor=totals.held.minor,
        allowed_actions=[a.value for a in allowed_actions(escrow=escrow, now=now)],
        lots=lot_views,
        payments=[payment_out(p) for p in payments],
        timeline=[
            TimelineItem(
                at=as_utc(item.created_at),
                event=item.event,
                lot_ref=item.lot_ref,
                actor=item.actor,
                data=item.data,
            )
            for item in timeline
        ],
        created_at=escrow.created_at,
        updated_at=escrow.updated_at,
        closed_at=escrow.closed_at,
    )

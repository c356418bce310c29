"""The escrow service's periodic jobs (run by ``agrifin worker``).

Each job claims one escrow (or payout, or payable account) at a time with
``SELECT ... FOR UPDATE SKIP LOCKED`` in its own transaction, so several worker replicas
share the work without ever processing the same row twice; time is ``ctx.clock``.

* ``escrow.expire_unfunded``   unfunded escrows past their funding deadline -> expired
* ``escrow.auto_release``      delivered lots whose inspection is over, undisputed -> released
* ``escrow.sandbox.confirm``   sandbox payments and payouts pending long enough -> confirmed
                               through the signed callback path (when the sandbox is enabled)
* ``escrow.payouts``           every seller's whole payable balance -> a payout (``auto_payout``)
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.escrow.domain.ledger import AccountKind, AccountRef
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository.ledger import claim_payable_account
from services.escrow.service import escrows, payouts, sandbox
from services.escrow.settings import EscrowContext
from shared.worker import Job, claim_each

WORKER = "worker:escrow"


def expire_unfunded(ctx: EscrowContext) -> int:
    """Expire every escrow still unfunded at its funding deadline; return how many."""
    return claim_each(
        ctx.db,
        limit=ctx.settings.job_batch_size,
        claim=lambda session: escrow_repo.claim_expirable(session, now=ctx.clock.now()),
        work=lambda session, escrow_id: escrows.expire(session, ctx, escrow_id=escrow_id, actor=WORKER),
    )


def auto_release(ctx: EscrowContext) -> int:
    """Release every delivered lot whose inspection ended without a dispute; return how many lots."""
    return claim_each(
        ctx.db,
        limit=ctx.settings.job_batch_size,
        claim=lambda session: escrow_repo.claim_inspection_over(session, now=ctx.clock.now()),
        work=lambda session, escrow_id: escrows.auto_release(session, ctx, escrow_id=escrow_id, actor=WORKER),
    )


def pay_sellers(ctx: EscrowContext) -> int:
    """Pay every seller's whole payable balance out (only with ``auto_payout``); return how many."""
    if not ctx.settings.auto_payout:
        return 0

    def pay(session: Session, account: AccountRef) -> None:
        payouts.create_payout(
            session,
            ctx,
            actor=WORKER,
            payee_kind="seller",
            payee_id=account.owner,
            currency=account.currency,
            amount_minor=None,
        )

    return claim_each(
        ctx.db,
        limit=ctx.settings.job_batch_size,
        claim=lambda session: claim_payable_account(session, kind=AccountKind.SELLER_PAYABLE),
        work=pay,
    )


def periodic_jobs(ctx: EscrowContext) -> list[Job]:
    """The escrow jobs for the worker: (name, interval in seconds, callable)."""
    return [
        ("escrow.expire_unfunded", 30.0, lambda: expire_unfunded(ctx)),
        ("escrow.auto_release", 30.0, lambda: auto_release(ctx)),
        ("escrow.sandbox.confirm", 2.0, lambda: sandbox.confirm_due(ctx)),
        ("escrow.payouts", 300.0, lambda: pay_sellers(ctx)),
    ]

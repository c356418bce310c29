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

from collections.abc import Callable

from services.escrow.domain.ledger import AccountKind
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository.ledger import claim_payable_account
from services.escrow.service import escrows, payouts, sandbox
from services.escrow.settings import escrow_settings
from shared.platform import ServiceContext

WORKER = "worker:escrow"


def expire_unfunded(ctx: ServiceContext) -> int:
    """Expire every escrow still unfunded at its funding deadline; return how many."""
    done = 0
    for _ in range(escrow_settings(ctx).job_batch_size):
        with ctx.db.unit_of_work() as session:
            escrow_id = escrow_repo.claim_expirable(session, now=ctx.clock.now())
            if escrow_id is None:
                break
            escrows.expire(session, ctx, escrow_id=escrow_id, actor=WORKER)
            done += 1
    return done


def auto_release(ctx: ServiceContext) -> int:
    """Release every delivered lot whose inspection ended without a dispute; return how many."""
    done = 0
    for _ in range(escrow_settings(ctx).job_batch_size):
        with ctx.db.unit_of_work() as session:
            escrow_id = escrow_repo.claim_inspection_over(session, now=ctx.clock.now())
            if escrow_id is None:
                break
            done += escrows.auto_release(session, ctx, escrow_id=escrow_id, actor=WORKER)
    return done


def pay_sellers(ctx: ServiceContext) -> int:
    """Pay every seller's whole payable balance out (only with ``auto_payout``); return how many."""
    if not escrow_settings(ctx).auto_payout:
        return 0
    done = 0
    for _ in range(escrow_settings(ctx).job_batch_size):
        with ctx.db.unit_of_work() as session:
            account = claim_payable_account(session, kind=AccountKind.SELLER_PAYABLE)
            if account is None:
                break
            payouts.create_payout(session, ctx, actor=WORKER, payee_kind="seller", payee_id=account.owner,
                                  currency=account.currency, amount_minor=None)
            done += 1
    return done


def periodic_jobs(ctx: ServiceContext) -> list[tuple[str, float, Callable[[], object]]]:
    """The escrow jobs for the worker: (name, interval in seconds, callable)."""
    return [
        ("escrow.expire_unfunded", 30.0, lambda: expire_unfunded(ctx)),
        ("escrow.auto_release", 30.0, lambda: auto_release(ctx)),
        ("escrow.sandbox.confirm", 2.0, lambda: sandbox.confirm_due(ctx)),
        ("escrow.payouts", 300.0, lambda: pay_sellers(ctx)),
    ]

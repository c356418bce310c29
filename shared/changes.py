"""Recording a change: the audit entry and the outbox event every use case writes with it.

``record_change`` joins the caller's transaction, so the audit entry and the event exist if
and only if the change they describe commits. The audit entry is appended at commit
(``shared.audit`` queues it on ``shared.commit_tail``): its chain's head is a lock the
transactions writing that chain share, so it is taken as the transaction's last statement
and held only for the commit. ``new_id`` makes the record ids.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.audit import append_audit
from shared.db import new_id
from shared.platform import ServiceContext
from shared.webhooks import emit_event

__all__ = ["new_id", "record_change"]


def record_change(
    session: Session,
    ctx: ServiceContext,
    *,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any],
    event: bool = True,
    owner: str | None = None,
    audit_payload: dict[str, Any] | None = None,
) -> None:
    """One outbox event with topic ``action`` (unless ``event`` is False) and one audit entry.

    The audit entry records ``audit_payload`` when given (an event may carry less than the
    auditor needs, e.g. the ledger legs), else ``payload``.
    """
    now = ctx.clock.now()
    if event:
        emit_event(session, ctx.tables, topic=action, subject=subject, data=payload, now=now, owner=owner)
    recorded = payload if audit_payload is None else audit_payload
    append_audit(  # queued on the commit tail by append_audit itself
        session,
        ctx.tables,
        ctx.keyring,
        actor=actor,
        action=action,
        subject=subject,
        payload=recorded,
        now=now,
        chains=ctx.settings.audit_chains,
    )

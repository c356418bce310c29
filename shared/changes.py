"""Recording a change: the audit entry and the outbox event every use case writes with it.

``record_change`` joins the caller's transaction, so the audit entry and the event exist if
and only if the change they describe commits. ``new_id`` makes the record ids.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from shared.audit import append_audit
from shared.platform import ServiceContext
from shared.webhooks import emit_event


def new_id() -> str:
    """A fresh record id (a random UUID)."""
    return str(uuid.uuid4())


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
) -> None:
    """One audit entry and (unless ``event`` is False) one outbox event with topic ``action``."""
    now = ctx.clock.now()
    append_audit(session, ctx.tables, ctx.keyring, actor=actor, action=action, subject=subject,
                 payload=payload, now=now)
    if event:
        emit_event(session, ctx.tables, topic=action, subject=subject, data=payload, now=now, owner=owner)

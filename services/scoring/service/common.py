"""What every scoring use case needs: typed settings, the store, audit + outbox, JSON, ids."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.settings import ScoringSettings
from services.scoring.store import ModelStore
from shared.audit import append_audit
from shared.errors import ValidationProblem
from shared.platform import ServiceContext
from shared.webhooks import emit_event

SEGMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def scoring_settings(ctx: ServiceContext) -> ScoringSettings:
    """The context's settings as ScoringSettings."""
    settings = ctx.settings
    if not isinstance(settings, ScoringSettings):
        raise TypeError("the scoring service needs ScoringSettings")
    return settings


def build_store(ctx: ServiceContext) -> ModelStore:
    """A model store on the context's ``model_store_dir``."""
    settings = scoring_settings(ctx)
    return ModelStore(settings.resolved_model_store_dir, cache_size=settings.model_cache_size)


def check_segment_name(segment: str, field: str = "segment") -> str:
    """Refuse segment names that are not short lower-case identifiers (they name directories)."""
    if not SEGMENT_NAME.match(segment):
        raise ValidationProblem([(field, "must match ^[a-z][a-z0-9_]{1,39}$")])
    return segment


def new_id() -> str:
    """A fresh record id."""
    return str(uuid.uuid4())


def dumps_exact(value: Any) -> str:
    """JSON whose floats round-trip bit for bit (``repr`` precision), keys in given order."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def record_change(
    session: Session, ctx: ServiceContext, *, actor: str, action: str, subject: str,
    payload: dict[str, Any], event: bool = True,
) -> None:
    """One audit entry and (unless ``event`` is False) one outbox event, topic = action."""
    now = ctx.clock.now()
    append_audit(session, ctx.tables, ctx.keyring, actor=actor, action=action, subject=subject,
                 payload=payload, now=now)
    if event:
        emit_event(session, ctx.tables, topic=action, subject=subject, data=payload, now=now)

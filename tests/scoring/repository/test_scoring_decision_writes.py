"""A decision, its shadow scores and its event go in as Core inserts (one statement on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.scoring.definition import SERVICE
from services.scoring.models import Decision, ShadowScore
from services.scoring.repository import decisions as repo
from services.scoring.settings import ScoringContext
from shared.clock import as_utc
from shared.db import new_id
from shared.webhooks import outbox_row
from tests.factories.scoring import ModelVersionFactory

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("shadows", [0, 1, 3])
def test_the_postgresql_statement_is_cacheable_for_every_shadow_count(shadows: int) -> None:
    """A statement without a cache key (a multi-row VALUES) is compiled again on every score."""
    statement = repo._combined_insert(SERVICE.tables.outbox, shadows)
    assert statement._generate_cache_key() is not None
    assert repo._combined_insert(SERVICE.tables.outbox, shadows) is statement


def _decision(version: str) -> Decision:
    return Decision(
        id=new_id(), segment="farmer", subject_id="farmer-1", model_version=version,
        model_sha256="a" * 64, features='{"x":1}', features_sha256="b" * 64, monitoring_group="g",
        score=581.25, pd=0.0375, grade="B", decision_hint="approve", outcome="{}", reasons="[]",
        receipt="{}", receipt_payload_sha256="c" * 64, feature_sources=None, marketplace_as_of=NOW,
        challenger_disagreement=True, created_at=NOW, created_by="loan_officer:k1",
    )  # fmt: skip


def test_every_stored_field_is_written(ctx: ScoringContext) -> None:
    with ctx.db.unit_of_work() as session:
        versions = [ModelVersionFactory.build(segment="farmer", sequence=n) for n in (1, 2, 3)]
        session.add_all(versions)
        session.flush()
        decision = _decision(versions[0].version)
        shadows = [
            ShadowScore(
                decision_id=decision.id,
                challenger_version=v.version,
                score=500.0 + n,
                pd=0.2,
                grade="D",
                decision_hint="decline",
                created_at=NOW,
            )
            for n, v in enumerate(versions[1:])
        ]
        event = outbox_row(topic="score.created", subject=f"score:{decision.id}", data={"a": 1}, now=NOW)
        row = {column.key: getattr(decision, column.key) for column in Decision.__table__.columns}
        repo.add_decision(session, row, shadows, outbox=ctx.tables.outbox, event=event)
    with ctx.db.unit_of_work(read_only=True) as session:
        stored = session.get(Decision, decision.id)
        assert stored is not None
        for column in Decision.__table__.columns:
            got, want = getattr(stored, column.key), getattr(decision, column.key)
            if isinstance(want, datetime):
                got = as_utc(got)
            assert got == want, column.key
        rows = session.execute(
            select(ShadowScore.challenger_version, ShadowScore.score).order_by(ShadowScore.score)
        ).all()
        assert [tuple(r) for r in rows] == [(versions[1].version, 500.0), (versions[2].version, 501.0)]
        outbox = ctx.tables.outbox
        stored_event = session.execute(select(outbox).where(outbox.c.id == event["id"])).one()
        assert stored_event.payload == event["payload"] and stored_event.subject == event["subject"]

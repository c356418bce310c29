"""Scoring's revisions: 0006 backfills the champion history from what the registry knew;
0009 adds the model-artifact table and nothing else; 0011 the training-upload table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, func, insert, inspect, select

from services.scoring.definition import SERVICE
from services.scoring.models import ModelArtifact, ModelVersion, Promotion
from shared.migrate import alembic_config, upgrade

DAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _version(
    segment: str, n: int, status: str, promoted: datetime | None, by: str | None
) -> dict[str, object]:
    return {
        "version": f"{segment}-v{n}",
        "segment": segment,
        "sequence": n,
        "status": status,
        "artifact_sha256": f"{n:064x}",
        "spec": "{}",
        "parameters": "{}",
        "library_versions": "{}",
        "data_fingerprint": "0" * 64,
        "data_source": "before 0006",
        "metrics": "{}",
        "created_at": DAY,
        "created_by": "setup",
        "promoted_at": promoted,
        "promoted_by": by,
    }


def test_every_promoted_version_gets_its_promotion(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scoring.db'}"
    upgrade(SERVICE, url, "0005")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(ModelVersion.__table__),
            [
                _version("farmer", 1, "retired", DAY, "admin:k1"),
                _version("farmer", 2, "challenger", None, None),
                _version("farmer", 3, "champion", DAY + timedelta(days=2), "person:alice:admin:via:k2"),
                _version("enterprise", 1, "champion", DAY + timedelta(days=1), "admin:k1"),
            ],
        )
    upgrade(SERVICE, url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Promotion.segment, Promotion.version, Promotion.previous_version, Promotion.promoted_by
            ).order_by(Promotion.segment, Promotion.promoted_at)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("enterprise", "enterprise-v1", None, "admin:k1"),
        ("farmer", "farmer-v1", None, "admin:k1"),
        ("farmer", "farmer-v3", "farmer-v1", "person:alice:admin:via:k2"),
    ]


def test_revision_0009_adds_the_artifact_table_and_keeps_the_registry(tmp_path: Path) -> None:
    """0009 only adds ``scoring_model_artifacts`` (rows come from the store, not the migration),
    and its downgrade removes just that table."""
    url = f"sqlite:///{tmp_path / 'scoring.db'}"
    upgrade(SERVICE, url, "0008")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(ModelVersion.__table__), [_version("farmer", 1, "champion", DAY, "admin:k1")])
    upgrade(SERVICE, url)
    assert "scoring_model_artifacts" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ModelArtifact.__table__)).scalar_one() == 0
    command.downgrade(alembic_config(SERVICE, url), "0008")
    assert "scoring_model_artifacts" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(select(ModelVersion.version)).scalars().all() == ["farmer-v1"]
    engine.dispose()


def test_revision_0011_adds_the_training_upload_table_only(tmp_path: Path) -> None:
    """0011 adds ``scoring_training_uploads`` (empty) and its downgrade removes just that table."""
    url = f"sqlite:///{tmp_path / 'scoring.db'}"
    upgrade(SERVICE, url, "0010")
    engine = create_engine(url)
    before = set(inspect(engine).get_table_names())
    upgrade(SERVICE, url, "0011")
    assert set(inspect(engine).get_table_names()) - before == {"scoring_training_uploads"}
    columns = {c["name"] for c in inspect(engine).get_columns("scoring_training_uploads")}
    assert {"filename", "format", "sha256", "size_bytes", "rows", "columns", "content"} <= columns
    command.downgrade(alembic_config(SERVICE, url), "0010")
    assert set(inspect(engine).get_table_names()) == before
    engine.dispose()

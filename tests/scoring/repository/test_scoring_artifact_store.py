"""Model artifacts every replica finds: the database row, the local cache, the loaded models.

A "replica" here is a second context on the same database with its own, empty model
directory and its own store (nothing loaded): what another process or machine has.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import factory.random
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from services.scoring.app import create_app
from services.scoring.definition import SERVICE
from services.scoring.domain.model import TrainedModel
from services.scoring.models import ModelArtifact, ModelVersion
from services.scoring.repository import artifact_rows
from services.scoring.repository.artifacts import (
    METADATA_FILE,
    MODEL_FILE,
    ModelArtifactError,
    ModelStore,
    artifact_files,
    build_store,
)
from services.scoring.service.artifacts import NO_LOCAL_COPY, UPLOADED, upload_missing_artifacts
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.clock import as_utc
from shared.crypto import sha256_hex
from shared.platform import ServiceContext
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import post_score
from tests.support import auth, count_rows, issue_key

Replica = Callable[[], ScoringContext]
ARTIFACTS = ModelArtifact.__table__
MODELS = ModelVersion.__table__


@pytest.fixture
def replica(ctx: ScoringContext, tmp_path: Path) -> Iterator[Replica]:
    """Contexts on the same database, each with its own empty model directory."""
    made: list[ScoringContext] = []

    def make() -> ScoringContext:
        settings = ctx.settings.model_copy(
            update={"model_store_dir": tmp_path / f"replica-{len(made)}" / "models"}
        )
        other = ServiceContext.build(SERVICE, settings, clock=ctx.clock, keyring=ctx.keyring)
        made.append(other)
        return other

    yield make
    for other in made:
        other.db.dispose()


def stored_artifact(ctx: ScoringContext, version: str) -> ModelArtifact | None:
    with ctx.db.unit_of_work(read_only=True) as session:
        return session.scalars(select(ModelArtifact).where(ModelArtifact.version == version)).first()


def registered_sha(ctx: ScoringContext, version: str) -> str:
    with ctx.db.unit_of_work(read_only=True) as session:
        row = session.get(ModelVersion, version)
        assert row is not None
        return row.artifact_sha256


def test_registering_stores_the_artifact_bytes_in_the_database(
    ctx: ScoringContext, store: ModelStore, champions: dict[str, str], trained_models: dict[str, TrainedModel]
) -> None:
    for segment, version in champions.items():
        row = stored_artifact(ctx, version)
        assert row is not None
        model = trained_models[segment]
        assert row.model_file == model.model_text.encode("utf-8")
        assert row.metadata_file == model.metadata_json().encode("utf-8")
        assert row.model_sha256 == sha256_hex(row.model_file) == registered_sha(ctx, version)
        assert row.metadata_sha256 == sha256_hex(row.metadata_file)
        directory = store.directory(segment, version)  # the local cache holds the same bytes
        assert (directory / MODEL_FILE).read_bytes() == row.model_file
        assert (directory / METADATA_FILE).read_bytes() == row.metadata_file


def test_a_rolled_back_registration_leaves_no_artifact_row(
    ctx: ScoringContext, store: ModelStore, trained_models: dict[str, TrainedModel]
) -> None:
    def register_then_fail() -> None:
        with ctx.db.unit_of_work() as session:
            register_model(
                session, ctx, store, model=trained_models["farmer"], actor="test:setup", data_source="x"
            )
            raise RuntimeError("the registration's transaction fails after the insert")

    with pytest.raises(RuntimeError):
        register_then_fail()
    assert count_rows(ctx, ARTIFACTS) == 0
    assert count_rows(ctx, MODELS) == 0


def test_a_replica_that_never_trained_the_model_scores_with_it(
    ctx: ScoringContext, champions: dict[str, str], replica: Replica, client_for: Callable[..., TestClient]
) -> None:
    other = replica()
    directory = build_store(other).directory("farmer", champions["farmer"])
    assert not directory.exists()
    officer = auth(issue_key(ctx, Role.LOAN_OFFICER))
    factory.random.reseed_random("replica-scores")
    body = ScoreRequestFactory(segment="farmer")
    here = post_score(client_for(create_app(ctx)), officer, body)
    there = post_score(client_for(create_app(other)), officer, body)
    assert there["model_version"] == here["model_version"] == champions["farmer"]
    assert (there["score"], there["pd"], there["reasons"]) == (here["score"], here["pd"], here["reasons"])
    assert (there["base_points"], there["contributions"]) == (here["base_points"], here["contributions"])
    # the database's copy is now cached in the replica's directory, verified
    assert sha256_hex((directory / MODEL_FILE).read_bytes()) == registered_sha(ctx, champions["farmer"])


def test_a_local_copy_that_does_not_match_is_replaced_from_the_database(
    ctx: ScoringContext, store: ModelStore, champions: dict[str, str]
) -> None:
    version = champions["farmer"]
    sha = registered_sha(ctx, version)
    model_file = store.directory("farmer", version) / MODEL_FILE
    model_file.write_bytes(model_file.read_bytes() + b"\n")
    model = build_store(ctx).load("farmer", version, sha)  # a fresh store: nothing loaded yet
    assert model.artifact_sha256 == sha
    assert sha256_hex(model_file.read_bytes()) == sha


def test_a_database_copy_that_does_not_match_is_refused(
    ctx: ScoringContext, store: ModelStore, champions: dict[str, str]
) -> None:
    version = champions["farmer"]
    sha = registered_sha(ctx, version)
    shutil.rmtree(store.root)
    with ctx.db.unit_of_work() as session:
        session.execute(
            update(ModelArtifact).where(ModelArtifact.version == version).values(model_file=b"tree=0\n")
        )
    with pytest.raises(ModelArtifactError, match="does not match its registered SHA-256"):
        build_store(ctx).load("farmer", version, sha)
    assert not store.directory("farmer", version).exists()  # nothing bad was cached


def test_an_artifact_in_neither_place_is_a_model_artifact_error(
    ctx: ScoringContext, store: ModelStore, champions: dict[str, str]
) -> None:
    version = champions["farmer"]
    shutil.rmtree(store.root)
    with ctx.db.unit_of_work() as session:
        session.execute(delete(ModelArtifact))
    with pytest.raises(ModelArtifactError, match="missing from the model store and the database"):
        build_store(ctx).load("farmer", version, registered_sha(ctx, version))


def test_versions_registered_before_the_table_are_uploaded_from_verified_local_copies(
    ctx: ScoringContext, store: ModelStore, champions: dict[str, str], replica: Replica
) -> None:
    farmer, enterprise = champions["farmer"], champions["enterprise"]
    with ctx.db.unit_of_work() as session:  # as if registered before migration 0009
        session.execute(delete(ModelArtifact))
    shutil.rmtree(store.directory("enterprise", enterprise))  # no local copy of this one
    assert upload_missing_artifacts(ctx, build_store(ctx)) == {
        farmer: UPLOADED,
        enterprise: NO_LOCAL_COPY,
    }
    row = stored_artifact(ctx, farmer)
    assert row is not None and row.model_sha256 == registered_sha(ctx, farmer)
    assert stored_artifact(ctx, enterprise) is None
    assert upload_missing_artifacts(ctx, build_store(ctx)) == {enterprise: NO_LOCAL_COPY}  # idempotent
    other = replica()
    model = build_store(other).load("farmer", farmer, registered_sha(ctx, farmer))
    assert model.artifact_sha256 == registered_sha(ctx, farmer)


def test_every_serving_process_uploads_missing_artifacts_at_start(
    ctx: ScoringContext, champions: dict[str, str]
) -> None:
    with ctx.db.unit_of_work() as session:
        session.execute(delete(ModelArtifact))
    create_app(ctx)
    assert count_rows(ctx, ARTIFACTS) == len(champions)


def test_an_upload_racing_another_process_leaves_the_first_row(
    ctx: ScoringContext, champions: dict[str, str], trained_models: dict[str, TrainedModel]
) -> None:
    version = champions["farmer"]
    before = stored_artifact(ctx, version)
    assert before is not None
    late = artifact_files(trained_models["farmer"]).row(version, ctx.clock.now() + timedelta(hours=1))
    with ctx.db.unit_of_work() as session:  # the other process inserted first: nothing happens
        artifact_rows.insert_missing(session, [late])
    after = stored_artifact(ctx, version)
    assert after is not None and as_utc(after.created_at) == as_utc(before.created_at)


def test_a_local_copy_with_broken_metadata_is_replaced_from_the_database(
    ctx: ScoringContext, store: ModelStore, champions: dict[str, str]
) -> None:
    version = champions["enterprise"]
    metadata_file = store.directory("enterprise", version) / METADATA_FILE
    metadata_file.write_text("{not json", encoding="utf-8")
    model = build_store(ctx).load("enterprise", version, registered_sha(ctx, version))
    assert model.artifact_sha256 == registered_sha(ctx, version)
    row = stored_artifact(ctx, version)
    assert row is not None and metadata_file.read_bytes() == row.metadata_file

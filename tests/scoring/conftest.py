"""Scoring test fixtures: small models trained once per session; a fresh service per test.

Domain fixtures (``farmer_spec``, ``farmer_frame``, ``farmer_model``, ``enterprise_model``,
``model``): the built-in specs and models trained once per session on 8,000 synthetic rows.

Service fixtures (``ctx``, ``store``, ``champions``, ``app``, ``client``, ``headers``): each
test gets a fresh, migrated database (``make_ctx("scoring")``) whose ``var_dir`` is its
``tmp_path``; the session's smaller ``trained_models`` are registered there as champions
(their artifacts written into ``<tmp_path>/models``), so tests never train unless they mean to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.scoring.app import create_app
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import SegmentSpec
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.repository.artifacts import ModelStore, build_store
from services.scoring.repository.specs import load_segment_spec
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.platform import ServiceContext
from tests.support import auth, issue_key

OWNERS = {Role.MARKETPLACE: "shop-1", Role.SERVICE: "loans"}
"""Owners of the keys that need one: a marketplace, and loans' credential (service:loans)."""
TRAIN_ROWS = 3000
TRAIN_SEED = 7
DOMAIN_TRAIN_ROWS = 8000
DOMAIN_DATA_SEED = 11
DOMAIN_MODEL_SEED = 5


# ---------------------------------------------------------------- domain: specs and models


@pytest.fixture(scope="session")
def farmer_spec() -> SegmentSpec:
    return load_segment_spec("farmer")


@pytest.fixture(scope="session")
def enterprise_spec() -> SegmentSpec:
    return load_segment_spec("enterprise")


@pytest.fixture(scope="session")
def farmer_frame() -> pd.DataFrame:
    return generate("farmer", DOMAIN_TRAIN_ROWS, DOMAIN_DATA_SEED)


@pytest.fixture(scope="session")
def farmer_model(farmer_spec: SegmentSpec, farmer_frame: pd.DataFrame) -> TrainedModel:
    return train_model(farmer_spec, farmer_frame, seed=DOMAIN_MODEL_SEED, cv_folds=3)


@pytest.fixture(scope="session")
def enterprise_model(enterprise_spec: SegmentSpec) -> TrainedModel:
    frame = generate("enterprise", DOMAIN_TRAIN_ROWS, DOMAIN_DATA_SEED)
    return train_model(enterprise_spec, frame, seed=DOMAIN_MODEL_SEED)


@pytest.fixture(scope="session", params=["farmer", "enterprise"])
def model(
    request: pytest.FixtureRequest, farmer_model: TrainedModel, enterprise_model: TrainedModel
) -> TrainedModel:
    return farmer_model if request.param == "farmer" else enterprise_model


# ---------------------------------------------------------------- service: database, app, client


@pytest.fixture(scope="session")
def trained_models() -> dict[str, TrainedModel]:
    """A small farmer and enterprise model (trained once per session)."""
    return {
        segment: train_model(
            load_segment_spec(segment), generate(segment, TRAIN_ROWS, TRAIN_SEED), seed=TRAIN_SEED
        )
        for segment in ("farmer", "enterprise")
    }


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ScoringContext:
    """The scoring service's context on a fresh database (its settings are ScoringSettings)."""
    return cast(ScoringContext, make_ctx("scoring"))


@pytest.fixture
def store(ctx: ScoringContext) -> ModelStore:
    """A model store on the test's var dir."""
    return build_store(ctx)


@pytest.fixture
def champions(
    ctx: ScoringContext, store: ModelStore, trained_models: dict[str, TrainedModel]
) -> dict[str, str]:
    """Register the session's models as champions; segment → version."""
    versions = {}
    with ctx.db.unit_of_work() as session:
        for segment, model in trained_models.items():
            row = register_model(
                session,
                ctx,
                store,
                model=model,
                actor="test:setup",
                data_source=f"synthetic:{segment}:rows={TRAIN_ROWS}:seed={TRAIN_SEED}",
            )
            versions[segment] = row.version
    return versions


@pytest.fixture
def app(ctx: ScoringContext, champions: dict[str, str]) -> FastAPI:
    """The scoring app with champions for both built-in segments."""
    return create_app(ctx)


@pytest.fixture
def client(app: FastAPI, client_for: Callable[..., TestClient]) -> TestClient:
    """A client of the scoring app (server errors become 500 responses)."""
    return client_for(app, raise_server_exceptions=False)


@pytest.fixture
def headers(ctx: ServiceContext) -> Callable[[Role], dict[str, str]]:
    """Auth headers for a role (one key per role per test)."""
    keys: dict[Role, str] = {}

    def make(role: Role) -> dict[str, str]:
        if role not in keys:
            keys[role] = issue_key(ctx, role, OWNERS.get(role))
        return auth(keys[role])

    return make

"""Shared fixtures for the scoring domain unit tests: small models trained once per session."""

from __future__ import annotations

import pandas as pd
import pytest

from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import SegmentSpec
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.repository.specs import load_segment_spec

TRAIN_ROWS = 8000
DATA_SEED = 11
MODEL_SEED = 5


@pytest.fixture(scope="session")
def farmer_spec() -> SegmentSpec:
    return load_segment_spec("farmer")


@pytest.fixture(scope="session")
def enterprise_spec() -> SegmentSpec:
    return load_segment_spec("enterprise")


@pytest.fixture(scope="session")
def farmer_frame() -> pd.DataFrame:
    return generate("farmer", TRAIN_ROWS, DATA_SEED)


@pytest.fixture(scope="session")
def farmer_model(farmer_spec: SegmentSpec, farmer_frame: pd.DataFrame) -> TrainedModel:
    return train_model(farmer_spec, farmer_frame, seed=MODEL_SEED, cv_folds=3)


@pytest.fixture(scope="session")
def enterprise_model(enterprise_spec: SegmentSpec) -> TrainedModel:
    frame = generate("enterprise", TRAIN_ROWS, DATA_SEED)
    return train_model(enterprise_spec, frame, seed=MODEL_SEED)


@pytest.fixture(scope="session", params=["farmer", "enterprise"])
def model(
    request: pytest.FixtureRequest, farmer_model: TrainedModel, enterprise_model: TrainedModel
) -> TrainedModel:
    return farmer_model if request.param == "farmer" else enterprise_model

"""lightgbm.dask training on a LocalCluster of two workers: a model the registry takes like any other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from distributed import Client

from services.scoring.domain.explain import explain_applicant, explain_batch
from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel, load_model
from services.scoring.domain.scale import ScoreScale
from services.scoring.domain.spec import FeatureValidationError, SegmentSpec
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training_data import TrainingDataError
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.dask_batch import dask_client
from services.scoring.service.dask_training import run_train_dask, train_on_dask
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from tests.factories.scoring import frame_to_requests

ROWS = 4000


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with dask_client("local", n_workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four Parquet parts and one CSV part of synthetic farmers."""
    directory = tmp_path_factory.mktemp("farmers")
    frame = generate("farmer", ROWS, 21)
    for k in range(5):
        piece = frame.iloc[k * 800 : (k + 1) * 800]
        if k == 3:
            piece.to_csv(directory / f"part-{k}.csv", index=False)
        else:
            piece.to_parquet(directory / f"part-{k}.parquet")
    return directory


@pytest.fixture(scope="module")
def dask_model(client: Client, source: Path, farmer_spec: SegmentSpec) -> TrainedModel:
    return train_on_dask(
        farmer_spec, source, seed=3, client=client, num_boost_round=80, early_stopping_rounds=20
    )


def test_the_model_has_the_metadata_of_an_in_process_model(
    dask_model: TrainedModel, farmer_model: TrainedModel
) -> None:
    meta = dask_model.metadata
    assert set(meta) == set(farmer_model.metadata)
    assert set(meta["data"]) - {"distributed"} == set(farmer_model.metadata["data"])
    assert meta["data"]["rows"] == ROWS and meta["data"]["distributed"]["workers"] == 2
    assert sum(meta["data"]["split"].values()) == ROWS
    assert 1 <= meta["best_iteration"] <= 80 and meta["metrics"]["test"]["auc"] > 0.65
    assert set(meta["reference_values"]) == {f.name for f in dask_model.spec.features if f.type == "numeric"}
    # the artifact round-trips through the model format, hash checked
    assert (
        load_model(dask_model.model_text, dask_model.metadata_json()).artifact_sha256
        == meta["artifact_sha256"]
    )


def test_its_explanations_are_exact(dask_model: TrainedModel) -> None:
    x = frame_to_matrix(dask_model.spec, generate("farmer", 500, 22))
    batch = explain_batch(dask_model, x)
    assert np.allclose(batch.base_points + batch.points.sum(axis=1), batch.score, atol=1e-9)
    assert np.allclose(batch.score, dask_model.scores(x), atol=1e-9)
    ints, bases, points = batch.integers
    assert (bases + points.sum(axis=1) == ints).all()


def test_it_registers_and_scores_like_a_model_trained_in_process(
    dask_model: TrainedModel, ctx: ScoringContext, store: ModelStore
) -> None:
    with ctx.db.unit_of_work() as session:
        row = register_model(
            session, ctx, store, model=dask_model, actor="test:dask", data_source="dask:farmers", promote=True
        )
        version, sha = row.version, row.artifact_sha256
    loaded = store.load("farmer", version, sha)
    body = frame_to_requests(generate("farmer", 3, 23), "farmer")[0]
    single = explain_applicant(loaded, body["features"])
    assert single.score == pytest.approx(explain_applicant(dask_model, body["features"]).score, abs=0)
    assert single.base_points + sum(single.points.values()) == pytest.approx(single.score, abs=1e-9)


def test_the_train_command_s_entry_point_uses_the_cluster_at_an_address(
    client: Client, source: Path, farmer_spec: SegmentSpec
) -> None:
    stages: list[str] = []
    model = run_train_dask(
        farmer_spec,
        str(source / "part-*"),
        target=farmer_spec.target,
        seed=4,
        address=client.scheduler.address,
        scale=ScoreScale(),
        num_boost_round=20,
        progress=lambda stage, info: stages.append(stage),
    )
    assert model.metadata["data"]["rows"] == ROWS and model.metadata["data"]["distributed"]["parts"] == 5
    assert stages[0] == "checking" and stages[-1] == "done" and "training" in stages


def test_bad_parts_are_named_and_nothing_is_trained(
    client: Client, farmer_spec: SegmentSpec, tmp_path: Path
) -> None:
    frame = generate("farmer", 600, 24).astype({"main_crop": object})
    frame.loc[350, "main_crop"] = "durian"
    frame.iloc[:300].to_parquet(tmp_path / "a.parquet")
    frame.iloc[300:].to_parquet(tmp_path / "b.parquet")
    with pytest.raises(FeatureValidationError) as caught:
        train_on_dask(farmer_spec, tmp_path, client=client, num_boost_round=5)
    [(field, message)] = caught.value.errors
    assert field == "features.main_crop" and "b.parquet" in message and "rows 51" in message

    labels = generate("farmer", 600, 25)
    labels[farmer_spec.target] = labels[farmer_spec.target].astype(object)
    labels.loc[10, farmer_spec.target] = "maybe"
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(TrainingDataError, match="must be 0/1") as bad_target:
        train_on_dask(farmer_spec, tmp_path / "labels.csv", client=client, num_boost_round=5)
    assert bad_target.value.column == farmer_spec.target and bad_target.value.rows == [11]

    with pytest.raises(TrainingDataError, match="at least 200 rows"):
        train_on_dask(farmer_spec, _small(tmp_path), client=client, num_boost_round=5)


def _small(tmp_path: Path) -> Path:
    path = tmp_path / "small.parquet"
    generate("farmer", 150, 26).to_parquet(path)
    return path

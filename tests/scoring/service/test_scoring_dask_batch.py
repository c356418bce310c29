"""Batch scoring on a LocalCluster of two processes: the in-process output, bit for bit, in input order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client

from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import FeatureValidationError
from services.scoring.domain.synthetic import generate
from services.scoring.service.batch import score_file
from services.scoring.service.dask_batch import ModelPayload, dask_client, score_on_dask, worker_model
from services.scoring.settings import ScoringSettings

ROWS = 2400


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with dask_client("local", n_workers=2) as client:
        yield client


def _partitioned(directory: Path, frame: pd.DataFrame) -> Path:
    """Parquet files with several row groups and a CSV file, in sorted-name order."""
    directory.mkdir()
    frame.iloc[:900].to_parquet(directory / "p-00.parquet", row_group_size=150)
    frame.iloc[900:1500].to_csv(directory / "p-01.csv", index=False)
    frame.iloc[1500:].to_parquet(directory / "p-02.parquet", row_group_size=200)
    return directory


def _bits(table: pa.Table) -> dict[str, object]:
    """Each column as bytes of its values (floats by their bits) or as Python values."""
    out: dict[str, object] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_floating(column.type):
            out[name] = column.to_numpy().view(np.uint64).tobytes()
        else:
            out[name] = column.to_pylist()
    return out


def test_dask_output_equals_the_in_process_output_bit_for_bit(
    client: Client, farmer_model: TrainedModel, tmp_path: Path
) -> None:
    frame = generate("farmer", ROWS, 77)
    frame.insert(0, "id", [f"a-{i}" for i in range(ROWS)])
    source = _partitioned(tmp_path / "in", frame)
    settings = ScoringSettings()
    local = score_file(
        farmer_model, source, tmp_path / "local.parquet", settings, chunk_size=500, progress=False
    )
    remote = score_on_dask(
        farmer_model,
        source,
        tmp_path / "dask.parquet",
        settings,
        client=client,
        chunk_size=500,
        progress=False,
        part_rows=300,
        window=2,
    )
    assert remote.rows == local.rows == ROWS and remote.parts > local.parts
    expected, got = pq.read_table(local.output), pq.read_table(remote.output)
    assert got.schema == expected.schema
    assert _bits(got) == _bits(expected)
    assert got.column("id").to_pylist() == frame["id"].tolist()


def test_each_worker_loads_the_shipped_model_once_and_checks_its_hash(
    client: Client, farmer_model: TrainedModel
) -> None:
    payload = ModelPayload.of(farmer_model)

    def loads(p: ModelPayload) -> tuple[int, str]:
        first, second = worker_model(p), worker_model(p)
        return int(first is second), first.artifact_sha256

    results = client.run(loads, payload)
    assert set(results.values()) == {(1, farmer_model.artifact_sha256)} and len(results) == 2
    tampered = ModelPayload(payload.model_text + "\n", payload.metadata_json, "x" * 64)
    with pytest.raises(ValueError, match="does not match"):
        worker_model(tampered)


def test_a_worker_validation_error_reaches_the_client_with_its_fields(
    client: Client, farmer_model: TrainedModel, tmp_path: Path
) -> None:
    frame = generate("farmer", 600, 78).astype({"main_crop": object})
    frame.loc[450, "main_crop"] = "durian"
    source = tmp_path / "in"
    source.mkdir()
    frame.to_parquet(source / "one.parquet", row_group_size=100)
    with pytest.raises(FeatureValidationError) as caught:
        score_on_dask(
            farmer_model, source, tmp_path / "out.parquet", ScoringSettings(), client=client,
            chunk_size=100, progress=False, part_rows=100,
        )  # fmt: skip
    [(field, message)] = caught.value.errors
    assert field == "features.main_crop" and "one.parquet, data rows 401-500" in message

"""The model-artifact files: what is written is what is read back."""

from __future__ import annotations

from pathlib import Path

from services.scoring.domain.model import TrainedModel
from services.scoring.repository.artifacts import read_artifacts, write_artifacts


def test_files_round_trip(farmer_model: TrainedModel, tmp_path: Path) -> None:
    directory = write_artifacts(farmer_model, tmp_path / "model")
    loaded = read_artifacts(directory)
    assert loaded.artifact_sha256 == farmer_model.artifact_sha256
    assert loaded.metadata == farmer_model.metadata

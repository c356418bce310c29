"""In-process batch scoring: every output column, computed column-wise, equals the row-by-row rules."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from services.scoring.domain.explain import MAX_REASONS, explain_applicant, explain_batch
from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.scale import HINTS, HintRule
from services.scoring.domain.spec import FeatureValidationError
from services.scoring.domain.synthetic import generate
from services.scoring.service.batch import BATCH_ENGINE, output_columns, score_chunk, score_file
from services.scoring.settings import ScoringSettings
from tests.factories.scoring import frame_to_requests

ROWS = 1500


@pytest.fixture(scope="module")
def model_with_references(farmer_model: TrainedModel) -> TrainedModel:
    """The farmer model with training medians recorded, so reason texts follow the value."""
    frame = generate("farmer", 2000, 3)
    medians = {
        f.name: float(frame[f.name].median()) for f in farmer_model.spec.features if f.type == "numeric"
    }
    return dataclasses.replace(farmer_model, metadata={**farmer_model.metadata, "reference_values": medians})


@pytest.fixture(scope="module")
def applicants() -> pd.DataFrame:
    frame = generate("farmer", ROWS, 41)
    frame.insert(0, "id", [f"f-{i}" for i in range(ROWS)])
    return frame


def test_a_chunk_has_every_column_and_each_equals_the_row_by_row_rules(
    model_with_references: TrainedModel, applicants: pd.DataFrame
) -> None:
    model, settings = model_with_references, ScoringSettings()
    table = score_chunk(model, applicants, HintRule.of(settings), id_column="id", threads=1)
    out = table.to_pandas()
    names = model.spec.feature_names
    assert table.column_names == output_columns(model, "id")
    batch = explain_batch(model, frame_to_matrix(model.spec, applicants), num_threads=1, engine=BATCH_ENGINE)
    assert out["id"].tolist() == applicants["id"].tolist()
    assert np.array_equal(out["score"].to_numpy(), batch.score)
    assert np.array_equal(out[[f"points_{n}" for n in names]].to_numpy(), batch.points)
    assert out["decision_hint"].tolist() == [settings.decision_hint(s) for s in batch.score.tolist()]
    ints = out[[f"int_points_{n}" for n in names]].to_numpy()
    assert (out["integer_base_points"].to_numpy() + ints.sum(axis=1) == out["integer_score"].to_numpy()).all()
    code_columns = [table.column(f"reason_{k + 1}").to_pylist() for k in range(MAX_REASONS)]
    text_columns = [table.column(f"reason_{k + 1}_text").to_pylist() for k in range(MAX_REASONS)]
    directed = 0
    for i in range(ROWS):
        reasons = batch.reasons(i)
        codes = [column[i] for column in code_columns]
        texts = [column[i] for column in text_columns]
        assert codes == [r.code for r in reasons] + [None] * (MAX_REASONS - len(reasons))
        assert texts == [r.text for r in reasons] + [None] * (MAX_REASONS - len(reasons))
        directed += sum(r.text != model.spec.features[names.index(r.feature)].reason_spec.en for r in reasons)
        row = batch.row(i).integers
        assert out.at[i, "integer_score"] == row.score and out.at[i, "integer_base_points"] == row.base
        assert tuple(ints[i]) == row.points
    assert directed > 0  # the low/high texts were exercised, not only the plain ones


def test_batch_rows_equal_the_single_applicant_path(
    model_with_references: TrainedModel, applicants: pd.DataFrame
) -> None:
    head = applicants.head(20)
    table = score_chunk(model_with_references, head, HintRule.of(ScoringSettings()), id_column="id")
    rows = table.to_pylist()
    for row, body in zip(rows, frame_to_requests(head, "farmer"), strict=True):
        single = explain_applicant(model_with_references, body["features"])
        assert row["score"] == pytest.approx(single.score, abs=1e-9)
        assert row["integer_score"] == single.integers.score
        texts = [row[f"reason_{k + 1}_text"] for k in range(MAX_REASONS)]
        assert texts == [r.text for r in single.reasons] + [None] * (MAX_REASONS - len(single.reasons))


def test_hint_rule_matches_the_settings_at_and_around_the_thresholds() -> None:
    settings = ScoringSettings(approve_min_score=580, decline_below_score=520)
    scores = np.array([519.999, 520.0, 579.999, 580.0, 700.0, 100.0])
    expected = ["decline", "review", "review", "approve", "approve", "decline"]
    got = [HINTS[i] for i in HintRule.of(settings).hint_index(scores)]
    assert got == expected  # the batch's vectorised rule
    assert [settings.decision_hint(float(s)) for s in scores] == expected  # the API's, one score at a time


def _write_parts(frame: pd.DataFrame, directory: Path) -> None:
    """Four Parquet files (small row groups) and two CSV files, named so sorted order is input order."""
    directory.mkdir(parents=True)
    bounds = [0, 200, 450, 700, 1000, 1250, ROWS]
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        piece = frame.iloc[lo:hi]
        if k in (2, 4):
            piece.to_csv(directory / f"part-{k:02d}.csv", index=False)
        else:
            piece.to_parquet(directory / f"part-{k:02d}.parquet", row_group_size=70)
    (directory / "_SUCCESS").write_text("")


def test_a_directory_of_parts_is_scored_in_input_order_as_one_file_is(
    farmer_model: TrainedModel, applicants: pd.DataFrame, tmp_path: Path
) -> None:
    whole, parted = tmp_path / "whole.parquet", tmp_path / "parts"
    applicants.to_parquet(whole)
    _write_parts(applicants, parted)
    settings = ScoringSettings()
    one = score_file(farmer_model, whole, tmp_path / "one.parquet", settings, chunk_size=400, progress=False)
    many = score_file(
        farmer_model, parted, tmp_path / "many.parquet", settings, chunk_size=64, progress=False
    )
    glob = score_file(
        farmer_model,
        str(parted / "part-0*"),
        tmp_path / "glob.parquet",
        settings,
        chunk_size=999,
        progress=False,
    )
    assert (one.rows, many.rows, glob.rows) == (ROWS, ROWS, ROWS)
    assert many.parts == 6 and one.chunks == 4
    expected = pq.read_table(one.output)
    assert pq.read_table(many.output).equals(expected)
    assert pq.read_table(glob.output).equals(expected)
    assert expected.column("id").to_pylist() == applicants["id"].tolist()


def test_input_that_does_not_fit_the_spec_names_the_file_and_writes_nothing_usable(
    farmer_model: TrainedModel, applicants: pd.DataFrame, tmp_path: Path
) -> None:
    parted = tmp_path / "parts"
    bad = applicants.astype({"main_crop": object})
    bad.loc[1300, "main_crop"] = "durian"
    _write_parts(bad, parted)
    with pytest.raises(FeatureValidationError) as caught:
        score_file(
            farmer_model, parted, tmp_path / "out.parquet", ScoringSettings(), chunk_size=64, progress=False
        )
    [(field, message)] = caught.value.errors
    assert field == "features.main_crop" and "unknown category" in message and "part-05.parquet" in message

"""Batch scoring of a CSV or Parquet file into Parquet (``agrifin score-batch``).

Chunks of ``chunk_size`` rows are read (``repository.datafiles.read_chunks``), validated
strictly against the model's spec (``frame_to_matrix``), explained in one vectorised call
(``explain_batch``) and appended to the output (``repository.datafiles.ParquetSink``).
Output columns: the id column when the input has it, ``score``, ``pd``, ``grade``,
``decision_hint``, ``reason_1`` … ``reason_4`` (reason codes, null when fewer features cost
points) and ``points_<feature>`` per feature. Batch scores are an analysis, not decisions:
they are neither stored nor signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from services.scoring.domain.explain import MAX_REASONS, explain_batch
from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.repository.datafiles import ParquetSink, check_suffix, count_rows, read_chunks
from services.scoring.settings import ScoringSettings


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did."""

    rows: int
    chunks: int
    output: Path


def score_chunk(
    model: TrainedModel,
    chunk: pd.DataFrame,
    settings: ScoringSettings,
    *,
    id_column: str,
    threads: int = 0,
) -> pa.Table:
    """Scores, grades, hints, reason codes and points of one chunk as an Arrow table."""
    spec = model.spec
    batch = explain_batch(model, frame_to_matrix(spec, chunk, strict=True), num_threads=threads)
    columns: dict[str, pa.Array] = {}
    if id_column in chunk.columns:
        columns[id_column] = pa.Array.from_pandas(chunk[id_column])
    columns["score"] = pa.array(batch.score, pa.float64())
    columns["pd"] = pa.array(batch.pd, pa.float64())
    columns["grade"] = pa.array(batch.grades.astype(str), pa.string())
    hints = [settings.decision_hint(score) for score in batch.score.tolist()]  # the one rule
    columns["decision_hint"] = pa.array(hints, pa.string())
    codes = np.array([*(f.reason_code for f in spec.features), None], dtype=object)  # -1 → None
    for k in range(MAX_REASONS):
        index = batch.reason_index[:, k] if k < batch.reason_index.shape[1] else np.full(len(batch), -1)
        columns[f"reason_{k + 1}"] = pa.array(codes[index], pa.string())
    for j, name in enumerate(spec.feature_names):
        columns[f"points_{name}"] = pa.array(batch.points[:, j], pa.float64())
    return pa.table(columns)


def score_file(
    model: TrainedModel,
    source: Path,
    output: Path,
    settings: ScoringSettings,
    *,
    chunk_size: int,
    id_column: str = "id",
    threads: int = 0,
    progress: bool = True,
) -> BatchResult:
    """Score every row of ``source`` into the Parquet file ``output``, chunk by chunk."""
    check_suffix(source)
    rows = chunks = 0
    bar = tqdm(total=count_rows(source), unit="rows", disable=not progress, desc=f"scoring {model.segment}")
    try:
        with ParquetSink(output) as sink:
            for chunk in read_chunks(source, chunk_size):
                sink.write(score_chunk(model, chunk, settings, id_column=id_column, threads=threads))
                rows += len(chunk)
                chunks += 1
                bar.update(len(chunk))
    finally:
        bar.close()
    return BatchResult(rows=rows, chunks=chunks, output=output)

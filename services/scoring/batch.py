"""Batch scoring of a CSV or Parquet file into Parquet (``agrifin score-batch``).

Chunks of ``chunk_size`` rows are read (``pandas.read_csv(chunksize=…)`` or
``pyarrow.parquet.ParquetFile.iter_batches``), validated strictly against the model's spec
(``frame_to_matrix``), explained in one vectorised call (``explain_batch``) and appended to
the output with ``pyarrow.parquet.ParquetWriter``. Output columns: the id column when the
input has it, ``score``, ``pd``, ``grade``, ``decision_hint``, ``reason_1`` … ``reason_4``
(reason codes, null when fewer features cost points) and ``points_<feature>`` per feature.
Batch scores are an analysis, not decisions: they are neither stored nor signed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from services.scoring.domain.explain import MAX_REASONS, explain_batch
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import frame_to_matrix
from services.scoring.settings import ScoringSettings

SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass(frozen=True)
class BatchResult:
    """What a batch run did."""

    rows: int
    chunks: int
    output: Path


def read_table(path: Path) -> pd.DataFrame:
    """A whole CSV or Parquet file as a DataFrame."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"{path}: expected a .csv or .parquet file")


def count_rows(path: Path) -> int:
    """Data rows of a CSV or Parquet file (for the progress bar)."""
    if path.suffix.lower() == ".csv":
        with path.open("rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    return int(pq.ParquetFile(path).metadata.num_rows)


def read_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The file in chunks of at most ``chunk_size`` rows."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from pd.read_csv(path, chunksize=chunk_size)
    elif suffix in (".parquet", ".pq"):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
    else:
        raise ValueError(f"{path}: expected a .csv or .parquet file")


def score_chunk(
    model: TrainedModel, chunk: pd.DataFrame, settings: ScoringSettings, *, id_column: str,
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
    model: TrainedModel, source: Path, output: Path, settings: ScoringSettings, *,
    chunk_size: int, id_column: str = "id", threads: int = 0, progress: bool = True,
) -> BatchResult:
    """Score every row of ``source`` into the Parquet file ``output``, chunk by chunk."""
    if source.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{source}: expected a .csv or .parquet file")
    output.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    rows = chunks = 0
    bar = tqdm(total=count_rows(source), unit="rows", disable=not progress, desc=f"scoring {model.segment}")
    try:
        for chunk in read_chunks(source, chunk_size):
            table = score_chunk(model, chunk, settings, id_column=id_column, threads=threads)
            if writer is None:
                writer = pq.ParquetWriter(output, table.schema)
            writer.write_table(table.cast(writer.schema))
            rows += len(chunk)
            chunks += 1
            bar.update(len(chunk))
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if writer is None:  # an empty input still gives a readable (empty) output
        pq.write_table(pa.table({"score": pa.array([], pa.float64())}), output)
    return BatchResult(rows=rows, chunks=chunks, output=output)

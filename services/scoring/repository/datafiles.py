"""Tabular data files (CSV or Parquet): reading training and batch inputs, writing batch output.

Inputs are read whole (:func:`read_table`, for training) or in chunks (:func:`read_chunks`:
``pandas.read_csv(chunksize=…)`` or ``pyarrow.parquet.ParquetFile.iter_batches``).
:class:`ParquetSink` appends Arrow tables to one Parquet file, cast to the first table's
schema, and leaves a readable (empty) file behind when nothing was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SUFFIXES = (".csv", ".parquet", ".pq")


def check_suffix(path: Path) -> None:
    """Refuse a file that is neither CSV nor Parquet (by its suffix)."""
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{path}: expected a .csv or .parquet file")


def read_table(path: Path) -> pd.DataFrame:
    """A whole CSV or Parquet file as a DataFrame."""
    check_suffix(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def count_rows(path: Path) -> int:
    """Data rows of a CSV or Parquet file (for the progress bar)."""
    if path.suffix.lower() == ".csv":
        with path.open("rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    return int(pq.ParquetFile(path).metadata.num_rows)


def read_chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The file in chunks of at most ``chunk_size`` rows."""
    check_suffix(path)
    if path.suffix.lower() == ".csv":
        yield from pd.read_csv(path, chunksize=chunk_size)
    else:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()


class ParquetSink:
    """Append Arrow tables to a Parquet file (a context manager; the directory is created)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (cast to the schema of the first table written)."""
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table.cast(self._writer.schema))

    def __enter__(self) -> ParquetSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._writer is not None:
            self._writer.close()
        elif exc_type is None:  # an empty input still gives a readable (empty) output
            pq.write_table(pa.table({"score": pa.array([], pa.float64())}), self.path)

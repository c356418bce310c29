"""Tabular data files (CSV or Parquet): reading training and batch inputs, writing batch output.

Inputs are read whole (:func:`read_table`, for training; :func:`read_table_bytes` for an
uploaded file's bytes) or in chunks (:func:`read_chunks`:
``pandas.read_csv(chunksize=…)`` or ``pyarrow.parquet.ParquetFile.iter_batches``).
:class:`ParquetSink` appends Arrow tables to one Parquet file, cast to the first table's
schema, and leaves a readable (empty) file behind when nothing was written.

:func:`read_header` and :func:`inspect_table` give a file's header exactly as written (pandas
renames a repeated column ``x`` to ``x.1``, so duplicates are found here, before pandas reads
it); :func:`inspect_table` also refuses an unreadable file or a header with duplicates, with a
:class:`DataFileError` in plain words.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services.scoring.domain.training_data import duplicate_columns

SUFFIXES = (".csv", ".parquet", ".pq")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class DataFileError(ValueError):
    """A data file that cannot be used as it is (its message says why, in plain words)."""


@dataclass(frozen=True)
class TableFacts:
    """What a data file is, read without parsing its rows: format, raw header, rows when cheap."""

    format: str
    columns: list[str]
    rows: int | None


def file_format(filename: str) -> str:
    """``csv`` or ``parquet`` by the file name's suffix; DataFileError otherwise."""
    fmt = FORMATS.get(Path(filename).suffix.lower())
    if fmt is None:
        raise DataFileError(f"{filename!r}: expected a .csv or .parquet file")
    return fmt


def _csv_header(content: bytes) -> list[str]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"not a UTF-8 CSV file (byte {exc.start} cannot be decoded)") from exc
    try:
        header = next(csv.reader(io.StringIO(text)), None)
    except csv.Error as exc:
        raise DataFileError(f"the CSV header cannot be read: {exc}") from exc
    if not header or not any(name.strip() for name in header):
        raise DataFileError("the CSV file is empty: it has no header line")
    return header


def _parquet_file(content: bytes) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(io.BytesIO(content))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataFileError(f"not a readable Parquet file ({exc})") from exc


def inspect_table(content: bytes, filename: str) -> TableFacts:
    """Check an uploaded file can be read and its header has no duplicates; its facts."""
    fmt = file_format(filename)
    if fmt == "csv":
        columns, rows = _csv_header(content), None
    else:
        parquet = _parquet_file(content)
        columns, rows = list(parquet.schema_arrow.names), int(parquet.metadata.num_rows)
    duplicates = duplicate_columns(columns)
    if duplicates:
        raise DataFileError(
            f"duplicate column names in the header: {', '.join(duplicates)} (each name must occur once)"
        )
    return TableFacts(format=fmt, columns=columns, rows=rows)


def read_table_bytes(content: bytes, fmt: str) -> pd.DataFrame:
    """An uploaded file's bytes (``fmt``: ``csv`` or ``parquet``) as a DataFrame."""
    try:
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(content))
        return pd.read_parquet(io.BytesIO(content))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise DataFileError(f"the {fmt} file cannot be read: {exc}") from exc


def read_header(path: Path) -> list[str]:
    """A CSV or Parquet file's header exactly as written (duplicates kept)."""
    check_suffix(path)
    if path.suffix.lower() == ".csv":
        with path.open("rb") as fh:
            first = fh.readline()
        return _csv_header(first)
    return list(pq.ParquetFile(path).schema_arrow.names)


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

"""Partitioned batch input: list a source's files, cut them into parts, read one part.

A *source* is a ``.csv`` / ``.parquet`` (``.pq``) file, a directory (every such file below it,
recursively; names starting with ``.`` or ``_`` — ``_SUCCESS``, ``_metadata`` — are skipped) or
a glob (``data/2026-*.parquet``). Files are taken in sorted path order, rows in file order:
that is **the input order**, which in-process and Dask scoring both keep.

A :class:`InputPart` is what one task reads: a Parquet file's consecutive row groups up to
``part_rows`` rows (one row group larger than that is a part of its own), or a CSV file's
byte block of about ``csv_block_bytes`` cut at line ends, the header repeated for each block
(a line belongs to the block in which it starts). A CSV whose quoted fields contain line
breaks must therefore be given as files smaller than the block size (or as Parquet), as
with ``dask.dataframe.read_csv``. :func:`read_part` reads a part with pandas / pyarrow; the
in-process path and the Dask workers call the same function, so they see the same frames.
Paths must be readable by the client and by every worker (a shared filesystem).
"""

from __future__ import annotations

import glob
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from services.scoring.repository.datafiles import FORMATS, DataFileError

DEFAULT_PART_ROWS = 250_000
DEFAULT_CSV_BLOCK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class InputPart:
    """One task's slice of the input: row groups of a Parquet file or a byte block of a CSV file."""

    path: str
    format: str
    row_groups: tuple[int, ...] = ()
    start: int = 0
    """CSV: first byte of the block (the header's end for the first block)."""
    end: int = 0
    """CSV: the block owns the lines starting before this byte."""
    header_end: int = 0
    rows: int | None = None
    """Rows of the part when known without reading it (Parquet)."""
    first_row: int | None = None
    """0-based data row of the file where the part starts, when known (Parquet)."""

    def describe(self) -> str:
        """Where the part lies, in words (for error messages)."""
        name = Path(self.path).name
        if self.format == "parquet":
            assert self.first_row is not None and self.rows is not None
            return f"{name}, data rows {self.first_row + 1}-{self.first_row + self.rows}"
        return f"{name}, the lines starting in bytes {self.start}-{self.end - 1}"


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


def _data_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in FORMATS


def list_input_files(source: str | Path) -> list[Path]:
    """The data files of a file, directory or glob, in sorted path order; DataFileError when none."""
    text = str(source)
    path = Path(text)
    if path.is_file():
        if not _data_file(path):
            raise DataFileError(f"{text!r}: expected a .csv or .parquet file")
        return [path]
    if path.is_dir():
        files = [p for p in path.rglob("*") if _data_file(p) and _visible(p, path)]
    elif glob.has_magic(text):
        files = [Path(p) for p in glob.glob(text, recursive=True) if _data_file(Path(p))]
    else:
        raise DataFileError(f"{text!r}: no such file, directory or glob")
    if not files:
        raise DataFileError(f"{text!r}: no .csv or .parquet files found")
    return sorted(files, key=str)


def _parquet_parts(path: Path, part_rows: int) -> list[InputPart]:
    meta = pq.ParquetFile(path).metadata
    parts: list[InputPart] = []
    groups: list[int] = []
    rows = first = 0
    for g in range(meta.num_row_groups):
        n = int(meta.row_group(g).num_rows)
        if groups and rows + n > part_rows:
            parts.append(InputPart(str(path), "parquet", tuple(groups), rows=rows, first_row=first))
            first += rows
            groups, rows = [], 0
        groups.append(g)
        rows += n
    if groups or not parts:  # an empty file is one empty part: its columns still get checked
        parts.append(InputPart(str(path), "parquet", tuple(groups), rows=rows, first_row=first))
    return parts


def _csv_parts(path: Path, block_bytes: int) -> list[InputPart]:
    with path.open("rb") as fh:
        header_end = len(fh.readline())
    size = os.path.getsize(path)
    starts = list(range(header_end, size, block_bytes)) or [header_end]
    return [
        InputPart(str(path), "csv", start=s, end=min(s + block_bytes, size), header_end=header_end)
        for s in starts
    ]


def plan_parts(
    files: list[Path], *, part_rows: int = DEFAULT_PART_ROWS, csv_block_bytes: int = DEFAULT_CSV_BLOCK_BYTES
) -> list[InputPart]:
    """Every file's parts, in input order."""
    if part_rows < 1 or csv_block_bytes < 1:
        raise ValueError("part_rows and csv_block_bytes must be positive")
    parts: list[InputPart] = []
    for path in files:
        if FORMATS[path.suffix.lower()] == "parquet":
            parts += _parquet_parts(path, part_rows)
        else:
            parts += _csv_parts(path, csv_block_bytes)
    return parts


def _csv_block(part: InputPart) -> bytes:
    with open(part.path, "rb") as fh:
        header = fh.read(part.header_end)
        if part.start > part.header_end:
            fh.seek(part.start - 1)
            fh.readline()  # the rest of the line that started in the previous block
        begin = fh.tell()
        data = fh.read(max(part.end - begin, 0)) if begin < part.end else b""
        if data and not data.endswith(b"\n"):
            data += fh.readline()  # the line that starts in this block and ends after it
    return header + data


def read_part(part: InputPart, columns: list[str] | None = None) -> pd.DataFrame:
    """One part as a DataFrame (only ``columns`` that the file has, when given)."""
    if part.format == "parquet":
        parquet = pq.ParquetFile(part.path)
        wanted = None if columns is None else [c for c in parquet.schema_arrow.names if c in set(columns)]
        table = parquet.read_row_groups(list(part.row_groups), columns=wanted, use_threads=False)
        frame: pd.DataFrame = table.to_pandas()
        return frame
    keep = None if columns is None else set(columns)
    return pd.read_csv(io.BytesIO(_csv_block(part)), usecols=None if keep is None else keep.__contains__)


def source_rows(parts: list[InputPart]) -> int | None:
    """Rows of all parts when the files say so without reading them (Parquet only), else None."""
    counts = [p.rows for p in parts]
    return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

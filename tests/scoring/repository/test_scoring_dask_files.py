"""Partitioned input: listing in sorted path order, parts that cover every row exactly once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from services.scoring.repository.dask_files import list_input_files, plan_parts, read_part, source_rows
from services.scoring.repository.datafiles import DataFileError


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [f"r-{i}" for i in range(rows)], "x": [i * 0.1 for i in range(rows)], "note": ["a,b"] * rows}
    )


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 1000, 10**9])
def test_csv_blocks_hold_every_line_once_in_order(tmp_path: Path, block_bytes: int) -> None:
    path = tmp_path / "data.csv"
    frame = _frame(120)
    frame.to_csv(path, index=False)
    parts = plan_parts([path], csv_block_bytes=block_bytes)
    frames = [read_part(p) for p in parts]
    assert all(list(f.columns) == ["id", "x", "note"] for f in frames)
    read = pd.concat([f for f in frames if len(f)], ignore_index=True)
    pd.testing.assert_frame_equal(read, pd.read_csv(path))
    assert source_rows(parts) is None


def test_parquet_parts_gather_row_groups_up_to_part_rows(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    _frame(100).to_parquet(path, row_group_size=15)
    parts = plan_parts([path], part_rows=40)
    assert [p.rows for p in parts] == [30, 30, 40] and source_rows(parts) == 100
    assert [p.first_row for p in parts] == [0, 30, 60]
    read = pd.concat([read_part(p, ["id", "x", "absent"]) for p in parts], ignore_index=True)
    assert list(read.columns) == ["id", "x"] and read["id"].tolist() == [f"r-{i}" for i in range(100)]


def test_a_directory_lists_data_files_recursively_in_path_order_skipping_hidden(tmp_path: Path) -> None:
    for name in ["b/2.parquet", "a.csv", "b/10.csv", "_tmp/x.csv", ".hidden.csv", "notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("id\n1\n")
    assert [p.relative_to(tmp_path).as_posix() for p in list_input_files(tmp_path)] == [
        "a.csv",
        "b/10.csv",
        "b/2.parquet",
    ]
    assert [p.name for p in list_input_files(str(tmp_path / "b" / "*"))] == ["10.csv", "2.parquet"]


@pytest.mark.parametrize("source", ["missing.csv", "empty", "*.nothing", "notes.txt"])
def test_a_source_without_data_files_is_refused_in_words(tmp_path: Path, source: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataFileError, match=r"no such file|no \.csv or \.parquet|expected a \.csv"):
        list_input_files(tmp_path / source if "*" not in source else str(tmp_path / source))

"""The model matrix: validated inputs (one row, many rows, a data frame) as the model reads them.

``float64`` 2-D array, columns in spec order. Numeric values as-is, booleans as 0/1,
categoricals as their position in the spec's ``categories`` list (so LightGBM's categorical
handling is deterministic and independent of the data; a numeric column, as CSV reading gives
for categories such as ``2024``, is matched by its text), missing as NaN.

:func:`encode_column` is the one encoder of a column; :func:`frame_to_matrix` (batch scoring)
and ``domain.training_data`` (training) both validate on its masks, so both name the same
offending rows (:func:`first_rows`: 1-based data row numbers, the first row after a CSV
header being row 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.scoring.domain.spec import (
    FeatureSpec,
    FeatureValidationError,
    FeatureValue,
    Matrix,
    SegmentSpec,
    is_missing,
)


def _encode_value(f: FeatureSpec, value: FeatureValue) -> float:
    if value is None:
        return math.nan
    if f.type == "categorical":
        return float(f.categories.index(cast(str, value)))
    return float(value)


def row_to_matrix(spec: SegmentSpec, features: Mapping[str, FeatureValue]) -> Matrix:
    """One validated applicant → a ``(1, n_features)`` float64 matrix (no pandas)."""
    row = [_encode_value(f, features.get(f.name)) for f in spec.features]
    return np.array([row], dtype=np.float64)


def rows_to_matrix(spec: SegmentSpec, rows: Sequence[Mapping[str, FeatureValue]]) -> Matrix:
    """Several validated applicants → an ``(n_rows, n_features)`` float64 matrix."""
    out = np.empty((len(rows), len(spec.features)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, f in enumerate(spec.features):
            out[i, j] = _encode_value(f, row.get(f.name))
    return out


def _bool_code(value: object) -> float:
    """0/1 for booleans (and 0/1 numbers), NaN for missing, -1 for anything else."""
    if is_missing(value):
        return math.nan
    if isinstance(value, bool | np.bool_) or value in (0, 1):
        return float(cast(float, value))
    return -1.0


SHOWN_ROWS = 5
"""How many offending rows an error names."""


def first_rows(mask: npt.NDArray[np.bool_], limit: int = SHOWN_ROWS) -> list[int]:
    """The first ``limit`` offending rows of ``mask`` as 1-based data row numbers."""
    return [int(i) + 1 for i in np.flatnonzero(mask)[:limit]]


def _category_text(value: object) -> object:
    """A number read from a file as the text a spec category would have (``2024.0`` → ``2024``)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_column(f: FeatureSpec, column: pd.Series) -> tuple[Matrix, npt.NDArray[np.bool_]]:
    """Encode one DataFrame column; returns (values, mask of invalid non-missing entries)."""
    missing = column.isna().to_numpy(dtype=bool)
    numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
    if f.type == "categorical" and numeric:
        column = column.map(_category_text, na_action="ignore").astype(object)
    if f.type == "categorical":
        spec_index = pd.Index(list(f.categories), dtype=object)
        if isinstance(column.dtype, pd.CategoricalDtype):
            # map the column's own categories to spec codes once, then index by its codes
            mapping = spec_index.get_indexer(column.cat.categories.astype(object))
            own = np.asarray(column.cat.codes.to_numpy(), dtype=np.int64)
            codes = np.where(own >= 0, np.append(mapping, -1)[own], -1)
        else:
            codes = spec_index.get_indexer(pd.Index(column.to_numpy(dtype=object), dtype=object))
        codes = np.asarray(codes, dtype=np.int64)
        values = codes.astype(np.float64)
        values[codes < 0] = np.nan
        return values, (codes < 0) & ~missing
    if f.type == "boolean":
        # copies: pandas' copy-on-write hands out read-only arrays, and invalid entries are cleared below
        if pd.api.types.is_bool_dtype(column.dtype):
            values = np.array(column.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            values = np.array(column.map(_bool_code).to_numpy(dtype=np.float64, na_value=np.nan))
        bad = values < 0
        values[bad] = np.nan
        return values, bad
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & ~missing
    return values, bad


def _rows(mask: npt.NDArray[np.bool_]) -> str:
    """``3 rows (rows 2, 5, 9)``: the count and the first offending rows."""
    return f"{int(mask.sum())} rows (rows {', '.join(map(str, first_rows(mask)))})"


def frame_to_matrix(spec: SegmentSpec, frame: pd.DataFrame, *, strict: bool = True) -> Matrix:
    """DataFrame (spec feature columns, extra columns ignored) → float64 model matrix.

    With ``strict`` (the default) the frame is validated column-wise and a
    :class:`FeatureValidationError` lists absent columns, unparsable values, unknown
    categories, out-of-range values and disallowed missing values (with row counts and the
    first offending rows).
    Without it, invalid entries silently become NaN.
    """
    errors: list[tuple[str, str]] = []
    out = np.full((len(frame), len(spec.features)), np.nan, dtype=np.float64)
    for j, f in enumerate(spec.features):
        field = f"features.{f.name}"
        if f.name not in frame.columns:
            errors.append((field, "column is missing"))
            continue
        values, bad = encode_column(f, frame[f.name])
        out[:, j] = values
        if not strict:
            continue
        if bad.any():
            what = "unknown category" if f.type == "categorical" else "not a number"
            errors.append((field, f"{what} in {_rows(bad)}"))
        if f.type == "numeric":
            with np.errstate(invalid="ignore"):
                below = values < f.min if f.min is not None else np.zeros(len(values), bool)
                above = values > f.max if f.max is not None else np.zeros(len(values), bool)
            if below.any():
                errors.append((field, f"below min {f.min:g} in {_rows(below)}"))
            if above.any():
                errors.append((field, f"above max {f.max:g} in {_rows(above)}"))
        if not f.missing_allowed:
            absent = np.isnan(values) & ~bad
            if absent.any():
                errors.append((field, f"missing in {_rows(absent)} (not allowed)"))
    if errors and strict:
        raise FeatureValidationError(errors)
    return out

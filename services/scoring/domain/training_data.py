"""A lender's training data, checked: every problem names its column and its first offending rows.

:func:`check_training_frame` turns a training frame into the model matrix and the 0/1 target
(1 = default), or raises :class:`TrainingDataError` in plain words. Checks, in this order:

1. duplicate column names (``pandas.read_csv`` renames a repeated ``x`` to ``x.1``: pass the
   file's raw header as ``columns`` to check it exactly; without it, ``x`` beside ``x.1`` counts
   as a duplicate);
2. the target column is present and is not a feature; every feature column of the spec is present;
3. at least :data:`MIN_ROWS` rows;
4. the target: no missing values; 0/1 (numbers or their text), or with ``bad_value`` a text
   target (``good``/``bad``): the bad value is 1, exactly one other value is 0;
5. at least :data:`MIN_CLASS_ROWS` of each class (the error says how many of each there are);
6. every feature column (all problems of all columns are listed, the first one's column and
   rows are the error's): text that is not a number, unknown categories (with the values),
   values that are not booleans, missing values the spec does not allow, values below the
   spec's minimum or above its maximum.

Rows are 1-based data row numbers: the first row after a CSV header is row 1 (row ``i`` is the
frame's ``i``-th row by position, whatever its index).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.scoring.domain.matrix import SHOWN_ROWS, encode_column, first_rows
from services.scoring.domain.spec import FeatureSpec, Matrix, SegmentSpec

MIN_ROWS = 200
MIN_CLASS_ROWS = 30
SHOWN_VALUES = 5
BoolMask = npt.NDArray[np.bool_]


class TrainingDataError(ValueError):
    """The training data cannot be used; ``column`` and ``rows`` (1-based data rows) say where."""

    def __init__(self, message: str, *, column: str | None = None, rows: Sequence[int] = ()) -> None:
        self.column = column
        self.rows = [int(r) for r in rows][:SHOWN_ROWS]
        super().__init__(message)


def _where(mask: BoolMask) -> str:
    """``rows 3, 17, 240`` or ``12 rows, the first rows 3, 17, 240, 251, 300``."""
    count, rows = int(mask.sum()), ", ".join(map(str, first_rows(mask)))
    if count == 1:
        return f"row {rows}"
    return f"rows {rows}" if count <= SHOWN_ROWS else f"{count} rows, the first rows {rows}"


def _values(column: pd.Series, mask: BoolMask) -> str:
    """The first distinct offending values, quoted: ``'n.a.', '12,5'``."""
    seen = list(dict.fromkeys(str(v) for v in column.to_numpy(dtype=object)[mask]))
    shown = ", ".join(repr(v) for v in seen[:SHOWN_VALUES])
    return shown + (f" and {len(seen) - SHOWN_VALUES} more" if len(seen) > SHOWN_VALUES else "")


def _problem(column: str, what: str, mask: BoolMask, *, label: str = "column") -> TrainingDataError:
    return TrainingDataError(
        f"{label} {column}: {what} in {_where(mask)}", column=column, rows=first_rows(mask)
    )


def duplicate_columns(columns: Sequence[str]) -> list[str]:
    """Names that occur more than once in a raw header (in first-occurrence order)."""
    counts = Counter(str(c) for c in columns)
    return [name for name in dict.fromkeys(str(c) for c in columns) if counts[name] > 1]


def _mangled_duplicates(columns: Sequence[str]) -> list[str]:
    """Names pandas renamed on reading: ``x`` next to ``x.1`` (``x.2`` …)."""
    present = {str(c) for c in columns}
    found: list[str] = []
    for name in map(str, columns):
        base, dot, suffix = name.rpartition(".")
        if dot and suffix.isdigit() and base in present and base not in found:
            found.append(base)
    return found


def _check_columns(spec: SegmentSpec, df: pd.DataFrame, target: str, columns: Sequence[str] | None) -> None:
    dupes = duplicate_columns(columns if columns is not None else list(df.columns))
    if columns is None:
        dupes += [name for name in _mangled_duplicates(list(df.columns)) if name not in dupes]
    if dupes:
        raise TrainingDataError(
            "duplicate column names: " + ", ".join(dupes) + " (each column name must occur once; "
            "a repeated column such as x is read as x.1)",
            column=dupes[0],
        )
    if target in spec.feature_names:
        raise TrainingDataError(f"target {target} is also a feature of the spec", column=target)
    if target not in df.columns:
        raise TrainingDataError(f"target column {target} is missing from the data", column=target)
    absent = [name for name in spec.feature_names if name not in df.columns]
    if absent:
        raise TrainingDataError(
            "columns of the spec are missing from the data: " + ", ".join(absent), column=absent[0]
        )


def _text(column: pd.Series) -> pd.Series:
    """Target values as text: ``1``, ``1.0`` and ``"1"`` all read ``1``; text stripped."""

    def one(value: object) -> str:
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value).strip()

    return column.map(one).astype(object)


def _target(df: pd.DataFrame, target: str, bad_value: str | None) -> npt.NDArray[np.float64]:
    column = df[target]
    missing = column.isna().to_numpy(dtype=bool)
    if missing.any():
        raise _problem(target, "missing values", missing, label="target")
    if bad_value is None:
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        other = ~np.isin(numbers, (0.0, 1.0))
        if other.any():
            raise _problem(
                target,
                f"must be 0/1 (1 = default); found {_values(column, other)} (for a text target such as "
                "good/bad, name its bad value)",
                other,
                label="target",
            )
        return numbers
    text = _text(column)
    bad = (text == str(bad_value).strip()).to_numpy(dtype=bool)
    others = text[~bad].value_counts(sort=True)
    if len(others) > 1:
        # the most frequent other value is the good one; the rest are named with their rows
        odd = (~bad & (text != others.index[0])).to_numpy(dtype=bool)
        raise _problem(
            target,
            f"with bad value {bad_value!r} exactly one other value may occur, found {others.index[0]!r} "
            f"and {_values(column, odd)}",
            odd,
            label="target",
        )
    return bad.astype(np.float64)


def _check_classes(y: npt.NDArray[np.float64], target: str) -> None:
    defaults = int(y.sum())
    others = len(y) - defaults
    if defaults < MIN_CLASS_ROWS or others < MIN_CLASS_ROWS:
        raise TrainingDataError(
            f"target {target}: need at least {MIN_CLASS_ROWS} defaults (1) and {MIN_CLASS_ROWS} "
            f"non-defaults (0), found {defaults} defaults and {others} non-defaults",
            column=target,
        )


def _feature_problems(
    f: FeatureSpec, column: pd.Series, values: Matrix, bad: BoolMask
) -> list[TrainingDataError]:
    out: list[TrainingDataError] = []
    if bad.any():
        what = {
            "categorical": f"unknown categories {_values(column, bad)} (allowed: {', '.join(f.categories)})",
            "boolean": f"values that are not true/false or 1/0 ({_values(column, bad)})",
            "numeric": f"text that is not a number ({_values(column, bad)})",
        }[f.type]
        out.append(_problem(f.name, what, bad))
    if f.type == "numeric":
        infinite = np.isinf(values)
        if infinite.any():
            out.append(_problem(f.name, "values that are not finite", infinite))
        with np.errstate(invalid="ignore"):
            if f.min is not None and (below := (values < f.min) & ~infinite).any():
                out.append(_problem(f.name, f"values below the minimum {f.min:g}", below))
            if f.max is not None and (above := (values > f.max) & ~infinite).any():
                out.append(_problem(f.name, f"values above the maximum {f.max:g}", above))
    absent = np.isnan(values) & ~bad
    if not f.missing_allowed and absent.any():
        out.append(_problem(f.name, "missing values (the spec does not allow them)", absent))
    return out


def check_training_frame(
    spec: SegmentSpec,
    df: pd.DataFrame,
    target: str,
    *,
    bad_value: str | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[Matrix, npt.NDArray[np.float64]]:
    """The model matrix and the 0/1 target of ``df``, or a :class:`TrainingDataError` naming column and rows.

    ``columns``: the file's raw header (before pandas renamed duplicates), when the caller has it.
    """
    _check_columns(spec, df, target, columns)
    if len(df) < MIN_ROWS:
        raise TrainingDataError(
            f"need at least {MIN_ROWS} rows (with at least {MIN_CLASS_ROWS} defaults and "
            f"{MIN_CLASS_ROWS} non-defaults), found {len(df)} rows"
        )
    y = _target(df, target, bad_value)
    _check_classes(y, target)
    matrix = np.full((len(df), len(spec.features)), np.nan, dtype=np.float64)
    problems: list[TrainingDataError] = []
    for j, f in enumerate(spec.features):
        values, bad = encode_column(f, df[f.name])
        problems += _feature_problems(f, df[f.name], values, bad)
        matrix[:, j] = values
    if problems:
        first = problems[0]
        message = "; ".join(str(p) for p in problems)
        raise TrainingDataError(message, column=first.column, rows=first.rows)
    return matrix, y

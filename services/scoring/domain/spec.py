"""Feature specs: what a segment's model accepts, and how inputs become the model matrix.

A spec is YAML (``services/scoring/specs/<segment>.yaml``, read by ``repository.specs``;
parsed here by :func:`spec_from_yaml` / :func:`spec_from_dict`) declaring, per feature,
its type (``numeric``, ``categorical``, ``boolean``), unit, allowed range or categories,
whether it may be missing, a monotone direction and a reason code with English and
Simplified Chinese text.

Monotone convention: ``monotone: +1`` means *higher value → lower default risk → higher
score* ("higher is better"); ``-1`` means higher is worse; ``0`` means unconstrained. The
model's raw output is the log-odds of **default**, so the LightGBM constraint is the
negation (:attr:`FeatureSpec.lgbm_monotone`).

Model matrix: ``float64`` 2-D array, columns in spec order. Numeric values as-is, booleans
as 0/1, categoricals as their position in the spec's ``categories`` list (so LightGBM's
categorical handling is deterministic and independent of the data), missing as NaN.

Errors: :class:`FeatureValidationError` (a ``ValueError``) carries ``errors``, a list of
``(field, message)`` pairs with fields named ``features.<name>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml

FeatureType = Literal["numeric", "categorical", "boolean"]
FeatureValue = float | str | bool | None
Matrix = npt.NDArray[np.float64]

SEGMENTS: tuple[str, ...] = ("farmer", "enterprise")
LANGUAGES: tuple[str, ...] = ("en", "zh")
_FEATURE_TYPES: tuple[str, ...] = ("numeric", "categorical", "boolean")
SEGMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
"""Segment names are short lower-case identifiers (they name model-store directories)."""


def is_segment_name(name: str) -> bool:
    """True when ``name`` matches :data:`SEGMENT_NAME`."""
    return SEGMENT_NAME.match(name) is not None


class SpecError(ValueError):
    """A spec file is malformed."""


class FeatureValidationError(ValueError):
    """Input features do not satisfy the spec; ``errors`` lists ``(field, message)``."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))


@dataclass(frozen=True)
class FeatureSpec:
    """One model feature as declared in a spec file."""

    name: str
    type: FeatureType
    unit: str
    reason_code: str
    reason_text: Mapping[str, str]
    missing_allowed: bool = False
    monotone: int = 0
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()

    @property
    def lgbm_monotone(self) -> int:
        """LightGBM constraint on the log-odds of default (the negation of ``monotone``)."""
        return -self.monotone

    def reason(self, lang: str = "en") -> str:
        """Reason text in ``lang`` (falls back to English)."""
        return self.reason_text.get(lang) or self.reason_text["en"]


@dataclass(frozen=True)
class SegmentSpec:
    """A segment's full feature spec."""

    segment: str
    target: str
    version: str
    features: tuple[FeatureSpec, ...]
    example: Mapping[str, FeatureValue]
    description: str = ""

    @property
    def feature_names(self) -> list[str]:
        """Feature names in model-matrix column order."""
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        """Column indices of categorical features (for LightGBM ``categorical_feature``)."""
        return [i for i, f in enumerate(self.features) if f.type == "categorical"]

    @property
    def monotone_constraints(self) -> list[int]:
        """LightGBM ``monotone_constraints`` (on log-odds of default), spec order."""
        return [f.lgbm_monotone for f in self.features]

    def feature(self, name: str) -> FeatureSpec:
        """The feature called ``name`` (KeyError if unknown)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)


# ---------------------------------------------------------------- loading


def _feature_from_dict(raw: Mapping[str, Any], where: str) -> FeatureSpec:
    try:
        name = str(raw["name"])
        ftype = str(raw["type"])
        reason = raw["reason"]
        code = str(reason["code"])
        texts = {lang: str(reason[lang]) for lang in LANGUAGES if lang in reason}
    except (KeyError, TypeError) as exc:
        raise SpecError(f"{where}: missing key {exc}") from exc
    if ftype not in _FEATURE_TYPES:
        raise SpecError(f"{where}: unknown type {ftype!r}")
    if "en" not in texts:
        raise SpecError(f"{where}: reason needs English text")
    monotone = int(raw.get("monotone", 0))
    if monotone not in (-1, 0, 1):
        raise SpecError(f"{where}: monotone must be -1, 0 or +1")
    categories = tuple(str(c) for c in raw.get("categories") or ())
    if ftype == "categorical":
        if not categories or len(set(categories)) != len(categories):
            raise SpecError(f"{where}: categorical needs distinct categories")
        if monotone != 0:
            raise SpecError(f"{where}: categorical features cannot be monotone")
    lo = raw.get("min")
    hi = raw.get("max")
    if lo is not None and hi is not None and float(lo) > float(hi):
        raise SpecError(f"{where}: min > max")
    return FeatureSpec(
        name=name,
        type=cast(FeatureType, ftype),
        unit=str(raw.get("unit", "")),
        reason_code=code,
        reason_text=texts,
        missing_allowed=bool(raw.get("missing_allowed", False)),
        monotone=monotone,
        min=None if lo is None else float(lo),
        max=None if hi is None else float(hi),
        categories=categories,
    )


def spec_from_dict(data: Mapping[str, Any]) -> SegmentSpec:
    """Build a :class:`SegmentSpec` from parsed YAML/JSON; validates its own example."""
    try:
        raw_features = data["features"]
        spec = SegmentSpec(
            segment=str(data["segment"]),
            target=str(data.get("target", "default")),
            version=str(data.get("version", "0")),
            features=tuple(_feature_from_dict(f, f"features[{i}]") for i, f in enumerate(raw_features)),
            example=dict(data.get("example") or {}),
            description=str(data.get("description", "")),
        )
    except (KeyError, TypeError) as exc:
        raise SpecError(f"spec: missing key {exc}") from exc
    names = spec.feature_names
    if len(set(names)) != len(names):
        raise SpecError("spec: duplicate feature names")
    if spec.target in names:
        raise SpecError("spec: target is also a feature")
    if spec.example:
        try:
            validate_features(spec, spec.example)
        except FeatureValidationError as exc:
            raise SpecError(f"spec example does not validate: {exc}") from exc
    return spec


def spec_to_dict(spec: SegmentSpec) -> dict[str, Any]:
    """JSON/YAML-able form of ``spec`` (round-trips through :func:`spec_from_dict`)."""
    features: list[dict[str, Any]] = []
    for f in spec.features:
        item: dict[str, Any] = {"name": f.name, "type": f.type, "unit": f.unit}
        if f.min is not None:
            item["min"] = f.min
        if f.max is not None:
            item["max"] = f.max
        if f.categories:
            item["categories"] = list(f.categories)
        item["missing_allowed"] = f.missing_allowed
        item["monotone"] = f.monotone
        item["reason"] = {"code": f.reason_code, **dict(f.reason_text)}
        features.append(item)
    return {
        "segment": spec.segment,
        "target": spec.target,
        "version": spec.version,
        "description": spec.description,
        "features": features,
        "example": dict(spec.example),
    }


def spec_from_yaml(text: str, source: str = "spec") -> SegmentSpec:
    """Parse and check a spec's YAML text (``source`` names it in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{source}: not a mapping")
    return spec_from_dict(data)


# ---------------------------------------------------------------- validation


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_value(f: FeatureSpec, value: object) -> tuple[FeatureValue, str | None]:
    """Return the normalised value or an error message."""
    if f.type == "boolean":
        if not isinstance(value, bool | np.bool_):
            return None, "must be a boolean"
        return bool(value), None
    if f.type == "categorical":
        if not isinstance(value, str):
            return None, "must be a string category"
        if value not in f.categories:
            return None, f"unknown category {value!r}; allowed: {', '.join(f.categories)}"
        return value, None
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
        return None, "must be a number"
    number = float(value)
    if not math.isfinite(number):
        return None, "must be finite"
    if f.min is not None and number < f.min:
        return None, f"must be >= {f.min:g}"
    if f.max is not None and number > f.max:
        return None, f"must be <= {f.max:g}"
    return number, None


def validate_features(spec: SegmentSpec, features: Mapping[str, object]) -> dict[str, FeatureValue]:
    """Check one applicant's features; return them normalised (absent optional → None).

    Raises :class:`FeatureValidationError` listing every problem: unknown feature, wrong
    type, out of range, unknown category, missing where not allowed.
    """
    errors: list[tuple[str, str]] = []
    known = {f.name for f in spec.features}
    for name in features:
        if name not in known:
            errors.append((f"features.{name}", "unknown feature"))
    clean: dict[str, FeatureValue] = {}
    for f in spec.features:
        value = features.get(f.name)
        if _is_missing(value):
            if not f.missing_allowed:
                errors.append((f"features.{f.name}", "is required (missing not allowed)"))
            clean[f.name] = None
            continue
        normalised, message = _check_value(f, value)
        if message is not None:
            errors.append((f"features.{f.name}", message))
        clean[f.name] = normalised
    if errors:
        raise FeatureValidationError(errors)
    return clean


# ---------------------------------------------------------------- model matrix


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
    if _is_missing(value):
        return math.nan
    if isinstance(value, bool | np.bool_) or value in (0, 1):
        return float(cast(float, value))
    return -1.0


def _column_codes(f: FeatureSpec, column: pd.Series) -> tuple[Matrix, npt.NDArray[np.bool_]]:
    """Encode one DataFrame column; returns (values, mask of invalid non-missing entries)."""
    missing = column.isna().to_numpy(dtype=bool)
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
        if pd.api.types.is_bool_dtype(column.dtype):
            values = np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            values = np.asarray(column.map(_bool_code).to_numpy(dtype=np.float64, na_value=np.nan))
        bad = values < 0
        values[bad] = np.nan
        return values, bad
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & ~missing
    return values, bad


def frame_to_matrix(spec: SegmentSpec, frame: pd.DataFrame, *, strict: bool = True) -> Matrix:
    """DataFrame (spec feature columns, extra columns ignored) → float64 model matrix.

    With ``strict`` (the default) the frame is validated column-wise and a
    :class:`FeatureValidationError` lists absent columns, unparsable values, unknown
    categories, out-of-range values and disallowed missing values (with row counts).
    Without it, invalid entries silently become NaN.
    """
    errors: list[tuple[str, str]] = []
    out = np.full((len(frame), len(spec.features)), np.nan, dtype=np.float64)
    for j, f in enumerate(spec.features):
        field = f"features.{f.name}"
        if f.name not in frame.columns:
            errors.append((field, "column is missing"))
            continue
        values, bad = _column_codes(f, frame[f.name])
        out[:, j] = values
        if not strict:
            continue
        if bad.any():
            what = "unknown category" if f.type == "categorical" else "not a number"
            errors.append((field, f"{what} in {int(bad.sum())} rows"))
        if f.type == "numeric":
            with np.errstate(invalid="ignore"):
                below = values < f.min if f.min is not None else np.zeros(len(values), bool)
                above = values > f.max if f.max is not None else np.zeros(len(values), bool)
            if below.any():
                errors.append((field, f"below min {f.min:g} in {int(below.sum())} rows"))
            if above.any():
                errors.append((field, f"above max {f.max:g} in {int(above.sum())} rows"))
        if not f.missing_allowed:
            n_missing = int(np.isnan(values).sum()) - int(bad.sum())
            if n_missing:
                errors.append((field, f"missing in {n_missing} rows (not allowed)"))
    if errors and strict:
        raise FeatureValidationError(errors)
    return out

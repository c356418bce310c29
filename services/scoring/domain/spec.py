"""Feature specs: what a segment's model accepts (``domain.matrix`` turns inputs into the model matrix).

A spec is YAML (``services/scoring/specs/<segment>.yaml``, read by ``repository.specs``;
parsed here by :func:`spec_from_yaml` / :func:`spec_from_dict`) declaring, per feature,
its type (``numeric``, ``categorical``, ``boolean``), unit, allowed range or categories,
whether it may be missing, a monotone direction and a reason code with English and
Simplified Chinese text.

Monotone convention: ``monotone: +1`` means *higher value → lower default risk → higher
score* ("higher is better"); ``-1`` means higher is worse; ``0`` means unconstrained. The
model's raw output is the log-odds of **default**, so the LightGBM constraint is the
negation (:attr:`FeatureSpec.lgbm_monotone`).

The spec itself is a pydantic model (:class:`SegmentSpec` of :class:`FeatureSpec`, frozen);
a malformed spec is a :class:`SpecError` listing every problem by its field, e.g.
``features[3].reason.en: Field required`` or ``features[1]: categorical features cannot be
monotone``. Input features are checked by :func:`validate_features` (hot path, no pydantic).

Errors: :class:`FeatureValidationError` (a ``ValueError``) carries ``errors``, a list of
``(field, message)`` pairs with fields named ``features.<name>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

FeatureType = Literal["numeric", "categorical", "boolean"]
FeatureValue = float | str | bool | None
Matrix = npt.NDArray[np.float64]

SEGMENTS: tuple[str, ...] = ("farmer", "enterprise")
LANGUAGES: tuple[str, ...] = ("en", "zh")
# keys a spec does not know are ignored (as they always were); numbers where text is expected
# (a category ``2024``, a version ``1.0``) are read as text
_SPEC_CONFIG = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)
SEGMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
"""Segment names are short lower-case identifiers (they name model-store directories)."""


def is_segment_name(name: str) -> bool:
    """True when ``name`` matches :data:`SEGMENT_NAME`."""
    return SEGMENT_NAME.match(name) is not None


class SpecError(ValueError):
    """A spec is malformed; the message names each offending field."""


class FeatureValidationError(ValueError):
    """Input features do not satisfy the spec; ``errors`` lists ``(field, message)``."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))


class ReasonText(BaseModel):
    """A reason text by language (English required, Simplified Chinese optional)."""

    model_config = _SPEC_CONFIG

    en: str = Field(min_length=1)
    zh: str | None = None

    def by_language(self) -> dict[str, str]:
        """``{"en": ..., "zh": ...}`` (``zh`` only when given)."""
        return {"en": self.en} if self.zh is None else {"en": self.en, "zh": self.zh}


class ReasonSpec(ReasonText):
    """A feature's reason code and its text; numeric features may add ``low`` and ``high``.

    ``low`` is shown when the applicant's value is below the segment's reference value (the
    training median), ``high`` when above; the plain text when the value is missing, equal
    to the reference, or the model knows no reference. A feature without ``low``/``high``
    always shows its one text, which must then not state a direction the value can contradict.
    """

    code: str = Field(min_length=1)
    low: ReasonText | None = None
    high: ReasonText | None = None

    @model_validator(mode="after")
    def _both_sides(self) -> ReasonSpec:
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high reason texts, or neither")
        return self


class FeatureSpec(BaseModel):
    """One model feature as declared in a spec file."""

    model_config = _SPEC_CONFIG

    name: str = Field(min_length=1)
    type: FeatureType
    unit: str = ""
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    missing_allowed: bool = False
    monotone: Literal[-1, 0, 1] = 0
    reason_spec: ReasonSpec = Field(alias="reason")

    @field_validator("categories", mode="before")
    @classmethod
    def _no_categories(cls, value: object) -> object:
        return () if value is None else value

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.type == "categorical":
            if not self.categories or len(set(self.categories)) != len(self.categories):
                raise ValueError("categorical needs distinct categories")
            if self.monotone != 0:
                raise ValueError("categorical features cannot be monotone")
        if self.type != "numeric" and self.reason_spec.low is not None:
            raise ValueError("only numeric features can have low/high reason texts")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min > max")
        return self

    @property
    def reason_code(self) -> str:
        """The reason code shown when this feature costs points."""
        return self.reason_spec.code

    @property
    def reason_text(self) -> dict[str, str]:
        """Reason text by language (``en``, and ``zh`` when the spec has it)."""
        return self.reason_spec.by_language()

    def reason_text_for(self, value: object, reference: float | None) -> dict[str, str]:
        """The reason text by language for an applicant's ``value``: ``low`` below ``reference``,
        ``high`` above it, the plain text otherwise (see :class:`ReasonSpec`)."""
        low, high = self.reason_spec.low, self.reason_spec.high
        if low is None or high is None or reference is None or is_missing(value):
            return self.reason_text
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            return self.reason_text
        number = float(value)
        if number < reference:
            return low.by_language()
        if number > reference:
            return high.by_language()
        return self.reason_text

    @property
    def lgbm_monotone(self) -> int:
        """LightGBM constraint on the log-odds of default (the negation of ``monotone``)."""
        return -self.monotone

    def reason(self, lang: str = "en") -> str:
        """Reason text in ``lang`` (falls back to English)."""
        return self.reason_text.get(lang) or self.reason_spec.en


class SegmentSpec(BaseModel):
    """A segment's full feature spec; checks its own example against its features."""

    model_config = _SPEC_CONFIG

    segment: str
    target: str = "default"
    version: str = "0"
    features: tuple[FeatureSpec, ...]
    example: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    @field_validator("example", mode="before")
    @classmethod
    def _no_example(cls, value: object) -> object:
        return {} if value is None else value

    @model_validator(mode="after")
    def _consistent(self) -> SegmentSpec:
        names = self.feature_names
        if len(set(names)) != len(names):
            raise ValueError("duplicate feature names")
        if self.target in names:
            raise ValueError("target is also a feature")
        if self.example:
            try:
                validate_features(self, self.example)
            except FeatureValidationError as exc:
                raise ValueError(f"example does not validate: {exc}") from exc
        return self

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


def _location(loc: tuple[int | str, ...]) -> str:
    """``('features', 3, 'reason', 'code')`` → ``features[3].reason.code``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "spec"


def spec_from_dict(data: Mapping[str, Any]) -> SegmentSpec:
    """Build a :class:`SegmentSpec` from parsed YAML/JSON; every problem names its field."""
    try:
        return SegmentSpec.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_location(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise SpecError("; ".join(problems)) from exc


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
        item["reason"] = {"code": f.reason_code, **f.reason_text}
        if f.reason_spec.low is not None and f.reason_spec.high is not None:
            item["reason"]["low"] = f.reason_spec.low.by_language()
            item["reason"]["high"] = f.reason_spec.high.by_language()
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


def is_missing(value: object) -> bool:
    """True for a missing input value: None or NaN."""
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
        if is_missing(value):
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

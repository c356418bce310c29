"""Body of the performance report: realised defaults vs predicted PD, AUC/KS, vintages, adverse impact."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GradePerformance(BaseModel):
    """One grade's matured loans: how many defaulted, against the PD their scores predicted."""

    grade: str
    matured: int
    defaulted: int
    default_rate: float | None = Field(description="defaulted / matured; null without matured loans")
    mean_pd: float | None = Field(description="mean predicted PD of the matured loans")
    note: str | None


class Discrimination(BaseModel):
    """How well the predicted PD separated matured defaulters from the rest."""

    matured: int
    defaulted: int
    auc: float | None
    ks: float | None = Field(description="max(TPR - FPR)")
    note: str | None


class VintagePoint(BaseModel):
    """Share of a vintage defaulted within ``months`` of disbursement."""

    months: int
    defaulted: int
    default_rate: float


class Vintage(BaseModel):
    """Loans disbursed in one month (``YYYY-MM``) and their cumulative default curve."""

    vintage: str
    loans: int
    curve: list[VintagePoint]
    note: str | None


class AdverseImpactOut(BaseModel):
    """Min/max ratio of a group rate across monitoring groups (null with fewer than two groups)."""

    ratio: float | None
    flagged: bool | None
    rates: dict[str, float]
    counts: dict[str, int]
    threshold: float
    note: str | None


class AdverseImpacts(BaseModel):
    """Adverse impact on approve hints (all decisions) and on not defaulting (matured loans)."""

    approvals: AdverseImpactOut
    outcomes: AdverseImpactOut


class PerformanceReport(BaseModel):
    """How a segment's scored loans performed as of a date (see ``domain.performance``)."""

    model_config = ConfigDict(protected_namespaces=())

    segment: str
    model_version: str | None = Field(description="null: every model version of the segment")
    as_of: str
    decisions: int
    loans: int = Field(description="decisions with at least one outcome reported by loans")
    matured: int
    grades: list[GradePerformance]
    discrimination: Discrimination
    vintages: list[Vintage]
    adverse_impact: AdverseImpacts
    note: str | None

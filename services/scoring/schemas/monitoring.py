"""Body of the monitoring report: population stability per feature and for the score, and fairness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Band = Literal["stable", "moderate", "significant"]


class PsiBin(BaseModel):
    """One bin: its label, the training share (``expected``) and the recent share (``actual``)."""

    label: str
    expected: float
    actual: float


class Stability(BaseModel):
    """PSI of one distribution against the training baseline, with the bins to chart it."""

    psi: float
    band: Band
    kind: Literal["numeric", "categorical"]
    edges: list[float] | None = Field(
        default=None, description="numeric: inner bin edges; bins are ≤ e0, (e0, e1], …, > ek, missing"
    )
    categories: list[str] | None = Field(default=None, description="categorical: one bin each, then missing")
    bins: list[PsiBin]


class Fairness(BaseModel):
    """Adverse impact ratio of approve hints across the callers' monitoring groups."""

    attribute: str
    outcome: str
    rows: int
    rates: dict[str, float]
    counts: dict[str, int]
    ratio: float = Field(description="lowest group approve rate / highest")
    flagged: bool = Field(description="ratio below threshold")
    threshold: float


class StabilityReport(BaseModel):
    """Recent decisions of a segment against its champion's training baseline."""

    model_config = ConfigDict(protected_namespaces=())

    segment: str
    model_version: str
    since: str
    rows: int
    skipped_rows: int = Field(description="recent decisions scored under another spec of the segment")
    bands: dict[str, str]
    score: Stability | None = Field(description="null when there are no recent decisions")
    features: dict[str, Stability] = Field(description="by feature, in spec order; empty without decisions")
    fairness: Fairness | None = Field(description="null when no decision carried a monitoring group")

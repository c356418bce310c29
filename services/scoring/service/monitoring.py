"""Monitoring report: population stability and fairness of recent decisions of a segment.

PSI compares the recent applicants (decisions since ``since``, newest first, at most
``monitoring_max_rows``) with the champion's training baseline: every feature, and the
score distribution the champion gives those applicants (recomputed, so decisions made by
an earlier champion are comparable). Bands: < 0.10 stable, 0.10–0.25 moderate, ≥ 0.25
significant. Fairness: the adverse impact ratio of ``approve`` hints across the optional
``monitoring.group`` attribute callers sent (never a model input); flagged below 0.8.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from services.scoring.domain.matrix import rows_to_matrix
from services.scoring.domain.monitoring import (
    PSI_MODERATE,
    PSI_SIGNIFICANT,
    adverse_impact_ratio,
    model_stability,
)
from services.scoring.domain.spec import FeatureValidationError, validate_features
from services.scoring.repository import decisions as repo
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.decisions import champion_for
from services.scoring.settings import ScoringContext
from shared.clock import utc_iso

BANDS = {
    "stable": f"psi < {PSI_MODERATE}",
    "moderate": f"{PSI_MODERATE} <= psi < {PSI_SIGNIFICANT}",
    "significant": f"psi >= {PSI_SIGNIFICANT}",
}


def stability_report(
    session: Session, ctx: ScoringContext, store: ModelStore, *, segment: str, since: datetime | None
) -> dict[str, Any]:
    """PSI of scores and features against the champion's baseline, plus adverse impact."""
    settings = ctx.settings
    champion = champion_for(session, segment)
    model = store.load(segment, champion.version, champion.artifact_sha256)
    since = since or ctx.clock.now() - timedelta(days=settings.monitoring_window_days)
    rows = repo.decisions_since(session, segment=segment, since=since, limit=settings.monitoring_max_rows)
    clean, hints, groups, skipped = [], [], [], 0
    for features_json, hint, group in rows:
        try:
            clean.append(validate_features(model.spec, json.loads(features_json)))
        except FeatureValidationError:  # scored under another spec of the segment
            skipped += 1
            continue
        hints.append(hint)
        groups.append(group)
    report: dict[str, Any] = {
        "segment": segment,
        "model_version": champion.version,
        "since": utc_iso(since),
        "rows": len(clean),
        "skipped_rows": skipped,
        "bands": BANDS,
        "score": None,
        "features": {},
        "fairness": None,
    }
    if clean:
        stability = model_stability(model, rows_to_matrix(model.spec, clean))
        report["score"], report["features"] = stability["score"], stability["features"]
    grouped = [(h == "approve", g) for h, g in zip(hints, groups, strict=True) if g is not None]
    if grouped:
        approved = np.array([a for a, _ in grouped], dtype=bool)
        impact = adverse_impact_ratio(approved, np.array([g for _, g in grouped], dtype=object))
        report["fairness"] = {
            "attribute": "monitoring.group",
            "outcome": "decision_hint == approve",
            "rows": len(grouped),
            **impact.to_dict(),
        }
    return report

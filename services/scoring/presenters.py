"""What the API shows: stored rows and use-case results as response models.

A decision's outcome, reasons and receipt are stored as exact JSON (``scoring_decisions``), so
its view is built from that JSON, not from the float columns that duplicate it for queries;
reason texts are picked in the caller's language (English when a text is missing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.scoring.domain.points import integer_points
from services.scoring.domain.spec import spec_to_dict
from services.scoring.models import Decision, ModelVersion, Promotion, ShadowScore, TrainingUpload
from services.scoring.schemas import (
    ModelDetail,
    ModelOut,
    PromotionOut,
    ScoreOut,
    SegmentOut,
    ShadowOut,
)
from services.scoring.schemas.models import RoundsOut, TrainingDataOut, TrainingErrorOut, TrainingJobOut
from services.scoring.service.decisions import ScoredDecision
from services.scoring.service.segments import SegmentDetail, SegmentEntry
from shared.clock import utc_iso
from shared.jobs import FAILED, JobOut

TEST_METRICS = ("auc", "gini", "ks", "brier", "log_loss")


def stored_integer_points(outcome: dict[str, Any]) -> dict[str, Any]:
    """A stored outcome's integer score, base and points by feature (recomputed from the floats
    for a decision stored before integers were recorded: the same pure function gives them)."""
    recorded = outcome.get("integer_points")
    if recorded is None:
        names = [name for name, _ in outcome["points"]]
        row = integer_points(outcome["score"], outcome["base_points"], [p for _, p in outcome["points"]])
        pairs = list(zip(names, row.points, strict=True))
        recorded = {"score": row.score, "base_points": row.base, "points": pairs}
    return {
        "score": recorded["score"],
        "base_points": recorded["base_points"],
        "points": dict(recorded["points"]),
    }


def decision_out(decision: Decision, lang: str = "en") -> ScoreOut:
    """A stored decision (reason texts in ``lang``)."""
    receipt = json.loads(decision.receipt)
    return _score_out(
        {key: getattr(decision, key) for key in _SHOWN_COLUMNS},
        outcome=json.loads(decision.outcome),
        reasons=json.loads(decision.reasons),
        features=json.loads(decision.features),
        receipt=receipt,
        created_at=json.loads(receipt["payload"])["created_at"],
        feature_sources=json.loads(decision.feature_sources) if decision.feature_sources else None,
        lang=lang,
    )


def scored_decision_out(scored: ScoredDecision, lang: str = "en") -> ScoreOut:
    """A decision just scored: what :func:`decision_out` of the stored row gives, built from the
    values the row was written from instead of parsing its JSON columns back."""
    sources = scored.feature_sources
    return _score_out(
        scored.row,
        outcome=scored.outcome,
        reasons=scored.reasons,
        features=scored.features,
        receipt=scored.receipt,
        created_at=scored.created_at,
        # the row stores canonical JSON (sorted keys), the order decision_out reads back
        feature_sources=None if sources is None else dict(sorted(sources.items())),
        lang=lang,
    )


_SHOWN_COLUMNS = (
    "id", "segment", "subject_id", "model_version", "model_sha256", "decision_hint",
    "marketplace_as_of", "challenger_disagreement",
)  # fmt: skip
"""The plain columns of a decision its answer shows (beside its JSON columns)."""


def _score_out(
    columns: Mapping[str, Any],
    *,
    outcome: dict[str, Any],
    reasons: list[dict[str, Any]],
    features: dict[str, Any],
    receipt: dict[str, Any],
    created_at: str,
    feature_sources: dict[str, Any] | None,
    lang: str,
) -> ScoreOut:
    """The answer of a decision from its plain columns and the values of its JSON columns."""
    integers = stored_integer_points(outcome)
    return ScoreOut.model_validate(
        {
            "id": columns["id"],
            "segment": columns["segment"],
            "subject_id": columns["subject_id"],
            "model_version": columns["model_version"],
            "model_sha256": columns["model_sha256"],
            "score": outcome["score"],
            "base_points": outcome["base_points"],
            "integer_score": integers["score"],
            "integer_base_points": integers["base_points"],
            "pd": outcome["pd"],
            "grade": outcome["grade"],
            "decision_hint": columns["decision_hint"],
            "contributions": [
                {
                    "feature": name,
                    "value": features.get(name),
                    "points": points,
                    "integer_points": integers["points"][name],
                }
                for name, points in outcome["points"]
            ],
            "reasons": [
                {
                    "code": r["code"],
                    "feature": r["feature"],
                    "points": r["points"],
                    "integer_points": integers["points"][r["feature"]],
                    "text": r["text"].get(lang) or r["text"]["en"],
                }
                for r in reasons
            ],
            "receipt": receipt,
            "created_at": created_at,
            "feature_sources": feature_sources,
            "marketplace_as_of": utc_iso(as_of) if (as_of := columns["marketplace_as_of"]) else None,
            "challenger_disagreement": columns["challenger_disagreement"],
        }
    )


def shadow_out(row: ShadowScore) -> ShadowOut:
    """What a challenger scored beside a decision."""
    return ShadowOut.model_validate(row, from_attributes=True)


def _model_fields(row: ModelVersion) -> dict[str, Any]:
    test = json.loads(row.metrics).get("test", {})
    return {
        "version": row.version,
        "segment": row.segment,
        "status": row.status,
        "artifact_sha256": row.artifact_sha256,
        "data_fingerprint": row.data_fingerprint,
        "data_source": row.data_source,
        "test_metrics": {k: test.get(k) for k in TEST_METRICS if k in test},
        "created_at": utc_iso(row.created_at),
        "created_by": row.created_by,
        "promoted_at": utc_iso(row.promoted_at) if row.promoted_at else None,
        "promoted_by": row.promoted_by,
    }


def model_out(row: ModelVersion) -> ModelOut:
    """A registry entry (the list view)."""
    return ModelOut.model_validate(_model_fields(row))


def promotion_out(row: Promotion) -> PromotionOut:
    """One promotion of the champion history."""
    return PromotionOut(
        segment=row.segment,
        version=row.version,
        previous_version=row.previous_version,
        promoted_at=utc_iso(row.promoted_at),
        promoted_by=row.promoted_by,
    )


def model_detail_out(row: ModelVersion, promotions: list[Promotion]) -> ModelDetail:
    """A registry entry with its spec, parameters, library versions, metrics and promotions."""
    return ModelDetail.model_validate(
        {
            **_model_fields(row),
            "spec": json.loads(row.spec),
            "parameters": json.loads(row.parameters),
            "library_versions": json.loads(row.library_versions),
            "metrics": json.loads(row.metrics),
            "promotions": [promotion_out(p) for p in promotions],
        }
    )


def segment_out(entry: SegmentEntry) -> SegmentOut:
    """A segment in the segment list."""
    return SegmentOut(
        segment=entry.segment,
        source=entry.source,
        description=entry.spec.description,
        features=len(entry.spec.features),
        champion_version=entry.champion_version,
    )


def segment_detail_view(detail: SegmentDetail) -> dict[str, Any]:
    """A segment's spec (as stored), its source and champion, and an example applicant."""
    return {
        **spec_to_dict(detail.spec),
        "source": detail.source,
        "champion_version": detail.champion_version,
        "example": detail.example,
    }


def training_data_out(row: TrainingUpload) -> TrainingDataOut:
    """An uploaded training data file's metadata."""
    return TrainingDataOut(
        id=row.id,
        filename=row.filename,
        format=row.format,
        sha256=row.sha256,
        bytes=row.size_bytes,
        rows=row.rows,
        columns=json.loads(row.columns),
        uploaded_by=row.uploaded_by,
        created_at=utc_iso(row.created_at),
        href=f"/v1/training-data/{row.id}",
    )


def _count(progress: dict[str, Any], key: str) -> int | None:
    value = progress.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def training_job_out(job: JobOut) -> TrainingJobOut:
    """A training job from its job row: stage, rounds, tuning trials and folds from its progress;
    the registered model, or why it failed (with the column and rows its progress recorded)."""
    progress = job.progress
    done = _count(progress, "rounds")
    failure = progress.get("failure")
    failure = failure if isinstance(failure, dict) else {}
    best_auc = progress.get("best_auc")
    return TrainingJobOut(
        id=job.job_id,
        kind=job.kind,
        status=job.status,
        stage=str(progress["stage"]) if "stage" in progress else None,
        rounds=RoundsOut(done=done, total=_count(progress, "max_rounds")) if done is not None else None,
        trial=_count(progress, "trial"),
        trials=_count(progress, "trials"),
        best_auc=float(best_auc) if isinstance(best_auc, int | float) else None,
        fold=_count(progress, "fold"),
        folds=_count(progress, "folds"),
        elapsed_seconds=job.elapsed_seconds,
        result=job.result,
        error=TrainingErrorOut(
            detail=job.error or "the job failed",
            column=failure.get("column"),
            rows=[int(r) for r in failure.get("rows", [])],
        )
        if job.status == FAILED
        else None,
        created_by=job.created_by,
        created_at=job.created_at,
        finished_at=job.finished_at,
        href=f"/v1/training-jobs/{job.job_id}",
    )

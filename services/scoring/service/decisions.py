"""Scoring use cases: score and sign a decision, read it back (and list it), draw it.

The request path loads the champion from the store's cache, explains the applicant with
the domain's ``explain_applicant`` (one LightGBM ``pred_contrib`` call, no pandas, no
shap), signs a receipt, stores the decision with shadow scores of the newest challengers and the
``score.created`` event (one Core statement on PostgreSQL, no ORM object; the answer is built
from the values just stored, never re-read or re-parsed: :class:`ScoredDecision`), and appends
``score.created`` to the audit chain (with the receipt payload's hash) at commit, all in the
request's transaction. The features hash and the receipt payload are RFC 8785 text
(``shared.receipts.jcs``, rfc8785).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rfc8785 import CanonicalizationError
from sqlalchemy.orm import Session

from services.scoring.domain.explain import Explanation, Reason, explain_applicant
from services.scoring.domain.matrix import row_to_matrix
from services.scoring.domain.provenance import complete_sources, source_problems
from services.scoring.domain.receipt import (
    RECEIPT_ALG,
    dumps_exact,
    receipt_payload,
    storable_features,
)
from services.scoring.domain.scale import grade_for, sigmoid_scalar
from services.scoring.domain.spec import FeatureValidationError, validate_features
from services.scoring.domain.waterfall import render_waterfall
from services.scoring.domain.waterfall_svg import chart_title, render_waterfall_svg
from services.scoring.models import Decision, ShadowScore
from services.scoring.repository import decisions as repo
from services.scoring.repository.artifacts import ModelArtifactError, ModelStore
from services.scoring.repository.decisions import DecisionFilter as DecisionFilter  # routes build it
from services.scoring.service.serving import ServedModel, serving_models
from services.scoring.service.serving import champion_for as champion_for  # monitoring, training, cli
from services.scoring.settings import ScoringContext, ScoringSettings
from shared.changes import new_id, record_change
from shared.clock import as_utc, utc_iso
from shared.crypto import canonical_json, sha256_hex
from shared.errors import NotFound, ValidationProblem
from shared.receipts import jcs
from shared.webhooks import outbox_row

log = logging.getLogger("agrifin.scoring")


def _reason_texts(reasons: list[Reason]) -> list[dict[str, Any]]:
    """What a decision stores of its reasons: the texts in every language, chosen by the value."""
    return [
        {"code": r.code, "feature": r.feature, "points": r.points, "text": dict(r.texts)} for r in reasons
    ]


def _shadow_scores(
    challengers: Sequence[ServedModel],
    store: ModelStore,
    settings: ScoringSettings,
    *,
    segment: str,
    decision_id: str,
    features: Mapping[str, Any],
    now: datetime,
) -> list[ShadowScore]:
    """What each of the newest challengers would have scored (failures never block)."""
    out: list[ShadowScore] = []
    for row in challengers:
        try:
            model = store.load(segment, row.version, row.artifact_sha256)
            clean = validate_features(model.spec, features)
        except (ModelArtifactError, FeatureValidationError) as exc:
            log.warning("shadow scoring skipped challenger %s: %s", row.version, exc)
            continue
        margin = float(model.margin(row_to_matrix(model.spec, clean))[0])
        score = model.scale.score(margin)
        out.append(
            ShadowScore(
                decision_id=decision_id,
                challenger_version=row.version,
                score=score,
                pd=sigmoid_scalar(margin),
                grade=grade_for(score),
                decision_hint=settings.decision_hint(score),
                created_at=now,
            )
        )
    return out


@dataclass(frozen=True)
class ScoredDecision:
    """A decision just scored and stored: its row (every column's value, as inserted) and the
    values its JSON columns were written from, so that its answer is built without parsing
    back what was just serialised (``presenters.scored_decision_out``)."""

    row: Mapping[str, Any]
    outcome: dict[str, Any]
    reasons: list[dict[str, Any]]
    features: dict[str, Any]
    receipt: dict[str, Any]
    feature_sources: dict[str, str] | None
    created_at: str
    """The receipt payload's ``created_at`` (ISO-8601 UTC)."""

    @property
    def id(self) -> str:
        """The decision's id (``score_id``)."""
        return str(self.row["id"])


def score_applicant(
    session: Session,
    ctx: ScoringContext,
    store: ModelStore,
    *,
    segment: str,
    subject_id: str,
    features: Mapping[str, Any],
    monitoring_group: str | None,
    actor: str,
    feature_sources: Mapping[str, str] | None = None,
    marketplace_as_of: datetime | None = None,
) -> ScoredDecision:
    """Score, explain, sign, store, audit and emit one decision.

    ``feature_sources`` (the caller's statement of where each value came from) is checked
    against the spec and the features, completed for every feature and stored with
    ``marketplace_as_of``; the decision records whether any challenger scored in shadow gave
    another decision hint (``challenger_disagreement``).
    """
    settings = ctx.settings
    served = serving_models(session, ctx, segment)  # cached per process (service.serving)
    champion = served.champion
    model = store.load(segment, champion.version, champion.artifact_sha256)
    problems = [] if feature_sources is None else source_problems(model.spec, features, feature_sources)
    try:
        explanation = explain_applicant(model, features)
    except FeatureValidationError as exc:
        raise ValidationProblem(exc.errors + problems) from exc
    if problems:
        raise ValidationProblem(problems)
    sources = None if feature_sources is None else complete_sources(model.spec, features, feature_sources)
    now = ctx.clock.now()
    decision_id, created_at = new_id(), utc_iso(now)
    stored_features = storable_features(features)
    hint = settings.decision_hint(explanation.score)
    try:  # RFC 8785 has no integers beyond ±(2^53 − 1); the spec's bounds rarely stop them
        inputs_sha256 = sha256_hex(jcs(stored_features))  # features_sha256(), once storable
    except CanonicalizationError as exc:
        raise ValidationProblem([("features", f"cannot be signed as RFC 8785 JSON: {exc}")]) from exc
    payload = receipt_payload(
        score_id=decision_id,
        segment=segment,
        subject_id=subject_id,
        created_at=created_at,
        model_version=champion.version,
        model_sha256=champion.artifact_sha256,
        spec_version=model.spec.version,
        features_sha256=inputs_sha256,
        explanation=explanation,
        decision_hint=hint,
        approve_min_score=settings.approve_min_score,
        decline_below_score=settings.decline_below_score,
    )
    key_id, signature = ctx.keyring.sign(payload, at=now)  # the key valid at created_at signs
    receipt = {"alg": RECEIPT_ALG, "key_id": key_id, "payload": payload, "signature": signature}
    payload_sha256 = sha256_hex(payload)
    shadows = _shadow_scores(
        served.challengers,
        store,
        settings,
        segment=segment,
        decision_id=decision_id,
        features=features,
        now=now,
    )
    disagreement = any(s.decision_hint != hint for s in shadows)
    outcome = outcome_record(explanation)
    reasons = _reason_texts(explanation.reasons)
    row: dict[str, Any] = {  # every column of scoring_decisions (repository.decisions inserts them)
        "id": decision_id,
        "segment": segment,
        "subject_id": subject_id,
        "model_version": champion.version,
        "model_sha256": champion.artifact_sha256,
        "features": canonical_json(stored_features),
        "features_sha256": inputs_sha256,
        "monitoring_group": monitoring_group,
        "score": explanation.score,
        "pd": explanation.pd,
        "grade": explanation.grade,
        "decision_hint": hint,
        "outcome": dumps_exact(outcome),
        "reasons": dumps_exact(reasons),
        "receipt": canonical_json(receipt),
        "receipt_payload_sha256": payload_sha256,
        "feature_sources": None if sources is None else canonical_json(sources),
        "marketplace_as_of": None if marketplace_as_of is None else as_utc(marketplace_as_of),
        "challenger_disagreement": disagreement,
        "created_at": now,
        "created_by": actor,
    }
    facts = {
        "score_id": decision_id,
        "segment": segment,
        "subject_id": subject_id,
        "model_version": champion.version,
        "score": explanation.score,
        "pd": explanation.pd,
        "grade": explanation.grade,
        "decision_hint": hint,
        "reason_codes": [r.code for r in explanation.reasons],
        "receipt_payload_sha256": payload_sha256,
        "feature_sources": sources,
        "marketplace_as_of": None if marketplace_as_of is None else utc_iso(marketplace_as_of),
        "challenger_disagreement": disagreement,
    }
    subject = f"score:{decision_id}"
    event = outbox_row(topic="score.created", subject=subject, data=facts, now=now)
    repo.add_decision(session, row, shadows, outbox=ctx.tables.outbox, event=event)
    record_change(  # the event is the decision's own insert's (one statement on PostgreSQL)
        session, ctx, actor=actor, action="score.created", subject=subject, payload=facts, event=False
    )
    return ScoredDecision(
        row=row,
        outcome=outcome,
        reasons=reasons,
        features=stored_features,
        receipt=receipt,
        feature_sources=sources,
        created_at=created_at,
    )


def outcome_record(explanation: Explanation) -> dict[str, Any]:
    """What a decision stores of its explanation (``scoring_decisions.outcome``; replay compares it)."""
    return {
        "margin": explanation.margin,
        "score": explanation.score,
        "pd": explanation.pd,
        "base_points": explanation.base_points,
        "grade": explanation.grade,
        "points": [[name, p] for name, p in explanation.points.items()],
        "integer_points": integer_record(explanation),
    }


def integer_record(explanation: Explanation) -> dict[str, Any]:
    """The integer score, base and points (``[[name, points], ...]`` in spec order) of an explanation."""
    integers = explanation.integers
    return {
        "score": integers.score,
        "base_points": integers.base,
        "points": [[name, p] for name, p in zip(explanation.points, integers.points, strict=True)],
    }


def get_decision(session: Session, decision_id: str) -> Decision:
    """A stored decision or NotFound."""
    decision = repo.get_decision(session, decision_id)
    if decision is None:
        raise NotFound(f"no score {decision_id!r}")
    return decision


def list_decisions(session: Session, where: DecisionFilter, *, limit: int, offset: int) -> list[Decision]:
    """Stored decisions, newest first, narrowed by ``where`` (a window ending before it starts: 422)."""
    if where.scored_from is not None and where.scored_to is not None and where.scored_to < where.scored_from:
        raise ValidationProblem([("scored_to", "must not be before scored_from")])
    return list(repo.list_decisions(session, where, limit=limit, offset=offset))


def shadow_scores(session: Session, decision_id: str) -> list[ShadowScore]:
    """The challengers' shadow scores of a decision (NotFound for an unknown decision)."""
    get_decision(session, decision_id)
    return list(repo.shadow_scores(session, decision_id))


def stored_explanation(decision: Decision, lang: str = "en") -> Explanation:
    """The stored decision as an Explanation (for the waterfall chart)."""
    outcome = json.loads(decision.outcome)
    reasons = [
        Reason(r["code"], r["feature"], r["points"], r["text"].get(lang) or r["text"]["en"], r["text"])
        for r in json.loads(decision.reasons)
    ]
    return Explanation(
        margin=outcome["margin"],
        pd=outcome["pd"],
        score=outcome["score"],
        base_points=outcome["base_points"],
        points=dict(outcome["points"]),
        grade=outcome["grade"],
        reasons=reasons,
    )


def waterfall_png(decision: Decision) -> bytes:
    """A PNG waterfall from base points through each feature's points to the score (English)."""
    explanation = stored_explanation(decision)
    title = chart_title(explanation, subject=decision.subject_id, model=decision.model_version, lang="en")
    return render_waterfall(explanation, title=title)


def waterfall_svg(decision: Decision, lang: str = "en") -> str:
    """The waterfall as SVG with a title and a text alternative, its words in ``lang``."""
    explanation = stored_explanation(decision, lang)
    title = chart_title(explanation, subject=decision.subject_id, model=decision.model_version, lang=lang)
    return render_waterfall_svg(explanation, title=title, ident=f"waterfall-{decision.id}", lang=lang)

"""Replay: recompute a stored decision from its stored inputs with its stored model version.

The model is loaded from the store and verified against the SHA-256 the decision recorded.
Score, PD, base points, every feature's points (bit for bit: compared as IEEE-754 bits via
``float.hex``), the grade and the reason codes must match. The receipt is checked too: its
signature, and that it signs the stored values and the stored inputs' hash. Each replay is
audited (``score.replayed``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.receipt import check_receipt, features_sha256
from services.scoring.domain.spec import FeatureValidationError
from services.scoring.models import Decision
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.decisions import get_decision, outcome_record
from services.scoring.settings import ScoringContext
from shared.changes import record_change
from shared.crypto import sha256_hex


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex()
    return bool(a == b)


def _view(outcome: dict[str, Any], reason_codes: list[str]) -> dict[str, Any]:
    return {
        "score": outcome["score"],
        "pd": outcome["pd"],
        "base_points": outcome["base_points"],
        "grade": outcome["grade"],
        "reason_codes": reason_codes,
        "contributions": dict(outcome["points"]),
    }


def _differences(original: dict[str, Any], replayed: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for field in ("score", "pd", "base_points", "grade", "reason_codes"):
        if not _same(original[field], replayed[field]):
            out.append({"field": field, "original": original[field], "replayed": replayed[field]})
    names = list(dict.fromkeys([*original["contributions"], *replayed["contributions"]]))
    for name in names:
        a, b = original["contributions"].get(name), replayed["contributions"].get(name)
        if not _same(a, b):
            out.append({"field": f"contributions.{name}", "original": a, "replayed": b})
    return out


def _receipt_problems(
    ctx: ScoringContext, decision: Decision, features: dict[str, Any], original: dict[str, Any]
) -> list[dict[str, Any]]:
    receipt = json.loads(decision.receipt)
    problems: list[dict[str, Any]] = []
    check = check_receipt(receipt, ctx.keyring.public_keys())
    if not check.valid:
        problems.append(
            {"field": "receipt.signature", "original": receipt["signature"], "replayed": check.reason}
        )
    signed = json.loads(receipt["payload"])
    expected = {
        "score_id": decision.id,
        "model_version": decision.model_version,
        "model_sha256": decision.model_sha256,
        "features_sha256": features_sha256(features),
        "score": original["score"],
        "pd": original["pd"],
        "grade": original["grade"],
        "reason_codes": original["reason_codes"],
    }
    for field, value in expected.items():
        if not _same(signed.get(field), value):
            problems.append({"field": f"receipt.{field}", "original": signed.get(field), "replayed": value})
    if sha256_hex(receipt["payload"]) != decision.receipt_payload_sha256:
        problems.append(
            {
                "field": "receipt.payload_sha256",
                "original": decision.receipt_payload_sha256,
                "replayed": sha256_hex(receipt["payload"]),
            }
        )
    return problems


def replay_decision(
    session: Session, ctx: ScoringContext, store: ModelStore, *, decision_id: str, actor: str
) -> dict[str, Any]:
    """Recompute a stored decision and report whether it is identical."""
    decision = get_decision(session, decision_id)
    model = store.load(decision.segment, decision.model_version, decision.model_sha256)
    features = json.loads(decision.features)
    stored_reasons = json.loads(decision.reasons)
    original = _view(json.loads(decision.outcome), [r["code"] for r in stored_reasons])
    replayed: dict[str, Any] | None = None
    try:
        explanation = explain_applicant(model, features)
    except FeatureValidationError as exc:  # the stored inputs were altered
        differences = [
            {
                "field": "features",
                "original": decision.features_sha256,
                "replayed": f"stored inputs no longer validate: {exc}",
            }
        ]
    else:
        replayed = _view(outcome_record(explanation), [r.code for r in explanation.reasons])
        differences = _differences(original, replayed)
    differences += _receipt_problems(ctx, decision, features, original)
    identical = not differences
    record_change(
        session,
        ctx,
        actor=actor,
        action="score.replayed",
        subject=f"score:{decision.id}",
        payload={"score_id": decision.id, "model_version": decision.model_version, "identical": identical},
        event=False,
    )
    return {
        "id": decision.id,
        "model_version": decision.model_version,
        "model_sha256": decision.model_sha256,
        "identical": identical,
        "original": original,
        "replayed": replayed,
        "differences": differences,
    }

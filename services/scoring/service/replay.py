"""Replay: recompute a stored decision from its stored inputs with its stored model version.

The model is loaded from the store and verified against the SHA-256 the decision recorded.
The recomputation and its comparison are the domain's (``domain.replay``, which the offline
``agrifin replay`` uses too): score, PD, base points, every feature's float points (bit for
bit: compared as IEEE-754 bits via ``float.hex``) and integer points, the integer score and
base, the grade, the reasons (codes, features, texts) and, for a v2 receipt, the decision hint
under the thresholds it signed and the spec version. The receipt is checked too: its
signature (and its key's validity at its time), that it signs the stored values
(``receipt.<field>``), the stored inputs' hash and the stored payload hash. Each replay is
audited (``score.replayed``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.domain.receipt import check_receipt, features_sha256
from services.scoring.domain.replay import differences, recompute, view_from_payload
from services.scoring.domain.spec import FeatureValidationError
from services.scoring.models import Decision
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.decisions import get_decision
from services.scoring.settings import ScoringContext
from shared.changes import record_change
from shared.crypto import sha256_hex
from shared.receipts import load_jcs


def stored_view(decision: Decision, signed: dict[str, Any]) -> dict[str, Any]:
    """What a stored decision states (its exact outcome and reasons JSON), as a replay view."""
    outcome = json.loads(decision.outcome)
    reasons = json.loads(decision.reasons)
    integers = outcome.get("integer_points")
    v2 = "receipt_version" in signed
    return {
        "score": outcome["score"],
        "pd": outcome["pd"],
        "base_points": outcome["base_points"],
        "grade": outcome["grade"],
        "decision_hint": decision.decision_hint if v2 else None,
        "integer_score": None if integers is None else integers["score"],
        "integer_base_points": None if integers is None else integers["base_points"],
        "contributions": dict(outcome["points"]),
        "integer_points": None if integers is None else dict(integers["points"]),
        "reason_codes": [r["code"] for r in reasons],
        "reasons": [{"code": r["code"], "feature": r["feature"], "texts": r["text"]} for r in reasons],
        "spec_version": signed.get("spec_version"),
    }


def _receipt_problems(
    ctx: ScoringContext, decision: Decision, features: dict[str, Any], original: dict[str, Any]
) -> list[dict[str, Any]]:
    """What is wrong with the receipt: its signature (and key validity), what it signs."""
    receipt = json.loads(decision.receipt)
    problems: list[dict[str, Any]] = []
    check = check_receipt(receipt, ctx.keyring.public_keys())
    if not check.valid:
        problems.append(
            {"field": "receipt.signature", "original": receipt["signature"], "replayed": check.reason}
        )
    try:
        signed = load_jcs(receipt["payload"])
    except ValueError:
        signed = {}
    if not isinstance(signed, dict):
        signed = {}
    version = 2 if "receipt_version" in signed else 1
    expected = {
        "score_id": decision.id,
        "segment": decision.segment,
        "subject_id": decision.subject_id,
        "model_version": decision.model_version,
        "model_sha256": decision.model_sha256,
        "features_sha256": features_sha256(features, version=version),
    }
    for field, value in expected.items():
        if signed.get(field) != value:
            problems.append({"field": f"receipt.{field}", "original": signed.get(field), "replayed": value})
    if signed:
        try:
            problems += differences(view_from_payload(signed), original, prefix="receipt.", signed=True)
        except (KeyError, TypeError):
            problems.append({"field": "receipt.payload", "original": receipt["payload"], "replayed": None})
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
    receipt_signed = load_jcs(json.loads(decision.receipt)["payload"])
    signed = receipt_signed if isinstance(receipt_signed, dict) else {}
    original = stored_view(decision, signed)
    replayed: dict[str, Any] | None = None
    try:
        replayed = recompute(model, features, thresholds=signed.get("hint_thresholds"))
    except FeatureValidationError as exc:  # the stored inputs were altered
        found = [
            {
                "field": "features",
                "original": decision.features_sha256,
                "replayed": f"stored inputs no longer validate: {exc}",
            }
        ]
    else:
        found = differences(original, replayed)
    found += _receipt_problems(ctx, decision, features, original)
    identical = not found
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
        "differences": found,
    }

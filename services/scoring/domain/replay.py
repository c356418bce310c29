"""Replay, the one "recompute and compare": a decision's statement against its recomputation.

Both replays use it — the service's (``service.replay``: a stored decision, its stored model)
and the offline ``agrifin replay`` (a saved score answer, a downloaded model file, no service).
The model a replay reads is one file (:func:`bundle_document`, :func:`model_from_bundle`).
A **view** is what a decision states, as plain JSON::

    {score, pd, base_points, grade, decision_hint, integer_score, integer_base_points,
     contributions: {feature: float points}, integer_points: {feature: int},
     reason_codes: [code], reasons: [{code, feature, texts}], spec_version}

A value of ``None`` means "not stated" (an older decision, a v1 receipt) and is not compared.
:func:`recompute` explains the features again with the model and gives the replayed view;
:func:`differences` lists every field that differs — floats bit for bit (``float.hex``), or
with ``signed=True`` (a view read from a JCS receipt payload) as :func:`shared.receipts.same_number`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel, load_model
from services.scoring.domain.scale import HintRule
from services.scoring.domain.spec import FeatureValidationError
from shared.receipts import PublishedKeys, check_score_document, features_sha256, same_number

ARTIFACT_BUNDLE_FORMAT = "agrifin-model-artifact/1"
"""The one-file model a replay reads (``GET /v1/models/{version}/artifact``)."""

SCALARS = ("score", "pd", "base_points", "grade", "decision_hint", "integer_score", "integer_base_points")
MAPPINGS = ("contributions", "integer_points")


def bundle_document(model: TrainedModel, version: str) -> dict[str, Any]:
    """``{format, model_version, segment, artifact_sha256, model_text, metadata}``: the LightGBM
    text whose SHA-256 is ``artifact_sha256`` and the metadata that turns its margins into the
    score (calibration ``a``/``b``, ``score_scale``, ``spec``, ``reference_values``, ...)."""
    return {
        "format": ARTIFACT_BUNDLE_FORMAT,
        "model_version": version,
        "segment": model.segment,
        "artifact_sha256": model.artifact_sha256,
        "model_text": model.model_text,
        "metadata": model.metadata,
    }


def model_from_bundle(document: Mapping[str, Any]) -> TrainedModel:
    """The model of a :func:`bundle_document` (ValueError when it is not one, or its text does
    not match its SHA-256)."""
    if not isinstance(document, Mapping) or document.get("format") != ARTIFACT_BUNDLE_FORMAT:
        raise ValueError(f"not an {ARTIFACT_BUNDLE_FORMAT} model file")
    model = load_model(str(document["model_text"]), dict(document["metadata"]))
    if model.artifact_sha256 != document.get("artifact_sha256"):
        raise ValueError("the model text does not match the file's artifact_sha256")
    return model


def decision_hint(score: float, thresholds: Mapping[str, Any] | None) -> str | None:
    """The hint the signed thresholds give a score (None without thresholds)."""
    if thresholds is None:
        return None
    rule = HintRule(float(thresholds["approve_min_score"]), float(thresholds["decline_below_score"]))
    return rule.hint(score)


def recompute(
    model: TrainedModel, features: Mapping[str, Any], *, thresholds: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The replayed view: the features explained again (raises ``FeatureValidationError``)."""
    explanation = explain_applicant(model, features)
    integers = explanation.integers
    return {
        "score": explanation.score,
        "pd": explanation.pd,
        "base_points": explanation.base_points,
        "grade": explanation.grade,
        "decision_hint": decision_hint(explanation.score, thresholds),
        "integer_score": integers.score,
        "integer_base_points": integers.base,
        "contributions": dict(explanation.points),
        "integer_points": explanation.integer_points_by_feature(),
        "reason_codes": [r.code for r in explanation.reasons],
        "reasons": [
            {"code": r.code, "feature": r.feature, "texts": dict(r.texts)} for r in explanation.reasons
        ],
        "spec_version": model.spec.version,
    }


def view_from_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What a verified receipt payload states, as a view (v1 states less: the rest is None)."""
    points: Sequence[Mapping[str, Any]] | None = payload.get("points")
    reasons = payload.get("reasons")
    return {
        "score": payload["score"],
        "pd": payload["pd"],
        "base_points": payload.get("base_points"),
        "grade": payload["grade"],
        "decision_hint": payload.get("decision_hint"),
        "integer_score": payload.get("integer_score"),
        "integer_base_points": payload.get("integer_base_points"),
        "contributions": None if points is None else {p["feature"]: p["points"] for p in points},
        "integer_points": None if points is None else {p["feature"]: p["integer_points"] for p in points},
        "reason_codes": [r["code"] for r in reasons] if reasons is not None else payload["reason_codes"],
        "reasons": None if reasons is None else [dict(r) for r in reasons],
        "spec_version": payload.get("spec_version"),
    }


def view_from_answer(answer: Mapping[str, Any], payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a score answer (``GET /v1/scores/{id}``) states; with its verified v2 ``payload``
    also the reasons' texts in every language, the spec version and the hint (which the
    payload's thresholds let a replay recompute)."""
    contributions = answer["contributions"]
    signed = view_from_payload(payload) if payload is not None else {}
    integers = {c["feature"]: c["integer_points"] for c in contributions if "integer_points" in c}
    return {
        "score": answer["score"],
        "pd": answer["pd"],
        "base_points": answer["base_points"],
        "grade": answer["grade"],
        "decision_hint": answer.get("decision_hint") if signed.get("decision_hint") is not None else None,
        "integer_score": answer.get("integer_score"),
        "integer_base_points": answer.get("integer_base_points"),
        "contributions": {c["feature"]: c["points"] for c in contributions},
        "integer_points": integers if len(integers) == len(contributions) else None,
        "reason_codes": [r["code"] for r in answer["reasons"]],
        "reasons": signed.get("reasons"),
        "spec_version": signed.get("spec_version"),
    }


def _same(a: Any, b: Any, signed: bool) -> bool:
    if signed and isinstance(a, int | float) and not isinstance(a, bool):
        return same_number(a, b)
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex()
    return type(a) is type(b) and bool(a == b)


def _difference(field: str, original: Any, replayed: Any) -> dict[str, Any]:
    return {"field": field, "original": original, "replayed": replayed}


def differences(
    original: Mapping[str, Any], replayed: Mapping[str, Any], *, prefix: str = "", signed: bool = False
) -> list[dict[str, Any]]:
    """Every field the two views state differently (a field either leaves as None is skipped);
    ``signed``: ``original`` was read from a JCS payload (numbers compared as numbers)."""
    out: list[dict[str, Any]] = []
    for field in (*SCALARS, "reason_codes", "spec_version"):
        a, b = original.get(field), replayed.get(field)
        if a is None or b is None:
            continue
        same = _same(a, b, signed) if field not in ("reason_codes",) else list(a) == list(b)
        if not same:
            out.append(_difference(prefix + field, a, b))
    for field in MAPPINGS:
        mine, theirs = original.get(field), replayed.get(field)
        if mine is None or theirs is None:
            continue
        for name in dict.fromkeys([*mine, *theirs]):
            a, b = mine.get(name), theirs.get(name)
            if a is None or b is None or not _same(a, b, signed):
                out.append(_difference(f"{prefix}{field}.{name}", a, b))
    mine_reasons, their_reasons = original.get("reasons"), replayed.get("reasons")
    if mine_reasons is not None and their_reasons is not None and mine_reasons != their_reasons:
        out.append(_difference(prefix + "reasons", mine_reasons, their_reasons))
    return out


def _features_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The features of a FEATURES.json: the features object, or a score request holding one."""
    inner = document.get("features")
    return inner if isinstance(inner, Mapping) and "segment" in document else document


def replay_answer(
    answer: Mapping[str, Any],
    features: Mapping[str, Any],
    bundle: Mapping[str, Any],
    keys: PublishedKeys,
) -> dict[str, Any]:
    """Verify and replay a saved score answer offline: the receipt against ``keys`` (and the
    answer against the receipt), the model file's and the features' SHA-256 against what the
    receipt signs, then the recomputation against what the answer states. ``identical`` is
    true when nothing differs (the differences name each field otherwise)."""
    found: list[dict[str, Any]] = []
    check = check_score_document(answer, keys)
    receipt = answer.get("receipt", answer)
    if not check.valid:
        key_id = receipt.get("key_id") if isinstance(receipt, Mapping) else None
        found.append(_difference("receipt", key_id, check.reason))
    payload = check.payload if check.valid else None
    stated = payload if payload is not None else answer
    model: TrainedModel | None = None
    try:
        model = model_from_bundle(bundle)
    except (ValueError, KeyError, TypeError) as exc:
        found.append(_difference("model", bundle.get("model_version"), f"unusable model file: {exc}"))
    if model is not None and model.artifact_sha256 != stated.get("model_sha256"):
        found.append(_difference("model_sha256", stated.get("model_sha256"), model.artifact_sha256))
    features = _features_of(features)
    if payload is not None:
        try:
            computed = features_sha256(features, version=check.receipt_version or 1)
        except (ValueError, TypeError) as exc:  # rfc8785's errors are ValueErrors
            computed = f"features cannot be hashed: {exc}"
        if computed != payload["features_sha256"]:
            found.append(_difference("features_sha256", payload["features_sha256"], computed))
    bare = "receipt" not in answer
    original = view_from_payload(payload) if bare and payload is not None else None
    if original is None and not bare:
        try:
            original = view_from_answer(answer, payload)
        except (KeyError, TypeError, AttributeError) as exc:
            found.append(_difference("score", answer.get("id"), f"not a score answer: missing {exc}"))
    replayed: dict[str, Any] | None = None
    if model is not None and original is not None:
        thresholds = None if payload is None else payload.get("hint_thresholds")
        try:
            replayed = recompute(model, features, thresholds=thresholds)
        except FeatureValidationError as exc:
            found.append(_difference("features", None, f"the features do not validate: {exc}"))
        else:
            found += differences(original, replayed, signed=bare)
    return {
        "identical": not found and replayed is not None,
        "score_id": stated.get("score_id", answer.get("id")),
        "model_version": stated.get("model_version"),
        "receipt": {
            "valid": check.valid,
            "reason": check.reason,
            "key_id": check.key_id,
            "receipt_version": check.receipt_version,
        },
        "differences": found,
        "original": original,
        "replayed": replayed,
    }

"""Helpers of the receipt and replay tests: turn a stored decision's receipt into the v1 format
(what decisions signed before receipt v2 hold), and rotate a context's signing key."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from services.scoring.domain.receipt import features_sha256, receipt_payload_v1
from services.scoring.models import Decision
from services.scoring.settings import ScoringContext
from shared.crypto import Keyring, canonical_json, sha256_hex


def store_v1_receipt(ctx: ScoringContext, score_id: str) -> dict[str, str]:
    """Re-sign a stored decision as a v1 receipt would have (and hash its features the v1 way)."""
    with ctx.db.unit_of_work() as session:
        row = session.get(Decision, score_id)
        assert row is not None
        signed = json.loads(json.loads(row.receipt)["payload"])
        features = json.loads(row.features)
        inputs = features_sha256(features, version=1)
        payload = receipt_payload_v1(
            score_id=row.id,
            segment=row.segment,
            subject_id=row.subject_id,
            model_version=row.model_version,
            model_sha256=row.model_sha256,
            features_sha256=inputs,
            score=json.loads(row.outcome)["score"],
            pd=json.loads(row.outcome)["pd"],
            grade=row.grade,
            reason_codes=[r["code"] for r in signed["reasons"]],
            created_at=signed["created_at"],
        )
        key_id, signature = ctx.keyring.sign(payload)
        receipt = {"alg": "Ed25519", "key_id": key_id, "payload": payload, "signature": signature}
        session.execute(
            update(Decision)
            .where(Decision.id == score_id)
            .values(
                receipt=canonical_json(receipt),
                receipt_payload_sha256=sha256_hex(payload),
                features_sha256=inputs,
            )
        )
    return receipt


def own_keyring(ctx: ScoringContext, directory: Path) -> Keyring:
    """Give ``ctx`` a keyring of its own (the session's is shared by every test) and return it."""
    Keyring.generate(directory)
    ctx.keyring = Keyring.load(directory)
    return ctx.keyring

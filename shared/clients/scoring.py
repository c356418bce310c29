"""Typed client of the scoring service (``POST /v1/scores``) over an injected ``httpx.Client``.

Errors are the shared client's: ``ServiceUnreachable`` (connection failed, timed out, or a
502/503/504 after retries) and ``UpstreamProblem`` (scoring answered 4xx/500; a 422 names
the features it refused in ``problem["errors"]``). Callers pass an Idempotency-Key so a
retry after a lost answer gets the same score back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.http_client import ServiceClient, UpstreamProblem


class ScoreReason(BaseModel):
    """A reason code: the feature that cost points and its text."""

    model_config = ConfigDict(extra="ignore")

    code: str
    feature: str | None = None
    points: Decimal | None = None
    text: str | None = None


class ScoreResult(BaseModel):
    """What loans keeps of a scoring decision (scoring's 201 answer, extra fields ignored)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    id: str
    segment: str
    subject_id: str
    model_version: str | None = None
    score: Decimal
    pd: Decimal
    grade: str
    decision_hint: str
    reasons: list[ScoreReason] = Field(default_factory=list)


class ScoringClient(ServiceClient):
    """Calls the scoring service's ``POST /v1/scores``."""

    def score(
        self, *, segment: str, subject_id: str, features: dict[str, Any], idempotency_key: str
    ) -> ScoreResult:
        """Score ``subject_id`` in ``segment``; retry-safe because the call carries ``idempotency_key``."""
        response = self.request(
            "POST",
            "/v1/scores",
            json={"segment": segment, "subject_id": subject_id, "features": features},
            idempotency_key=idempotency_key,
        )
        try:
            return ScoreResult.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise UpstreamProblem(
                502, {"title": "Bad Gateway", "detail": f"unexpected scoring answer: {exc}"}
            ) from exc

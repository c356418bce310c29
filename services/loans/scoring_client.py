"""Typed client of the scoring service (``POST /v1/scores``) over an injected ``httpx.Client``.

Errors are the shared client's: ``ServiceUnreachable`` (connection failed, timed out, or a
502/503/504 after retries) and ``UpstreamProblem`` (scoring answered 4xx/500; a 422 names
the features it refused in ``problem["errors"]``). Every call carries an Idempotency-Key
derived from the application id, so a retry after a lost answer gets the same score back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.loans.settings import LoansSettings
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


def score_idempotency_key(application_id: str) -> str:
    """The Idempotency-Key of every scoring call for one application."""
    return f"loans-application-{application_id}"


class ScoringClient(ServiceClient):
    """Calls the scoring service on behalf of loan applications."""

    def score(
        self, *, segment: str, subject_id: str, features: dict[str, Any], application_id: str
    ) -> ScoreResult:
        """Score ``subject_id`` in ``segment``; retry-safe (keyed by the application id)."""
        response = self.request(
            "POST",
            "/v1/scores",
            json={"segment": segment, "subject_id": subject_id, "features": features},
            idempotency_key=score_idempotency_key(application_id),
        )
        try:
            return ScoreResult.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise UpstreamProblem(
                502, {"title": "Bad Gateway", "detail": f"unexpected scoring answer: {exc}"}
            ) from exc


def build_scoring_client(
    settings: LoansSettings, *, transport: httpx.BaseTransport | None = None
) -> ScoringClient:
    """A ScoringClient from settings (URL, key, timeout); ``transport`` for tests."""
    timeout = httpx.Timeout(
        settings.scoring_timeout_seconds, connect=min(2.0, settings.scoring_timeout_seconds)
    )
    client = httpx.Client(base_url=settings.scoring_url, timeout=timeout, transport=transport)
    return ScoringClient(client, api_key=settings.resolved_scoring_api_key)

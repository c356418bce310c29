"""How loans reaches the scoring service: the shared typed client, built from loans' settings.

Every call for an application carries an Idempotency-Key derived from the application id.
``scoring_client_factory`` gives the app and the worker one lazily built client each.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from services.loans.settings import LoansContext, LoansSettings
from shared.clients.scoring import ScoreReason, ScoreResult, ScoringClient
from shared.http_client import lazy_client, sender

__all__ = [
    "ScoreReason",
    "ScoreResult",
    "ScoringClient",
    "build_scoring_client",
    "score_idempotency_key",
    "scoring_client_factory",
]


def score_idempotency_key(application_id: str) -> str:
    """The Idempotency-Key of every scoring call for one application."""
    return f"loans-application-{application_id}"


def build_scoring_client(
    settings: LoansSettings, *, transport: httpx.BaseTransport | None = None
) -> ScoringClient:
    """A ScoringClient from settings (URL, key, timeout); ``transport`` for tests."""
    timeout = settings.scoring_timeout_seconds
    client = sender(settings.scoring_url, timeout=timeout, connect=min(2.0, timeout), transport=transport)
    return ScoringClient(client, api_key=settings.resolved_scoring_api_key)


def scoring_client_factory(ctx: LoansContext, client: ScoringClient | None) -> Callable[[], ScoringClient]:
    """Return the injected client, or build one from the settings on first use."""
    return lazy_client(client, lambda: build_scoring_client(ctx.settings))

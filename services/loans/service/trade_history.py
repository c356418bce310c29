"""An application's features before scoring: the marketplace ones filled from escrow's trade summary.

A linked borrower (``marketplace_party_id``) whose application omits marketplace features of
its segment gets them from escrow's ``GET /v1/parties/{party}/trade-summary`` (as of now),
asked with loans' own credential (``service:loans``) and no transaction open; the mapping is
``domain.marketplace_features``. Escrow unreachable or answering with an error leaves the
application waiting (``TradeSummaryUnavailable``: ``pending_score``, retried by the scoring
retry with the same backoff) unless the product says ``score_without_marketplace``, when the
omitted features go to scoring as ``default``. An unlinked borrower: nothing is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.loans.domain.marketplace_features import (
    TradeFacts,
    feature_sources,
    marketplace_values,
    omitted_marketplace_features,
)
from services.loans.service.escrow_subscription import build_escrow_client
from services.loans.settings import LoansContext
from shared.clients.escrow import EscrowClient, TradeSummary
from shared.http_client import ServiceCallError, lazy_client

log = logging.getLogger("agrifin.loans.trade_history")


class TradeSummaryUnavailable(Exception):
    """Escrow could not give the trade summary; the application waits for it."""


@dataclass(frozen=True)
class ScoringInput:
    """What goes to scoring for an application: features, each one's source, the summary's time."""

    features: dict[str, Any]
    sources: dict[str, str]
    marketplace_as_of: datetime | None


@dataclass(frozen=True)
class Applicant:
    """What filling needs to know of the application's borrower and product."""

    segment: str
    currency: str
    marketplace_party_id: str | None
    score_without_marketplace: bool


def escrow_client_factory(ctx: LoansContext, client: EscrowClient | None) -> Callable[[], EscrowClient]:
    """Return the injected client, or build one from the settings on first use."""
    return lazy_client(client, lambda: build_escrow_client(ctx.settings))


def trade_facts(summary: TradeSummary) -> TradeFacts:
    """The figures of escrow's answer the mapping reads."""
    return TradeFacts(
        as_of=summary.as_of,
        escrows=summary.escrows,
        completed_escrows=summary.completed_escrows,
        dispute_rate=summary.dispute_rate.decimal,
        net_minor={v.currency: v.net_minor for v in summary.currencies},
    )


def scoring_input(
    escrow: Callable[[], EscrowClient], applicant: Applicant, features: Mapping[str, Any], *, now: datetime
) -> ScoringInput:
    """The application's features with the omitted marketplace ones filled where escrow can.

    Raises ``TradeSummaryUnavailable`` when the application must wait for escrow.
    """
    omitted = omitted_marketplace_features(applicant.segment, features)
    given = dict(features)
    if not omitted or applicant.marketplace_party_id is None:
        return ScoringInput(given, feature_sources(given, defaulted=omitted), None)
    try:
        summary = escrow().trade_summary(applicant.marketplace_party_id, as_of=now)
    except ServiceCallError as exc:
        if not applicant.score_without_marketplace:
            raise TradeSummaryUnavailable(f"escrow's trade summary is unavailable: {exc}") from exc
        log.warning("scoring without marketplace features (the product allows it): %s", exc)
        return ScoringInput(given, feature_sources(given, defaulted=omitted), None)
    filled = marketplace_values(trade_facts(summary), currency=applicant.currency, wanted=omitted)
    merged = {**given, **filled}
    sources = feature_sources(merged, filled=filled, defaulted=[n for n in omitted if n not in filled])
    return ScoringInput(merged, sources, summary.as_of)

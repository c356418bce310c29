"""The three services' typed clients, bound to the signed-in person.

One ``httpx.Client`` per service lives as long as the app (connection pools); each request
gets thin typed clients over them that send the console's credential (``service:console``)
and the acting-person headers (``Person.acting_headers``), so every service authorises the
person's role and names the person in its audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import httpx

from services.console.service.sessions import Person
from services.console.settings import ConsoleContext, ConsoleSettings
from shared.clients.escrow import EscrowClient
from shared.clients.loans import LoansClient
from shared.clients.scoring import ScoringClient
from shared.http_client import ServiceClient

BACKEND_NAMES = ("scoring", "escrow", "loans")
C = TypeVar("C", bound=ServiceClient)


@dataclass(frozen=True)
class Backends:
    """Typed clients of scoring, escrow and loans acting for one person."""

    scoring: ScoringClient
    escrow: EscrowClient
    loans: LoansClient


def http_clients(settings: ConsoleSettings) -> dict[str, httpx.Client]:
    """One connection-pooled HTTP client per service, from the settings."""
    timeout = httpx.Timeout(settings.backend_timeout_seconds, connect=2.0)
    urls = {"scoring": settings.scoring_url, "escrow": settings.escrow_url, "loans": settings.loans_url}
    return {name: httpx.Client(base_url=url, timeout=timeout) for name, url in urls.items()}


def backends_for(http: Mapping[str, httpx.Client], ctx: ConsoleContext, person: Person) -> Backends:
    """Clients that act for ``person`` (the page's requests retry only idempotent calls, briefly)."""
    key = ctx.settings.resolved_api_key
    headers = person.acting_headers()

    def client(cls: type[C], name: str) -> C:
        return cls(http[name], api_key=key, headers=headers, service=name, attempts=2, max_backoff=0.5)

    return Backends(
        scoring=client(ScoringClient, "scoring"),
        escrow=client(EscrowClient, "escrow"),
        loans=client(LoansClient, "loans"),
    )

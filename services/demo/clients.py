"""Each person's typed clients of the four services, from ``shared/clients/``.

Every call the demo makes is a method of the shared clients (timeouts, retries only with an
Idempotency-Key, problem answers as ``UpstreamProblem`` naming the service); this module
only builds one set of them per person, over one HTTP connection pool per service.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.demo.people import People, Person
from services.demo.settings import DemoSettings
from shared.clients.escrow import EscrowClient
from shared.clients.loans import LoansClient
from shared.clients.platform import PlatformClient
from shared.clients.scoring import ScoringClient


@dataclass
class Desk:
    """One person's clients of the services."""

    person: Person
    scoring: ScoringClient
    escrow: EscrowClient
    loans: LoansClient


@dataclass
class System:
    """The running system as the demo's people reach it."""

    officer: Desk
    manager: Desk
    admin: Desk
    auditor: Desk
    marketplace: Desk
    console: PlatformClient
    """The console's audit routes (as the auditor)."""
    http: dict[str, httpx.Client]

    def close(self) -> None:
        """Close the HTTP connections."""
        for client in self.http.values():
            client.close()


def connect(settings: DemoSettings, people: People) -> System:
    """Clients of the four services for each person."""
    timeout = httpx.Timeout(settings.timeout_seconds, connect=3.0)
    http = {
        name: httpx.Client(base_url=getattr(settings, f"{name}_url"), timeout=timeout)
        for name in ("scoring", "escrow", "loans", "console")
    }

    def desk(person: Person) -> Desk:
        key, headers = person.api_key, person.headers
        return Desk(
            person=person,
            scoring=ScoringClient(http["scoring"], service="scoring", api_key=key, headers=headers),
            escrow=EscrowClient(http["escrow"], service="escrow", api_key=key, headers=headers),
            loans=LoansClient(http["loans"], service="loans", api_key=key, headers=headers),
        )

    auditor = desk(people.auditor)
    return System(
        officer=desk(people.officer),
        manager=desk(people.manager),
        admin=desk(people.admin),
        auditor=auditor,
        marketplace=desk(people.marketplace),
        console=PlatformClient(http["console"], service="console", api_key=people.auditor_key.api_key),
        http=http,
    )

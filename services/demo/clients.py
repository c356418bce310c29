"""The typed clients the demo calls, with the few calls it needs that the shared clients lack.

The shared clients serve the services and the console: the marketplace's checkout calls
(open, fund, ship, deliver, accept), the sandbox's confirmation, an admin's products,
decision policies, business date and close of business, and the proceeds reconciliation
are added here on top of them, over the same ``ServiceClient`` (timeouts, retries only
with an Idempotency-Key, problem answers as ``UpstreamProblem``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.demo.people import People, Person
from services.demo.settings import DemoSettings
from shared.clients.escrow import Escrow, EscrowClient, Payment
from shared.clients.loans import BusinessDate, LoansClient, Product
from shared.clients.platform import PlatformClient, unexpected_answer
from shared.clients.scoring import ScoringClient
from shared.http_client import ServiceClient, UpstreamProblem

_T = TypeVar("_T")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _parsed(client: ServiceClient, adapter: TypeAdapter[_T], response: httpx.Response, what: str) -> _T:
    try:
        return adapter.validate_python(response.json())
    except (ValueError, ValidationError) as exc:
        problem = unexpected_answer(what, exc)
        problem.service = client.service
        raise problem from None


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class Job(_Answer):
    """A job a request queued (``GET /v1/jobs/{id}``)."""

    job_id: str
    kind: str
    status: str
    progress: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None


class PolicyVersion(_Answer):
    """One version of a product's decision policy."""

    product_id: str
    version: int
    rules: dict[str, Any]


class Difference(_Answer):
    """One difference the proceeds reconciliation found."""

    loan_id: str
    kind: str
    detail: str


class Reconciliation(_Answer):
    """A page of the proceeds reconciliation."""

    differences: list[Difference]
    loans_checked: int
    balanced: bool
    next_offset: int | None = None


_ESCROW = TypeAdapter(Escrow)
_PAYMENT = TypeAdapter(Payment)
_PRODUCT = TypeAdapter(Product)
_POLICY = TypeAdapter(PolicyVersion)
_BUSINESS_DATE = TypeAdapter(BusinessDate)
_JOB = TypeAdapter(Job)
_RECONCILIATION = TypeAdapter(Reconciliation)


class MarketplaceEscrow(EscrowClient):
    """Escrow as the marketplace's checkout (and an admin's sandbox) calls it."""

    def _post(self, path: str, body: Any, key: str) -> httpx.Response:
        return self.request("POST", path, json=body, idempotency_key=key)

    def create_escrow(self, body: dict[str, Any], *, idempotency_key: str) -> Escrow:
        """Open an escrow for an order."""
        return _parsed(self, _ESCROW, self._post("/v1/escrows", body, idempotency_key), "POST /v1/escrows")

    def fund(self, escrow_id: str, *, idempotency_key: str) -> Payment:
        """Start the buyer's payment at the provider."""
        path = f"/v1/escrows/{_segment(escrow_id)}/fund"
        return _parsed(self, _PAYMENT, self._post(path, None, idempotency_key), f"POST {path}")

    def lot_action(
        self, escrow_id: str, lot_ref: str, action: str, body: Any = None, *, idempotency_key: str
    ) -> Escrow:
        """Ship, deliver or accept a lot."""
        path = f"/v1/escrows/{_segment(escrow_id)}/lots/{_segment(lot_ref)}/{action}"
        return _parsed(self, _ESCROW, self._post(path, body, idempotency_key), f"POST {path}")

    def confirm_sandbox_payment(self, payment_id: str, *, idempotency_key: str) -> None:
        """Make the sandbox provider confirm a payment now (admin; the worker would in seconds)."""
        self._post(f"/v1/sandbox/payments/{_segment(payment_id)}/confirm", None, idempotency_key)


class OperationsLoans(LoansClient):
    """Loans with an admin's products, policies, business date, close of business and reports."""

    def _ask(self, adapter: TypeAdapter[_T], path: str, body: Any, key: str) -> _T:
        response = self.request("POST", path, json=body, idempotency_key=key)
        return _parsed(self, adapter, response, f"POST {path}")

    def _read(self, adapter: TypeAdapter[_T], path: str, params: dict[str, Any] | None = None) -> _T:
        return _parsed(self, adapter, self.request("GET", path, params=params), f"GET {path}")

    def create_product(self, body: dict[str, Any], *, idempotency_key: str) -> Product:
        """Create a loan product."""
        return self._ask(_PRODUCT, "/v1/products", body, idempotency_key)

    def decision_policy(self, product_id: str) -> PolicyVersion | None:
        """The product's current decision policy (None: it has none)."""
        path = f"/v1/products/{_segment(product_id)}/decision-policy"
        try:
            return self._read(_POLICY, path)
        except UpstreamProblem as exc:
            if exc.status == 404:
                return None
            raise

    def set_decision_policy(
        self, product_id: str, rules: dict[str, Any], *, idempotency_key: str
    ) -> PolicyVersion:
        """Store a new version of the product's decision policy."""
        path = f"/v1/products/{_segment(product_id)}/decision-policy"
        return self._ask(_POLICY, path, rules, idempotency_key)

    def move_business_date(self, to: dt.date, *, idempotency_key: str) -> BusinessDate:
        """Move the business date forward (admin)."""
        return self._ask(_BUSINESS_DATE, "/v1/business-date", {"date": to.isoformat()}, idempotency_key)

    def close_of_business(self, on: dt.date, *, idempotency_key: str) -> Job:
        """Queue close of business up to ``on`` (admin); the job to poll."""
        return self._ask(_JOB, "/v1/close-of-business", {"date": on.isoformat()}, idempotency_key)

    def job(self, job_id: str) -> Job:
        """A job's state."""
        return self._read(_JOB, f"/v1/jobs/{_segment(job_id)}")

    def reconcile_proceeds(self, *, limit: int = 200, offset: int = 0) -> Reconciliation:
        """A page of the proceeds reconciliation (auditor, admin)."""
        params = {"limit": limit, "offset": offset}
        return self._read(_RECONCILIATION, "/v1/reconciliation/proceeds", params)


@dataclass
class Desk:
    """One person's clients of the services."""

    person: Person
    scoring: ScoringClient
    escrow: MarketplaceEscrow
    loans: OperationsLoans


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
            escrow=MarketplaceEscrow(http["escrow"], service="escrow", api_key=key, headers=headers),
            loans=OperationsLoans(http["loans"], service="loans", api_key=key, headers=headers),
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

"""The three real services talking over HTTP, for the integration tests.

``ServiceServer`` runs one app under uvicorn on a free 127.0.0.1 port in a background thread;
it can be stopped (connections are refused, as when a service is down) and started again on
the same port. ``http_system`` builds scoring, escrow and loans that way, each on its own
database from ``make_ctx`` (PostgreSQL too when ``AGRIFIN_TEST_POSTGRES_URL`` is set), all on
the test's ``ManualClock``, and wires them as a deployment is wired:

- loans reaches scoring and escrow at their real URLs with its own credential,
  ``service:loans`` (one key, stored in both, as ``agrifin keys create`` does), building its
  clients from its settings;
- each receiver subscribes itself to its publisher's events over the publisher's
  ``/v1/webhooks`` with its own service credential, by its worker job, as ``make run`` does:
  loans to escrow's ``assignment.swept`` (``loans.escrow.subscribe``, ``service:loans``),
  scoring to loans' ``loan.outcome`` (``scoring.loans.subscribe``, ``service:scoring``); each
  keeps the signing secret in its ``var_dir``;
- the worker's jobs (``shared.worker.platform_jobs`` and each service's ``periodic_jobs``) run
  when a test says so (``run_job``, ``deliver``), and their webhook deliveries go over real
  HTTP to the receiver's port.

Tests call the services over HTTP too, through ``Api`` (one per service, a named key per call).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from unittest import mock

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from services.escrow.app import create_app as create_escrow_app
from services.escrow.settings import EscrowContext
from services.loans.app import create_app as create_loans_app
from services.loans.settings import LoansContext, LoansSettings
from services.registry import service_jobs
from services.scoring import bootstrap as scoring_bootstrap
from services.scoring.app import create_app as create_scoring_app
from services.scoring.settings import ScoringContext, ScoringSettings
from shared.auth import Role
from shared.clock import ManualClock, as_utc
from shared.platform import ServiceContext
from shared.self_subscription import SubscriptionOutcome
from shared.webhook_delivery import DEFAULT_LEASE, DeliveryResult, claim_due, send_delivery
from shared.worker import platform_jobs
from tests.factories.escrow import EscrowPayloadFactory
from tests.factories.loans import ApplicationPayloadFactory, BorrowerPayloadFactory, ProductPayloadFactory
from tests.support import auth, free_port, issue_key

SERVICES = ("scoring", "escrow", "loans")
BOOTSTRAP_ROWS = 3_000
"""Synthetic rows each bootstrap champion of scoring trains on (enough, and fast)."""
START_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.02
MAX_FORWARD_DAYS = 31
"""Loans' default ``business_date_max_forward_days``: how far one request moves the date."""

PEOPLE: dict[str, tuple[tuple[str, Role, str | None], ...]] = {
    "scoring": (("officer", Role.LOAN_OFFICER, None), ("auditor", Role.AUDITOR, None)),
    "escrow": (
        ("market", Role.MARKETPLACE, "shop-1"),
        ("admin", Role.ADMIN, None),
        ("auditor", Role.AUDITOR, None),
    ),
    "loans": (
        ("officer", Role.LOAN_OFFICER, None),
        ("manager", Role.CREDIT_MANAGER, None),
        ("admin", Role.ADMIN, None),
        ("auditor", Role.AUDITOR, None),
    ),
}
"""The keys each service's tests call it with: name -> (role, owner)."""


class ServiceServer:
    """An app under uvicorn on ``127.0.0.1:<port>`` in a background thread; stop and start it again."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port if port is not None else free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL it answers on (while running)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether it is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Serve on the port (again); return once it accepts connections."""
        assert not self.running, f"{self.url} is already running"
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="none",
            http="h11",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn:{self.port}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            assert thread.is_alive(), f"the server on {self.url} exited while starting"
            assert time.monotonic() < deadline, f"the server on {self.url} did not start"
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Stop serving: once this returns, connections to the port are refused."""
        assert self._server is not None and self._thread is not None and self.running
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT_SECONDS)
        assert not self._thread.is_alive(), f"the server on {self.url} did not stop"

    def close(self) -> None:
        """Stop it if it is running."""
        if self.running:
            self.stop()


def bootstrap_scoring(ctx: ServiceContext) -> None:
    """Champion models for scoring's segments, trained quickly (``BOOTSTRAP_ROWS``)."""
    assert isinstance(ctx.settings, ScoringSettings)
    ctx.settings = ctx.settings.model_copy(update={"bootstrap_rows": BOOTSTRAP_ROWS})
    scoring_bootstrap.bootstrap(cast(ScoringContext, ctx))


@dataclass
class Api:
    """One service's REST API over HTTP, called with a named key; each call asserts its status.

    Every POST carries a fresh Idempotency-Key, as a careful client's would.
    """

    http: httpx.Client
    keys: dict[str, str]

    def call(
        self, method: str, path: str, body: Any = None, *, as_: str, expect: int | None = 200, **params: Any
    ) -> Any:
        """One request as the key ``as_``; its JSON answer (None when empty)."""
        headers = auth(self.keys[as_])
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        response = self.http.request(method, path, json=body, headers=headers, params=params or None)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def get(self, path: str, *, as_: str = "auditor", expect: int | None = 200, **params: Any) -> Any:
        """GET ``path``."""
        return self.call("GET", path, as_=as_, expect=expect, **params)

    def post(self, path: str, body: Any = None, *, as_: str = "admin", expect: int | None = 200) -> Any:
        """POST ``path``."""
        return self.call("POST", path, body, as_=as_, expect=expect)


@dataclass
class LoansApi(Api):
    """Loans over HTTP: products, borrowers, applications, loans, the business date."""

    def set_date(self, value: str) -> None:
        """Move the business date forward to ``value`` (in moves of at most ``MAX_FORWARD_DAYS``)."""
        target = datetime.fromisoformat(value).date()
        view = self.get("/v1/business-date", as_="admin")
        current = datetime.fromisoformat(view["date"]).date()
        if view["source"] != "clock":
            assert current <= target, f"the business date {current} is after {target}"
            while (target - current).days > MAX_FORWARD_DAYS:
                current += timedelta(days=MAX_FORWARD_DAYS)
                self.post("/v1/business-date", {"date": current.isoformat()})
        self.post("/v1/business-date", {"date": value})

    def product(self, **overrides: Any) -> dict[str, Any]:
        """A product (from the factory with ``overrides``)."""
        return dict(self.post("/v1/products", ProductPayloadFactory(**overrides), as_="manager", expect=201))

    def borrower(self, **overrides: Any) -> dict[str, Any]:
        """A borrower (from the factory with ``overrides``)."""
        return dict(
            self.post("/v1/borrowers", BorrowerPayloadFactory(**overrides), as_="officer", expect=201)
        )

    def apply(self, product_id: str, borrower_id: str, **overrides: Any) -> dict[str, Any]:
        """Submit an application (201, whatever scoring made of it)."""
        body = ApplicationPayloadFactory(product_id=product_id, borrower_id=borrower_id, **overrides)
        return dict(self.post("/v1/applications", body, as_="officer", expect=201))

    def application(self, application_id: str) -> dict[str, Any]:
        """GET an application."""
        return dict(self.get(f"/v1/applications/{application_id}"))

    def active_loan(self, product_id: str, *, disburse_on: str, **overrides: Any) -> dict[str, Any]:
        """Borrower → scored application → approval by a manager → disbursement on ``disburse_on``."""
        borrower = self.borrower()
        application = self.apply(product_id, borrower["id"], disbursement_date=disburse_on, **overrides)
        assert application["status"] == "scored", application
        loan = self.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
        return dict(self.post(f"/v1/loans/{loan['id']}/disburse", {"date": disburse_on}, as_="manager"))

    def loan(self, loan_id: str) -> dict[str, Any]:
        """GET a loan."""
        return dict(self.get(f"/v1/loans/{loan_id}"))

    def owed(self, loan_id: str) -> int:
        """Everything the loan still owes (minor units)."""
        return int(self.loan(loan_id)["outstanding"]["total_minor"])

    def repay(self, loan_id: str, amount_minor: int, on: str, external_id: str) -> dict[str, Any]:
        """A repayment at the counter."""
        body = {"amount_minor": amount_minor, "date": on, "external_id": external_id}
        return dict(self.post(f"/v1/loans/{loan_id}/repayments", body, as_="officer", expect=201))

    def transactions(self, loan_id: str) -> list[dict[str, Any]]:
        """The loan's transactions."""
        return list(self.get(f"/v1/loans/{loan_id}/transactions"))

    def sale_proceeds(self, loan_id: str) -> list[tuple[str, int]]:
        """(external id, amount) of each sale-proceeds repayment, in the order they were posted."""
        return [
            (t["external_id"], t["amount_minor"])
            for t in self.transactions(loan_id)
            if t["kind"] == "repayment" and t["source"] == "sale_proceeds"
        ]


@dataclass
class EscrowApi(Api):
    """Escrow over HTTP: assignments of proceeds and marketplace orders through to release."""

    def assign(self, loan_ref: str, *, share_bps: int, cap_minor: int, seller_id: str = "seller-1") -> Any:
        """Assign ``share_bps`` of the seller's KES releases, up to ``cap_minor``, to the loan."""
        body = {
            "seller_id": seller_id,
            "lender_id": "lender-1",
            "currency": "KES",
            "share_bps": share_bps,
            "cap_minor": cap_minor,
            "loan_ref": loan_ref,
        }
        return self.post("/v1/assignments", body, as_="admin", expect=201)

    def order(self, **overrides: Any) -> dict[str, Any]:
        """An escrow (two lots: A 60,000 and B 40,000 KES minor), funded through the sandbox."""
        escrow = self.post("/v1/escrows", EscrowPayloadFactory(**overrides), as_="market", expect=201)
        payment = self.post(f"/v1/escrows/{escrow['id']}/fund", as_="market", expect=202)
        confirmed = self.post(f"/v1/sandbox/payments/{payment['id']}/confirm", as_="admin")
        assert confirmed["status"] == "processed", confirmed
        return dict(escrow)

    def accept(self, escrow_id: str, lot_ref: str) -> None:
        """Ship, deliver and accept a lot: its release sweeps the assigned share."""
        lots = f"/v1/escrows/{escrow_id}/lots/{lot_ref}"
        self.post(f"{lots}/ship", {"carrier": "G4S", "tracking": f"T-{lot_ref}"}, as_="market")
        self.post(f"{lots}/deliver", as_="market")
        self.post(f"{lots}/accept", as_="market")


@dataclass
class HttpSystem:
    """Scoring, escrow and loans serving over HTTP, each on its own database and port."""

    clock: ManualClock
    ctx: dict[str, ServiceContext]
    servers: dict[str, ServiceServer]
    network: httpx.Client
    """The worker's HTTP client: what webhook deliveries go over."""
    scoring: Api
    escrow: EscrowApi
    loans: LoansApi
    _jobs: dict[str, dict[str, Callable[[], object]]] = field(default_factory=dict)

    @property
    def loans_ctx(self) -> LoansContext:
        """Loans' context, typed."""
        return cast(LoansContext, self.ctx["loans"])

    def url(self, service: str) -> str:
        """A service's base URL."""
        return self.servers[service].url

    def stop(self, service: str) -> None:
        """Take a service down: connections to it are refused until ``start``."""
        self.servers[service].stop()
        with httpx.Client() as probe:
            try:
                probe.get(f"{self.url(service)}/healthz", timeout=2)
            except httpx.ConnectError:
                return
        raise AssertionError(f"{service} still answers after it was stopped")

    def start(self, service: str) -> None:
        """Bring a service back on its port."""
        self.servers[service].start()

    # -- the worker ----------------------------------------------------------------------------

    def jobs(self, service: str) -> dict[str, Callable[[], object]]:
        """The worker's jobs of a service by name (built once, as the worker builds them)."""
        if service not in self._jobs:
            ctx = self.ctx[service]
            self._jobs[service] = {
                name: job for name, _, job in platform_jobs(ctx, self.network) + service_jobs(service, ctx)
            }
        return self._jobs[service]

    def run_job(self, name: str) -> object:
        """Run one of the worker's jobs once (``loans.scoring.retry``, ...); its result."""
        return self.jobs(name.split(".", 1)[0])[name]()

    def close_of_business(self) -> dict[str, Any]:
        """Close of business for loans' business date: queued over HTTP (202), run by the worker's
        ``loans.jobs.run``; the job's result."""
        job = self.loans.post("/v1/close-of-business", expect=202)
        assert job["status"] == "queued", job
        self.run_job("loans.jobs.run")
        done = self.loans.get(job["href"], as_="admin")
        assert done["status"] == "succeeded", done
        return dict(done["result"])

    def deliveries(self, service: str) -> list[dict[str, Any]]:
        """The webhook deliveries of a service (its outbox's fan-out), oldest first, with their topics."""
        ctx = self.ctx[service]
        dl, ev = ctx.tables.webhook_deliveries, ctx.tables.outbox
        with ctx.db.unit_of_work(read_only=True) as session:
            rows = session.execute(
                select(dl, ev.c.topic, ev.c.payload).join(ev, ev.c.id == dl.c.event_id).order_by(dl.c.id)
            ).mappings()
            return [dict(row) for row in rows]

    def events(self, service: str, topic: str) -> list[dict[str, Any]]:
        """A service's outbox events of ``topic``, oldest first (events of one instant in no
        particular order), with their payloads decoded."""
        ctx = self.ctx[service]
        ev = ctx.tables.outbox
        with ctx.db.unit_of_work(read_only=True) as session:
            rows = session.execute(select(ev).where(ev.c.topic == topic).order_by(ev.c.created_at)).mappings()
            return [dict(row) | {"payload": json.loads(row["payload"])} for row in rows]

    def dispatch(self, service: str) -> int:
        """Run the outbox fan-out job once: new events become deliveries; return events handled."""
        return int(cast(int, self.run_job(f"{service}.outbox.dispatch")))

    def deliver(self, service: str, *, past_backoff: bool = True) -> int:
        """Run a service's webhook delivery job once, as the worker does (after the outbox fan-out),
        with the clock first moved past every pending delivery's backoff (``past_backoff``);
        return how many were delivered."""
        self.dispatch(service)
        if past_backoff:
            pending = [
                as_utc(d["next_attempt_at"]) for d in self.deliveries(service) if d["state"] == "pending"
            ]
            if pending and max(pending) > self.clock.now():
                self.clock.set(max(pending) + timedelta(seconds=1))
        return int(cast(int, self.run_job(f"{service}.webhooks.deliver")))

    def deliver_then_crash(self, service: str) -> list[DeliveryResult | None]:
        """A worker that sends every due delivery and dies before recording any answer: the
        deliveries stay pending under a lease; once the lease runs out the next run sends them
        again (at-least-once). Returns what each send got."""
        ctx = self.ctx[service]
        self.dispatch(service)
        claimed = claim_due(ctx.db, ctx.tables, ctx.keyring, now=self.clock.now())
        results = [send_delivery(self.network, d, now=self.clock.now) for d in claimed]
        self.clock.advance(DEFAULT_LEASE + timedelta(seconds=1))
        return results

    def close(self) -> None:
        """Stop every server and close the clients."""
        for server in self.servers.values():
            server.close()
        for api in (self.scoring, self.escrow, self.loans):
            api.http.close()
        self.network.close()


def _http(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=httpx.Timeout(30.0, connect=2.0))


@contextmanager
def _closing_every_http_client() -> Iterator[None]:
    """Close, when the block ends, every ``httpx.Client`` made inside it.

    The services build their clients of each other from their settings, lazily, for the
    process's lifetime (the app's, each worker job's), and never close them: the process's
    exit does. Here the system stops mid-process, so the clients made while it ran are closed
    with it (else their sockets are reported unclosed whenever they are collected).
    """
    made: list[httpx.Client] = []
    original = httpx.Client.__init__

    def tracked(client: httpx.Client, *args: Any, **kwargs: Any) -> None:
        original(client, *args, **kwargs)
        made.append(client)

    with mock.patch.object(httpx.Client, "__init__", tracked):
        try:
            yield
        finally:
            for client in made:
                client.close()


@contextmanager
def http_system(make_ctx: Callable[[str], ServiceContext], clock: ManualClock) -> Iterator[HttpSystem]:
    """Scoring (bootstrapped), escrow and loans serving over HTTP and wired to each other."""
    with _closing_every_http_client():
        yield from _serving(make_ctx, clock)


def _serving(make_ctx: Callable[[str], ServiceContext], clock: ManualClock) -> Iterator[HttpSystem]:
    ctx = {name: make_ctx(name) for name in SERVICES}
    bootstrap_scoring(ctx["scoring"])
    ports = {name: free_port() for name in SERVICES}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    keys = {
        name: {who: issue_key(ctx[name], role, owner) for who, role, owner in PEOPLE[name]}
        for name in SERVICES
    }
    loans_key = issue_key(ctx["scoring"], Role.SERVICE, "loans")  # service:loans, in scoring and escrow
    issue_key(ctx["escrow"], Role.SERVICE, "loans", key=loans_key)
    scoring_key = issue_key(ctx["loans"], Role.SERVICE, "scoring")  # service:scoring, in loans
    loans_settings, scoring_settings = ctx["loans"].settings, ctx["scoring"].settings
    assert isinstance(loans_settings, LoansSettings) and isinstance(scoring_settings, ScoringSettings)
    ctx["loans"].settings = loans_settings.model_copy(
        update={
            "scoring_url": base["scoring"],
            "scoring_api_key": loans_key,
            "escrow_url": base["escrow"],
            "escrow_api_key": loans_key,
            "public_url": base["loans"],
        }
    )
    ctx["scoring"].settings = scoring_settings.model_copy(
        update={"loans_url": base["loans"], "loans_api_key": scoring_key, "public_url": base["scoring"]}
    )
    apps = {
        "scoring": create_scoring_app(cast(ScoringContext, ctx["scoring"])),
        "escrow": create_escrow_app(cast(EscrowContext, ctx["escrow"])),
        "loans": create_loans_app(cast(LoansContext, ctx["loans"])),  # its clients come from its settings
    }
    servers = {name: ServiceServer(apps[name], ports[name]) for name in SERVICES}
    system = HttpSystem(
        clock=clock,
        ctx=ctx,
        servers=servers,
        network=httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0)),
        scoring=Api(_http(base["scoring"]), keys["scoring"]),
        escrow=EscrowApi(_http(base["escrow"]), keys["escrow"]),
        loans=LoansApi(_http(base["loans"]), keys["loans"]),
    )
    try:
        for server in servers.values():
            server.start()
        # Each receiver subscribes itself through its publisher's API, as the worker does at start.
        for job in ("loans.escrow.subscribe", "scoring.loans.subscribe"):
            outcome = system.run_job(job)
            assert isinstance(outcome, SubscriptionOutcome) and outcome.status == "subscribed", (job, outcome)
        yield system
    finally:
        system.close()

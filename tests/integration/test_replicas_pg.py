"""Two replicas of each service as processes on PostgreSQL, two workers, a round-robin client.

Scoring, escrow and loans each run twice (``agrifin serve``, one process each), each pair on
one fresh PostgreSQL database of its own, beside two ``agrifin worker`` processes. The
processes share the databases and their configuration (the keys directory, the service
credentials in ``dev-keys.json``), nothing they write: every scoring process and every worker
has a model store directory of its own (a model registered by one process must reach the
others through the database), and the webhook subscriptions between the services are the
operator's (``AGRIFIN_LOANS_ESCROW_WEBHOOK_SECRET``, ``AGRIFIN_SCORING_LOANS_WEBHOOK_SECRET``),
not a secret file a worker wrote. Replica ``i`` of loans calls replica ``i`` of scoring and
escrow; worker ``i`` calls replica ``i`` of each.

The tests call each service through a client that alternates replicas per request (no
proxy), so every step of a flow lands on the other replica than the step before, and a
retried POST (same Idempotency-Key, same body) lands on the other replica and replays.

The system is started once for the module (under the e2e tests' xdist group: one
process-starting package at a time on a worker) and only on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, make_url, select, text

from bench.local_system import serve, wait_ready, work
from bench.local_system import stop as stop_process
from services.registry import SERVICE_NAMES, definition
from shared.auth import hash_api_key
from shared.db import normalize_url
from tests.conftest import PG_URL
from tests.e2e.system import GROUP, agrifin, environment
from tests.factories.escrow import EscrowPayloadFactory
from tests.integration.http_system import BOOTSTRAP_ROWS, SERVICES, Api, EscrowApi, LoansApi
from tests.support import auth, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group(GROUP)]

REPLICAS = 2
WORKERS = 2
STOP_SECONDS = 20.0
WAIT_SECONDS = 60.0
"""How long a test waits for the workers' asynchronous effects (a job, a sweep) before failing."""
POLL_SECONDS = 0.2
PEOPLE = {
    "officer": "loan_officer",
    "manager": "credit_manager",
    "market": "marketplace",
    "admin": "admin",
    "auditor": "auditor",
}
"""The names ``http_system.Api`` calls with -> the dev-keys.json entry (one key in every service)."""


class RoundRobin(httpx.BaseTransport):
    """Sends each request to the next replica in turn, no proxy: the URL's origin is replaced."""

    def __init__(self, urls: list[str]) -> None:
        self.targets = [httpx.URL(url) for url in urls]
        self.served: list[int] = []
        """The replica (0-based) each request went to, in order."""
        self.sent: list[tuple[int, str, str]] = []
        """(replica, method, path) of each request, in order."""
        self._turn = itertools.cycle(range(len(urls)))
        self._http = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward ``request`` to the replica whose turn it is."""
        replica = next(self._turn)
        target = self.targets[replica]
        request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
        request.headers["Host"] = target.netloc.decode("ascii")
        self.served.append(replica)
        self.sent.append((replica, request.method, request.url.path))
        return self._http.handle_request(request)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()


@dataclass
class Replicas:
    """The running system: its environment, each service's replica URLs and databases, the keys."""

    var: Path
    env: dict[str, str]
    urls: dict[str, list[str]]
    databases: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        """Where each process's output goes (``<name>.log``)."""
        return self.var.parent / "logs"

    def round_robin(self, service: str) -> tuple[httpx.Client, RoundRobin]:
        """A client of ``service`` that alternates its replicas per request, and its transport."""
        transport = RoundRobin(self.urls[service])
        client = httpx.Client(base_url=f"http://{service}", transport=transport, timeout=30.0)
        self.clients.append(client)
        return client, transport

    def api(self, service: str) -> tuple[Api, RoundRobin]:
        """``http_system``'s driver of ``service`` over the round-robin client."""
        client, transport = self.round_robin(service)
        keys = {name: self.keys[entry] for name, entry in PEOPLE.items()}
        driver = {"escrow": EscrowApi, "loans": LoansApi}.get(service, Api)
        return driver(client, keys), transport

    def replica(self, service: str, index: int) -> httpx.Client:
        """A client of one replica (0-based)."""
        client = httpx.Client(base_url=self.urls[service][index], timeout=30.0)
        self.clients.append(client)
        return client

    def start(self, name: str, env: dict[str, str], service: str | None = None) -> None:
        """Start ``agrifin serve <service>`` (or ``agrifin worker`` without one) as ``name``."""
        log = self.logs / f"{name}.log"
        self.processes[name] = serve(env, service, log=log) if service else work(env, log=log)

    def wait_ready(self, service: str) -> None:
        """Every replica of ``service`` answers 200 on ``/readyz`` (else fail with the logs)."""
        ports = {f"{service}-{i + 1}": httpx.URL(url).port or 80 for i, url in enumerate(self.urls[service])}
        try:
            wait_ready(ports, timeout=120)
        except SystemExit as exc:
            raise AssertionError(f"{exc}\n{self.log_tails()}") from None

    def log_tails(self) -> str:
        """The end of every process's log, for a failure message."""
        return "\n".join(
            f"--- {name} (exit {proc.poll()}):\n{(self.logs / f'{name}.log').read_text()[-3000:]}"
            for name, proc in self.processes.items()
        )

    def assert_running(self) -> None:
        """Every process still runs (a replica or worker that died fails the test, with the logs)."""
        dead = [name for name, proc in self.processes.items() if proc.poll() is not None]
        assert not dead, f"exited: {dead}\n{self.log_tails()}"

    def stop(self) -> None:
        """SIGTERM every process; kill those still running after ``STOP_SECONDS``; fail unless
        each stopped cleanly (a worker exits 0, uvicorn re-raises the SIGTERM it drained on)."""
        for client in self.clients:
            client.close()
        for proc in self.processes.values():  # all at once: they drain side by side
            if proc.poll() is None:
                proc.terminate()
        codes = {name: stop_process(proc, timeout=STOP_SECONDS) for name, proc in self.processes.items()}
        unclean = {name: code for name, code in codes.items() if code not in (0, -signal.SIGTERM)}
        assert not unclean, f"not stopped cleanly: {unclean}\n{self.log_tails()}"


def _replica_env(base: dict[str, str], urls: dict[str, list[str]], index: int) -> dict[str, str]:
    """``base`` for the processes of replica ``index``: their ports, and replica ``index`` of the
    services they call."""
    env = dict(base)
    env.update({f"AGRIFIN_{name.upper()}_PORT": str(httpx.URL(urls[name][index]).port) for name in SERVICES})
    env["AGRIFIN_LOANS_SCORING_URL"] = urls["scoring"][index]
    env["AGRIFIN_LOANS_ESCROW_URL"] = urls["escrow"][index]
    env["AGRIFIN_SCORING_LOANS_URL"] = urls["loans"][index]
    return env


def _own_model_store(env: dict[str, str], var: Path, name: str) -> dict[str, str]:
    return env | {"AGRIFIN_SCORING_MODEL_STORE_DIR": str(var / f"models-{name}")}


def _subscribe(system: Replicas, publisher: str, *, credential: str, url: str, topic: str) -> str:
    """Subscribe ``url`` to ``topic`` at ``publisher`` with ``credential``, as an operator would."""
    client, _ = system.round_robin(publisher)
    answer = client.post(
        "/v1/webhooks",
        json={"url": url, "topics": [topic]},
        headers=auth(system.keys[credential], **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


@contextlib.contextmanager
def _databases(token: str) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database per service (``agrifin_replicas_<token>_<service>``), dropped after."""
    assert PG_URL is not None
    base = make_url(normalize_url(PG_URL))
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    urls = {
        name: base.set(database=f"agrifin_replicas_{token}_{name}").render_as_string(hide_password=False)
        for name in SERVICE_NAMES
    }
    try:
        with admin.connect() as conn:
            for url in urls.values():
                conn.execute(text(f'CREATE DATABASE "{make_url(url).database}"'))
        yield urls
    finally:
        with admin.connect() as conn:
            for url in urls.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        admin.dispose()


def _start_system(var: Path, databases: dict[str, str], stack: contextlib.ExitStack) -> Replicas:
    """Bootstrap, then escrow, loans and scoring twice each and two workers; ``stack`` stops them."""
    ports = {name: [free_port() for _ in range(REPLICAS)] for name in SERVICES}
    urls = {name: [f"http://127.0.0.1:{port}" for port in ports[name]] for name in SERVICES}
    base = environment(var, {name: ports[name][0] for name in SERVICES})
    base.update({f"AGRIFIN_{name.upper()}_DATABASE_URL": url for name, url in databases.items()})
    base.update({f"AGRIFIN_{name.upper()}_WORKERS": "1" for name in SERVICE_NAMES})  # one process a replica
    base.update(
        {
            "AGRIFIN_LOG_LEVEL": "WARNING",
            "AGRIFIN_STOP_GRACE_SECONDS": "5",
            "AGRIFIN_SCORING_BOOTSTRAP_ROWS": str(BOOTSTRAP_ROWS),
            # the tests confirm the sandbox payments themselves
            "AGRIFIN_ESCROW_SANDBOX_AUTO_CONFIRM": "false",
            # escrow delivers loans' sweeps to loans' second replica, loans its outcomes to scoring's first
            "AGRIFIN_LOANS_PUBLIC_URL": urls["loans"][1],
            "AGRIFIN_SCORING_PUBLIC_URL": urls["scoring"][0],
        }
    )
    system = Replicas(var=var, env=base, urls=urls, databases=databases)
    stack.callback(system.stop)
    system.logs.mkdir(parents=True, exist_ok=True)
    done = agrifin("bootstrap", env=base)
    assert done.returncode == 0, f"agrifin bootstrap exited {done.returncode}:\n{done.stdout}{done.stderr}"
    system.keys = dict(json.loads((var / "dev-keys.json").read_text()))
    envs = [_replica_env(base, urls, i) for i in range(REPLICAS)]

    for i in range(REPLICAS):
        system.start(f"escrow-{i + 1}", envs[i], "escrow")
    system.wait_ready("escrow")
    loans_secret = _subscribe(
        system,
        "escrow",
        credential="service:loans",
        url=f"{urls['loans'][1]}/v1/inbound/escrow",
        topic="assignment.swept",
    )
    envs = [env | {"AGRIFIN_LOANS_ESCROW_WEBHOOK_SECRET": loans_secret} for env in envs]
    for i in range(REPLICAS):
        system.start(f"loans-{i + 1}", envs[i], "loans")
    system.wait_ready("loans")
    scoring_secret = _subscribe(
        system,
        "loans",
        credential="service:scoring",
        url=f"{urls['scoring'][0]}/v1/inbound/loans",
        topic="loan.outcome",
    )
    envs = [env | {"AGRIFIN_SCORING_LOANS_WEBHOOK_SECRET": scoring_secret} for env in envs]
    for i in range(REPLICAS):
        system.start(f"scoring-{i + 1}", _own_model_store(envs[i], var, f"scoring-{i + 1}"), "scoring")
    for i in range(WORKERS):
        system.start(f"worker-{i + 1}", _own_model_store(envs[i % REPLICAS], var, f"worker-{i + 1}"))
    system.wait_ready("scoring")
    system.assert_running()
    return system


class LazySystem:
    """The module's system, started by the first PostgreSQL test that asks for it."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self._tmp = tmp
        self._stack = contextlib.ExitStack()
        self._system: Replicas | None = None
        self._failed: str | None = None

    def get(self) -> Replicas:
        """The running system (a start that failed once fails every later test too)."""
        assert self._failed is None, f"the system did not start: {self._failed}"
        if self._system is None:
            try:
                databases = self._stack.enter_context(_databases(secrets.token_hex(4)))
                self._system = _start_system(self._tmp.mktemp("replicas") / "var", databases, self._stack)
            except BaseException as exc:
                self._failed = f"{type(exc).__name__}: {exc}"[:2000]
                raise
        return self._system

    def close(self) -> None:
        """Stop every process, then drop the databases."""
        self._stack.close()


@pytest.fixture(scope="module")
def lazy_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LazySystem]:
    """The module's system, started on first use and stopped at the end of the module."""
    holder = LazySystem(tmp_path_factory)
    yield holder
    holder.close()


@pytest.fixture
def replicas(postgres_only: None, lazy_system: LazySystem) -> Iterator[Replicas]:
    """The running system (PostgreSQL only); every process must outlive each test."""
    system = lazy_system.get()
    system.assert_running()
    yield system
    system.assert_running()


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _order(seller: str) -> dict[str, Any]:
    """An escrow body (lots A 60,000 and B 40,000 KES minor) with deadlines from now (the
    processes run on the wall clock)."""
    return dict(
        EscrowPayloadFactory(
            order_ref=f"ORD-{uuid.uuid4().hex[:10]}",
            seller_id=seller,
            funding_deadline=_at(2),
            delivery_deadline=_at(10),
        )
    )


def _wait_for(what: str, probe: Callable[[], Any], system: Replicas) -> Any:
    """Poll ``probe()`` until it returns something truthy (the workers' asynchronous effects)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        system.assert_running()
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{what}: not seen within {WAIT_SECONDS:g} s\n{system.log_tails()}")


def _posts_answered(system: Replicas, service: str, prefixes: tuple[str, ...]) -> Counter[int]:
    """Replica -> the POSTs under ``prefixes`` its process has answered so far (its own /metrics)."""
    answered: Counter[int] = Counter()
    for replica in range(REPLICAS):
        metrics = system.replica(service, replica).get("/metrics")
        assert metrics.status_code == 200, metrics.text
        for labels, value in re.findall(r"^agrifin_http_requests_total\{(.*)\} (\S+)$", metrics.text, re.M):
            label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            if label["method"] == "POST" and label["route"].startswith(prefixes):
                answered[replica] += int(float(value))
    return answered


def _alternated(served: list[int]) -> bool:
    return all(a != b for a, b in itertools.pairwise(served)) and set(served) == set(range(REPLICAS))


def _post_twice(
    client: httpx.Client, path: str, body: Any, key: str
) -> tuple[httpx.Response, httpx.Response]:
    """The same POST (same Idempotency-Key, same body) sent twice in a row: with the round-robin
    client the retry goes to the other replica."""
    headers = auth(key, **{"Idempotency-Key": uuid.uuid4().hex})
    first = client.post(path, json=body, headers=headers)
    again = client.post(path, json=body, headers=headers)
    return first, again


def _assert_replayed(first: httpx.Response, again: httpx.Response, status: int) -> None:
    assert first.status_code == status, first.text
    assert again.status_code == status, again.text
    assert again.headers.get("Idempotent-Replayed") == "true", dict(again.headers)
    assert again.json() == first.json()


def test_an_escrow_cycle_alternates_replicas_and_a_retry_on_the_other_replica_replays(
    replicas: Replicas,
) -> None:
    escrow, served = replicas.api("escrow")
    assert isinstance(escrow, EscrowApi)
    flow = ("/v1/escrows", "/v1/sandbox")
    answered_before = _posts_answered(replicas, "escrow", flow)
    created = escrow.post("/v1/escrows", _order("seller-escrow-cycle"), as_="market", expect=201)
    escrow_id = created["id"]
    payment = escrow.post(f"/v1/escrows/{escrow_id}/fund", as_="market", expect=202)
    confirmed = escrow.post(f"/v1/sandbox/payments/{payment['id']}/confirm", as_="admin")
    assert confirmed["status"] == "processed", confirmed

    lot_a = f"/v1/escrows/{escrow_id}/lots/A"
    shipped, retried = _post_twice(
        escrow.http, f"{lot_a}/ship", {"carrier": "G4S", "tracking": "T-A"}, escrow.keys["market"]
    )
    _assert_replayed(shipped, retried, 200)
    escrow.post(f"{lot_a}/deliver", as_="market")
    accepted, retried = _post_twice(escrow.http, f"{lot_a}/accept", None, escrow.keys["market"])
    _assert_replayed(accepted, retried, 200)
    escrow.accept(escrow_id, "B")  # ship, deliver, accept: the last lot's release closes the escrow

    # Each process answered exactly the POSTs the client sent it: both replicas did the work,
    # the original of each retried POST on one and its replay on the other.
    sent = Counter(replica for replica, method, _ in served.sent if method == "POST")
    assert _posts_answered(replicas, "escrow", flow) - answered_before == sent, served.sent
    assert all(sent[replica] > 0 for replica in range(REPLICAS)), sent
    view = escrow.get(f"/v1/escrows/{escrow_id}")
    assert _alternated(served.served), served.served
    assert view["status"] == "completed", view["status"]
    assert [(lot["status"], lot["released_minor"]) for lot in view["lots"]] == [
        ("accepted", 60_000),
        ("accepted", 40_000),
    ]
    assert view["funded_minor"] == 100_000
    assert view["held_minor"] == 0
    assert view["released_minor"] + view["fees_minor"] == 100_000
    events = [(item["event"], item["lot_ref"]) for item in view["timeline"]]
    for lot_ref in ("A", "B"):  # each step once, though A's ship and accept were each sent twice
        assert sum(1 for event, ref in events if ref == lot_ref and "ship" in event) == 1, events
        assert sum(1 for event, ref in events if ref == lot_ref and "accept" in event) == 1, events
    for replica in range(REPLICAS):  # both replicas read the same ledger, and it balances
        ledger = replicas.replica("escrow", replica).get(
            "/v1/ledger/verify", headers=auth(escrow.keys["auditor"])
        )
        assert ledger.status_code == 200 and ledger.json()["ok"] is True, ledger.text


def test_a_loan_decided_disbursed_and_repaid_across_replicas_with_its_proceeds_swept(
    replicas: Replicas,
) -> None:
    loans, served = replicas.api("loans")
    escrow, _ = replicas.api("escrow")
    assert isinstance(loans, LoansApi) and isinstance(escrow, EscrowApi)
    scoring, _ = replicas.api("scoring")
    farmer = {"features": scoring.get("/v1/segments/farmer", as_="officer")["example"]}
    today = datetime.now(UTC).date().isoformat()
    seller = f"seller-{uuid.uuid4().hex[:8]}"
    product = loans.product(allow_sale_proceeds=True, sale_proceeds_share_bps=5_000)
    borrower = loans.borrower(marketplace_party_id=seller)
    other = loans.borrower()

    # Two applications in a row: one through each loans replica, so each scoring replica scores one.
    start = len(served.served)
    application = loans.apply(
        product["id"], borrower["id"], disbursement_date=today, principal_minor=500_000, **farmer
    )
    second = loans.apply(
        product["id"], other["id"], disbursement_date=today, principal_minor=300_000, **farmer
    )
    assert set(served.served[start:]) == set(range(REPLICAS)), served.served
    for applied in (application, second):
        assert applied["status"] == "scored", applied
        for replica in range(REPLICAS):  # the score is in scoring's one database, whichever replica made it
            score = replicas.replica("scoring", replica).get(
                f"/v1/scores/{applied['score']['id']}", headers=auth(loans.keys["auditor"])
            )
            assert score.status_code == 200, score.text

    # Maker-checker: the officer submitted, a credit manager approves (another person, another key).
    loan = loans.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
    disbursed = loans.post(f"/v1/loans/{loan['id']}/disburse", {"date": today}, as_="manager")
    assert disbursed["status"] == "active", disbursed
    owed_at_start = int(disbursed["outstanding"]["total_minor"])

    # A worker registers the assignment of proceeds with escrow (loans' instruction).
    (assignment,) = _wait_for(
        "the assignment of proceeds at escrow",
        lambda: escrow.get("/v1/assignments", as_="admin", loan_ref=loan["id"])["assignments"],
        replicas,
    )
    assert (assignment["seller_id"], assignment["share_bps"]) == (seller, 5_000)

    # The borrower sells: the release sweeps half of the net to the lender; a worker delivers the
    # sweep to loans (its second replica), which posts it as a sale-proceeds repayment.
    order = escrow.order(**_order(seller))
    escrow.accept(order["id"], "A")  # 60,000 gross, fee 1,500, net 58,500: half is 29,250
    sweeps = escrow.get(f"/v1/assignments/{assignment['id']}/sweeps", as_="admin")
    (sweep,) = sweeps["sweeps"]
    assert sweep["amount_minor"] == 29_250
    proceeds = _wait_for(
        "the sweep as a repayment at loans", lambda: loans.sale_proceeds(loan["id"]), replicas
    )
    assert proceeds == [(f"escrow:{sweep['event_id']}", 29_250)]

    # A repayment at the counter, retried on the other replica with the same key: applied once.
    body = {"amount_minor": 50_000, "date": today, "external_id": f"counter-{uuid.uuid4().hex[:8]}"}
    paid, retried = _post_twice(loans.http, f"/v1/loans/{loan['id']}/repayments", body, loans.keys["officer"])
    _assert_replayed(paid, retried, 201)

    repayments = [t for t in loans.transactions(loan["id"]) if t["kind"] == "repayment"]
    assert sorted((t["external_id"], t["amount_minor"]) for t in repayments) == sorted(
        [(f"escrow:{sweep['event_id']}", 29_250), (body["external_id"], 50_000)]
    )
    for replica in range(REPLICAS):  # every replica reads the same, consistent loan
        view = replicas.replica("loans", replica).get(
            f"/v1/loans/{loan['id']}", headers=auth(loans.keys["auditor"])
        )
        assert view.status_code == 200, view.text
        assert int(view.json()["outstanding"]["total_minor"]) == owed_at_start - 29_250 - 50_000, view.json()
    after = escrow.get(f"/v1/assignments/{assignment['id']}", as_="admin")
    assert (after["swept_minor"], after["remaining_minor"]) == (29_250, assignment["cap_minor"] - 29_250)
    assert _alternated(served.served), served.served


def test_a_key_revoked_from_another_process_is_refused_by_every_replica(replicas: Replicas) -> None:
    made = agrifin("keys", "create", "--role", "auditor", "--label", "replica-test", env=replicas.env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    every_replica = [(service, i) for service in SERVICES for i in range(REPLICAS)]
    for service, i in every_replica:  # in use everywhere (any per-process cache holds it now)
        answer = replicas.replica(service, i).get("/v1/audit/verify", headers=auth(key))
        assert answer.status_code == 200, (service, i, answer.text)

    scoring_db = create_engine(normalize_url(replicas.databases["scoring"]))
    keys = definition("scoring").tables.api_keys
    with scoring_db.connect() as conn:
        key_id = conn.execute(select(keys.c.id).where(keys.c.key_hash == hash_api_key(key))).scalar_one()
    scoring_db.dispose()
    revoked = agrifin("keys", "revoke", key_id, env=replicas.env)
    assert revoked.returncode == 0, revoked.stderr

    for service, i in every_replica:
        answer = replicas.replica(service, i).get("/v1/audit/verify", headers=auth(key))
        assert answer.status_code == 401, (service, i, answer.status_code, answer.text)


def test_a_model_trained_and_promoted_through_one_replica_scores_on_the_other(replicas: Replicas) -> None:
    one, two = replicas.replica("scoring", 0), replicas.replica("scoring", 1)
    admin, officer = auth(replicas.keys["admin"]), auth(replicas.keys["loan_officer"])
    segment = "enterprise"  # the loans test applies as farmers: their champion stays as it was
    example = two.get(f"/v1/segments/{segment}", headers=officer).json()["example"]
    score_body = {"segment": segment, "subject_id": "replica-check", "features": example}

    def score_on_two() -> dict[str, Any]:
        answer = two.post(
            "/v1/scores", json=score_body, headers=officer | {"Idempotency-Key": uuid.uuid4().hex}
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    before = score_on_two()["model_version"]  # replica 2 has its champion loaded (and cached, if it caches)
    queued = one.post(
        "/v1/models/train",
        json={"segment": segment, "rows": 1_000, "seed": 20_261_201},
        headers=admin | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert queued.status_code == 202, queued.text
    job = _wait_for(
        "the training job (a worker runs it)",
        lambda: (
            (done := two.get(queued.json()["href"], headers=admin).json())["status"]
            in {"succeeded", "failed"}
            and done
        ),
        replicas,
    )
    assert job["status"] == "succeeded", job
    version = job["result"]["version"]
    assert version != before
    promoted = one.post(
        f"/v1/models/{version}/promote", headers=admin | {"Idempotency-Key": uuid.uuid4().hex}
    )
    assert promoted.status_code == 200, promoted.text

    detail = two.get(f"/v1/models/{version}", headers=admin).json()
    assert detail["status"] == "champion", detail["status"]
    scored = score_on_two()
    assert scored["model_version"] == version, (before, version, scored["model_version"])

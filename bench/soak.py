"""Crash-and-retry soak: idempotent money operations on PostgreSQL while escrow, loans and the
worker are killed with SIGKILL at random moments; then nothing may be lost or duplicated.

    .venv/bin/python bench/soak.py [--ops 1000] [--clients 4] [--database-url URL] [--seed N]

Set-up: a fresh PostgreSQL database per service next to ``--database-url``
(``AGRIFIN_BENCH_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432/postgres), a
temporary ``AGRIFIN_VAR_DIR``, ``agrifin bootstrap`` (keys, migrations, champion models,
``dev-keys.json``), then ``agrifin serve scoring|escrow|loans`` and ``agrifin worker`` as
separate processes on free ports. Before the load, loans is given products, borrowers and
applications (scored by the scoring process), approved and disbursed loans, and escrow an
assignment of proceeds per lending seller (a share of each release swept to that seller's loan).

Load: ``--clients`` threads run idempotent POSTs, each with its own ``Idempotency-Key``, each
retried with the same key and the same body on connection errors, 5xx, 429 and
409-in-progress until a definitive answer (bounded by ``--op-deadline``):

* escrow cycles: create -> fund -> (the worker's sandbox confirms) -> ship -> deliver ->
  accept (full, or partial: the rest refunded) per lot; a lending seller's releases are swept
  and the worker delivers ``assignment.swept`` to loans, which posts sale-proceeds repayments;
* direct repayments on the disbursed loans (``external_id`` per operation).

Meanwhile a killer thread SIGKILLs escrow, loans or the worker (each round all three, in a
random order, at random intervals) and restarts it at once. Afterwards the killer stops, the
worker drains, and the checks run: every operation answered as expected; each escrow's money
and ledger entries match what its client did, exactly once; each loan's repayments are exactly
the operations' external ids; every stored loan balance equals its allocations; ``agrifin
ledger verify`` and ``agrifin audit verify`` succeed; every ``assignment.swept`` event is
delivered and applied exactly once (one sale-proceeds repayment per event id, the sums equal).

One JSON document on stdout (ops, kills per process, retries, duration, each check); exit 1
when any check fails. The databases are dropped at the end (``--keep`` keeps them and the
temporary directory, for a post-mortem).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_signature_header

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVICES = ("scoring", "escrow", "loans")
KILLABLE = ("escrow", "loans", "worker")
RETRY_STATUSES = {429, 500, 502, 503, 504}
LOANS = 4
"""Disbursed loans; seller ``lender-seller-<i>`` assigns a share of its releases to loan i."""
PLAIN_SELLERS = 4
SHARE_BPS = 2_000
PRINCIPAL_MINOR = 20_000_000
MARKETPLACE_TOPICS = ["escrow.funded", "lot.released", "lot.refunded", "escrow.closed"]
"""What the marketplace's own webhook endpoint (``Receiver``) subscribes to."""


def log(message: str) -> None:
    """Progress on stderr (stdout carries the one JSON document)."""
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def temporary_databases(admin_url: str, *, keep: bool) -> Iterator[dict[str, str]]:
    """A fresh database per service next to ``admin_url``; dropped afterwards (unless ``keep``)."""
    admin = _psycopg_url(admin_url)
    stem = f"agrifin_soak_{os.getpid()}_{secrets.token_hex(3)}"
    names = {service: f"{stem}_{service}" for service in SERVICES}
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            service: make_url(admin).set(database=name).render_as_string(hide_password=False)
            for service, name in names.items()
        }
    finally:
        if keep:
            log(f"kept databases {', '.join(names.values())}")
        else:
            with psycopg.connect(admin, autocommit=True) as conn:
                for name in names.values():
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------
# processes


class Process:
    """One agrifin process (``serve <service>`` or ``worker``) that can be killed and restarted."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            log_file = self.log_path.open("ab")
            try:
                self.proc = subprocess.Popen(
                    self.argv, env=self.env, cwd=ROOT, stdout=log_file, stderr=log_file
                )
            finally:
                log_file.close()
            self.starts += 1

    def kill(self) -> None:
        """SIGKILL (no drain, no clean-up) and reap."""
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                self.kills += 1

    def check_alive(self) -> bool:
        """Restart (and record) a process that exited by itself; True when it was running."""
        with self.lock:
            code = self.proc.poll() if self.proc is not None else None
        if code is None:
            return True
        self.unexpected_exits.append(code)
        log(f"{self.name} exited by itself with {code}; restarting")
        self.start()
        return False

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        with self.lock:
            if self.proc is None:
                return None
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.send_signal(signal.SIGKILL)
                    self.proc.wait()
            return self.proc.returncode


IN_FLIGHT: Counter[str] = Counter()
"""Requests in flight per service (the killer prefers to strike while one is)."""
IN_FLIGHT_LOCK = threading.Lock()


class Killer(threading.Thread):
    """SIGKILLs escrow, loans and the worker at random intervals (each round all three, in a
    random order) and restarts each at once; also restarts a process that died by itself."""

    def __init__(
        self,
        procs: dict[str, Process],
        rng: random.Random,
        every: tuple[float, float],
        *,
        min_rounds: int,
        killed_enough: threading.Event,
    ) -> None:
        super().__init__(name="killer", daemon=True)
        self.procs = procs
        self.rng = rng
        self.every = every
        self.min_rounds = min_rounds
        self.killed_enough = killed_enough
        self.stopping = threading.Event()
        self.kills: list[tuple[float, str]] = []

    def run(self) -> None:
        started = time.monotonic()
        order: list[str] = []
        while not self.stopping.wait(self.rng.uniform(*self.every)):
            for proc in self.procs.values():
                proc.check_alive()
            if not order:
                order = self.rng.sample(KILLABLE, len(KILLABLE))
            name = order.pop()
            if name in IN_FLIGHT:  # strike mid-request when one comes within a second
                until = time.monotonic() + 1.0
                while time.monotonic() < until and not IN_FLIGHT[name]:
                    time.sleep(0.002)
                time.sleep(self.rng.uniform(0, 0.01))
            self.procs[name].kill()
            self.procs[name].start()
            self.kills.append((round(time.monotonic() - started, 2), name))
            if len(self.kills) >= self.min_rounds * len(KILLABLE):
                self.killed_enough.set()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)


class Receiver:
    """The marketplace's webhook endpoint (in this process, never killed): verifies each
    delivery's signature and counts every event id it receives."""

    def __init__(self) -> None:
        self.secret = ""
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    verify_signature_header(
                        receiver.secret, body, self.headers.get(SIGNATURE_HEADER), now=datetime.now(UTC)
                    )
                    event_id = str(json.loads(body)["id"])
                except (WebhookSignatureError, ValueError, KeyError):
                    with receiver.lock:
                        receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.received[event_id] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------
# clients


class OperationFailed(RuntimeError):
    """An operation got a definitive answer other than the expected one, or none in time."""


@dataclass
class Stats:
    """Counters shared by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ops: Counter[str] = field(default_factory=Counter)
    retried_ops: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    replayed: int = 0
    failures: list[str] = field(default_factory=list)
    started_ops: int = 0
    killed_enough: threading.Event = field(default_factory=threading.Event)
    """Set by the killer after its minimum rounds: the load goes on at least until then."""

    def claim(self, n: int, target: int) -> bool:
        """Reserve ``n`` operations of the budget; False when it is spent (and every process
        was killed the minimum number of times under load)."""
        with self.lock:
            if self.started_ops >= target and self.killed_enough.is_set():
                return False
            self.started_ops += n
            return True


class Api:
    """One client thread's HTTP access; every POST carries an Idempotency-Key and is retried
    with the same key and body until a definitive answer."""

    def __init__(self, ports: dict[str, int], keys: dict[str, str], stats: Stats, deadline: float) -> None:
        self.ports = ports
        self.keys = keys
        self.stats = stats
        self.deadline = deadline
        self.client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))

    def close(self) -> None:
        self.client.close()

    def _url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def _send(self, service: str, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        with IN_FLIGHT_LOCK:
            IN_FLIGHT[service] += 1
        try:
            return self.client.post(self._url(service, path), content=content, headers=headers)
        finally:
            with IN_FLIGHT_LOCK:
                IN_FLIGHT[service] -= 1

    def post(
        self,
        kind: str,
        service: str,
        path: str,
        key: str,
        body: Any,
        expect: set[int],
        *,
        count: bool = True,
    ) -> dict[str, Any]:
        """POST with a fresh Idempotency-Key, retried with it until a definitive answer."""
        idempotency_key = f"soak-{kind}-{uuid.uuid4()}"
        content = json.dumps(body if body is not None else {}, sort_keys=True).encode()
        headers = {
            "Authorization": f"Bearer {self.keys[key]}",
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/json",
        }
        give_up = time.monotonic() + self.deadline
        delay = 0.1
        retries = 0
        last = ""
        while True:
            reason = None
            try:
                response = self._send(service, path, content, headers)
            except httpx.HTTPError as exc:
                reason = f"connection:{type(exc).__name__}"
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in expect:
                    break
                if response.status_code in RETRY_STATUSES:
                    reason = f"http:{response.status_code}"
                elif response.status_code == 409 and _problem(response).get("current_state") == "in_progress":
                    reason = "http:409-in-progress"
                else:
                    raise OperationFailed(
                        f"{kind} POST {service}{path}: {response.status_code} {response.text[:400]}"
                    )
                last = f"{response.status_code} {response.text[:200]}"
            retries += 1
            with self.stats.lock:
                self.stats.retries[reason] += 1
            if time.monotonic() > give_up:
                raise OperationFailed(
                    f"{kind} POST {service}{path}: no answer in {self.deadline:g} s "
                    f"({retries} retries; last: {last})"
                )
            time.sleep(delay)
            delay = min(delay * 1.6, 2.0)
        with self.stats.lock:
            if count:
                self.stats.ops[kind] += 1
            if retries:
                self.stats.retried_ops += 1
            if response.headers.get("Idempotent-Replayed") == "true":
                self.stats.replayed += 1
        result: dict[str, Any] = response.json()
        return result

    def get(self, service: str, path: str, key: str, *, deadline: float | None = None) -> Any:
        """GET, retried on connection errors and 5xx (reads carry no key)."""
        give_up = time.monotonic() + (deadline or self.deadline)
        while True:
            try:
                response = self.client.get(
                    self._url(service, path), headers={"Authorization": f"Bearer {self.keys[key]}"}
                )
                if response.status_code == 200:
                    return response.json()
                if response.status_code not in RETRY_STATUSES:
                    raise OperationFailed(
                        f"GET {service}{path}: {response.status_code} {response.text[:300]}"
                    )
            except httpx.HTTPError:
                pass
            if time.monotonic() > give_up:
                raise OperationFailed(f"GET {service}{path}: no answer in time")
            time.sleep(0.25)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


@dataclass
class LotPlan:
    lot_ref: str
    amount_minor: int
    accept_minor: int | None
    """None: accepted in full; else a partial accept (the rest is refunded)."""

    @property
    def accepted_minor(self) -> int:
        return self.amount_minor if self.accept_minor is None else self.accept_minor


@dataclass
class EscrowDone:
    id: str
    order_ref: str
    seller_id: str
    lots: list[LotPlan]


@dataclass
class Repayment:
    loan_id: str
    external_id: str
    amount_minor: int


@dataclass
class World:
    """What the clients did (the expected state), filled by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    escrows: list[EscrowDone] = field(default_factory=list)
    repayments: list[Repayment] = field(default_factory=list)


def plan_lots(rng: random.Random) -> list[LotPlan]:
    """One or two lots; a quarter of them accepted in part (the rest refunded)."""
    lots = []
    for i in range(rng.choice((1, 1, 2))):
        amount = rng.randrange(20_000, 200_000)
        partial = rng.random() < 0.25
        lots.append(LotPlan(f"L{i}", amount, rng.randrange(1_000, amount) if partial else None))
    return lots


def escrow_cycle(
    api: Api, rng: random.Random, world: World, seller: str, lots: list[LotPlan], funding_wait: float
) -> None:
    """create -> fund -> (worker confirms) -> per lot: ship -> deliver -> accept."""
    order_ref = f"soak-{uuid.uuid4().hex[:16]}"
    escrow = api.post(
        "escrow.create",
        "escrow",
        "/v1/escrows",
        "marketplace",
        {
            "order_ref": order_ref,
            "buyer_id": f"buyer-{rng.randrange(50)}",
            "seller_id": seller,
            "currency": "KES",
            "lots": [{"lot_ref": lot.lot_ref, "amount_minor": lot.amount_minor} for lot in lots],
            "fee": {"bps": 250, "min_minor": 100},
            "inspection_period_hours": 72,
            "funding_deadline": _in_days(2),
            "delivery_deadline": _in_days(10),
        },
        {201},
    )
    path = f"/v1/escrows/{escrow['id']}"
    api.post("escrow.fund", "escrow", f"{path}/fund", "marketplace", None, {202})
    give_up = time.monotonic() + funding_wait
    while api.get("escrow", path, "marketplace")["status"] != "funded":
        if time.monotonic() > give_up:
            raise OperationFailed(f"escrow {escrow['id']}: not funded {funding_wait:g} s after fund")
        time.sleep(0.5)
    for lot in lots:
        lot_path = f"{path}/lots/{lot.lot_ref}"
        api.post(
            "escrow.ship",
            "escrow",
            f"{lot_path}/ship",
            "marketplace",
            {"carrier": "G4S", "tracking": "T"},
            {200},
        )
        api.post("escrow.deliver", "escrow", f"{lot_path}/deliver", "marketplace", None, {200})
        body = {} if lot.accept_minor is None else {"amount_minor": lot.accept_minor}
        api.post("escrow.accept", "escrow", f"{lot_path}/accept", "marketplace", body, {200})
    with world.lock:
        world.escrows.append(EscrowDone(escrow["id"], order_ref, seller, lots))


def repayment(api: Api, rng: random.Random, world: World, loans: list[str], today: str) -> None:
    """A direct repayment on a loan, idempotent by its key and its external_id."""
    loan_id = rng.choice(loans)
    external_id = f"soak-{uuid.uuid4().hex}"
    amount = rng.randrange(500, 5_000)
    api.post(
        "loans.repayment",
        "loans",
        f"/v1/loans/{loan_id}/repayments",
        "loan_officer",
        {"amount_minor": amount, "date": today, "external_id": external_id},
        {201},
    )
    with world.lock:
        world.repayments.append(Repayment(loan_id, external_id, amount))


def client_loop(
    no: int,
    api: Api,
    seed: int,
    stats: Stats,
    world: World,
    target: int,
    sellers: list[str],
    loans: list[str],
    funding_wait: float,
) -> None:
    rng = random.Random(seed * 1000 + no)
    today = datetime.now(UTC).date().isoformat()
    try:
        while True:
            if rng.random() < 0.3:
                if not stats.claim(1, target):
                    return
                repayment(api, rng, world, loans, today)
            else:
                seller, lots = rng.choice(sellers), plan_lots(rng)
                if not stats.claim(2 + 3 * len(lots), target):
                    return
                escrow_cycle(api, rng, world, seller, lots, funding_wait)
    except OperationFailed as exc:
        with stats.lock:
            stats.failures.append(str(exc))
        log(f"client {no}: {exc}")
    finally:
        api.close()


# ---------------------------------------------------------------------------------------------
# set-up


def wait_ready(ports: dict[str, int], names: tuple[str, ...], timeout: float) -> None:
    give_up = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in list(pending):
            try:
                if httpx.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=2).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        if pending and time.monotonic() > give_up:
            raise RuntimeError(f"not ready after {timeout:g} s: {', '.join(sorted(pending))}")
        time.sleep(0.2)


def prepare_loans(api: Api, today: str) -> list[str]:
    """A product that accepts sale proceeds; LOANS borrowers, scored applications, approved and
    disbursed loans. Returns the loan ids."""
    example = api.get("scoring", "/v1/segments/farmer", "loan_officer")["example"]
    product = api.post(
        "setup",
        "loans",
        "/v1/products",
        "credit_manager",
        {
            "name": f"soak maize inputs {uuid.uuid4().hex[:6]}",
            "currency": "KES",
            "min_principal_minor": 100_000,
            "max_principal_minor": 50_000_000,
            "min_repayments": 1,
            "max_repayments": 24,
            "allow_sale_proceeds": True,
            "sale_proceeds_share_bps": 5_000,
        },
        {201},
        count=False,
    )
    loans = []
    for i in range(LOANS):
        borrower = api.post(
            "setup",
            "loans",
            "/v1/borrowers",
            "loan_officer",
            {
                "type": "farmer",
                "name": f"Soak Farmer {i}",
                "national_id": f"KE-SOAK-{uuid.uuid4().hex[:10]}",
                "phone": f"+2547000{i:05d}",
                "region": "Kisumu",
            },
            {201},
            count=False,
        )
        application = api.post(
            "setup",
            "loans",
            "/v1/applications",
            "loan_officer",
            {
                "product_id": product["id"],
                "borrower_id": borrower["id"],
                "principal_minor": PRINCIPAL_MINOR,
                "annual_interest_rate": "18",
                "number_of_repayments": 12,
                "disbursement_date": today,
                "features": example,
            },
            {201},
            count=False,
        )
        if application["status"] != "scored":
            raise RuntimeError(f"application not scored: {application['status']}")
        loan = api.post(
            "setup",
            "loans",
            f"/v1/applications/{application['id']}/approve",
            "credit_manager",
            {"note": "soak"},
            {200, 201},
            count=False,
        )
        api.post(
            "setup",
            "loans",
            f"/v1/loans/{loan['id']}/disburse",
            "credit_manager",
            {"date": today},
            {200},
            count=False,
        )
        loans.append(str(loan["id"]))
    return loans


def prepare_assignments(api: Api, loans: list[str]) -> list[str]:
    """Seller ``lender-seller-<i>`` assigns SHARE_BPS of its releases to loan i; returns sellers."""
    sellers = []
    for i, loan_id in enumerate(loans):
        seller = f"lender-seller-{i}"
        api.post(
            "setup",
            "escrow",
            "/v1/assignments",
            "admin",
            {
                "seller_id": seller,
                "lender_id": "soak-bank",
                "currency": "KES",
                "share_bps": SHARE_BPS,
                "cap_minor": 10**11,
                "loan_ref": loan_id,
            },
            {201},
            count=False,
        )
        sellers.append(seller)
    return sellers


def subscribe_marketplace(api: Api, receiver: Receiver) -> str:
    """The marketplace subscribes its endpoint to its escrows' money events; returns the id."""
    created = api.post(
        "setup",
        "escrow",
        "/v1/webhooks",
        "marketplace",
        {"url": receiver.url, "topics": MARKETPLACE_TOPICS},
        {200, 201},
        count=False,
    )
    receiver.secret = str(created["secret"])
    return str(created["id"])


def wait_subscription(api: Api, var_dir: Path, loans_port: int, timeout: float) -> str:
    """Loans' worker job subscribes loans to escrow's sweeps; wait until it is in place."""
    inbound = f"http://127.0.0.1:{loans_port}/v1/inbound/escrow"
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        subs = api.get("escrow", "/v1/webhooks", "admin")
        active = [s for s in subs if s["url"] == inbound and s["active"]]
        stored = var_dir / "escrow-webhook.secret"  # {"subscription_id", "secret"}, written atomically
        try:
            known = json.loads(stored.read_text()).get("subscription_id")
        except (OSError, ValueError):
            known = None
        if known in {s["id"] for s in active}:
            return str(known)
        time.sleep(0.5)
    raise RuntimeError(f"loans did not subscribe to escrow's events in {timeout:g} s")


# ---------------------------------------------------------------------------------------------
# drain and checks


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(_psycopg_url(url)) as conn:
        return list(conn.execute(sql, params or None).fetchall())


def drained(urls: dict[str, str]) -> tuple[bool, dict[str, Any]]:
    """Every outbox event dispatched, every delivery settled, every sweep applied in loans."""
    state: dict[str, Any] = {}
    for service, url in urls.items():
        (undispatched,) = _query(url, "SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL")[0]
        (unsettled,) = _query(
            url, "SELECT count(*) FROM webhook_deliveries WHERE state NOT IN ('delivered', 'cancelled')"
        )[0]
        state[service] = {"undispatched": undispatched, "unsettled_deliveries": unsettled}
    swept = {
        row[0]
        for row in _query(urls["escrow"], "SELECT id FROM outbox_events WHERE topic = 'assignment.swept'")
    }
    applied = {
        row[0]
        for row in _query(
            urls["loans"],
            "SELECT substr(external_id, 8) FROM loan_transactions "
            "WHERE source = 'sale_proceeds' AND external_id LIKE 'escrow:%'",
        )
    }
    state["sweeps_not_applied"] = len(swept - applied)
    done = state["sweeps_not_applied"] == 0 and all(
        v["undispatched"] == 0 and v["unsettled_deliveries"] == 0 for k, v in state.items() if k in urls
    )
    return done, state


def drain(urls: dict[str, str], timeout: float) -> dict[str, Any]:
    """Wait (bounded) until the worker has delivered everything."""
    started = time.monotonic()
    while True:
        done, state = drained(urls)
        if done or time.monotonic() - started > timeout:
            return {"ok": done, "seconds": round(time.monotonic() - started, 1), "state": state}
        time.sleep(1.0)


def check(name: str, ok: bool, /, **details: Any) -> dict[str, Any]:
    """One check's result: its name, ok, and what it found."""
    return {"check": name, **details, "ok": bool(ok)}


def check_operations(stats: Stats, target: int) -> dict[str, Any]:
    total = sum(stats.ops.values())
    return check(
        "every operation answered as expected",
        not stats.failures and total >= target,
        ops=total,
        target=target,
        failures=stats.failures[:10],
    )


def check_escrows(api: Api, urls: dict[str, str], world: World) -> list[dict[str, Any]]:
    """Each escrow's state, money and ledger entries match what its client did, once."""
    escrow_url = urls["escrow"]
    problems: list[str] = []
    by_ref = Counter(
        row[0] for row in _query(escrow_url, "SELECT order_ref FROM escrows WHERE order_ref LIKE 'soak-%'")
    )
    expected_refs = {e.order_ref for e in world.escrows}
    duplicated = sorted(ref for ref, n in by_ref.items() if n > 1)
    unexpected = sorted(set(by_ref) - expected_refs)
    # An escrow a client never finished (it failed) may exist once; it is not "unexpected".
    payments = dict(
        _query(escrow_url, "SELECT escrow_id, count(*) FROM provider_payments GROUP BY escrow_id")
    )
    entries: dict[str, Counter[str]] = defaultdict(Counter)
    for escrow_id, kind, n in _query(
        escrow_url, "SELECT escrow_id, kind, count(*) FROM ledger_entries GROUP BY escrow_id, kind"
    ):
        entries[escrow_id][kind] = n
    sweeps: dict[tuple[str, str], list[int]] = defaultdict(list)
    for escrow_id, lot_ref, amount in _query(
        escrow_url, "SELECT escrow_id, lot_ref, amount_minor FROM assignment_sweeps"
    ):
        sweeps[(escrow_id, lot_ref)].append(amount)
    funded_total = released_total = refunded_total = 0
    for done in world.escrows:
        view = api.get("escrow", f"/v1/escrows/{done.id}", "marketplace")
        total = sum(lot.amount_minor for lot in done.lots)
        accepted = sum(lot.accepted_minor for lot in done.lots)
        refunded = total - accepted
        funded_total += view["funded_minor"]
        released_total += view["released_minor"] + view["fees_minor"]
        refunded_total += view["refunded_minor"]
        if view["funded_minor"] != total or payments.get(done.id) != 1:
            problems.append(
                f"{done.id}: funded {view['funded_minor']} of {total} by {payments.get(done.id)} payments"
            )
        gross = view["released_minor"] + view["fees_minor"]
        if gross != accepted or view["refunded_minor"] != refunded:
            problems.append(
                f"{done.id}: released+fees {gross} (expected {accepted}), "
                f"refunded {view['refunded_minor']} (expected {refunded})"
            )
        if view["held_minor"] != 0:
            problems.append(f"{done.id}: still holds {view['held_minor']}")
        for lot in done.lots:
            state = next(item for item in view["lots"] if item["lot_ref"] == lot.lot_ref)
            if state["released_minor"] != lot.accepted_minor:
                problems.append(f"{done.id}/{lot.lot_ref}: released {state['released_minor']}")
            lot_sweeps = sweeps.get((done.id, lot.lot_ref), [])
            expected_sweeps = 1 if done.seller_id.startswith("lender-seller-") else 0
            if len(lot_sweeps) != expected_sweeps:
                problems.append(
                    f"{done.id}/{lot.lot_ref}: {len(lot_sweeps)} sweeps, expected {expected_sweeps}"
                )
        kinds = entries.get(done.id, Counter())
        expected_entries = expected_entry_counts(done)
        if expected_entries is not None and dict(kinds) != expected_entries:
            problems.append(f"{done.id}: ledger entries {dict(kinds)}, expected {expected_entries}")
    return [
        check(
            "escrows: each created once, funded once, released and refunded exactly as accepted",
            not problems and not duplicated and not unexpected,
            escrows=len(world.escrows),
            duplicated_order_refs=duplicated[:10],
            unexpected_order_refs=unexpected[:10],
            funded_minor=funded_total,
            released_with_fees_minor=released_total,
            refunded_minor=refunded_total,
            problems=problems[:10],
            problem_count=len(problems),
        )
    ]


ENTRY_KINDS: dict[str, str] = {}
"""Ledger entry kind per movement, filled from the first run's schema (see expected_entry_counts)."""


def expected_entry_counts(done: EscrowDone) -> dict[str, int] | None:
    """The ledger entries an escrow should have: one funding, one release per lot, one refund per
    partially accepted lot (``ENTRY_KINDS`` names them; None when not known)."""
    if not ENTRY_KINDS:
        return None
    counts: Counter[str] = Counter()
    counts[ENTRY_KINDS["fund"]] += 1
    for lot in done.lots:
        counts[ENTRY_KINDS["release"]] += 1
        if lot.accept_minor is not None:
            counts[ENTRY_KINDS["refund"]] += 1
    return dict(counts)


def check_loans(urls: dict[str, str], world: World, loans: list[str]) -> list[dict[str, Any]]:
    """Direct repayments exactly once each; stored balances equal to the allocations."""
    loans_url = urls["loans"]
    rows = _query(
        loans_url,
        "SELECT loan_id, external_id, amount_minor, source FROM loan_transactions WHERE kind = 'repayment'",
    )
    stored = Counter((r[0], r[1]) for r in rows if r[3] == "borrower")
    amounts = {(r[0], r[1]): r[2] for r in rows if r[3] == "borrower"}
    expected = {(r.loan_id, r.external_id): r.amount_minor for r in world.repayments}
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    twice = sorted(k for k, n in stored.items() if n > 1)
    wrong = sorted(k for k in expected if k in amounts and amounts[k] != expected[k])
    repayments = check(
        "loans: each direct repayment applied exactly once (by external_id)",
        not (missing or extra or twice or wrong),
        expected=len(expected),
        stored=sum(stored.values()),
        missing=[k[1] for k in missing[:10]],
        extra=[k[1] for k in extra[:10]],
        duplicated=[k[1] for k in twice[:10]],
        wrong_amount=[k[1] for k in wrong[:10]],
    )
    problems: list[str] = []
    for loan_id in loans:
        (principal, p_out, credit) = _query(
            loans_url,
            "SELECT principal_minor, principal_outstanding_minor, credit_balance_minor "
            "FROM loans WHERE id = %s",
            (loan_id,),
        )[0]
        (repaid,) = _query(
            loans_url,
            "SELECT coalesce(sum(amount_minor), 0) FROM loan_transactions WHERE loan_id = %s "
            "AND kind = 'repayment'",
            (loan_id,),
        )[0]
        (alloc_total, alloc_principal, alloc_over) = _query(
            loans_url,
            "SELECT coalesce(sum(penalty_minor + fee_minor + interest_minor + principal_minor "
            "+ overpayment_minor + recovery_minor), 0), coalesce(sum(principal_minor), 0), "
            "coalesce(sum(overpayment_minor), 0) FROM loan_allocations WHERE loan_id = %s",
            (loan_id,),
        )[0]
        (paid_principal,) = _query(
            loans_url,
            "SELECT coalesce(sum(paid_principal_minor), 0) FROM loan_installments WHERE loan_id = %s",
            (loan_id,),
        )[0]
        if alloc_total != repaid:
            problems.append(f"{loan_id}: repayments {repaid} but allocations {alloc_total}")
        if paid_principal != alloc_principal:
            problems.append(
                f"{loan_id}: installments paid principal {paid_principal}, allocated {alloc_principal}"
            )
        if p_out != principal - alloc_principal:
            problems.append(
                f"{loan_id}: principal outstanding {p_out}, expected {principal} - {alloc_principal}"
            )
        if credit != alloc_over:
            problems.append(f"{loan_id}: credit balance {credit}, overpayments {alloc_over}")
    balances = check(
        "loans: every stored balance equals its allocations",
        not problems,
        loans=len(loans),
        problems=problems[:10],
    )
    return [repayments, balances]


def check_sweeps(urls: dict[str, str], active_subscription: str) -> list[dict[str, Any]]:
    """Every assignment.swept event delivered at least once and applied exactly once."""
    escrow_url, loans_url = urls["escrow"], urls["loans"]
    events = {
        row[0]: json.loads(row[1])
        for row in _query(
            escrow_url, "SELECT id, payload FROM outbox_events WHERE topic = 'assignment.swept'"
        )
    }
    delivered = {
        row[0]
        for row in _query(
            escrow_url,
            "SELECT d.event_id FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_id "
            "WHERE e.topic = 'assignment.swept' AND d.state = 'delivered'",
        )
    }
    states = dict(
        _query(
            escrow_url,
            "SELECT d.state || ':' || (d.subscription_id = %s)::text, count(*) FROM webhook_deliveries d "
            "JOIN outbox_events e ON e.id = d.event_id WHERE e.topic = 'assignment.swept' GROUP BY 1",
            (active_subscription,),
        )
    )
    (sweep_rows, sweep_sum) = _query(
        escrow_url, "SELECT count(*), coalesce(sum(amount_minor), 0) FROM assignment_sweeps"
    )[0]
    (assigned_sum,) = _query(escrow_url, "SELECT coalesce(sum(swept_minor), 0) FROM proceeds_assignments")[0]
    applied: Counter[str] = Counter()
    applied_sum = 0
    applied_amount: dict[str, int] = {}
    for external_id, amount in _query(
        loans_url,
        "SELECT external_id, amount_minor FROM loan_transactions WHERE source = 'sale_proceeds'",
    ):
        event_id = external_id.removeprefix("escrow:")
        applied[event_id] += 1
        applied_sum += amount
        applied_amount[event_id] = amount
    inbox = Counter(
        row[0] for row in _query(loans_url, "SELECT event_id FROM webhook_inbox WHERE source = 'escrow'")
    )
    (refused,) = _query(loans_url, "SELECT count(*) FROM outbox_events WHERE topic = 'loan.sweep_refused'")[0]
    event_sum = sum(int(e["amount_minor"]) for e in events.values())
    not_delivered = sorted(set(events) - delivered)
    not_applied = sorted(e for e in events if applied[e] == 0)
    applied_twice = sorted(e for e, n in applied.items() if n > 1)
    unknown = sorted(set(applied) - set(events))
    wrong = sorted(
        e for e in events if e in applied_amount and applied_amount[e] != events[e]["amount_minor"]
    )
    return [
        check(
            "sweeps: every assignment.swept event delivered at least once",
            not not_delivered and sweep_rows == len(events),
            events=len(events),
            sweeps=sweep_rows,
            not_delivered=not_delivered[:10],
            deliveries_by_state_and_current_subscription=states,
        ),
        check(
            "sweeps: each applied exactly once in loans; sum swept = sum of sale-proceeds repayments",
            not (not_applied or applied_twice or unknown or wrong or refused)
            and sweep_sum == assigned_sum == event_sum == applied_sum,
            applied=sum(applied.values()),
            inbox=sum(inbox.values()),
            not_applied=not_applied[:10],
            applied_twice=applied_twice[:10],
            unknown=unknown[:10],
            wrong_amount=wrong[:10],
            sweeps_refused=refused,
            swept_minor=sweep_sum,
            assignments_swept_minor=assigned_sum,
            events_minor=event_sum,
            sale_proceeds_repaid_minor=applied_sum,
        ),
    ]


def check_marketplace_events(urls: dict[str, str], receiver: Receiver) -> dict[str, Any]:
    """Every event of the marketplace's topics received by its endpoint at least once."""
    placeholders = ", ".join(["%s"] * len(MARKETPLACE_TOPICS))
    events = [
        row[0]
        for row in _query(
            urls["escrow"],
            f"SELECT id FROM outbox_events WHERE topic IN ({placeholders}) AND owner = %s",
            (*MARKETPLACE_TOPICS, "dev-marketplace"),
        )
    ]
    with receiver.lock:
        received = Counter(receiver.received)
        refused = receiver.refused
    missing = sorted(e for e in events if received[e] == 0)
    return check(
        "marketplace webhooks: every event of its topics received at least once (signed)",
        not missing and bool(events),
        topics=MARKETPLACE_TOPICS,
        events=len(events),
        received=sum(received.values()),
        received_more_than_once=sum(1 for n in received.values() if n > 1),
        refused_signatures=refused,
        missing=missing[:10],
    )


def check_outboxes(urls: dict[str, str]) -> dict[str, Any]:
    """Every outbox event of every service dispatched; no delivery pending or dead."""
    state = {}
    ok = True
    for service, url in urls.items():
        (events, undispatched) = _query(
            url, "SELECT count(*), count(*) FILTER (WHERE dispatched_at IS NULL) FROM outbox_events"
        )[0]
        deliveries = dict(_query(url, "SELECT state, count(*) FROM webhook_deliveries GROUP BY state"))
        bad = sum(n for s, n in deliveries.items() if s not in ("delivered", "cancelled"))
        ok = ok and undispatched == 0 and bad == 0
        state[service] = {"events": events, "undispatched": undispatched, "deliveries": deliveries}
    return check(
        "outboxes: every event dispatched, every delivery settled (none pending or dead)", ok, **state
    )


def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def check_cli(env: dict[str, str]) -> list[dict[str, Any]]:
    code, out = cli(env, "ledger", "verify")
    try:
        report = json.loads(out)
        ledger = {k: report.get(k) for k in ("accounts", "entries", "postings", "problems")}
    except ValueError:
        ledger = {"output": out[-2000:]}
    results = [check("agrifin ledger verify (stored balances = postings, zero-sum)", code == 0, **ledger)]
    for service in ("escrow", "loans"):
        code, out = cli(env, "audit", "verify", "--service", service)
        results.append(check(f"agrifin audit verify --service {service}", code == 0, output=out[-500:]))
    return results


# ---------------------------------------------------------------------------------------------


def learn_entry_kinds(url: str) -> None:
    """Which ledger entry kinds funding, release and refund write (read from a finished run's
    rows: the one kind on every funded escrow is funding; the rest told apart by the lots)."""
    kinds = [row[0] for row in _query(url, "SELECT DISTINCT kind FROM ledger_entries")]
    for movement, candidates in (
        ("fund", ("funding", "fund", "funded", "escrow.funded")),
        ("release", ("release", "released", "lot.released")),
        ("refund", ("refund", "refunded", "lot.refunded")),
    ):
        for kind in candidates:
            if kind in kinds:
                ENTRY_KINDS[movement] = kind
    if len(ENTRY_KINDS) != 3:
        log(f"ledger entry kinds {kinds}: per-escrow entry counts not checked")
        ENTRY_KINDS.clear()


def _plain(value: Any) -> Any:
    """JSON for what PostgreSQL sums return (``Decimal``) and anything else odd."""
    return int(value) if isinstance(value, Decimal) and value == value.to_integral_value() else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--ops", type=int, default=int(os.environ.get("SOAK_OPS", "1000")), help="idempotent operations"
    )
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AGRIFIN_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="admin URL of a PostgreSQL server (temporary databases are created beside it)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument(
        "--kill-every", type=float, nargs=2, default=(2.0, 5.0), metavar=("MIN", "MAX"), help="seconds"
    )
    parser.add_argument(
        "--min-kill-rounds",
        type=int,
        default=2,
        help="the load lasts at least until each of escrow, loans and the worker was killed this often",
    )
    parser.add_argument("--op-deadline", type=float, default=300.0, help="seconds an operation may retry")
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="seconds to wait for the worker")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the temporary directory")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    rng = random.Random(seed)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="agrifin-soak-"))
    try:
        with temporary_databases(args.database_url, keep=args.keep) as urls:
            report = soak(args, seed, rng, urls, tmp)
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
        else:
            log(f"kept {tmp}")
    report["duration_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2, default=_plain))
    return 0 if report["verdict"]["ok"] else 1


def soak(
    args: argparse.Namespace, seed: int, rng: random.Random, urls: dict[str, str], tmp: Path
) -> dict[str, Any]:
    var_dir = tmp / "var"
    ports = {name: _free_port() for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGRIFIN_")}
    env.update(
        {
            "AGRIFIN_ENV": "development",
            "AGRIFIN_VAR_DIR": str(var_dir),
            "AGRIFIN_LOG_LEVEL": "WARNING",
            "AGRIFIN_STOP_GRACE_SECONDS": "10",
            "AGRIFIN_LOANS_SCORING_URL": f"http://127.0.0.1:{ports['scoring']}",
            "AGRIFIN_LOANS_ESCROW_URL": f"http://127.0.0.1:{ports['escrow']}",
            "AGRIFIN_ESCROW_SANDBOX_CONFIRM_AFTER_SECONDS": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    for name in SERVICES:
        env[f"AGRIFIN_{name.upper()}_DATABASE_URL"] = urls[name]
        env[f"AGRIFIN_{name.upper()}_PORT"] = str(ports[name])
    log(f"seed {seed}; bootstrap in {var_dir}")
    t = time.monotonic()
    code, out = cli(env, "bootstrap")
    if code != 0:
        raise RuntimeError(f"agrifin bootstrap failed: {out[-2000:]}")
    bootstrap_seconds = time.monotonic() - t
    keys: dict[str, str] = json.loads((var_dir / "dev-keys.json").read_text())
    base = [sys.executable, "-m", "services.cli"]
    procs = {name: Process(name, [*base, "serve", name], env, tmp) for name in SERVICES}
    procs["worker"] = Process("worker", [*base, "worker"], env, tmp)
    for proc in procs.values():
        proc.start()
    stats = Stats()
    world = World()
    killer = Killer(
        procs, rng, args.kill_every, min_rounds=args.min_kill_rounds, killed_enough=stats.killed_enough
    )
    report: dict[str, Any] = {"benchmark": "soak", "seed": seed}
    receiver = Receiver()
    try:
        wait_ready(ports, SERVICES, 120)
        setup = Api(ports, keys, stats, args.op_deadline)
        today = datetime.now(UTC).date().isoformat()
        loans = prepare_loans(setup, today)
        sellers = prepare_assignments(setup, loans)
        subscription = wait_subscription(setup, var_dir, ports["loans"], 120)
        subscribe_marketplace(setup, receiver)
        all_sellers = sellers + [f"seller-{i}" for i in range(PLAIN_SELLERS)]
        log(
            f"set-up done ({bootstrap_seconds:.0f} s bootstrap); "
            f"{args.ops} ops, {args.clients} clients, killing"
        )
        load_started = time.monotonic()
        killer.start()
        threads = [
            threading.Thread(
                target=client_loop,
                args=(
                    i,
                    Api(ports, keys, stats, args.op_deadline),
                    seed,
                    stats,
                    world,
                    args.ops,
                    all_sellers,
                    loans,
                    args.op_deadline,
                ),
                daemon=True,
            )
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        load_seconds = time.monotonic() - load_started
        killer.stop()
        for proc in procs.values():
            proc.check_alive()
        log(f"load done in {load_seconds:.0f} s ({len(killer.kills)} kills); draining")
        recovered = True
        try:
            wait_ready(ports, SERVICES, 120)
        except RuntimeError as exc:
            recovered = False
            log(str(exc))
        drain_report = drain(urls, args.drain_timeout)
        log(f"drained: {drain_report['ok']} in {drain_report['seconds']} s; checking")
        learn_entry_kinds(urls["escrow"])
        checks = [check_operations(stats, args.ops)]
        checks.append(
            check(
                "every killed process came back (no crash that never recovers)",
                recovered and all(not p.unexpected_exits for p in procs.values()),
                unexpected_exits={n: p.unexpected_exits for n, p in procs.items() if p.unexpected_exits},
            )
        )
        checks.append(
            check(
                "the worker drained",
                drain_report["ok"],
                seconds=drain_report["seconds"],
                state=drain_report["state"],
            )
        )
        verifier = Api(ports, keys, stats, 120)
        checks += check_escrows(verifier, urls, world)
        checks += check_loans(urls, world, loans)
        checks += check_sweeps(urls, subscription)
        checks.append(check_marketplace_events(urls, receiver))
        checks.append(check_outboxes(urls))
    finally:
        killer.stopping.set()
        codes = {name: proc.stop() for name, proc in procs.items()}
        receiver.close()
    checks += check_cli(env)
    kills = Counter(name for _, name in killer.kills)
    report.update(
        {
            "ops": sum(stats.ops.values()),
            "ops_by_kind": dict(sorted(stats.ops.items())),
            "clients": args.clients,
            "kills": {name: kills.get(name, 0) for name in KILLABLE},
            "kills_total": len(killer.kills),
            "kill_every_seconds": list(args.kill_every),
            "retries": sum(stats.retries.values()),
            "retries_by_reason": dict(sorted(stats.retries.items())),
            "ops_retried": stats.retried_ops,
            "answers_replayed": stats.replayed,
            "escrows": len(world.escrows),
            "direct_repayments": len(world.repayments),
            "bootstrap_seconds": round(bootstrap_seconds, 1),
            "load_seconds": round(load_seconds, 1),
            "stop_exit_codes": codes,
            "verdict": {"ok": all(c["ok"] for c in checks), "checks": checks},
        }
    )
    return report


if __name__ == "__main__":
    sys.exit(main())

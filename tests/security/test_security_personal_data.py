"""Personal data is never stored or logged in plain text.

Borrowers with distinctive names, national ids and phone numbers are created through the
loans API (with Idempotency-Keys, one replayed), read back, listed, and given a loan that is
approved, disbursed and repaid. Then nothing of what was seeded may be found in:

* any text or binary column of any table of the service's database (SQLite or PostgreSQL);
* the SQLite database file and its -wal / -journal files, byte for byte;
* the log records (caplog) and the JSON log lines the service writes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, inspect, make_url, select

from services.loans.app import create_app
from shared.auth import Role
from shared.observability import configure_logging
from shared.platform import ServiceContext
from tests.factories.loans import ApplicationPayloadFactory, ProductPayloadFactory
from tests.loans.kit import FakeScoring, LoansApi
from tests.support import issue_key

SEEDED = [
    {"name": "Zebediah Quillfeather", "national_id": "ZQ-48151623", "phone": "+254799108421"},
    {"name": "Ottoline Brackenridge", "national_id": "OB-90210777", "phone": "+254711313373"},
    {"name": "Perpetua Nyamweya-Oduya", "national_id": "PN-31415926", "phone": "+254722271828"},
]
NEEDLES = [value for person in SEEDED for value in person.values()]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The service's JSON log lines, at DEBUG, while the test runs."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    configure_logging("DEBUG", service="loans")
    buffer = io.StringIO()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(buffer)
    ours = root.handlers[:]
    root.handlers[:] = saved + ours
    yield buffer
    root.handlers[:] = saved
    root.setLevel(level)


def seed_and_use(api: LoansApi) -> None:
    """Create the borrowers (one request replayed), then a loan for one of them, repaid."""
    borrowers = []
    for n, person in enumerate(SEEDED):
        body = {"type": "farmer", "region": "Nakuru", **person}
        headers = {"Idempotency-Key": f"borrower-{n}"}
        created = api.call("POST", "/v1/borrowers", as_="officer", expect=201, json=body, headers=headers)
        again = api.call("POST", "/v1/borrowers", as_="officer", json=body, headers=headers)
        assert again.status_code in (200, 201) and again.json()["id"] == created.json()["id"]
        borrowers.append(created.json())
        api.get(f"/v1/borrowers/{created.json()['id']}", as_="officer")
    api.get("/v1/borrowers", as_="officer")
    api.set_date("2026-01-15")
    product = api.post("/v1/products", ProductPayloadFactory(maker_checker=False), as_="manager", expect=201)
    body = ApplicationPayloadFactory(product_id=product["id"], borrower_id=borrowers[0]["id"])
    application = api.call(
        "POST", "/v1/applications", as_="officer", expect=201, json=body, headers={"Idempotency-Key": "app-1"}
    ).json()
    loan = api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
    api.post(f"/v1/loans/{loan['id']}/disburse", {"date": "2026-01-15"}, as_="manager")
    repayment = {"amount_minor": 50_000, "date": "2026-01-15", "external_id": "mpesa-1"}
    api.call(
        "POST",
        f"/v1/loans/{loan['id']}/repayments",
        as_="officer",
        expect=201,
        json=repayment,
        headers={"Idempotency-Key": "repay-1"},
    )


def found_in_columns(ctx: ServiceContext) -> list[str]:
    """Seeded values found in any column of any table (text, JSON or bytes)."""
    hits = []
    with ctx.db.engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        meta = MetaData()
        meta.reflect(conn, only=tables)
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    text = _as_text(value)
                    hits += [f"{table.name}.{column}: {n!r}" for n in NEEDLES if n in text]
    return hits


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def found_in_files(ctx: ServiceContext) -> list[str]:
    """Seeded values found in the SQLite file and its WAL / journal, byte for byte."""
    url = make_url(ctx.settings.database_url)
    if not url.drivername.startswith("sqlite"):
        return []
    base = Path(str(url.database))
    hits = []
    for path in [base, *(Path(f"{base}{suffix}") for suffix in ("-wal", "-journal", "-shm"))]:
        if path.exists():
            data = path.read_bytes()
            hits += [f"{path.name}: {n!r}" for n in NEEDLES if n.encode() in data]
    return hits


def test_seeded_personal_data_is_nowhere_in_plain_text(
    make_ctx: Callable[[str], ServiceContext],
    client_for: Callable[..., TestClient],
    caplog: pytest.LogCaptureFixture,
    json_log: io.StringIO,
) -> None:
    ctx = make_ctx("loans")
    ctx.settings = ctx.settings.model_copy(update={"escrow_webhook_secret": "whsec_configured"})
    roles = {
        "officer": Role.LOAN_OFFICER,
        "manager": Role.CREDIT_MANAGER,
        "auditor": Role.AUDITOR,
        "admin": Role.ADMIN,
        "admin2": Role.ADMIN,
    }
    keys = {name: issue_key(ctx, role) for name, role in roles.items()}
    api = LoansApi(client_for(create_app(ctx, scoring_client=FakeScoring().client())), keys)
    caplog.set_level(logging.DEBUG)
    seed_and_use(api)

    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records) + json_log.getvalue()
    hits = found_in_columns(ctx) + found_in_files(ctx)
    hits += [f"logs: {n!r}" for n in NEEDLES if n in logged]
    assert not hits, "personal data in plain text:\n" + "\n".join(hits)

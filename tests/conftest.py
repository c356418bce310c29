"""Test plumbing shared by every test package.

Database tests take the ``backend`` fixture and so run on SQLite always and also on
PostgreSQL when ``AGRIFIN_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it). Schemas are
built by running the Alembic migrations:

- SQLite: each service is migrated once per session into a template file, copied per test.
- PostgreSQL: each (service, xdist worker) gets its own database, migrated once; every
  table is truncated before each test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text

from services.registry import definition
from shared.clock import ManualClock
from shared.crypto import Keyring
from shared.db import normalize_url
from shared.migrate import upgrade
from shared.platform import ServiceContext

PG_URL = os.environ.get("AGRIFIN_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every ``xdist_group`` test the ``@<group>`` node-id suffix ``--dist loadgroup``
    schedules by. pytest-xdist 3.8 sets it as ``item._nodeid``, which pytest 9 no longer reads
    (node ids live in ``Node._id``): without this every group is ignored, and the browser and
    e2e packages would start their system once per worker instead of once."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is None:
            continue
        group = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
        if not item.nodeid.endswith(f"@{group}"):
            item._id = NodeId.parse(f"{item.nodeid}@{group}")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keys directory generated once per session."""
    directory = tmp_path_factory.mktemp("keys")
    Keyring.generate(directory, development=True)
    return directory


@pytest.fixture(scope="session")
def keyring(keys_dir: Path) -> Keyring:
    """The session's keyring."""
    return Keyring.load(keys_dir)


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Migrated SQLite template file per service (built on first use)."""
    base = tmp_path_factory.mktemp("templates")
    built: dict[str, Path] = {}

    def template(service: str) -> Path:
        if service not in built:
            path = base / f"{service}.db"
            upgrade(definition(service), f"sqlite:///{path}")
            built[service] = path
        return built[service]

    return template


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Callable[[str], str]]:
    """A migrated PostgreSQL database per service for this xdist worker."""
    assert PG_URL is not None
    admin_url = make_url(normalize_url(PG_URL))
    admin = create_engine(admin_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    created: dict[str, str] = {}

    def database(service: str) -> str:
        if service not in created:
            name = f"{admin_url.database}_{service}_{_worker()}".lower()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = admin_url.set(database=name).render_as_string(hide_password=False)
            upgrade(definition(service), url)
            created[service] = url
        return created[service]

    yield database
    with admin.connect() as conn:
        for url in created.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on."""
    return str(request.param)


@pytest.fixture
def postgres_only(backend: str) -> None:
    """Skip on SQLite: races and locking mean something only with real concurrent transactions."""
    if backend != "postgresql":
        pytest.skip(
            "needs real concurrent transactions: SQLite serialises every writer (BEGIN IMMEDIATE); "
            "set AGRIFIN_TEST_POSTGRES_URL to run on PostgreSQL"
        )


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand."""
    return ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def make_ctx(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    keys_dir: Path,
    keyring: Keyring,
    clock: ManualClock,
    sqlite_templates: Callable[[str], Path],
) -> Iterator[Callable[[str], ServiceContext]]:
    """Build (once per test) a ServiceContext for a service on a fresh, migrated database."""
    contexts: dict[str, ServiceContext] = {}

    def build(service: str) -> ServiceContext:
        if service in contexts:
            return contexts[service]
        svc = definition(service)
        if backend == "sqlite":
            path = tmp_path / f"{service}.db"
            shutil.copyfile(sqlite_templates(service), path)
            url = f"sqlite:///{path}"
        else:
            url = request.getfixturevalue("pg_databases")(service)
        settings = svc.settings_factory().model_copy(
            update={"database_url": url, "keys_dir": keys_dir, "env": "test", "var_dir": tmp_path}
        )
        ctx = ServiceContext.build(svc, settings, clock=clock, keyring=keyring)
        if backend == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in svc.metadata.sorted_tables)
            with ctx.db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        contexts[service] = ctx
        return ctx

    yield build
    for ctx in contexts.values():
        ctx.db.dispose()


@pytest.fixture
def client_for() -> Iterator[Callable[[FastAPI], TestClient]]:
    """TestClients that are closed after the test."""
    clients: list[TestClient] = []

    def make(app: FastAPI, *, raise_server_exceptions: bool = True) -> TestClient:
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

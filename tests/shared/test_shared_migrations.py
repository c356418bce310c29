"""Each service's migrations build exactly the tables its models declare."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.registry import SERVICE_NAMES, definition
from shared.migrate import at_head
from shared.platform import ServiceContext


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_models_and_migrations_agree(service: str, make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx(service)
    svc = definition(service)
    with ctx.db.engine.connect() as conn:
        assert at_head(conn, svc)
        migration = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": svc.version_table}
        )
        diff = compare_metadata(migration, svc.metadata)
    assert diff == []


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_owns_only_its_version_table(
    service: str, make_ctx: Callable[[str], ServiceContext]
) -> None:
    from sqlalchemy import inspect

    ctx = make_ctx(service)
    names = set(inspect(ctx.db.engine).get_table_names())
    assert f"alembic_version_{service}" in names
    assert not any(f"alembic_version_{other}" in names for other in SERVICE_NAMES if other != service)

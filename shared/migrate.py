"""Alembic, one environment per service (``migrations/<service>/``, own version table).

``upgrade`` runs a service's migrations to head against a URL; ``at_head`` tells readiness
whether a database is current; ``run_env`` is what each ``env.py`` calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from shared.db import build_engine, normalize_url

if TYPE_CHECKING:
    from shared.platform import ServiceDefinition


def alembic_config(definition: ServiceDefinition, url: str) -> Config:
    """An Alembic Config for ``definition`` pointed at ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(definition.migrations_dir))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.attributes["definition"] = definition
    return cfg


def upgrade(definition: ServiceDefinition, url: str, revision: str = "head") -> None:
    """Migrate ``url`` to ``revision``."""
    command.upgrade(alembic_config(definition, url), revision)


def head_revision(definition: ServiceDefinition) -> str | None:
    """The head revision of a service's migrations."""
    return ScriptDirectory.from_config(alembic_config(definition, "sqlite://")).get_current_head()


def at_head(conn: Connection, definition: ServiceDefinition) -> bool:
    """True when the connected database is migrated to head."""
    context = MigrationContext.configure(conn, opts={"version_table": definition.version_table})
    return context.get_current_revision() == head_revision(definition)


def run_env(context: Any, definition: ServiceDefinition) -> None:
    """Body of every service's ``env.py`` (online mode only: we always have a database)."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url") or definition.settings_factory().database_url
    connection = config.attributes.get("connection")
    opts: dict[str, Any] = {
        "target_metadata": definition.metadata,
        "version_table": definition.version_table,
        "render_as_batch": url.startswith("sqlite"),
        "compare_type": True,
    }
    if connection is not None:
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = build_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, **opts)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def autogenerate_revision(definition: ServiceDefinition, message: str, rev_id: str) -> None:
    """Write a new revision from the difference between the models and head (developer tool)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'autogen.db'}"
        cfg = alembic_config(definition, url)
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)

"""What a running service holds: its definition (static) and its context (runtime).

``ServiceDefinition`` names a service, its settings class, its MetaData and platform
tables and its migrations; ``ServiceContext`` is the live settings, database, keyring,
metrics and clock that routes, jobs and CLI commands share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData

from shared.clock import Clock, SystemClock
from shared.crypto import Keyring
from shared.db import Database
from shared.observability import Metrics
from shared.platform_tables import PlatformTables
from shared.settings import BaseServiceSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_ROOT = REPO_ROOT / "migrations"


@dataclass(frozen=True)
class ServiceDefinition:
    """The static facts about one service."""

    name: str
    settings_factory: Callable[[], BaseServiceSettings]
    metadata: MetaData
    tables: PlatformTables

    @property
    def migrations_dir(self) -> Path:
        """This service's Alembic environment."""
        return MIGRATIONS_ROOT / self.name

    @property
    def version_table(self) -> str:
        """This service's own Alembic version table."""
        return f"alembic_version_{self.name}"


@dataclass
class ServiceContext:
    """Runtime handles shared by the routes, jobs and commands of one service."""

    definition: ServiceDefinition
    settings: BaseServiceSettings
    db: Database
    keyring: Keyring
    metrics: Metrics
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def build(
        cls,
        definition: ServiceDefinition,
        settings: BaseServiceSettings | None = None,
        *,
        clock: Clock | None = None,
        keyring: Keyring | None = None,
    ) -> ServiceContext:
        """Connect to the database and load the keys named by ``settings``."""
        settings = settings or definition.settings_factory()
        return cls(
            definition=definition,
            settings=settings,
            db=Database(settings.database_url, pool_size=settings.db_pool_size),
            keyring=keyring or Keyring.load(settings.resolved_keys_dir),
            metrics=Metrics(definition.name),
            clock=clock or SystemClock(),
        )

    @property
    def tables(self) -> PlatformTables:
        """This service's platform tables."""
        return self.definition.tables

"""What a running service holds: its definition (static) and its context (runtime).

``ServiceDefinition`` names a service, its settings class, its MetaData and platform
tables and its migrations; ``ServiceContext`` is the live settings, database, keyring,
metrics and clock that routes, jobs and CLI commands share, and the database's invalidation
channel for per-process caches (``shared.invalidation``).

Both are generic over the service's settings class, so a service's code sees its own
settings typed (``ServiceContext[EscrowSettings]``, aliased ``EscrowContext`` in the
service's ``settings`` module) and platform code sees ``ServiceContext`` (the base settings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic

from sqlalchemy import MetaData
from typing_extensions import TypeVar

from shared.clock import Clock, SystemClock
from shared.crypto import Keyring
from shared.db import Database
from shared.invalidation import Invalidation, invalidation_for
from shared.observability import Metrics
from shared.platform_tables import PlatformTables
from shared.settings import BaseServiceSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_ROOT = REPO_ROOT / "migrations"

SettingsT = TypeVar("SettingsT", bound=BaseServiceSettings, default=BaseServiceSettings, covariant=True)
"""A service's settings class (covariant: a context of EscrowSettings is a context of the base)."""


@dataclass(frozen=True)
class ServiceDefinition(Generic[SettingsT]):
    """The static facts about one service."""

    name: str
    settings_factory: Callable[[], SettingsT]
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
class ServiceContext(Generic[SettingsT]):
    """Runtime handles shared by the routes, jobs and commands of one service."""

    definition: ServiceDefinition[SettingsT]
    settings: SettingsT
    db: Database
    keyring: Keyring
    metrics: Metrics
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def build(
        cls,
        definition: ServiceDefinition[SettingsT],
        settings: SettingsT | None = None,
        *,
        clock: Clock | None = None,
        keyring: Keyring | None = None,
    ) -> ServiceContext[SettingsT]:
        """Connect to the database and load the keys named by ``settings``."""
        settings = settings or definition.settings_factory()
        return ServiceContext(
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

    @property
    def invalidation(self) -> Invalidation:
        """The database's invalidation channel: per-process caches and their cross-process bumps."""
        return invalidation_for(self.db)

"""The console as the platform sees it: name, settings, tables, migrations."""

from __future__ import annotations

from services.console import models
from services.console.settings import ConsoleSettings
from shared.platform import ServiceDefinition

SERVICE = ServiceDefinition(
    name="console",
    settings_factory=ConsoleSettings,
    metadata=models.metadata,
    tables=models.PLATFORM,
)

"""The escrow service as the platform sees it: name, settings, tables, migrations."""

from __future__ import annotations

from services.escrow import models
from services.escrow.settings import EscrowSettings
from shared.platform import ServiceDefinition

SERVICE = ServiceDefinition(
    name="escrow",
    settings_factory=EscrowSettings,
    metadata=models.metadata,
    tables=models.PLATFORM,
)

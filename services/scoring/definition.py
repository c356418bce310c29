"""The scoring service as the platform sees it: name, settings, tables, migrations."""

from __future__ import annotations

from services.scoring import models
from services.scoring.settings import ScoringSettings
from shared.platform import ServiceDefinition

SERVICE = ServiceDefinition(
    name="scoring",
    settings_factory=ScoringSettings,
    metadata=models.metadata,
    tables=models.PLATFORM,
)

"""The loans service as the platform sees it: name, settings, tables, migrations."""

from __future__ import annotations

from services.loans import models
from services.loans.settings import LoansSettings
from shared.platform import ServiceDefinition

SERVICE = ServiceDefinition(
    name="loans",
    settings_factory=LoansSettings,
    metadata=models.metadata,
    tables=models.PLATFORM,
)

"""The scoring service's tables: its domain tables and its own copy of the platform tables."""

from __future__ import annotations

from shared.db import make_base
from shared.platform_tables import define_platform_tables

Base = make_base()
metadata = Base.metadata
PLATFORM = define_platform_tables(metadata)

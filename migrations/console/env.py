"""Alembic environment of the console service (version table alembic_version_console)."""

from alembic import context

from services.console.definition import SERVICE
from shared.migrate import run_env

run_env(context, SERVICE)

"""Alembic environment of the scoring service (version table alembic_version_scoring)."""

from alembic import context

from services.scoring.definition import SERVICE
from shared.migrate import run_env

run_env(context, SERVICE)

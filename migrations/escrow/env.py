"""Alembic environment of the escrow service (version table alembic_version_escrow)."""

from alembic import context

from services.escrow.definition import SERVICE
from shared.migrate import run_env

run_env(context, SERVICE)

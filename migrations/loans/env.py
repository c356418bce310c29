"""Alembic environment of the loans service (version table alembic_version_loans)."""

from alembic import context

from services.loans.definition import SERVICE
from shared.migrate import run_env

run_env(context, SERVICE)

"""The services, looked up by name (the only module that knows all of them).

``API_SERVICES`` are the three REST services; ``console`` is the web application people
work in, a service too (its own database of users and sessions, its own audit chain) that
calls the other three over REST."""

from __future__ import annotations

import importlib
from types import ModuleType

from shared.platform import ServiceContext, ServiceDefinition
from shared.worker import Job

API_SERVICES = ("scoring", "escrow", "loans")
CONSOLE = "console"
SERVICE_NAMES = (*API_SERVICES, CONSOLE)


def definition(name: str) -> ServiceDefinition:
    """The ServiceDefinition of ``name``."""
    if name not in SERVICE_NAMES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(SERVICE_NAMES)}")
    module = importlib.import_module(f"services.{name}.definition")
    service: ServiceDefinition = module.SERVICE
    return service


def _optional(name: str, module: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"services.{name}.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"services.{name}.{module}":
            return None
        raise


def service_jobs(name: str, ctx: ServiceContext) -> list[Job]:
    """The periodic jobs a service contributes to the worker (``services/<name>/jobs.py``)."""
    module = _optional(name, "jobs")
    if module is None:
        return []
    jobs: list[Job] = module.periodic_jobs(ctx)
    return jobs


def service_bootstrap(name: str, ctx: ServiceContext) -> None:
    """First-start preparation a service needs (``services/<name>/bootstrap.py``)."""
    module = _optional(name, "bootstrap")
    if module is not None:
        module.bootstrap(ctx)


def service_cli(name: str) -> ModuleType | None:
    """A service's CLI module (``services/<name>/cli.py``), which registers its commands."""
    return _optional(name, "cli")

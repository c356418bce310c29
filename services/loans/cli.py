"""``agrifin cob``: close of business for the loans service from the command line."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

import typer

from services.loans.definition import SERVICE
from services.loans.service.business_date import business_date
from services.loans.service.cob import run_close_of_business
from shared.errors import ProblemError
from shared.platform import ServiceContext

CLI_ACTOR = "system:loans.cli"


def register(app: typer.Typer) -> None:
    """Add the loans commands to the ``agrifin`` CLI."""

    @app.command("cob")
    def cob(
        on: Annotated[
            datetime | None,
            typer.Option("--date", formats=["%Y-%m-%d"], help="Date to close (default: the business date)."),
        ] = None,
    ) -> None:
        """Run loans close of business for a date (idempotent: a re-run changes nothing)."""
        ctx = ServiceContext.build(SERVICE)
        try:
            when: date
            if on is None:
                with ctx.db.unit_of_work(read_only=True) as session:
                    when = business_date(session, ctx)
            else:
                when = on.date()
            try:
                summary = run_close_of_business(ctx, as_of=when, actor=CLI_ACTOR)
            except ProblemError as exc:
                typer.echo(f"cob: {exc.detail}", err=True)
                raise typer.Exit(1) from None
            typer.echo(json.dumps(summary.as_dict(), indent=2, sort_keys=True))
        finally:
            ctx.db.dispose()

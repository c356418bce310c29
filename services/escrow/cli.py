"""``agrifin ledger ...``: the escrow ledger's commands."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` command group to the ``agrifin`` CLI."""
    ledger_app = typer.Typer(help="The escrow ledger.", no_args_is_help=True)
    app.add_typer(ledger_app, name="ledger")

    @ledger_app.command("verify")
    def verify() -> None:
        """Recompute every balance from the postings and check every entry sums to zero."""
        from services.escrow.definition import SERVICE
        from services.escrow.service.ledger import verify_ledger
        from shared.platform import ServiceContext

        ctx = ServiceContext.build(SERVICE)
        try:
            with ctx.db.unit_of_work(read_only=True) as session:
                report = verify_ledger(session)
        finally:
            ctx.db.dispose()
        typer.echo(json.dumps(report.model_dump(), indent=2))
        raise typer.Exit(0 if report.ok else 1)

    @ledger_app.command("trial-balance")
    def trial_balance() -> None:
        """Print the trial balance (per currency, debit balances against credit balances)."""
        from services.escrow.definition import SERVICE
        from services.escrow.service.ledger import trial_balance as build
        from shared.platform import ServiceContext

        ctx = ServiceContext.build(SERVICE)
        try:
            with ctx.db.unit_of_work(read_only=True) as session:
                report = build(session)
        finally:
            ctx.db.dispose()
        typer.echo(json.dumps(report.model_dump(), indent=2))
        raise typer.Exit(0 if report.balanced else 1)

"""Loans' commands: ``agrifin cob`` (close of business) and ``agrifin reconcile proceeds``
(loans' sale proceeds against escrow's sweeps and refunds: exit 0 when balanced, 1 naming
every difference, 2 when escrow cannot be asked)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated

import typer

from services.loans.definition import SERVICE
from services.loans.service.business_date import business_date
from services.loans.service.cob import run_close_of_business
from services.loans.service.escrow_subscription import build_escrow_client
from services.loans.service.reconciliation import ProceedsReconciliation, reconcile_all_proceeds
from shared.errors import ProblemError
from shared.platform import ServiceContext

CLI_ACTOR = "system:loans.cli"


def proceeds_report(result: ProceedsReconciliation) -> str:
    """The reconciliation as a person reads it."""
    lines = [f"proceeds reconciliation: {result.loans_checked} loan(s) checked against escrow"]
    if result.balanced:
        lines.append("balanced: every sweep matches loans' repayments and refunds")
        return "\n".join(lines)
    lines.append(f"NOT balanced: {len(result.differences)} difference(s)")
    lines.extend(f"  - loan {d.loan_id} [{d.kind}]: {d.detail}" for d in result.differences)
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the loans commands to the ``agrifin`` CLI."""
    reconcile_app = typer.Typer(help="Reconcile loans with the other services.", no_args_is_help=True)
    app.add_typer(reconcile_app, name="reconcile")

    @reconcile_app.command("proceeds")
    def reconcile_proceeds_command() -> None:
        """Compare, loan by loan, escrow's sweeps with loans' sale-proceeds repayments and refunds."""
        ctx = ServiceContext.build(SERVICE)
        escrow = build_escrow_client(ctx.settings)
        try:
            try:
                result = reconcile_all_proceeds(ctx, escrow)
            except ProblemError as exc:
                typer.echo(f"reconcile proceeds: {exc.detail}", err=True)
                raise typer.Exit(2) from None
            typer.echo(proceeds_report(result))
            if not result.balanced:
                raise typer.Exit(1)
        finally:
            ctx.db.dispose()

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

"""``agrifin demo``: registered by ``services/cli.py``; every failure ends as one plain line, exit 1."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from services.demo.people import MissingCredentials
from services.demo.progress import DemoStopped
from services.demo.settings import DemoSettings
from services.demo.story import tell
from shared.http_client import ServiceCallError, UpstreamProblem


def explain(exc: ServiceCallError) -> str:
    """An upstream error in one line: which service, what it said, which fields it refused."""
    who = exc.service or "a service"
    if isinstance(exc, UpstreamProblem):
        detail = exc.problem.get("detail") or exc.problem.get("title") or "no detail"
        fields = exc.problem.get("errors")
        if isinstance(fields, list) and fields:
            named = "; ".join(
                f"{e.get('field') or e.get('loc') or '?'}: {e.get('message') or e.get('msg') or e}"
                if isinstance(e, dict)
                else str(e)
                for e in fields[:5]
            )
            if named not in detail:
                detail = f"{detail} ({named})"
        return f"{who} answered {exc.status}: {detail}"
    return f"{who} cannot be reached: {exc}"


def register(app: typer.Typer) -> None:
    """Add ``agrifin demo`` to the CLI."""

    @app.command("demo")
    def demo() -> None:
        """Tell the whole value chain against the running system (start it with `make run`).

        Seeds a cooperative and farmers linked to marketplace parties, runs their orders
        through escrow, scores them with their trade history, lets the decision policy decide a
        small loan and a second person approve a larger one, sweeps sale proceeds into
        repayments through a season of close of business, lets one loan fall into arrears and
        its outcome reach scoring, then prints PAR, the proceeds reconciliation, the model's
        performance and every service's audit verification. Safe to run again: each run is
        the next season.
        """
        try:
            tell(DemoSettings())
        except ServiceCallError as exc:
            _stop(explain(exc))
        except (DemoStopped, MissingCredentials) as exc:
            _stop(str(exc))
        except ValidationError as exc:
            _stop(f"bad AGRIFIN_DEMO_* setting: {exc.errors()[0].get('msg')}")
        except KeyboardInterrupt:
            _stop("interrupted; run `agrifin demo` again to go on", code=130)
        except Exception as exc:  # a bug of the demo's own: still one line, never a traceback
            _stop(f"unexpected {type(exc).__name__}: {exc}")


def _stop(message: str, *, code: int = 1) -> None:
    typer.echo("")
    typer.secho(f"demo stopped: {message}", err=True, fg="red")
    raise typer.Exit(code)

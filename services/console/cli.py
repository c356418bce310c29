"""``agrifin users create|list|disable``: the console's people."""

from __future__ import annotations

from typing import Annotated

import typer

from services.console.definition import SERVICE
from services.console.service import users
from services.console.settings import ConsoleContext
from shared.auth import PERSON_ROLES, Role
from shared.errors import ProblemError
from shared.platform import ServiceContext

users_app = typer.Typer(help="Console users (people, not keys).", no_args_is_help=True)


def _context() -> ConsoleContext:
    ctx: ConsoleContext = ServiceContext.build(SERVICE)
    return ctx


def _fail(exc: ProblemError) -> typer.Exit:
    problem = exc.to_problem("agrifin users")
    fields = "; ".join(
        f"{e['field']}: {e['message']}" for e in problem.get("errors", []) if isinstance(e, dict)
    )
    typer.echo(f"{problem.get('detail')}{' (' + fields + ')' if fields else ''}", err=True)
    return typer.Exit(1)


@users_app.command("create")
def create(
    username: Annotated[str, typer.Option("--username", "-u")],
    role: Annotated[
        Role, typer.Option("--role", "-r", help="loan_officer, credit_manager, auditor, admin, marketplace")
    ],
    name: Annotated[str | None, typer.Option("--name", help="The person's full name.")] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="A marketplace operator's marketplace.")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="en or zh")] = "en",
    prompt: Annotated[
        bool, typer.Option("--prompt/--generate", help="Ask for the password, or print a new one.")
    ] = False,
) -> None:
    """Create a console user; the password is asked for (--prompt) or generated and printed once."""
    if role not in PERSON_ROLES:
        raise typer.BadParameter(f"a person's role: {', '.join(sorted(PERSON_ROLES))}", param_hint="--role")
    if prompt:  # asked twice, never echoed; two different answers are asked again
        password = str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    else:
        password = users.generate_password()
    ctx = _context()
    try:
        with ctx.db.unit_of_work(gated=True) as session:
            users.create_user(
                session,
                ctx,
                username=username,
                role=role,
                password=password,
                full_name=name,
                owner=owner,
                language=language,
            )
    except ProblemError as exc:
        raise _fail(exc) from None
    finally:
        ctx.db.dispose()
    typer.echo(f"created {username} ({role.value})")
    if not prompt:
        typer.echo(f"password (shown once): {password}")


@users_app.command("list")
def list_() -> None:
    """List console users (never their passwords)."""
    ctx = _context()
    with ctx.db.unit_of_work(read_only=True) as session:
        for user in users.list_users(session):
            state = "disabled" if user.disabled else "active"
            owner = user.owner or "-"
            typer.echo(f"{user.username:<24} {user.role:<15} {owner:<18} {state:<9} {user.full_name or ''}")
    ctx.db.dispose()


@users_app.command("disable")
def disable(username: str) -> None:
    """Disable a user; their sessions end at once."""
    ctx = _context()
    try:
        with ctx.db.unit_of_work(gated=True) as session:
            ended = users.disable_user(session, ctx, username=username)
    except ProblemError as exc:
        raise _fail(exc) from None
    finally:
        ctx.db.dispose()
    typer.echo(f"disabled {username}; {ended} session(s) ended")


def register(app: typer.Typer) -> None:
    """Add ``agrifin users``."""
    app.add_typer(users_app, name="users")

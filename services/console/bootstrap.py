"""First start of the console: one development user per role, written to ``var/dev-users.json``
(mode 0600). A second bootstrap keeps the users and the passwords the file holds."""

from __future__ import annotations

import json
import os

import typer

from services.console.repository import users as repo
from services.console.service import users
from services.console.settings import DEV_USERS_FILE, ConsoleContext
from shared.auth import Role

DEV_MARKETPLACE = "dev-marketplace"
DEV_USERS = {
    Role.LOAN_OFFICER: ("officer", "Amina Officer"),
    Role.CREDIT_MANAGER: ("manager", "Chen Manager"),
    Role.AUDITOR: ("auditor", "Grace Auditor"),
    Role.ADMIN: ("admin", "Admin"),
    Role.MARKETPLACE: ("market-ops", "Marketplace Operations"),
}


def bootstrap(ctx: ConsoleContext) -> None:
    """Create (or re-issue) the development users; skipped in production."""
    if ctx.settings.env == "production":
        return
    path = ctx.settings.var_dir / DEV_USERS_FILE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    written: dict[str, dict[str, str]] = {}
    with ctx.db.unit_of_work(gated=True) as session:
        for role, (username, name) in DEV_USERS.items():
            entry = known.get(role.value) if isinstance(known, dict) else None
            password = entry.get("password") if isinstance(entry, dict) else None
            existing = repo.user_by_username(session, username)
            if existing is None:
                password = password or users.generate_password()
                users.create_user(
                    session,
                    ctx,
                    username=username,
                    role=role,
                    password=password,
                    full_name=name,
                    owner=DEV_MARKETPLACE if role is Role.MARKETPLACE else None,
                    actor="bootstrap",
                )
            elif not isinstance(password, str) or not users.password_matches(existing, password):
                password = users.generate_password()
                users.set_password(session, ctx, username=username, password=password)
            written[role.value] = {"username": username, "password": password}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(written, fh, indent=2)
    os.chmod(path, 0o600)
    typer.echo(f"console users per role: {path.resolve()}")

"""``agrifin users create|list|disable`` and the console's bootstrap (dev users per role)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from services import cli
from services.console import bootstrap as console_bootstrap
from services.console.models import User, UserSession
from services.console.service import users
from services.console.settings import ConsoleContext
from shared.audit import audit_entries
from shared.platform import ServiceContext


@pytest.fixture
def console(make_ctx: Callable[[str], ServiceContext]) -> ConsoleContext:
    return cast(ConsoleContext, make_ctx("console"))


@pytest.fixture
def env(console: ConsoleContext, tmp_path: Path, keys_dir: Path) -> dict[str, str]:
    return {
        "AGRIFIN_VAR_DIR": str(tmp_path),
        "AGRIFIN_KEYS_DIR": str(keys_dir),
        "AGRIFIN_ENV": "test",
        "AGRIFIN_CONSOLE_DATABASE_URL": console.db.url,
    }


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli.app, ["users", *args], env=env, input=stdin)


def _user(console: ConsoleContext, username: str) -> User | None:
    with console.db.unit_of_work(read_only=True) as session:
        found = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def test_create_prints_a_generated_password_once_and_stores_only_its_argon2_hash(
    env: dict[str, str], console: ConsoleContext
) -> None:
    made = _run(env, "create", "--username", "amina", "--role", "loan_officer", "--name", "Amina Wanjiru")
    assert made.exit_code == 0, made.output
    password = made.output.split("password (shown once): ", 1)[1].strip()
    user = _user(console, "amina")
    assert user is not None and user.full_name == "Amina Wanjiru" and user.role == "loan_officer"
    assert user.password_hash.startswith("$argon2id$") and password not in user.password_hash
    assert users.password_matches(user, password)
    with console.db.unit_of_work(read_only=True) as session:
        (entry,) = audit_entries(session, console.tables, subject="user:amina")
    assert entry["action"] == "console.user.created" and "password" not in json.dumps(entry["payload"])


def test_create_can_ask_for_the_password(env: dict[str, str], console: ConsoleContext) -> None:
    made = _run(
        env, "create", "-u", "chen", "-r", "credit_manager", "--prompt", stdin="a long passphrase\n" * 2
    )
    assert made.exit_code == 0, made.output
    assert "shown once" not in made.output
    user = _user(console, "chen")
    assert user is not None and users.password_matches(user, "a long passphrase")
    differs = _run(
        env, "create", "-u", "li", "-r", "auditor", "--prompt", stdin="a long passphrase\nanother one!!\n"
    )
    assert differs.exit_code == 1 and _user(console, "li") is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-u", "Amina!", "-r", "loan_officer"], "username"),
        (["-u", "ops", "-r", "marketplace"], "owner"),
        (["-u", "amina", "-r", "loan_officer", "--owner", "shop-1"], "owner"),
        (["-u", "svc", "-r", "service"], "role"),
    ],
)
def test_create_refuses_what_is_not_a_person(
    env: dict[str, str], console: ConsoleContext, args: list[str], says: str
) -> None:
    refused = _run(env, "create", *args)
    assert refused.exit_code != 0 and says in refused.output
    assert _user(console, args[1]) is None


def test_a_taken_username_is_refused(env: dict[str, str]) -> None:
    assert _run(env, "create", "-u", "amina", "-r", "loan_officer").exit_code == 0
    again = _run(env, "create", "-u", "amina", "-r", "auditor")
    assert again.exit_code == 1 and "exists already" in again.output


def test_list_shows_people_never_passwords(env: dict[str, str]) -> None:
    made = _run(env, "create", "-u", "ops1", "-r", "marketplace", "--owner", "shop-1", "--name", "Ops One")
    password = made.output.split("password (shown once): ", 1)[1].strip()
    listed = _run(env, "list")
    assert listed.exit_code == 0
    assert "ops1" in listed.output and "marketplace" in listed.output and "shop-1" in listed.output
    assert "active" in listed.output and password not in listed.output


def test_disable_ends_the_users_sessions_at_once(env: dict[str, str], console: ConsoleContext) -> None:
    assert _run(env, "create", "-u", "amina", "-r", "loan_officer").exit_code == 0
    user = _user(console, "amina")
    assert user is not None
    from services.console.service.sessions import current_person, start_session

    token = start_session(console, user, address="127.0.0.1")
    assert current_person(console, token) is not None
    disabled = _run(env, "disable", "amina")
    assert disabled.exit_code == 0 and "1 session(s) ended" in disabled.output
    assert current_person(console, token) is None
    with console.db.unit_of_work(read_only=True) as session:
        ended = session.execute(select(UserSession.end_reason)).scalars().all()
    assert ended == ["disabled"]
    assert "disabled" in _run(env, "list").output
    assert _run(env, "disable", "nobody").exit_code == 1


def test_bootstrap_writes_one_user_per_role_0600_and_keeps_them(console: ConsoleContext) -> None:
    console_bootstrap.bootstrap(console)
    path = console.settings.var_dir / "dev-users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    people = json.loads(path.read_text())
    assert {"loan_officer", "credit_manager", "auditor", "admin", "marketplace"} == set(people)
    for role, entry in people.items():
        user = _user(console, entry["username"])
        assert user is not None and user.role == role and users.password_matches(user, entry["password"])
    console_bootstrap.bootstrap(console)
    assert json.loads(path.read_text()) == people  # a second start keeps people and passwords

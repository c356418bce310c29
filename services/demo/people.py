"""Who acts in the demo, from what ``agrifin bootstrap`` wrote under the var directory.

People act as the console makes them act: with the console's credential
(``service:console``) and the headers naming the person (``shared.auth.ACTING_*``), so
every service authorises the person's role, names the person in its audit trail and
compares persons in maker-checker — the loan officer who submits is not the credit manager
who approves. Without ``dev-users.json`` each role's own development key stands in for its
person (two keys are two people to maker-checker). The marketplace is a machine client: it
uses its own key (bound to its marketplace).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.settings import DEV_KEYS_FILE

DEV_USERS_FILE = "dev-users.json"
CONSOLE_CREDENTIAL = "service:console"


class MissingCredentials(Exception):
    """The var directory lacks what ``agrifin bootstrap`` writes."""


@dataclass(frozen=True)
class Person:
    """Someone the demo acts as: a key and the headers that name the person."""

    role: Role
    name: str
    api_key: str = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class People:
    """The cast behind the desks."""

    officer: Person
    manager: Person
    admin: Person
    auditor: Person
    marketplace: Person
    auditor_key: Person
    """The auditor's own key (the console's audit routes take API keys, not acting persons)."""


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingCredentials(
            f"{path} not found: run `agrifin bootstrap` (or `make run`) with the same AGRIFIN_VAR_DIR"
        ) from None
    except (OSError, ValueError) as exc:
        raise MissingCredentials(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise MissingCredentials(f"{path} is not a JSON object")
    return data


def load_people(var_dir: Path) -> People:
    """The people from ``dev-keys.json`` and, when there, ``dev-users.json``."""
    keys = _read(var_dir / DEV_KEYS_FILE)
    users_path = var_dir / DEV_USERS_FILE
    users = _read(users_path) if users_path.exists() else {}
    console_key = keys.get(CONSOLE_CREDENTIAL)

    def person(role: Role) -> Person:
        user = users.get(role.value)
        username = user.get("username") if isinstance(user, dict) else None
        if isinstance(console_key, str) and isinstance(username, str):
            headers = {ACTING_PERSON_HEADER: username, ACTING_ROLE_HEADER: role.value}
            return Person(role, username, console_key, headers)
        return own_key(role)

    def own_key(role: Role) -> Person:
        key = keys.get(role.value)
        if not isinstance(key, str) or not key:
            raise MissingCredentials(f"{var_dir / DEV_KEYS_FILE} has no {role.value} key")
        return Person(role, f"the {role.value} key", key)

    return People(
        officer=person(Role.LOAN_OFFICER),
        manager=person(Role.CREDIT_MANAGER),
        admin=person(Role.ADMIN),
        auditor=person(Role.AUDITOR),
        marketplace=own_key(Role.MARKETPLACE),
        auditor_key=own_key(Role.AUDITOR),
    )

"""`agrifin demo` without a system: who acts, words for money and actors, and every failure
as one plain line with exit 1 (the whole story runs in tests/e2e/test_e2e_demo.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.demo.cast import FARMERS, LATE_PAYER_NAMES, late_payer
from services.demo.cli import explain
from services.demo.lending import who
from services.demo.people import MissingCredentials, load_people
from services.demo.progress import money
from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.http_client import ServiceUnreachable, UpstreamProblem
from tests.support import free_port

KEYS = {
    "loan_officer": "k-officer",
    "credit_manager": "k-manager",
    "auditor": "k-auditor",
    "admin": "k-admin",
    "marketplace": "k-market",
    "service:console": "k-console",
}
USERS = {
    "loan_officer": {"username": "officer", "password": "x"},
    "credit_manager": {"username": "manager", "password": "y"},
    "auditor": {"username": "auditor", "password": "z"},
    "admin": {"username": "admin", "password": "w"},
}


def _var(tmp_path: Path, *, users: bool = True) -> Path:
    (tmp_path / "dev-keys.json").write_text(json.dumps(KEYS))
    if users:
        (tmp_path / "dev-users.json").write_text(json.dumps(USERS))
    return tmp_path


def test_people_act_through_the_console_credential_as_two_different_persons(tmp_path: Path) -> None:
    people = load_people(_var(tmp_path))
    assert people.officer.api_key == people.manager.api_key == "k-console"
    assert people.officer.headers == {ACTING_PERSON_HEADER: "officer", ACTING_ROLE_HEADER: "loan_officer"}
    assert people.manager.headers == {ACTING_PERSON_HEADER: "manager", ACTING_ROLE_HEADER: "credit_manager"}
    assert people.marketplace.api_key == "k-market" and people.marketplace.headers == {}
    assert people.auditor_key.api_key == "k-auditor"


def test_without_console_users_each_role_uses_its_own_key(tmp_path: Path) -> None:
    people = load_people(_var(tmp_path, users=False))
    assert (people.officer.api_key, people.manager.api_key) == ("k-officer", "k-manager")
    assert people.officer.role is Role.LOAN_OFFICER and people.officer.headers == {}


def test_missing_keys_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingCredentials, match=r"dev-keys\.json not found: run `agrifin bootstrap`"):
        load_people(tmp_path)


def test_words_for_money_and_actors() -> None:
    assert money(123_456, "USD") == "USD 1,234.56"
    assert money(5, "USD") == "USD 0.05"
    assert money(-100, "KES") == "KES -1.00"
    assert who("person:manager:credit_manager:via:0b1c") == "manager (credit_manager)"
    assert who("policy:7f3a:v2") == "the product's decision policy v2"
    assert who("key:abc") == "key:abc"


def test_every_season_has_its_own_late_payer() -> None:
    payers = [late_payer(i) for i in range(len(LATE_PAYER_NAMES) + 1)]
    assert len({p.national_id for p in payers}) == len(payers)
    assert len({p.party_id for p in payers}) == len(payers)
    assert payers[-1].name == f"{LATE_PAYER_NAMES[0]} 2"
    assert not {p.national_id for p in payers} & {f.national_id for f in FARMERS}


def test_upstream_errors_become_one_line() -> None:
    problem = UpstreamProblem(
        422, {"detail": "validation failed", "errors": [{"field": "body.x", "message": "bad"}]}
    )
    problem.service = "loans"
    assert explain(problem) == "loans answered 422: validation failed (body.x: bad)"
    down = ServiceUnreachable("GET /v1/products: connection refused")
    down.service = "escrow"
    assert explain(down) == "escrow cannot be reached: GET /v1/products: connection refused"


def test_demo_against_no_system_stops_in_one_line(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env = {"AGRIFIN_VAR_DIR": str(_var(tmp_path))}
    env.update({f"AGRIFIN_DEMO_{name}_URL": closed for name in ("SCORING", "ESCROW", "LOANS", "CONSOLE")})
    result = CliRunner().invoke(app, ["demo"], env=env)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"demo stopped: scoring does not answer at {closed}: start the system first" in result.output
    assert "Traceback" not in result.output


def test_demo_without_bootstrap_stops_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo"], env={"AGRIFIN_VAR_DIR": str(tmp_path / "none")})
    assert result.exit_code == 1
    assert "dev-keys.json not found: run `agrifin bootstrap`" in result.output

"""shared.auth.acting_person: the console's credential (``service:console``) names the person it
acts for; any other caller sending the acting headers is refused, and so is a malformed name,
a role no person holds, or an owner where the role has none (and none where it needs one)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from shared.auth import (
    ACTING_OWNER_HEADER,
    ACTING_PERSON_HEADER,
    ACTING_ROLE_HEADER,
    PERSON_ROLES,
    Principal,
    Role,
    acting_person,
)
from shared.errors import Forbidden

CONSOLE = Principal(key_id="k-console", role=Role.SERVICE, owner="console")


def request(**headers: str) -> Request:
    """A request carrying ``headers`` (names as given)."""
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def acting(person: str | None = None, role: str | None = None, owner: str | None = None) -> Request:
    named = {ACTING_PERSON_HEADER: person, ACTING_ROLE_HEADER: role, ACTING_OWNER_HEADER: owner}
    return request(**{k: v for k, v in named.items() if v is not None})


def test_without_the_headers_the_key_is_the_principal() -> None:
    officer = Principal(key_id="k-1", role=Role.LOAN_OFFICER, owner=None)
    assert acting_person(request(), officer) is officer
    assert acting_person(request(), CONSOLE) is CONSOLE
    assert (officer.person, officer.identity, officer.actor) == (None, "key:k-1", "loan_officer:k-1")
    assert CONSOLE.actor == "service:k-console:console" and CONSOLE.identity == "key:k-console"


def test_the_console_acts_for_a_person_in_that_persons_role() -> None:
    principal = acting_person(acting("alice", "credit_manager"), CONSOLE)
    assert principal == Principal(key_id="k-console", role=Role.CREDIT_MANAGER, owner=None, person="alice")
    assert principal.actor == "person:alice:credit_manager:via:k-console"
    assert principal.identity == "person:alice"
    assert principal.credential == "credit_manager" and principal.can_see("shop-1")
    # The same person through another console key is the same identity, another actor.
    rotated = acting_person(
        acting("alice", "credit_manager"), Principal(key_id="k-new", role=Role.SERVICE, owner="console")
    )
    assert rotated.identity == principal.identity and rotated.actor != principal.actor
    assert acting_person(acting("bob", "credit_manager"), CONSOLE).identity == "person:bob"


@pytest.mark.parametrize("role", sorted(PERSON_ROLES - {Role.MARKETPLACE}))
def test_every_persons_role_but_marketplace_takes_no_owner(role: Role) -> None:
    principal = acting_person(acting("a.b-c_9", role.value), CONSOLE)
    assert (principal.role, principal.owner, principal.person) == (role, None, "a.b-c_9")
    with pytest.raises(Forbidden, match=ACTING_OWNER_HEADER):
        acting_person(acting("alice", role.value, owner="shop-1"), CONSOLE)


def test_a_marketplace_operator_needs_the_marketplace_and_sees_only_it() -> None:
    operator = acting_person(acting("erin", "marketplace", owner="shop-1"), CONSOLE)
    assert (operator.role, operator.owner) == (Role.MARKETPLACE, "shop-1")
    assert operator.can_see("shop-1") and not operator.can_see("shop-2")
    assert operator.actor == "person:erin:marketplace:via:k-console"
    for owner in (None, ""):
        with pytest.raises(Forbidden, match=ACTING_OWNER_HEADER):
            acting_person(acting("erin", "marketplace", owner=owner), CONSOLE)


@pytest.mark.parametrize(
    "caller",
    [
        Principal(key_id="k-1", role=Role.LOAN_OFFICER, owner=None),
        Principal(key_id="k-2", role=Role.ADMIN, owner=None),
        Principal(key_id="k-3", role=Role.AUDITOR, owner=None),
        Principal(key_id="k-4", role=Role.SERVICE, owner="loans"),
        Principal(key_id="k-5", role=Role.SERVICE, owner="escrow"),
        Principal(key_id="k-6", role=Role.MARKETPLACE, owner="console"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {ACTING_PERSON_HEADER: "alice", ACTING_ROLE_HEADER: "admin"},
        {ACTING_PERSON_HEADER: "alice"},
        {ACTING_ROLE_HEADER: "admin"},
        {ACTING_OWNER_HEADER: "shop-1"},
    ],
)
def test_any_other_caller_sending_an_acting_header_is_refused(
    caller: Principal, headers: dict[str, str]
) -> None:
    with pytest.raises(Forbidden, match="only the console's credential may act on behalf of a person"):
        acting_person(request(**headers), caller)


@pytest.mark.parametrize(
    "person",
    [None, "", "Alice", "al ice", "-alice", ".alice", "alice@example.org", "a" * 65, "alice\u00e9", "al/ice"],
)
def test_a_malformed_username_is_refused(person: str | None) -> None:
    with pytest.raises(Forbidden, match=ACTING_PERSON_HEADER):
        acting_person(acting(person, "admin"), CONSOLE)


def test_the_longest_username_is_accepted() -> None:
    assert acting_person(acting("a" * 64, "auditor"), CONSOLE).person == "a" * 64


@pytest.mark.parametrize("role", [None, "", "service", "superuser", "ADMIN", "admin "])
def test_a_role_no_person_holds_is_refused(role: str | None) -> None:
    with pytest.raises(Forbidden, match=ACTING_ROLE_HEADER):
        acting_person(acting("alice", role), CONSOLE)

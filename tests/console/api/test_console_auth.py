"""Signing in and out: the form, cookies, throttling, CSRF, idle sessions, disabled users, roles."""

from __future__ import annotations

from datetime import timedelta

from services.console.service import users
from shared.auth import Role
from shared.clock import ManualClock
from tests.console.kit import LOGIN_CSRF_FIELD, PASSWORD, World, post_form


def _sign_in(world: World, username: str, password: str, client=None):  # type: ignore[no-untyped-def]
    client = client or world.browser()
    page = client.get("/login")
    token = LOGIN_CSRF_FIELD.search(page.text)
    assert token is not None
    return client, client.post(
        "/login",
        data={"username": username, "password": password, "login_csrf": token.group(1), "next": "/loans"},
        follow_redirects=False,
    )


def test_the_login_page_has_username_password_and_sign_in(world: World) -> None:
    page = world.browser().get("/login")
    assert page.status_code == 200
    assert '<label for="username">Username</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert ">Sign in</button>" in page.text


def test_a_logged_out_visitor_is_sent_to_the_login_page(world: World) -> None:
    answer = world.browser().get("/?tab=mine", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/%3Ftab%3Dmine"


def test_signing_in_sets_a_signed_httponly_strict_cookie_and_goes_where_asked(world: World) -> None:
    world.person("amina", Role.LOAN_OFFICER, name="Amina W.")
    client, answer = _sign_in(world, "amina", PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/loans"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("agrifin_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    home = client.get("/")
    assert home.status_code == 200 and "Amina W." in home.text


def test_a_wrong_password_is_refused_and_nothing_opens(world: World) -> None:
    world.person("amina", Role.LOAN_OFFICER)
    client, answer = _sign_in(world, "amina", "not the password")
    assert answer.status_code == 401
    assert "not right" in answer.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_is_throttled_per_user_then_unlocks(world: World, clock: ManualClock) -> None:
    world.person("amina", Role.LOAN_OFFICER)
    for _ in range(world.console_ctx.settings.login_max_failures_per_user):
        assert _sign_in(world, "amina", "wrong password")[1].status_code == 401
    _, locked = _sign_in(world, "amina", PASSWORD)  # even the right password waits
    assert locked.status_code == 429 and "locked until" in locked.text
    clock.advance(timedelta(minutes=world.console_ctx.settings.login_window_minutes, seconds=1))
    assert _sign_in(world, "amina", PASSWORD)[1].status_code == 303


def test_sign_in_is_throttled_per_address_across_usernames(world: World) -> None:
    limit = world.console_ctx.settings.login_max_failures_per_address
    world.person("amina", Role.LOAN_OFFICER)
    for i in range(limit):
        _sign_in(world, f"nobody{i}", "wrong password")
    assert _sign_in(world, "amina", PASSWORD)[1].status_code == 429


def test_a_login_form_without_its_token_is_refused(world: World) -> None:
    world.person("amina", Role.LOAN_OFFICER)
    answer = world.browser().post(
        "/login", data={"username": "amina", "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 403


def test_a_form_posted_without_the_csrf_token_is_refused_and_changes_nothing(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    answer = client.post("/language", data={"language": "zh", "next": "/"}, follow_redirects=False)
    assert answer.status_code == 403 and "security token" in answer.text
    wrong = client.post("/language", data={"language": "zh", "csrf_token": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403
    assert 'lang="en"' in client.get("/").text


def test_the_language_is_remembered_per_user(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    assert ">中文</button>" in client.get("/").text
    answer = post_form(client, "/language", {"language": "zh", "next": "/"}, from_page="/")
    assert answer.status_code == 303
    again = world.signed_in("amina")  # another browser, the same person
    page = again.get("/")
    assert 'lang="zh-Hans"' in page.text and ">English</button>" in page.text


def test_logout_ends_the_session(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    cookie = client.cookies.get("agrifin_session")
    assert post_form(client, "/logout", {}, from_page="/").status_code == 303
    replayed = world.browser()
    replayed.cookies.set("agrifin_session", cookie or "")
    assert replayed.get("/", follow_redirects=False).status_code == 303  # the old cookie opens nothing


def test_an_idle_session_ends(world: World, clock: ManualClock) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    clock.advance(timedelta(minutes=world.console_ctx.settings.session_idle_minutes - 1))
    assert client.get("/", follow_redirects=False).status_code == 200  # activity keeps it open
    clock.advance(timedelta(minutes=world.console_ctx.settings.session_idle_minutes + 1))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_disabled_users_sessions_end_at_once(world: World) -> None:
    client = world.signed_in("amina", Role.LOAN_OFFICER)
    assert client.get("/", follow_redirects=False).status_code == 200
    with world.console_ctx.db.unit_of_work() as session:
        assert users.disable_user(session, world.console_ctx, username="amina") == 1
    assert client.get("/", follow_redirects=False).status_code == 303
    assert _sign_in(world, "amina", PASSWORD)[1].status_code == 401


def test_a_forged_cookie_opens_nothing(world: World) -> None:
    world.signed_in("amina", Role.LOAN_OFFICER)
    client = world.browser()
    client.cookies.set("agrifin_session", "forged.value.here")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_site(world: World) -> None:
    world.person("amina", Role.LOAN_OFFICER)
    client = world.browser()
    page = client.get("/login?next=//evil.example/x")
    assert 'name="next" value="/"' in page.text
    found = LOGIN_CSRF_FIELD.search(page.text)
    assert found is not None
    token = found.group(1)
    answer = client.post(
        "/login",
        data={"username": "amina", "password": PASSWORD, "login_csrf": token, "next": "https://evil.example"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_a_page_refuses_a_role_it_does_not_admit(world: World) -> None:
    client = world.signed_in("ops", Role.MARKETPLACE, owner="shop-1")
    answer = client.get("/applications", follow_redirects=False)
    assert answer.status_code == 403 and "Your role cannot open this page" in answer.text

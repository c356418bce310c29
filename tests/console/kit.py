"""The console's test world: scoring, escrow and loans running in-process (real apps on fresh
databases), the console calling them over HTTP through a transport that forwards each request
to the app's TestClient, byte for byte, and helpers to make people and sign them in."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from services.console.service import users
from services.console.settings import ConsoleContext
from shared.auth import Role
from shared.platform import ServiceContext
from tests.support import auth

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_CSRF_FIELD = re.compile(r'name="login_csrf" value="([^"]+)"')


def forwarding(client: TestClient) -> httpx.Client:
    """An httpx.Client whose requests are answered by ``client``'s app (in-process)."""

    def forward(request: httpx.Request) -> httpx.Response:
        answer = client.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")},
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.Client(base_url="http://backend.test", transport=httpx.MockTransport(forward))


@dataclass
class World:
    """The four services of one test and the people in the console."""

    console_ctx: ConsoleContext
    contexts: dict[str, ServiceContext]
    apps: dict[str, TestClient]
    keys: dict[str, dict[Role, str]]
    make_console: Callable[[], TestClient]
    browsers: list[TestClient] = field(default_factory=list)

    def person(self, username: str, role: Role, *, name: str | None = None, owner: str | None = None) -> str:
        """Create a console user with the kit's password; the username."""
        with self.console_ctx.db.unit_of_work() as session:
            users.create_user(
                session,
                self.console_ctx,
                username=username,
                role=role,
                password=PASSWORD,
                full_name=name,
                owner=owner,
            )
        return username

    def browser(self) -> TestClient:
        """A fresh console client (its own cookies), as one person's browser."""
        client = self.make_console()
        self.browsers.append(client)
        return client

    def signed_in(self, username: str, role: Role | None = None, **kwargs: Any) -> TestClient:
        """A browser signed in as ``username`` (created first when ``role`` is given)."""
        if role is not None:
            self.person(username, role, **kwargs)
        client = self.browser()
        page = client.get("/login")
        token = LOGIN_CSRF_FIELD.search(page.text)
        assert token is not None, page.text
        answer = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "login_csrf": token.group(1), "next": "/"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return client

    def api(self, service: str, method: str, path: str, *, role: Role = Role.ADMIN, **kwargs: Any) -> Any:
        """Call a service's API directly with a key of ``role`` (set-up and checks)."""
        headers = {**auth(self.keys[service][role]), **kwargs.pop("headers", {})}
        answer = self.apps[service].request(method, path, headers=headers, **kwargs)
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None


def csrf(page: httpx.Response) -> str:
    """The CSRF token of the forms on a page."""
    found = CSRF_FIELD.search(page.text)
    assert found is not None, "the page has no form carrying a CSRF token"
    return found.group(1)


def post_form(
    client: TestClient, path: str, data: dict[str, Any], *, from_page: str, **kwargs: Any
) -> httpx.Response:
    """Post a form the way a browser does: the CSRF token taken from the page the form is on."""
    token = csrf(client.get(from_page))
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False, **kwargs)

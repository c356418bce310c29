"""Sessions: a signed, HttpOnly, SameSite=Strict cookie holding a random token; the table holds
its hash, the CSRF token of the session's forms, and when it was last seen.

A session ends on logout, after ``session_idle_minutes`` without a request, after
``session_max_hours`` in all, and at once when its user is disabled (every request reads the
session and the user). The cookie is signed (itsdangerous) with a key derived from the
service's keyring, so a forged or altered cookie is refused before any lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.console.models import User, UserSession
from services.console.repository import users as repo
from services.console.settings import ConsoleContext
from shared.auth import (
    ACTING_OWNER_HEADER,
    ACTING_PERSON_HEADER,
    ACTING_ROLE_HEADER,
    Role,
)
from shared.changes import record_change
from shared.clock import as_utc

SESSION_COOKIE = "agrifin_session"
TOUCH_AFTER = timedelta(seconds=60)
"""``last_seen_at`` is rewritten at most once a minute (a page view is not a write)."""


@dataclass(frozen=True)
class Person:
    """The signed-in person a request acts for."""

    user_id: str
    username: str
    full_name: str | None
    role: Role
    owner: str | None
    language: str
    csrf_token: str

    @property
    def display_name(self) -> str:
        """The name the page greets."""
        return self.full_name or self.username

    def acting_headers(self) -> dict[str, str]:
        """The headers by which the console names this person to a service (``shared.auth``)."""
        headers = {ACTING_PERSON_HEADER: self.username, ACTING_ROLE_HEADER: self.role.value}
        if self.owner:
            headers[ACTING_OWNER_HEADER] = self.owner
        return headers


def _serializer(ctx: ConsoleContext) -> URLSafeTimedSerializer:
    secret = ctx.keyring.hmac_hex(b"agrifin-console-session-cookie")
    return URLSafeTimedSerializer(secret, salt="agrifin.console.session")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_value(ctx: ConsoleContext, token: str) -> str:
    """The signed cookie for a session token."""
    return _serializer(ctx).dumps(token)


def token_from_cookie(ctx: ConsoleContext, cookie: str | None) -> str | None:
    """The session token a cookie carries, if its signature holds and it is not too old."""
    if not cookie:
        return None
    try:
        token = _serializer(ctx).loads(cookie, max_age=ctx.settings.session_max_hours * 3600)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


def person_of(user: User, row: UserSession) -> Person:
    """The Person of a session."""
    return Person(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=Role(user.role),
        owner=user.owner,
        language=user.language,
        csrf_token=row.csrf_token,
    )


def start_session(ctx: ConsoleContext, user: User, *, address: str) -> str:
    """Open a session for ``user`` (after a successful sign-in); the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    with ctx.db.unit_of_work(gated=True) as session:
        repo.add(
            session,
            UserSession(
                token_hash=_hash(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                ended_at=None,
                end_reason=None,
            ),
        )
        record_change(
            session,
            ctx,
            actor=f"person:{user.username}",
            action="console.signed_in",
            subject=f"user:{user.username}",
            payload={"address": address},
            event=False,
        )
    return token


def current_person(ctx: ConsoleContext, token: str | None) -> Person | None:
    """The person of a live session; None (and the session ended) when idle or too old."""
    if token is None:
        return None
    now = ctx.clock.now()
    key = _hash(token)
    with ctx.db.unit_of_work(read_only=True) as session:
        found = repo.live_session(session, key)
        if found is None or found[1].disabled:
            return None
        row, user = found
        person = person_of(user, row)
        last_seen, created = as_utc(row.last_seen_at), as_utc(row.created_at)
    idle = now - last_seen > timedelta(minutes=ctx.settings.session_idle_minutes)
    expired = now - created > timedelta(hours=ctx.settings.session_max_hours)
    if idle or expired or now - last_seen > TOUCH_AFTER:
        with ctx.db.unit_of_work(gated=True) as session:
            stored = session.get(UserSession, key)
            if stored is not None and stored.ended_at is None:
                if idle or expired:
                    stored.ended_at, stored.end_reason = now, "idle" if idle else "expired"
                else:
                    stored.last_seen_at = now
    return None if idle or expired else person


def end_session(ctx: ConsoleContext, token: str | None, *, reason: str = "logout") -> None:
    """End the session of ``token`` (logout)."""
    if token is None:
        return
    with ctx.db.unit_of_work(gated=True) as session:
        stored = session.get(UserSession, _hash(token))
        if stored is not None and stored.ended_at is None:
            stored.ended_at, stored.end_reason = ctx.clock.now(), reason
            user = repo.user_by_id(session, stored.user_id)
            record_change(
                session,
                ctx,
                actor=f"person:{user.username if user else stored.user_id}",
                action="console.signed_out",
                subject=f"user:{user.username if user else stored.user_id}",
                payload={"reason": reason},
                event=False,
            )

"""Use cases for console users: create, list, disable, change language, and sign-in.

Passwords are hashed with argon2 (argon2-cffi's defaults, RFC 9106's recommended profile);
a hash made with weaker parameters is upgraded at the next successful sign-in. Sign-in is
throttled per username and per address (``domain.throttle``): a locked sign-in is refused
before the password is even checked, with the time it unlocks.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from services.console.domain.formatting import LANGUAGES
from services.console.domain.throttle import ThrottlePolicy, locked_until
from services.console.models import LoginAttempt, User
from services.console.repository import users as repo
from services.console.settings import ConsoleContext
from shared.auth import PERSON_ROLES, USERNAME_PATTERN, Role
from shared.changes import new_id, record_change
from shared.errors import Conflict, NotFound, ValidationProblem

HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
CLI_ACTOR = "cli:agrifin-users"

# a hash to verify against when the username is unknown, so that a miss costs what a hit costs
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    """Sign-in refused: wrong credentials, a disabled user, or throttled until ``until``."""

    def __init__(self, reason: str, until: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until


def generate_password() -> str:
    """A random password for a new user (printed once)."""
    return secrets.token_urlsafe(15)


def create_user(
    session: Session,
    ctx: ConsoleContext,
    *,
    username: str,
    role: Role,
    password: str,
    full_name: str | None = None,
    owner: str | None = None,
    language: str = "en",
    actor: str = CLI_ACTOR,
) -> User:
    """Create a person's account; Conflict when the username is taken."""
    problems: list[tuple[str, str]] = []
    if not USERNAME_PATTERN.fullmatch(username):
        problems.append(("username", "lower-case letters, digits, '.', '_' or '-', at most 64 characters"))
    if role not in PERSON_ROLES:
        problems.append(("role", f"one of {', '.join(sorted(PERSON_ROLES))}"))
    if (role is Role.MARKETPLACE) != bool(owner):
        problems.append(
            ("owner", "a marketplace operator needs --owner (the marketplace); no other role has one")
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(("password", f"at least {MIN_PASSWORD_LENGTH} characters"))
    if language not in LANGUAGES:
        problems.append(("language", f"one of {', '.join(LANGUAGES)}"))
    if problems:
        raise ValidationProblem(problems)
    if repo.user_by_username(session, username) is not None:
        raise Conflict(f"a user named {username!r} exists already")
    user = User(
        id=new_id(),
        username=username,
        full_name=full_name,
        role=role.value,
        owner=owner,
        password_hash=HASHER.hash(password),
        language=language,
        disabled=False,
        created_at=ctx.clock.now(),
        disabled_at=None,
    )
    repo.add(session, user)
    record_change(
        session,
        ctx,
        actor=actor,
        action="console.user.created",
        subject=f"user:{username}",
        payload={"username": username, "role": role.value, "owner": owner},
        event=False,
    )
    return user


def list_users(session: Session) -> list[User]:
    """Every user."""
    return repo.all_users(session)


def disable_user(session: Session, ctx: ConsoleContext, *, username: str, actor: str = CLI_ACTOR) -> int:
    """Disable a user and end their sessions at once; how many sessions ended."""
    user = repo.user_by_username(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    now = ctx.clock.now()
    if not user.disabled:
        user.disabled, user.disabled_at = True, now
    ended = repo.end_sessions_of(session, user.id, now=now, reason="disabled")
    record_change(
        session,
        ctx,
        actor=actor,
        action="console.user.disabled",
        subject=f"user:{username}",
        payload={"username": username, "sessions_ended": ended},
        event=False,
    )
    return ended


def set_password(session: Session, ctx: ConsoleContext, *, username: str, password: str) -> None:
    """Replace a user's password (the development bootstrap re-issues its users' passwords)."""
    user = repo.user_by_username(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationProblem([("password", f"at least {MIN_PASSWORD_LENGTH} characters")])
    user.password_hash = HASHER.hash(password)
    repo.end_sessions_of(session, user.id, now=ctx.clock.now(), reason="password")


def password_matches(user: User, password: str) -> bool:
    """Whether ``password`` is the user's."""
    try:
        return HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def set_language(session: Session, user_id: str, language: str) -> None:
    """Remember a user's language."""
    if language not in LANGUAGES:
        raise ValidationProblem([("language", f"one of {', '.join(LANGUAGES)}")])
    user = repo.user_by_id(session, user_id)
    if user is None:
        raise NotFound("no such user")
    user.language = language


def _policies(ctx: ConsoleContext) -> tuple[ThrottlePolicy, ThrottlePolicy]:
    window = timedelta(minutes=ctx.settings.login_window_minutes)
    return (
        ThrottlePolicy(ctx.settings.login_max_failures_per_user, window),
        ThrottlePolicy(ctx.settings.login_max_failures_per_address, window),
    )


def throttled_until(session: Session, ctx: ConsoleContext, *, username: str, address: str) -> datetime | None:
    """When sign-in for this username or from this address unlocks; None when it is open."""
    per_user, per_address = _policies(ctx)
    since = ctx.clock.now() - per_user.window
    locks = [
        locked_until(
            per_user,
            failures=repo.failures_since(session, username=username, address=None, since=since),
            oldest=repo.oldest_failure_since(session, username=username, address=None, since=since),
        ),
        locked_until(
            per_address,
            failures=repo.failures_since(session, username=None, address=address, since=since),
            oldest=repo.oldest_failure_since(session, username=None, address=address, since=since),
        ),
    ]
    found = [lock for lock in locks if lock is not None]
    return max(found) if found else None


def record_failure(session: Session, ctx: ConsoleContext, *, username: str, address: str) -> None:
    """Count a failed sign-in against the username and the address."""
    now = ctx.clock.now()
    repo.forget_failures_before(session, now - timedelta(minutes=ctx.settings.login_window_minutes))
    repo.add(session, LoginAttempt(username=username[:64], address=address[:64], at=now))


def check_credentials(
    session: Session, ctx: ConsoleContext, *, username: str, password: str, address: str
) -> User:
    """The user whose credentials these are; SignInRefused otherwise (throttled, wrong, disabled).

    The caller records a failure (``record_failure``) in a transaction that commits."""
    until = throttled_until(session, ctx, username=username, address=address)
    if until is not None:
        raise SignInRefused("throttled", until)
    user = repo.user_by_username(session, username)
    try:
        HASHER.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise SignInRefused("invalid") from None
    if user is None:
        raise SignInRefused("invalid")
    if user.disabled:
        raise SignInRefused("disabled")
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    repo.clear_failures(session, username)
    return user

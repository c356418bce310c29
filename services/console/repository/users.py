"""The SQL of console users, their sessions and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from services.console.models import LoginAttempt, User, UserSession


def user_by_username(session: Session, username: str) -> User | None:
    """The user named ``username``, if any."""
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def user_by_id(session: Session, user_id: str) -> User | None:
    """The user with ``user_id``, if any."""
    return session.get(User, user_id)


def all_users(session: Session) -> list[User]:
    """Every user, by username."""
    return list(session.execute(select(User).order_by(User.username)).scalars())


def add(session: Session, row: User | UserSession | LoginAttempt) -> None:
    """Stage a new row."""
    session.add(row)
    session.flush()


def live_session(session: Session, token_hash: str) -> tuple[UserSession, User] | None:
    """The session stored as ``token_hash`` that has not ended, with its user."""
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == token_hash, UserSession.ended_at.is_(None))
    ).first()
    return (found[0], found[1]) if found is not None else None


def end_sessions_of(session: Session, user_id: str, *, now: datetime, reason: str) -> int:
    """End every live session of a user; how many."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def failures_since(session: Session, *, username: str | None, address: str | None, since: datetime) -> int:
    """Failed sign-ins since ``since`` for the username or the address given."""
    query = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since)
    if username is not None:
        query = query.where(LoginAttempt.username == username)
    if address is not None:
        query = query.where(LoginAttempt.address == address)
    return int(session.execute(query).scalar_one())


def oldest_failure_since(
    session: Session, *, username: str | None, address: str | None, since: datetime
) -> datetime | None:
    """The earliest counted failure in the window (when the lock lifts, the window slides past it)."""
    query = select(func.min(LoginAttempt.at)).where(LoginAttempt.at >= since)
    if username is not None:
        query = query.where(LoginAttempt.username == username)
    if address is not None:
        query = query.where(LoginAttempt.address == address)
    value: datetime | None = session.execute(query).scalar_one()
    return value


def clear_failures(session: Session, username: str) -> None:
    """Forget a user's failures after a successful sign-in (the address's stay counted)."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))


def forget_failures_before(session: Session, before: datetime) -> None:
    """Drop failures older than any window that counts them."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < before))

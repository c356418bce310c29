"""The console's tables: its users (people, not keys), their sessions and sign-in attempts.

Passwords are argon2 hashes. A session is stored by the SHA-256 of its token (the cookie
carries the token, signed); ending it (logout, idle, disable) is a column, checked on every
request, so a disabled user's sessions end at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigIntPK, new_metadata
from shared.platform_tables import define_platform_tables


class Base(DeclarativeBase):
    """Declarative base of the console, on its own MetaData."""

    metadata = new_metadata()


metadata = Base.metadata
PLATFORM = define_platform_tables(metadata)

_TS = DateTime(timezone=True)


class User(Base):
    """A person who signs in to the console."""

    __tablename__ = "console_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(128))
    """The marketplace of a marketplace operator; None for every other role."""
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(_TS)
    disabled_at: Mapped[datetime | None] = mapped_column(_TS)


class UserSession(Base):
    """A signed-in session; the cookie holds the token, the table its hash."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("console_users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_TS)
    last_seen_at: Mapped[datetime] = mapped_column(_TS)
    ended_at: Mapped[datetime | None] = mapped_column(_TS)
    end_reason: Mapped[str | None] = mapped_column(String(20))


class LoginAttempt(Base):
    """A failed sign-in, counted per username and per address for throttling."""

    __tablename__ = "console_login_failures"
    __table_args__ = (
        Index("ix_console_login_failures_user", "username", "at"),
        Index("ix_console_login_failures_address", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(_TS)

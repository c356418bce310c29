"""The epoch files of ``shared.invalidation`` on SQLite: one small file per topic beside the
database (``<database>.<topic>.epoch``) holding a random number, replaced atomically on every
bump (write a temporary file beside it, then rename it over), so a reader sees the old or the
new number, whole. A reader opens and reads it on every call (one small read: microseconds).
"""

from __future__ import annotations

import os
import secrets

from shared.db import sqlite_file


def epoch_base(url: str) -> str | None:
    """The SQLite database file epoch files sit beside; None for PostgreSQL or in-memory SQLite."""
    database = sqlite_file(url)
    return None if database is None else str(database)


def epoch_path(base: str, topic: str) -> str:
    """``<database>.<topic>.epoch``: where a topic's epoch lives beside a SQLite database."""
    return f"{base}.{topic}.epoch"


def _new_epoch() -> bytes:
    return str(secrets.randbits(62) + 1).encode("ascii")


def _temporary_beside(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}")


def write_epoch(path: str) -> None:
    """Replace ``path`` with a new random epoch, atomically (readers see old or new, whole)."""
    tmp = _temporary_beside(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, _new_epoch())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def create_epoch(path: str) -> None:
    """Create ``path`` with a new epoch unless another process just did (link is atomic)."""
    tmp = _temporary_beside(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, _new_epoch())
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def read_epoch(path: str) -> int | None:
    """The epoch in ``path``; None when there is no such file or it holds no number."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        data = os.read(fd, 32)
    finally:
        os.close(fd)
    try:
        return int(data)
    except ValueError:
        return None

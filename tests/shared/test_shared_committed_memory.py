"""shared.committed_memory: what a transaction read is remembered only once it commits."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from shared.committed_memory import CommittedMemory


def _sessions(tmp_path: Path, name: str) -> sessionmaker[Session]:
    return sessionmaker(create_engine(f"sqlite:///{tmp_path / name}"))


def test_a_value_is_remembered_once_its_transaction_commits(tmp_path: Path) -> None:
    memory: CommittedMemory[str, int] = CommittedMemory("test.commit")
    make = _sessions(tmp_path, "a.db")
    with make() as session, session.begin():
        memory.remember(session, {"a": 1})
        assert memory.recall_one(session, "a") == 1  # the transaction sees what it read
        with make() as other:
            assert memory.recall_one(other, "a") is None  # no one else does yet
    with make() as later:
        assert memory.recall(later, ["a", "b"]) == {"a": 1}


def test_a_rolled_back_transaction_leaves_nothing(tmp_path: Path) -> None:
    memory: CommittedMemory[str, int] = CommittedMemory("test.rollback")
    make = _sessions(tmp_path, "a.db")
    with make() as session:
        session.begin()
        memory.remember(session, {"a": 1})
        session.rollback()
        assert memory.recall_one(session, "a") is None
        with session.begin():
            pass  # a later commit of the same session publishes nothing of the rolled-back one
    with make() as later:
        assert memory.recall_one(later, "a") is None


def test_each_database_has_its_own_memory_and_a_full_one_starts_over(tmp_path: Path) -> None:
    memory: CommittedMemory[str, int] = CommittedMemory("test.pools", max_entries=2)
    first, second = _sessions(tmp_path, "a.db"), _sessions(tmp_path, "b.db")
    with first() as session, session.begin():
        memory.remember(session, {"a": 1, "b": 2})
    with second() as session:
        assert memory.recall_one(session, "a") is None
    with first() as session, session.begin():
        memory.remember(session, {"c": 3})
    with first() as session:
        assert memory.recall(session, ["a", "b", "c"]) == {"c": 3}
